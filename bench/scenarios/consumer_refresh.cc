// consumer-refresh: the ebpf consumer's end-to-end refresh, request ->
// target table updated, against the provider's SnapshotPublisher on the
// production libuv server in a child process (Unix socket, as the consumer
// on a loop uses; sizes announced).
//
//   consumer-refresh [--items N] [--layout 1|2] [--procs files|missing]
//
// N defaults to 1000, 10000 and 100000 in turn. One refresh is
// Consumer::refresh(): the snapshot call, decode + Snapshot build + publish,
// then TargetTable::apply(), which reads one cgroup.procs per enabled item.
// With --procs files (default) every item's path is a real file (a few PIDs
// each, on tmpfs like cgroupfs: /dev/shm, else the run directory); with
// "missing" the paths do not exist (one failed open per item). Latency is per refresh, one in
// flight, wall clock; the phases are reported as call_/build_/apply_p50_ms. The first refresh
// (connect, response ceiling growth, first table) is not sampled: first_refresh_ms.
//
// Memory (client process, VmRSS): cache_rss_kb after two refreshes of a
// SnapshotCache alone (the Level-3 cache, its client session and buffers),
// consumer_rss_kb after the consumer run (cache + target table with one
// Target per enabled item). "_trimmed" values are after malloc_trim(0).
// What the structures themselves hold (bytes, without malloc's per-block
// overhead): cache_bytes, the snapshot; table_bytes, the target table's view
// (table_index_bytes: its arrays; the rest: the targets' blocks).
// Reference: memcpy_us, one memcpy of the response payload; procs_floor_ms,
// the floor of the apply phase: open + one read + close of the same N
// cgroup.procs files in a tight loop (no parsing, no table), measured in
// the same run just before the refreshes (median of 3), and
// apply_over_floor = apply_p50_ms / procs_floor_ms.
//
// Then the same refresh on a libuv loop (Consumer::attach, back to back):
// loop_refresh_p50_ms, and loop_max_gap_ms, the longest gap between the
// ticks of a 1 ms timer on that loop meanwhile (how long the loop was ever
// blocked; the build and the table rebuild run on the threadpool), against
// loop_idle_max_gap_ms, the same timer on an otherwise idle loop; and
// loop_max_busy_ms, the most CPU time the loop thread spent in one loop
// iteration (the gap minus the time the loop waited for a core).
// loop_steady_max_gap_ms and loop_steady_max_busy_ms are the same over the
// refreshes after the first (which connects and has no earlier response to
// size its receive buffer by). loop_rss_kb: VmRSS after those refreshes,
// still attached (the blocking consumer of consumer_rss_kb is gone by then).
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"
#include "ebpf_consumer/consumer.h"
#include "netipc/snapshot_cache_client.h"
#include "netipc/wire.h"
#include "pair.h"
#include "refresh_provider.h"

