// Scanner cost: first scan and unchanged rescan of v2-shaped trees with 1k,
// 10k and 100k cgroups (four slices of scopes), on tmpfs stand-ins
// (scanner-*) and, when this process may create cgroups, on the real
// cgroup2 hierarchy (scanner-*-cgroupfs, 1k and 10k).
//
//   netipc-micro-bench --benchmark_filter=scanner --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cgroups_provider/scanner.h"

namespace {

using netipc::cgroups_provider::CgroupMode;
using netipc::cgroups_provider::Scanner;
using netipc::cgroups_provider::ScannerConfig;

constexpr const char* kSlices[] = {"system.slice", "machine.slice", "user.slice", "pods.slice"};

// A tree of `leaves` scopes under four slices, each directory with a
// cgroup.procs unless it lives on cgroupfs (which makes its own). Removed
// when the process exits. On cgroupfs rmdir must go leaves first.
class Tree {
 public:
  Tree(std::string root, size_t leaves, bool cgroupfs) : root_(std::move(root)), fs_(cgroupfs) {
    ok_ = mk(root_);
    for (size_t s = 0; ok_ && s < std::size(kSlices); ++s) {
      std::string slice = root_ + "/" + kSlices[s];
      ok_ = mk(slice);
      int pfd = ok_ ? ::open(slice.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
      ok_ = pfd >= 0;
      for (size_t i = s; ok_ && i < leaves; i += std::size(kSlices)) {
        char name[96];
        std::snprintf(name, sizeof name, "docker-%064zx.scope",
                      static_cast<size_t>(i * 0x9E3779B97F4A7C15ull));
        ok_ = ::mkdirat(pfd, name, 0755) == 0;
        if (ok_) made_.push_back(slice + "/" + name);
        if (ok_ && !fs_) touch_at(pfd, std::string(name) + "/cgroup.procs");
      }
      if (pfd >= 0) ::close(pfd);
    }
  }
  ~Tree() {
    if (!fs_) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
      return;
    }
    for (auto it = made_.rbegin(); it != made_.rend(); ++it)
      ::rmdir(it->c_str());
  }
  bool ok() const { return ok_; }

 private:
  bool mk(const std::string& p) {
    if (::mkdir(p.c_str(), 0755) != 0) return false;
    made_.push_back(p);
    if (!fs_) touch_at(AT_FDCWD, p + "/cgroup.procs");
    return true;
  }
  static void touch_at(int at, const std::string& p) {
    int fd = ::openat(at, p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) ::close(fd);
  }
  std::string root_;
  bool fs_;
  bool ok_ = false;
  std::vector<std::string> made_;
};

struct Host {
  std::string prefix;  // host prefix whose sys/fs/cgroup is the v2 base
  std::unique_ptr<Tree> tree;
};

// tmpfs stand-in: <prefix>/sys/fs/cgroup/<slices>, scanned in forced v2 mode.
Host& tmpfs_host(size_t leaves) {
  static std::map<size_t, Host> hosts;
  Host& h = hosts[leaves];
  if (!h.tree) {
    char tmpl[] = "/dev/shm/nipc-benchXXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    h.prefix = tmpl;
    std::filesystem::create_directories(h.prefix + "/sys/fs");
    h.tree = std::make_unique<Tree>(h.prefix + "/sys/fs/cgroup", leaves, false);
    static struct Cleanup {
      ~Cleanup() {
        for (auto& [n, host] : hosts) {
          host.tree.reset();
          std::error_code ec;
          std::filesystem::remove_all(host.prefix, ec);
        }
      }
    } cleanup;
  }
  return h;
}

ScannerConfig tmpfs_config(const Host& h) {
  ScannerConfig c;
  c.fs.host_prefix = h.prefix;
  c.fs.mountinfo_path = "";  // bases take their defaults under the prefix
  c.fs.mode = CgroupMode::kV2;
  c.max_cgroups = 1u << 20;
  return c;
}

void report(benchmark::State& state, const netipc::cgroups_provider::ScanResult& r) {
  state.counters["items"] = static_cast<double>(r.stats.cgroups_published);
  state.counters["dirs_listed"] = static_cast<double>(r.stats.dirs_listed);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * r.stats.dirs_visited));
}

