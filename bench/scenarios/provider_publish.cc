// provider-publish: what the provider costs inside Netdata, where there is
// no scanner: cgroups.plugin's discovery hands its list to a
// CgroupsProvider (own loop and thread, as the glue starts it), which
// encodes both layouts once per generation and serves them.
//
// The provider runs in a child process forked before this process
// allocates anything, so its RSS is the provider's alone. The set is
// bench_items.h's production mix with Netdata's (renamed) names and real
// host paths, about 184 bytes per item in layout 1: the issue's "100k items,
// about 18 MB". The sequence:
//   1. start the provider (baseline RSS);
//   2. hand over N items as the glue does (publish(std::move(list)) from
//      the discovery thread), wait until served (rss_published_mb);
//   3. the parent fetches layout 1 and layout 2 over the Unix socket
//      (rss_after_fetch_mb);
//   4. `changes` more hand-overs of an equally shaped set, each a new
//      generation (hand-over to served: the latency percentiles); the
//      provider's on_generation hook calls malloc_trim(0), as the glue
//      does. rss_mb is measured after them: the steady state, the figure
//      the target (<= 40 MB at 100k, both layouts) is about;
//   5. the parent opens a shared-memory session and fetches over it, and
//      keeps it open while the child measures rss_with_shm_session_mb (the
//      region's pages written with the snapshot are mapped in both).
//
//   netipc-bench provider-publish [--items N] [--repetitions R] [--changes K]
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.h"
#include "bench_items.h"
#include "cgroups_provider/provider.h"
#include "netipc/cgroups_snapshot_client.h"
#include "netipc/log.h"
#include "netipc/wire.h"

namespace netipc::bench {
namespace {

using cgroups_provider::CgroupsProvider;
using cgroups_provider::ProviderConfig;
using Clock = std::chrono::steady_clock;

constexpr const char* kService = "provider-publish";
constexpr double kTargetRssMb = 40.0;  // the design target, at 100k cgroups

// Fields of /proc/self/status, in MiB.
struct Mem {
  double rss = 0, anon = 0, file = 0, shmem = 0, peak = 0;
};

Mem read_mem() {
  Mem m;
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return m;
  char line[256];
  auto field = [&](const char* key, double* out) {
    const size_t n = std::strlen(key);
    if (std::strncmp(line, key, n) == 0) *out = std::strtod(line + n, nullptr) / 1024.0;
  };
  while (std::fgets(line, sizeof line, f) != nullptr) {
    field("VmRSS:", &m.rss);
    field("RssAnon:", &m.anon);
    field("RssFile:", &m.file);
    field("RssShmem:", &m.shmem);
    field("VmHWM:", &m.peak);
  }
  std::fclose(f);
  return m;
}

double process_cpu_now() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

constexpr int kMaxChanges = 64;

// What the child sends back (plain data through a pipe).
struct Report {
  int ok = 0;
  double baseline = 0, published = 0, after_fetch = 0, with_shm = 0;
  Mem steady;
  uint64_t layout1 = 0, layout2 = 0, items = 0, generations = 0;
  int changes = 0;
  double handover_ms[kMaxChanges] = {};
  double encode_ms[kMaxChanges] = {};
  double cpu_s = 0, wall_s = 0;  // the provider process during the changes
};

bool send_byte(int fd, char c) {
  return ::write(fd, &c, 1) == 1;
}

bool expect_byte(int fd, char want) {
  char c = 0;
  return ::read(fd, &c, 1) == 1 && c == want;
}

// The provider process. Protocol: child 'R' (published) -> parent 'F'
// (fetched over UDS) -> child 'S' (steady) -> parent 'M' (SHM session open)
// -> child sends the Report -> parent 'X' (done).
int child(int in, int out, const std::string& run_dir, size_t n, int changes) {
  set_log_level(LogLevel::kWarning);  // no per-generation lines in the output
  Report r;
  ProviderConfig pc;
  pc.run_dir = run_dir;
  pc.service = kService;
  pc.supported_profiles = wire::kProfileUds | wire::kProfileShmHybrid;
  pc.on_generation = [](const cgroups_provider::PublishOutcome&) { ::malloc_trim(0); };
  auto provider = CgroupsProvider::start(pc);
  if (!provider.ok()) return 1;
  CgroupsProvider& p = **provider;
  r.baseline = read_mem().rss;

  auto hand_over = [&](uint64_t salt) -> double {
    std::vector<CgroupItem> list = netdata_items(n, salt);  // the glue's list
    const auto t0 = Clock::now();
    p.publish(std::move(list));
    if (!p.wait_idle(std::chrono::seconds(120))) return -1;
    return ms_since(t0);
  };
  if (hand_over(0) < 0) return 1;
  r.published = read_mem().rss;
  if (!send_byte(out, 'R') || !expect_byte(in, 'F')) return 1;
  r.after_fetch = read_mem().rss;

  const double cpu0 = process_cpu_now();
  const auto w0 = Clock::now();
  for (int i = 0; i < changes; ++i) {
    const uint64_t before = p.stats().generations;
    r.handover_ms[i] = hand_over(static_cast<uint64_t>(i) + 1);
    if (r.handover_ms[i] < 0 || p.stats().generations != before + 1) return 1;
    r.encode_ms[i] = p.stats().last_encode_ms;
  }
  r.cpu_s = process_cpu_now() - cpu0;
  r.wall_s = ms_since(w0) / 1000;
  r.changes = changes;
  r.steady = read_mem();
  const auto stats = p.stats();
  r.layout1 = stats.layout1_bytes;
  r.layout2 = stats.layout2_bytes;
  r.items = stats.item_count;
  r.generations = stats.generations;
  if (!send_byte(out, 'S') || !expect_byte(in, 'M')) return 1;
  r.with_shm = read_mem().rss;
  r.ok = 1;
  if (::write(out, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) return 1;
  if (!expect_byte(in, 'X')) return 1;
  p.stop(1000);
  return 0;
}

Result<CgroupsSnapshotClient> client_for(const std::string& run_dir, uint16_t layout,
                                         uint32_t profiles) {
  CgroupsSnapshotClientConfig c;
  c.run_dir = run_dir;
  c.service = kService;
  c.layout = layout;
  c.supported_profiles = profiles;
  c.preferred_profiles = profiles & wire::kProfileShmHybrid;
  return CgroupsSnapshotClient::create(c);
}

bool fetch_all(CgroupsSnapshotClient* c, size_t n) {
  auto got = c->fetch();
  return got.ok() && (*got)->items.size() == n;
}

int run_once(const Options& o, size_t n, int changes) {
  const std::string run_dir = make_run_dir(o);
  int down[2], up[2];
  if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0) return 1;
  const pid_t pid = ::fork();
  if (pid < 0) return 1;
  if (pid == 0) _exit(child(down[0], up[1], run_dir, n, changes));
  ::close(down[0]);
  ::close(up[1]);
  const int to = down[1], from = up[0];
  int rc = 1;
  Report r;
  do {
    if (!expect_byte(from, 'R')) break;
    {
      auto l1 = client_for(run_dir, 1, wire::kProfileUds);
      auto l2 = client_for(run_dir, 2, wire::kProfileUds);
      if (!l1.ok() || !l2.ok() || !fetch_all(&*l1, n) || !fetch_all(&*l2, n)) break;
    }
    if (!send_byte(to, 'F') || !expect_byte(from, 'S')) break;
    auto shm = client_for(run_dir, 2, wire::kProfileUds | wire::kProfileShmHybrid);
    if (!shm.ok() || !fetch_all(&*shm, n)) break;
    const bool on_shm = shm->status().client.selected_profile == wire::kProfileShmHybrid;
    if (!send_byte(to, 'M')) break;
    if (::read(from, &r, sizeof r) != static_cast<ssize_t>(sizeof r) || r.ok != 1) break;
    send_byte(to, 'X');
    rc = on_shm ? 0 : 1;
  } while (false);
  ::close(to);
  ::close(from);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (o.run_dir.empty()) remove_tree(run_dir);
  if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || r.items != n) {
    std::fprintf(stderr, "provider-publish: run failed (items %zu)\n", n);
    return 1;
  }

