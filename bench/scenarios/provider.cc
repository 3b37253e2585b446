// provider-scan: what the standalone provider costs on a host with N cgroups.
// A v2-shaped directory tree on /dev/shm stands in for cgroupfs, in two
// shapes (--shape mix|containers|both, default both, one line each):
//  - mix: a production-shaped host (systemd services, docker scopes,
//    kubernetes pods with two containers each, user sessions);
//  - containers: four slices of docker-<64 hex>.scope leaves only (like the
//    scanner micro benchmark), the long-name worst case.
//
// One JSON line per run with the standard fields, where
//  - throughput   = unchanged rescans per second (1 / mean rescan time);
//  - p50/p95/p99  = wall time of one unchanged rescan (not a round trip);
//  - client_cpu_pct = CPU of the scanning thread during the rescans;
//  - server_cpu_pct = 0 (no server traffic in this scenario);
// and, per configuration:
//  - first_scan_ms, first_publish_ms: a fresh Scanner's first scan, then
//    the provider's publish of it (layouts 1 and 2 encoded), medians;
//  - encode_ms_p50/p95: encoding a changed set (both layouts) in publish;
//  - rss_mb: VmRSS of a separate process that holds a Scanner, a
//    CgroupsProvider (publisher + uv server on its own thread) with the N
//    cgroups published in both layouts, after a few unchanged rescans and one
//    changed publish (the daemon's steady state, with the daemon's
//    malloc_trim after each new generation); rss_baseline_mb is the same
//    process before it scanned, rss_after_scan_mb after its first scan;
//    items_mb is the heap the published item vector takes (the rest of
//    rss_after_scan_mb - rss_baseline_mb is the scanner's own state).
//
//   netipc-bench provider-scan --items 100000 [--repetitions 3] [--seconds 3]
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.h"
#include "cgroups_provider/cgroup_root.h"
#include "cgroups_provider/provider.h"
#include "cgroups_provider/scanner.h"
#include "netipc/log.h"

