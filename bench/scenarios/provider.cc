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
#include "cgroup_tree.h"
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
using cgroup_tree::build_tree;
using cgroup_tree::kSlices;
using cgroup_tree::Shape;
using cgroup_tree::shape_name;
using cgroup_tree::touch_at;

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

using Clock = std::chrono::steady_clock;

// What one shape measures, in milliseconds unless named otherwise.
struct ScanTimes {
  std::vector<double> first_scan, first_publish;  // a fresh scanner each
  std::vector<double> rescans;                    // unchanged rescans
  double rescan_wall_s = 0, rescan_cpu_s = 0;
  std::vector<double> encode;  // publishes of changed sets
};

// First scans, each with a fresh scanner, and their publish. Leaves the last
// scanner and item set behind for the steady-state phases.
bool time_first_scans(const std::string& root, size_t max_cgroups, int reps,
                      CgroupsProvider& provider, ScanTimes* t, std::unique_ptr<Scanner>* scanner,
                      CgroupsProvider::Items* items) {
  for (int r = 0; r < reps; ++r) {
    auto s = make_scanner(root, max_cgroups);
    if (!s.ok()) return false;
    *scanner = std::make_unique<Scanner>(std::move(*s));
    const auto t0 = Clock::now();
    auto scan = (*scanner)->scan();
    const auto t1 = Clock::now();
    if (!scan.ok()) return false;
    // A different vector each time: generation changes, full encode.
    *items = std::make_shared<const std::vector<CgroupItem>>(*scan->items);
    if (r % 2 == 1) {
      auto v = std::make_shared<std::vector<CgroupItem>>(**items);
      if (!v->empty()) v->back().enabled ^= 1;
      *items = std::move(v);
    }
    if (!provider.publish_now(*items).ok()) return false;
    t->first_scan.push_back(ms_between(t0, t1));
    t->first_publish.push_back(ms_between(t1, Clock::now()));
  }
  return true;
}

// Unchanged rescans, for `seconds` (at least 5).
bool time_rescans(Scanner& scanner, double seconds, ScanTimes* t) {
  const double cpu0 = thread_cpu_seconds();
  const auto start = Clock::now();
  while (t->rescans.size() < 5 ||
         (ms_between(start, Clock::now()) < seconds * 1000 && t->rescans.size() < 100000)) {
    const auto t0 = Clock::now();
    auto scan = scanner.scan();
    if (!scan.ok() || scan->changed) return false;
    t->rescans.push_back(ms_between(t0, Clock::now()));
  }
  t->rescan_wall_s = ms_between(start, Clock::now()) / 1000;
  t->rescan_cpu_s = thread_cpu_seconds() - cpu0;
  return true;
}

// Publishing changed sets (alternating two contents), for half of `seconds`.
bool time_publishes(CgroupsProvider& provider, const CgroupsProvider::Items& items, double seconds,
                    ScanTimes* t) {
  auto other = std::make_shared<std::vector<CgroupItem>>(*items);
  if (!other->empty()) other->front().enabled ^= 1;
  CgroupsProvider::Items sets[2] = {items, std::move(other)};
  const auto pstart = Clock::now();
  while (t->encode.size() < 3 ||
         (ms_between(pstart, Clock::now()) < seconds * 500 && t->encode.size() < 10000)) {
    auto out = provider.publish_now(sets[(t->encode.size() + 1) % 2]);
    if (!out.ok() || !out->changed) return false;
    t->encode.push_back(out->encode_ms);
  }
  return true;
}

RunResult scan_result(size_t n, Shape shape, int first_reps, const ScanTimes& t,
                      const cgroups_provider::EncodedSnapshot& cur, const RssReport& rss) {
  RunResult res;
  res.scenario = "provider-scan";
  res.unit = "scans";
  double mean_ms = 0;
  for (double v : t.rescans)
    mean_ms += v;
  mean_ms /= static_cast<double>(t.rescans.size());
  res.throughput = mean_ms > 0 ? 1000.0 / mean_ms : 0;
  res.p50_us = quantile(t.rescans, 0.50) * 1000;
  res.p95_us = quantile(t.rescans, 0.95) * 1000;
  res.p99_us = quantile(t.rescans, 0.99) * 1000;
  res.client_cpu_pct = t.rescan_wall_s > 0 ? 100.0 * t.rescan_cpu_s / t.rescan_wall_s : 0;
  res.server_cpu_pct = 0;
  res.extra.integer("items", static_cast<int64_t>(n))
      .integer("cgroups", static_cast<int64_t>(cur.item_count))
      .str("tree", "tmpfs (/dev/shm), v2 shape")
      .str("shape", shape_name(shape))
      .num("layout1_bytes_per_item",
           cur.item_count ? static_cast<double>(cur.layout1->size()) / cur.item_count : 0)
      .num("layout2_bytes_per_item",
           cur.item_count ? static_cast<double>(cur.layout2->size()) / cur.item_count : 0)
      .str("percentiles_of", "unchanged rescan wall time")
      .integer("rescans", static_cast<int64_t>(t.rescans.size()))
      .num("first_scan_ms", quantile(t.first_scan, 0.5))
      .num("first_publish_ms", quantile(t.first_publish, 0.5))
      .integer("first_reps", first_reps)
      .num("encode_ms_p50", quantile(t.encode, 0.5))
      .num("encode_ms_p95", quantile(t.encode, 0.95))
      .integer("publishes", static_cast<int64_t>(t.encode.size()))
      .integer("layout1_bytes", static_cast<int64_t>(cur.layout1->size()))
      .integer("layout2_bytes", static_cast<int64_t>(cur.layout2->size()))
      .num("rss_mb", rss.steady)
      .num("rss_baseline_mb", rss.baseline)
      .num("rss_after_scan_mb", rss.after_scan)
      .num("items_mb", rss.items_mb)
      .integer("rss_cgroups", static_cast<int64_t>(rss.items));
  return res;
}

int run_shape(const Options& o, Shape shape) {
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
  ScanTimes t;
  std::unique_ptr<Scanner> scanner;
  CgroupsProvider::Items items;
  if (!time_first_scans(root, max_cgroups, first_reps, **provider, &t, &scanner, &items) ||
      !time_rescans(*scanner, o.seconds, &t) || !time_publishes(**provider, items, o.seconds, &t)) {
    return 1;
  }
  auto cur = (*provider)->current();
  report(scan_result(n, shape, first_reps, t, *cur, rss));
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