void first_scan(benchmark::State& state, const ScannerConfig& cfg) {
  for (auto _ : state) {
    auto s = Scanner::create(cfg);
    auto r = s->scan();
    if (!r.ok()) {
      state.SkipWithError("scan failed");
      return;
    }
    benchmark::DoNotOptimize(r->items.get());
  }
  auto s = Scanner::create(cfg);
  report(state, *s->scan());
}

void rescan(benchmark::State& state, const ScannerConfig& cfg) {
  auto s = Scanner::create(cfg);
  auto first = s->scan();
  if (!first.ok()) {
    state.SkipWithError("scan failed");
    return;
  }
  for (auto _ : state) {
    auto r = s->scan();
    if (!r.ok() || r->changed) {
      state.SkipWithError("tree changed under the benchmark");
      return;
    }
    benchmark::DoNotOptimize(r->items.get());
  }
  report(state, *s->scan());
}

void BM_FirstScan(benchmark::State& state) {
  const Host& h = tmpfs_host(static_cast<size_t>(state.range(0)));
  first_scan(state, tmpfs_config(h));
}

void BM_RescanUnchanged(benchmark::State& state) {
  const Host& h = tmpfs_host(static_cast<size_t>(state.range(0)));
  rescan(state, tmpfs_config(h));
}

// The real cgroup2 hierarchy: one subtree per size, made once per process
// and removed at exit; the search pattern keeps the walk inside it.
struct CgroupfsHost {
  std::string top;
  std::unique_ptr<Tree> tree;
};

const CgroupfsHost* cgroupfs_host(size_t leaves, std::string* base, const char** why) {
  static std::map<size_t, CgroupfsHost> hosts;
  ScannerConfig probe_cfg;
  probe_cfg.fs.mode = CgroupMode::kV2;
  auto probe = Scanner::create(probe_cfg);
  *base = probe->layout().unified_base;
  struct statfs sfs {};
  if (::statfs(base->c_str(), &sfs) != 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
    *why = "no cgroup2 hierarchy";
    return nullptr;
  }
  CgroupfsHost& h = hosts[leaves];
  if (!h.tree) {
    h.top = "netipc-bench-" + std::to_string(::getpid()) + "-" + std::to_string(leaves);
    h.tree = std::make_unique<Tree>(*base + "/" + h.top, leaves, true);
  }
  if (!h.tree->ok()) {
    *why = "cannot create cgroups here (needs root and a writable cgroupfs)";
    return nullptr;
  }
  return &h;
}

void cgroupfs_bench(benchmark::State& state, bool first) {
  std::string base;
  const char* why = "";
  const CgroupfsHost* h = cgroupfs_host(static_cast<size_t>(state.range(0)), &base, &why);
  if (h == nullptr) {
    state.SkipWithError(why);
    return;
  }
  ScannerConfig cfg;
  cfg.fs.mode = CgroupMode::kV2;
  cfg.max_cgroups = 1u << 20;
  cfg.patterns.search = "/ /" + h->top + " /" + h->top + "/* !*";
  if (first) {
    first_scan(state, cfg);
  } else {
    rescan(state, cfg);
  }
}

void BM_FirstScanCgroupfs(benchmark::State& state) {
  cgroupfs_bench(state, true);
}
void BM_RescanUnchangedCgroupfs(benchmark::State& state) {
  cgroupfs_bench(state, false);
}

BENCHMARK(BM_FirstScan)
    ->Name("scanner-first-scan")
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RescanUnchanged)
    ->Name("scanner-rescan-unchanged")
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FirstScanCgroupfs)
    ->Name("scanner-first-scan-cgroupfs")
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RescanUnchangedCgroupfs)
    ->Name("scanner-rescan-unchanged-cgroupfs")
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