namespace netipc::bench {
namespace {

using cgroups_provider::CgroupsProvider;
using cgroups_provider::ProviderConfig;
using cgroups_provider::Scanner;
using cgroups_provider::ScannerConfig;

constexpr const char* kSlices[] = {"system.slice", "machine.slice", "user.slice", "pods.slice"};

enum class Shape { kContainers, kMix };

const char* shape_name(Shape s) {
  return s == Shape::kMix ? "mix" : "containers";
}

void touch_at(int at, const std::string& p) {
  int fd = ::openat(at, p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
}

// Relative cgroup directories (parents first) of a production-shaped host
// with about `n` cgroups: per 31 cgroups, 1 systemd service, 11 docker
// scopes, 5 kubernetes pods (a pod slice and two containers each: 15) and
// 4 user slices and sessions, plus the slices above them.
std::vector<std::string> mix_dirs(size_t n) {
  std::vector<std::string> d = {"system.slice",
                                "user.slice",
                                "kubepods.slice",
                                "kubepods.slice/kubepods-burstable.slice",
                                "kubepods.slice/kubepods-besteffort.slice"};
  char b[320];
  auto hex64 = [](size_t i, size_t salt) {
    char h[80];
    const unsigned long long a = (i + 1) * 0x9E3779B97F4A7C15ull ^ salt;
    const unsigned long long c = (i + 7) * 0xC2B2AE3D27D4EB4Full ^ (salt << 1);
    std::snprintf(h, sizeof h, "%016llx%016llx%016llx%016llx", a, c, a ^ c, a * 3 + c);
    return std::string(h);
  };
  for (size_t i = 0; d.size() < n; ++i) {
    const size_t k = i % 20;  // 20 steps = 31 cgroups
    if (k == 0) {
      std::snprintf(b, sizeof b, "system.slice/app-%zu.service", i / 20);
      d.emplace_back(b);
    } else if (k <= 5) {
      d.push_back("system.slice/docker-" + hex64(i, 1) + ".scope");
    } else if (k <= 9 && k != 7) {
      // k = 6, 8, 9 here and 16, 17 below: 5 pods per 20 steps.
      const unsigned long long u = (i + 3) * 0xD6E8FEB86659FD93ull;
      const char* qos = (k & 1) ? "besteffort" : "burstable";
      std::snprintf(b, sizeof b,
                    "kubepods.slice/kubepods-%s.slice/kubepods-%s-pod%08llx_%04llx_%04llx_%04llx_"
                    "%012llx.slice",
                    qos, qos, u >> 32, (u >> 16) & 0xffff, u & 0xffff, (u >> 48) & 0xffff,
                    (u * 7) & 0xffffffffffffull);
      const std::string pod = b;
      d.push_back(pod);
      d.push_back(pod + "/cri-containerd-" + hex64(i, 2) + ".scope");
      d.push_back(pod + "/cri-containerd-" + hex64(i, 3) + ".scope");
    } else if (k == 7) {
      std::snprintf(b, sizeof b, "user.slice/user-%zu.slice", 1000 + i / 20);
      d.emplace_back(b);
      std::snprintf(b, sizeof b, "user.slice/user-%zu.slice/session-%zu.scope", 1000 + i / 20,
                    i / 20 + 1);
      d.emplace_back(b);
    } else {
      // k = 10..19: 6 more docker scopes, 2 more pods, 2 more sessions.
      if (k <= 15) {
        d.push_back("system.slice/docker-" + hex64(i, 4) + ".scope");
      } else if (k <= 17) {
        const unsigned long long u = (i + 5) * 0xD6E8FEB86659FD93ull;
        std::snprintf(b, sizeof b,
                      "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%08llx_%04llx_"
                      "%04llx_%04llx_%012llx.slice",
                      u >> 32, (u >> 16) & 0xffff, u & 0xffff, (u >> 48) & 0xffff,
                      (u * 7) & 0xffffffffffffull);
        const std::string pod = b;
        d.push_back(pod);
        d.push_back(pod + "/cri-containerd-" + hex64(i, 5) + ".scope");
        d.push_back(pod + "/cri-containerd-" + hex64(i, 6) + ".scope");
      } else {
        std::snprintf(b, sizeof b, "user.slice/user-%zu.slice/session-%zu.scope", 1000 + i / 20,
                      i);
        d.emplace_back(b);
      }
    }
  }
  d.resize(n);  // parents come before their children, so a cut keeps the tree whole
  return d;
}

// <dir>/sys/fs/cgroup with about `leaves` cgroups; "" on failure.
// kContainers: four slices of docker-<64 hex>.scope (long names only).
std::string build_tree(size_t leaves, Shape shape) {
  char tmpl[] = "/dev/shm/nipc-provXXXXXX";
  char* d = ::mkdtemp(tmpl);
  if (d == nullptr) return "";
  const std::string root = std::string(d) + "/sys/fs/cgroup";
  if (::mkdir((std::string(d) + "/sys").c_str(), 0755) != 0 ||
      ::mkdir((std::string(d) + "/sys/fs").c_str(), 0755) != 0 ||
      ::mkdir(root.c_str(), 0755) != 0) {
    return "";
  }
  touch_at(AT_FDCWD, root + "/cgroup.procs");
  if (shape == Shape::kMix) {
    int rfd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0) return "";
    for (const std::string& rel : mix_dirs(leaves)) {
      if (::mkdirat(rfd, rel.c_str(), 0755) != 0) break;
      touch_at(rfd, rel + "/cgroup.procs");
    }
    ::close(rfd);
    return root;
  }
  for (size_t s = 0; s < std::size(kSlices); ++s) {
    const std::string slice = root + "/" + kSlices[s];
    if (::mkdir(slice.c_str(), 0755) != 0) return "";
    touch_at(AT_FDCWD, slice + "/cgroup.procs");
    int pfd = ::open(slice.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) return "";
    for (size_t i = s; i < leaves; i += std::size(kSlices)) {
      char name[96];
      std::snprintf(name, sizeof name, "docker-%064zx.scope",
                    static_cast<size_t>(i * 0x9E3779B97F4A7C15ull));
      if (::mkdirat(pfd, name, 0755) != 0) break;
      touch_at(pfd, std::string(name) + "/cgroup.procs");
    }
    ::close(pfd);
  }
  return root;
}

Result<Scanner> make_scanner(const std::string& root, size_t max_cgroups) {
  auto r = cgroups_provider::resolve_cgroup_root(root);
  if (!r.ok()) return r.error();
  ScannerConfig c;
  c.fs = r->fs;
  c.max_cgroups = max_cgroups;
  return Scanner::create(std::move(c));
}

double vm_rss_mb() {
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return 0;
  char line[256];
  double kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) kb = std::strtod(line + 6, nullptr);
  }
  std::fclose(f);
  return kb / 1024.0;
}