namespace netipc::bench {
namespace {

using refresh_provider::make_procs_dir;
using refresh_provider::procs_path;
using refresh_provider::serve_child;
using refresh_provider::write_procs;

long vm_rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

double memcpy_us(size_t bytes) {
  std::vector<uint8_t> a(bytes, 1), b(bytes, 0);
  std::vector<double> t;
  for (int i = 0; i < 5; ++i) {
    const uint64_t t0 = now_ns();
    std::memcpy(b.data(), a.data(), bytes);
    t.push_back(static_cast<double>(now_ns() - t0) / 1e3);
    a[i] = b[bytes / 2];
  }
  std::sort(t.begin(), t.end());
  return t[2];
}

// The floor of reading every cgroup.procs: open + read + close, nothing
// else, over the items' paths in order. Median of three passes, in ms.
double procs_floor_ms(const std::string& dir, size_t n) {
  std::vector<std::string> paths;
  paths.reserve(n);
  for (size_t i = 0; i < n; ++i)
    paths.push_back(procs_path(dir, i));
  char buf[4096];
  size_t bytes = 0;
  std::vector<double> t;
  for (int rep = 0; rep < 3; ++rep) {
    const uint64_t t0 = now_ns();
    for (const std::string& p : paths) {
      const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      const ssize_t got = ::read(fd, buf, sizeof buf);
      if (got > 0) bytes += static_cast<size_t>(got);
      ::close(fd);
    }
    t.push_back(static_cast<double>(now_ns() - t0) / 1e6);
  }
  if (bytes == 0) return 0;
  std::sort(t.begin(), t.end());
  return t[1];
}

int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

double median_ms(std::vector<int64_t> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[v.size() / 2]) / 1e6;
}

// RSS of the Level-3 cache alone: two refreshes, then VmRSS.
bool measure_cache_rss(const std::string& dir, uint16_t layout, long* raw, long* trimmed,
                       size_t* cache_bytes) {
  ClientConfig c;
  c.run_dir = dir;
  c.service = "cgroups-snapshot";
  c.call_timeout_ms = 30000;
  SnapshotCacheOptions so;
  so.layout = layout;
  auto cache = SnapshotCache::create(c, so);
  if (!cache.ok() || !(*cache)->refresh().ok() || !(*cache)->refresh().ok()) return false;
  *raw = vm_rss_kb();
  malloc_trim(0);
  *trimmed = vm_rss_kb();
  *cache_bytes = (*cache)->acquire()->memory_bytes();
  return true;
}

// The same consumer attached to a libuv loop (refreshes back to back: the
// interval is 1 ms, ticks that find one running are skipped) while a 1 ms
// timer on the loop records the longest gap between its ticks: how long the
// loop was ever kept from running. Reports the median refresh (call +
// build + apply) and that gap.
struct LoopResult {
  bool ok = false;
  double refresh_p50_ms = 0;
  double max_gap_ms = 0;
  double idle_max_gap_ms = 0;
  double max_busy_ms = 0;
  double steady_max_gap_ms = 0;   // refreshes after the first only
  double steady_max_busy_ms = 0;  // the same
  long rss_kb = 0;                // VmRSS after the last refresh, still attached
  uint64_t ticks = 0;
};

LoopResult run_loop(const std::string& dir, uint16_t layout, size_t n, double seconds) {
  LoopResult out;
  ebpf::ConsumerConfig cfg;
  cfg.run_dir = dir;
  cfg.call_timeout_ms = 30000;
  cfg.layout = layout;
  auto consumer = ebpf::Consumer::create(cfg);
  if (!consumer.ok()) return out;
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct Ticker {
    uv_timer_t timer;
    uint64_t last = 0;
    uint64_t max_gap = 0;
    uint64_t ticks = 0;
  } ticker;
  uv_timer_init(&loop, &ticker.timer);
  ticker.timer.data = &ticker;
  ticker.last = now_ns();
  uv_timer_start(
      &ticker.timer,
      [](uv_timer_t* t) {
        auto* k = static_cast<Ticker*>(t->data);
        const uint64_t now = now_ns();
        k->max_gap = std::max(k->max_gap, now - k->last);
        k->last = now;
        ++k->ticks;
      },
      1, 1);
  // The loop thread's CPU time per loop iteration (prepare to prepare):
  // what the loop itself ran, without the time it waited for a CPU while
  // the threadpool (pinned to the same core) worked.
  struct Busy {
    uv_prepare_t prepare;
    int64_t last = 0;
    int64_t max = 0;
  } busy;
  uv_prepare_init(&loop, &busy.prepare);
  busy.prepare.data = &busy;
  busy.last = thread_cpu_ns();
  uv_prepare_start(&busy.prepare, [](uv_prepare_t* h) {
    auto* b = static_cast<Busy*>(h->data);
    const int64_t now = thread_cpu_ns();
    b->max = std::max(b->max, now - b->last);
    b->last = now;
  });
  // Reference: the same timer with nothing else on the loop.
  const uint64_t idle_end = now_ns() + static_cast<uint64_t>(std::min(seconds, 1.0) * 1e9);
  while (now_ns() < idle_end)
    uv_run(&loop, UV_RUN_ONCE);
  out.idle_max_gap_ms = static_cast<double>(ticker.max_gap) / 1e6;
  ticker.max_gap = 0;
  ticker.ticks = 0;
  busy.max = 0;
  std::vector<int64_t> total;
  bool failed = false;
  // The first refresh (connect, no earlier response to size the receive
  // buffer by) is kept apart: steady_* cover the ones after it.
  uint64_t first_gap = 0;
  int64_t first_busy = 0;
  const Status st = (*consumer)->attach(&loop, 1, [&](const ebpf::ConsumerRefresh& r) {
    if (!r.refresh.ok() || !r.applied || r.apply.targets != n) failed = true;
    total.push_back(r.refresh.call_ns + r.refresh.build_ns + r.apply.duration_ns);
    if (total.size() == 1) {
      first_gap = ticker.max_gap;
      first_busy = busy.max;
      ticker.max_gap = 0;
      busy.max = 0;
    }
  });
  if (!st.ok()) return out;
  const uint64_t end = now_ns() + static_cast<uint64_t>(seconds * 1e9);
  while (!failed && (now_ns() < end || total.size() < 5)) {
    uv_run(&loop, UV_RUN_ONCE);
  }
  out.rss_kb = vm_rss_kb();
  bool detached = false;
  (void)(*consumer)->detach([&] { detached = true; });
  uv_close(reinterpret_cast<uv_handle_t*>(&ticker.timer), nullptr);
  const int64_t busy_max = busy.max;
  uv_close(reinterpret_cast<uv_handle_t*>(&busy.prepare), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  out.ok = !failed && detached && uv_loop_close(&loop) == 0;
  if (!total.empty()) total.erase(total.begin());  // the first includes the connect
  out.refresh_p50_ms = median_ms(total);
  out.steady_max_gap_ms = static_cast<double>(ticker.max_gap) / 1e6;
  out.steady_max_busy_ms = static_cast<double>(busy_max) / 1e6;
  out.max_gap_ms = static_cast<double>(std::max(first_gap, ticker.max_gap)) / 1e6;
  out.ticks = ticker.ticks;
  out.max_busy_ms = static_cast<double>(std::max(first_busy, busy_max)) / 1e6;
  return out;
}

// Memory of the client process (kB of VmRSS) and of its structures (bytes).
struct ClientMemory {
  long base_rss = 0;  // before any cache or consumer
  long cache_rss = 0, cache_rss_trimmed = 0;
  size_t cache_bytes = 0;
  long consumer_rss = 0, consumer_rss_trimmed = 0;
  size_t table_bytes = 0, table_index_bytes = 0;
};

struct RefreshTimes {
  LatencyRecorder lat{1 << 12};
  std::vector<int64_t> call, build, apply;
  uint64_t refreshes = 0;
  double floor_ms = 0;  // procs_floor_ms
};

// Refreshes back to back for `seconds` (at least 5), each one checked; `r`
// is left holding the last one.
bool time_refreshes(ebpf::Consumer& c, size_t n, bool files, double seconds,
                    ebpf::ConsumerRefresh* r, RefreshTimes* t) {
  bool ok = true;
  const uint64_t end = now_ns() + static_cast<uint64_t>(seconds * 1e9);
  while (ok && (now_ns() < end || t->refreshes < 5)) {
    const uint64_t t0 = now_ns();
    ok = c.refresh(0, r).ok() && r->applied && r->apply.targets == n &&
         (!files || r->apply.files_read == n);
    t->lat.add(now_ns() - t0);
    t->call.push_back(r->refresh.call_ns);
    t->build.push_back(r->refresh.build_ns);
    t->apply.push_back(r->apply.duration_ns);
    ++t->refreshes;
  }
  return ok;
}

void add_refresh_fields(RunResult* res, uint16_t layout, size_t n, bool files,
                        const RefreshTimes& t, double first_ms, uint64_t payload,
                        const ebpf::ConsumerRefresh& last, const ClientMemory& mem) {
  const double copy_us = memcpy_us(payload);
  res->extra.integer("items", static_cast<int64_t>(n))
      .integer("layout", layout)
      .str("transport", "uds")
      .str("procs", files ? "files" : "missing")
      .str("latency_is", "request sent to target table published (one refresh, wall clock)")
      .integer("refreshes", static_cast<int64_t>(t.refreshes))
      .num("call_p50_ms", median_ms(t.call))
      .num("build_p50_ms", median_ms(t.build))
      .num("apply_p50_ms", median_ms(t.apply))
      .num("procs_floor_ms", t.floor_ms)
      .num("apply_over_floor", t.floor_ms > 0 ? median_ms(t.apply) / t.floor_ms : 0)
      .num("first_refresh_ms", first_ms)
      .integer("response_payload_bytes", static_cast<int64_t>(payload))
      .integer("targets", static_cast<int64_t>(last.apply.targets))
      .integer("pids", static_cast<int64_t>(last.apply.pids))
      .integer("base_rss_kb", mem.base_rss)
      .integer("cache_rss_kb", mem.cache_rss)
      .integer("cache_rss_trimmed_kb", mem.cache_rss_trimmed)
      .integer("cache_bytes", static_cast<int64_t>(mem.cache_bytes))
      .integer("consumer_rss_kb", mem.consumer_rss)
      .integer("consumer_rss_trimmed_kb", mem.consumer_rss_trimmed)
      .integer("table_bytes", static_cast<int64_t>(mem.table_bytes))
      .integer("table_index_bytes", static_cast<int64_t>(mem.table_index_bytes))
      .num("memcpy_us", copy_us)
      .num("p50_over_memcpy", copy_us > 0 ? res->p50_us / copy_us : 0);
}

// The consumer refreshing on the caller's thread: the first refresh (timed
// apart), then back to back for --seconds, and the memory it then holds.
// The consumer's session is closed on return.
bool measure_consumer(const Options& o, const std::string& dir, const std::string& procs_dir,
                      size_t n, uint16_t layout, bool files, ChildProcess* child,
                      ClientMemory* mem, RunResult* res) {
  ebpf::ConsumerConfig cfg;
  cfg.run_dir = dir;
  cfg.call_timeout_ms = 30000;
  cfg.layout = layout;
  auto consumer = ebpf::Consumer::create(cfg);
  if (!consumer.ok()) return false;
  ebpf::Consumer& c = **consumer;
  ebpf::ConsumerRefresh r;
  const uint64_t f0 = now_ns();
  if (!c.refresh(0, &r).ok() || !r.applied || r.apply.targets != n) {
    std::fprintf(stderr, "netipc-bench: first consumer refresh failed: %s\n",
                 r.refresh.error.message().c_str());
    return false;
  }
  const double first_ms = static_cast<double>(now_ns() - f0) / 1e6;
  const uint64_t payload = r.refresh.payload_bytes;

  RefreshTimes t;
  if (files) t.floor_ms = procs_floor_ms(procs_dir, n);
  Window w(child);
  const bool ok = time_refreshes(c, n, files, o.seconds, &r, &t);
  res->scenario = "consumer-refresh";
  res->unit = "refreshes";
  w.finish(res, t.refreshes);
  mem->consumer_rss = vm_rss_kb();
  malloc_trim(0);
  mem->consumer_rss_trimmed = vm_rss_kb();
  {
    const std::shared_ptr<const ebpf::TargetView> table = c.view();
    mem->table_index_bytes = table->index_bytes();
    mem->table_bytes = mem->table_index_bytes + table->target_bytes();
  }
  if (!ok || c.client_status().connect_count != 1 || c.client_status().reconnect_count != 0) {
    std::fprintf(stderr, "netipc-bench: a refresh failed or reconnected (%s)\n",
                 r.refresh.error.message().c_str());
    return false;
  }
  res->p50_us = t.lat.percentile_us(0.50);
  res->p95_us = t.lat.percentile_us(0.95);
  res->p99_us = t.lat.percentile_us(0.99);
  add_refresh_fields(res, c.layout(), n, files, t, first_ms, payload, r, *mem);
  return true;
}

int run_size(const Options& o, size_t n, uint16_t layout, bool files, int rep) {
  const std::string dir = make_run_dir(o);
  const std::string procs = make_procs_dir(dir);
  const uint64_t s0 = now_ns();
  if (files && !write_procs(procs, n)) {
    std::fprintf(stderr, "netipc-bench: cannot write %zu cgroup.procs files\n", n);
    return 1;
  }
  const double setup_s = static_cast<double>(now_ns() - s0) / 1e9;
  ChildProcess child = ChildProcess::start(
      [&](int ready) { return serve_child(dir, procs, n, ready); }, server_cpu());
  if (!child.valid()) {
    std::fprintf(stderr, "netipc-bench: server child failed to start\n");
    return 1;
  }
  pin_to_cpu(client_cpu());
  malloc_trim(0);
  ClientMemory mem;
  mem.base_rss = vm_rss_kb();
  if (!measure_cache_rss(dir, layout, &mem.cache_rss, &mem.cache_rss_trimmed, &mem.cache_bytes)) {
    std::fprintf(stderr, "netipc-bench: cache refresh failed\n");
    return 1;
  }
  malloc_trim(0);

  RunResult res;
  if (!measure_consumer(o, dir, procs, n, layout, files, &child, &mem, &res)) return 1;
  res.extra.num("procs_setup_s", setup_s).integer("repetition", rep);
  const LoopResult lr = run_loop(dir, layout, n, o.seconds);
  if (!lr.ok) {
    std::fprintf(stderr, "netipc-bench: refreshes on the loop failed\n");
    return 1;
  }
  res.extra.num("loop_refresh_p50_ms", lr.refresh_p50_ms)
      .num("loop_max_gap_ms", lr.max_gap_ms)
      .num("loop_idle_max_gap_ms", lr.idle_max_gap_ms)
      .num("loop_max_busy_ms", lr.max_busy_ms)
      .num("loop_steady_max_gap_ms", lr.steady_max_gap_ms)
      .num("loop_steady_max_busy_ms", lr.steady_max_busy_ms)
      .integer("loop_rss_kb", lr.rss_kb)
      .integer("loop_ticks", static_cast<int64_t>(lr.ticks));
  child.stop();
  remove_tree(procs);
  if (o.run_dir.empty()) remove_tree(dir);
  report(res);
  return 0;
}

int run_consumer_refresh(const Options& o) {
  if (o.layout != 0 && o.layout != 1 && o.layout != 2) {
    std::fprintf(stderr, "netipc-bench: --layout must be 1 or 2\n");
    return 2;
  }
  bool files = true;
  auto p = o.extra.find("procs");
  if (p != o.extra.end()) {
    if (p->second != "files" && p->second != "missing") {
      std::fprintf(stderr, "netipc-bench: --procs must be files or missing\n");
      return 2;
    }
    files = p->second == "files";
  }
  std::vector<size_t> sizes = {1000, 10000, 100000};
  if (o.items != 0) sizes = {static_cast<size_t>(o.items)};
  for (int rep = 0; rep < o.repetitions; ++rep) {
    for (size_t n : sizes) {
      const int rc = run_size(o, n, static_cast<uint16_t>(o.layout), files, rep);
      if (rc != 0) return rc;
    }
  }
  return 0;
}

}  // namespace

NETIPC_BENCH_SCENARIO("consumer-refresh",
                      "ebpf consumer end-to-end refresh (request -> target table updated), "
                      "1k/10k/100k items, provider in a child process; client RSS",
                      run_consumer_refresh);

}  // namespace netipc::bench