  std::vector<double> hand(r.handover_ms, r.handover_ms + r.changes);
  std::vector<double> enc(r.encode_ms, r.encode_ms + r.changes);
  std::sort(hand.begin(), hand.end());
  std::sort(enc.begin(), enc.end());
  auto q = [](const std::vector<double>& v, double f) {
    return v[std::min(v.size() - 1,
                      static_cast<size_t>(f * static_cast<double>(v.size() - 1) + 0.5))];
  };
  double mean = 0;
  for (double v : hand)
    mean += v;
  mean /= static_cast<double>(hand.size());
  RunResult res;
  res.scenario = "provider-publish";
  res.unit = "generations";
  res.throughput = mean > 0 ? 1000.0 / mean : 0;
  res.p50_us = q(hand, 0.50) * 1000;
  res.p95_us = q(hand, 0.95) * 1000;
  res.p99_us = q(hand, 0.99) * 1000;
  res.client_cpu_pct = 0;
  res.server_cpu_pct = r.wall_s > 0 ? 100.0 * r.cpu_s / r.wall_s : 0;
  res.extra.str("latency_of", "hand-over of N items to the new generation served")
      .integer("items", static_cast<int64_t>(r.items))
      .integer("changes", r.changes)
      .integer("layout1_bytes", static_cast<int64_t>(r.layout1))
      .integer("layout2_bytes", static_cast<int64_t>(r.layout2))
      .num("layout1_bytes_per_item", static_cast<double>(r.layout1) / static_cast<double>(n))
      .num("layout2_bytes_per_item", static_cast<double>(r.layout2) / static_cast<double>(n))
      .num("encode_ms_p50", q(enc, 0.5))
      .num("rss_mb", r.steady.rss)
      .num("rss_target_mb", kTargetRssMb)
      .str("rss_within_target", r.steady.rss <= kTargetRssMb ? "yes" : "no")
      .num("rss_baseline_mb", r.baseline)
      .num("rss_published_mb", r.published)
      .num("rss_after_fetch_mb", r.after_fetch)
      .num("rss_anon_mb", r.steady.anon)
      .num("rss_file_mb", r.steady.file)
      .num("rss_shmem_mb", r.steady.shmem)
      .num("rss_peak_mb", r.steady.peak)
      .num("rss_with_shm_session_mb", r.with_shm);
  report(res);
  return 0;
}

int run_provider_publish(const Options& o) {
  const size_t n = o.items != 0 ? static_cast<size_t>(o.items) : 100000;
  int changes = 5;
  auto it = o.extra.find("changes");
  if (it != o.extra.end()) changes = std::atoi(it->second.c_str());
  if (changes < 1 || changes > kMaxChanges) {
    std::fprintf(stderr, "provider-publish: --changes must be 1..%d\n", kMaxChanges);
    return 2;
  }
  for (int i = 0; i < std::max(1, o.repetitions); ++i) {
    if (run_once(o, n, changes) != 0) return 1;
  }
  return 0;
}

}  // namespace

NETIPC_BENCH_SCENARIO("provider-publish",
                      "the provider as embedded in Netdata (no scanner): N items (--items, "
                      "default 100000) handed over, both layouts served; RSS and hand-over time",
                      run_provider_publish);

}  // namespace netipc::bench