double ms_between(std::chrono::steady_clock::time_point a,
                  std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5))];
}

// Heap bytes of an item vector: the elements plus each string's heap block
// (glibc: capacity + NUL + 8 bytes of header, in 16-byte steps).
double heap_mb_of(const std::vector<CgroupItem>& items) {
  auto block = [](const std::string& s) -> size_t {
    return s.capacity() > 15 ? (s.capacity() + 1 + 8 + 15) / 16 * 16 : 0;
  };
  size_t bytes = items.capacity() * sizeof(CgroupItem);
  for (const auto& it : items)
    bytes += block(it.name) + block(it.path);
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

struct RssReport {
  double baseline = 0, after_scan = 0, steady = 0;
  double items_mb = 0;  // the published item vector (shared by scanner and publisher)
  uint64_t items = 0;
};

// The RSS probe: a child forked before this process allocates anything
// big. It waits for the tree, then behaves like the daemon.
class RssProbe {
 public:
  bool start(const std::string& run_dir, size_t max_cgroups) {
    if (::pipe2(go_, O_CLOEXEC) != 0 || ::pipe2(back_, O_CLOEXEC) != 0) return false;
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) _exit(child(run_dir, max_cgroups));
    ::close(go_[0]);
    ::close(back_[1]);
    return true;
  }
  RssReport finish(const std::string& root) {
    RssReport r;
    const uint32_t len = static_cast<uint32_t>(root.size());
    if (::write(go_[1], &len, sizeof len) == sizeof len &&
        ::write(go_[1], root.data(), len) == static_cast<ssize_t>(len)) {
      if (::read(back_[0], &r, sizeof r) != sizeof r) r = RssReport();
    }
    ::close(go_[1]);
    ::close(back_[0]);
    ::waitpid(pid_, nullptr, 0);
    return r;
  }

 private:
  int child(const std::string& run_dir, size_t max_cgroups) {
    uint32_t len = 0;
    if (::read(go_[0], &len, sizeof len) != sizeof len) return 1;
    std::string root(len, '\0');
    if (::read(go_[0], root.data(), len) != static_cast<ssize_t>(len)) return 1;
    RssReport r;
    r.baseline = vm_rss_mb();
    auto scanner = make_scanner(root, max_cgroups);
    if (!scanner.ok()) return 1;
    ProviderConfig pc;
    pc.run_dir = run_dir;
    pc.service = "rss-probe";
    pc.on_generation = [](const cgroups_provider::PublishOutcome&) {
      ::malloc_trim(0);
    };  // as the daemon
    auto provider = CgroupsProvider::start(pc);
    if (!provider.ok()) return 1;
    {
      auto scan = scanner->scan();  // released at the end of the block, as in the daemon
      if (!scan.ok()) return 1;
      r.after_scan = vm_rss_mb();
      if (!(*provider)->publish_now(scan->items).ok()) return 1;
    }
    // From here on exactly the daemon's path: scans handed to the encoder
    // thread (refresh_from), which drops the items before the trim hook.
    Scanner* sc = &*scanner;
    auto daemon_scan = [sc, &r]() -> Result<CgroupsProvider::Items> {
      auto s = sc->scan();
      if (!s.ok()) return s.error();
      if (!s->changed) return CgroupsProvider::Items{};  // as the daemon: nothing built
      r.items = s->items->size();
      r.items_mb = heap_mb_of(*s->items);
      return s->items;
    };
    for (int i = 0; i < 3; ++i) {
      (*provider)->refresh_from(daemon_scan);
      if (!(*provider)->wait_idle(std::chrono::seconds(60))) return 1;
    }
    // One change, as the daemon sees it: a new cgroup, a rescan, a new
    // generation that replaces the first one.
    const std::string extra = root + "/" + kSlices[0] + "/rss-probe.scope";
    if (::mkdir(extra.c_str(), 0755) != 0) return 1;
    touch_at(AT_FDCWD, extra + "/cgroup.procs");
    const uint64_t before = (*provider)->current()->generation;
    (*provider)->refresh_from(daemon_scan);
    if (!(*provider)->wait_idle(std::chrono::seconds(60))) return 1;
    if ((*provider)->current()->generation != before + 1) return 1;
    r.steady = vm_rss_mb();
    (*provider)->stop(1000);
    ::unlink((extra + "/cgroup.procs").c_str());
    ::rmdir(extra.c_str());
    return ::write(back_[1], &r, sizeof r) == sizeof r ? 0 : 1;
  }

  int go_[2] = {-1, -1};
  int back_[2] = {-1, -1};
  pid_t pid_ = -1;
};

int run_shape(const Options& o, Shape shape) {
  using Clock = std::chrono::steady_clock;
  const size_t n = o.items != 0 ? static_cast<size_t>(o.items) : 10000;
  const size_t max_cgroups = n + 16;
  const int first_reps = std::max(3, o.repetitions);
  set_log_level(LogLevel::kWarning);  // no per-generation lines in the output
  const std::string run_dir = make_run_dir(o);

  RssProbe probe;
  if (!probe.start(run_dir, max_cgroups)) {
    std::fprintf(stderr, "provider-scan: cannot fork the RSS probe\n");
    return 1;
  }
  const std::string root = build_tree(n, shape);
  if (root.empty()) {
    std::fprintf(stderr, "provider-scan: cannot build the tree on /dev/shm\n");
    probe.finish("");
    return 1;
  }
  const std::string tree_dir = root.substr(0, root.size() - std::strlen("/sys/fs/cgroup"));
  const RssReport rss = probe.finish(root);

  ProviderConfig pc;
  pc.run_dir = run_dir;
  pc.service = "provider-bench";
  auto provider = CgroupsProvider::start(pc);
  if (!provider.ok()) {
    std::fprintf(stderr, "provider-scan: %s\n", provider.error().message().c_str());
    return 1;
  }
  // First scans (a fresh scanner each) and their publish.
  std::vector<double> first_scan, first_publish;
  std::unique_ptr<Scanner> scanner;
  CgroupsProvider::Items items;
  for (int r = 0; r < first_reps; ++r) {
    auto s = make_scanner(root, max_cgroups);
    if (!s.ok()) return 1;
    scanner = std::make_unique<Scanner>(std::move(*s));
    const auto t0 = Clock::now();
    auto scan = scanner->scan();
    const auto t1 = Clock::now();
    if (!scan.ok()) return 1;
    // A different vector each time: generation changes, full encode.
    items = std::make_shared<const std::vector<CgroupItem>>(*scan->items);
    if (r % 2 == 1) {
      auto v = std::make_shared<std::vector<CgroupItem>>(*items);
      if (!v->empty()) v->back().enabled ^= 1;
      items = std::move(v);
    }
    if (!(*provider)->publish_now(items).ok()) return 1;
    first_scan.push_back(ms_between(t0, t1));
    first_publish.push_back(ms_between(t1, Clock::now()));
  }
  // Unchanged rescans, for o.seconds (at least 5).
  std::vector<double> rescans;
  const double cpu0 = thread_cpu_seconds();
  const auto start = Clock::now();
  while (rescans.size() < 5 ||
         (ms_between(start, Clock::now()) < o.seconds * 1000 && rescans.size() < 100000)) {
    const auto t0 = Clock::now();
    auto scan = scanner->scan();
    if (!scan.ok() || scan->changed) return 1;
    rescans.push_back(ms_between(t0, Clock::now()));
  }
  const double wall_s = ms_between(start, Clock::now()) / 1000;
  const double cpu_s = thread_cpu_seconds() - cpu0;
  // Publishing changed sets (alternating two contents).
  auto other = std::make_shared<std::vector<CgroupItem>>(*items);
  if (!other->empty()) other->front().enabled ^= 1;
  CgroupsProvider::Items sets[2] = {items, std::move(other)};
  std::vector<double> publishes;
  const auto pstart = Clock::now();
  while (publishes.size() < 3 ||
         (ms_between(pstart, Clock::now()) < o.seconds * 500 && publishes.size() < 10000)) {
    auto out = (*provider)->publish_now(sets[(publishes.size() + 1) % 2]);
    if (!out.ok() || !out->changed) return 1;
    publishes.push_back(out->encode_ms);
  }
  auto cur = (*provider)->current();

  RunResult res;
  res.scenario = "provider-scan";
  res.unit = "scans";
  double mean_ms = 0;
  for (double v : rescans)
    mean_ms += v;
  mean_ms /= static_cast<double>(rescans.size());
  res.throughput = mean_ms > 0 ? 1000.0 / mean_ms : 0;
  res.p50_us = quantile(rescans, 0.50) * 1000;
  res.p95_us = quantile(rescans, 0.95) * 1000;
  res.p99_us = quantile(rescans, 0.99) * 1000;
  res.client_cpu_pct = wall_s > 0 ? 100.0 * cpu_s / wall_s : 0;
  res.server_cpu_pct = 0;
  res.extra.integer("items", static_cast<int64_t>(n))
      .integer("cgroups", static_cast<int64_t>(cur->item_count))
      .str("tree", "tmpfs (/dev/shm), v2 shape")
      .str("shape", shape_name(shape))
      .num("layout1_bytes_per_item",
           cur->item_count ? static_cast<double>(cur->layout1->size()) / cur->item_count : 0)
      .num("layout2_bytes_per_item",
           cur->item_count ? static_cast<double>(cur->layout2->size()) / cur->item_count : 0)
      .str("percentiles_of", "unchanged rescan wall time")
      .integer("rescans", static_cast<int64_t>(rescans.size()))
      .num("first_scan_ms", quantile(first_scan, 0.5))
      .num("first_publish_ms", quantile(first_publish, 0.5))
      .integer("first_reps", first_reps)
      .num("encode_ms_p50", quantile(publishes, 0.5))
      .num("encode_ms_p95", quantile(publishes, 0.95))
      .integer("publishes", static_cast<int64_t>(publishes.size()))
      .integer("layout1_bytes", static_cast<int64_t>(cur->layout1->size()))
      .integer("layout2_bytes", static_cast<int64_t>(cur->layout2->size()))
      .num("rss_mb", rss.steady)
      .num("rss_baseline_mb", rss.baseline)
      .num("rss_after_scan_mb", rss.after_scan)
      .num("items_mb", rss.items_mb)
      .integer("rss_cgroups", static_cast<int64_t>(rss.items));
  report(res);
  (*provider)->stop(1000);
  remove_tree(tree_dir);
  if (o.run_dir.empty()) remove_tree(run_dir);
  return rss.items == cur->item_count + 1 ? 0 : 1;  // the probe's extra cgroup
}

// --shape mix|containers|both (default both: one line each, mix first).
int run_provider_scan(const Options& o) {
  auto it = o.extra.find("shape");
  const std::string want = it == o.extra.end() ? "both" : it->second;
  if (want != "mix" && want != "containers" && want != "both") {
    std::fprintf(stderr, "provider-scan: --shape mix|containers|both\n");
    return 2;
  }
  // Each shape in a process of its own: an RSS probe forked after the
  // first shape would inherit (and count) that shape's heap.
  auto isolated = [&o](Shape shape) {
    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid < 0) return 1;
    if (pid == 0) _exit(run_shape(o, shape));
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  };
  int rc = 0;
  if (want != "containers") rc |= isolated(Shape::kMix);
  if (want != "mix") rc |= isolated(Shape::kContainers);
  return rc;
}

}  // namespace

NETIPC_BENCH_SCENARIO("provider-scan",
                      "standalone provider on N cgroups (--items): first scan + publish, "
                      "unchanged rescan, publish, RSS",
                      run_provider_scan);

}  // namespace netipc::bench
