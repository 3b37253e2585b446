// cache-lookup: lookups/s of the Level-3 cache (Snapshot behind a
// SnapshotStore ReadGuard) against the reference index of upstream's C cache,
// at 16 and 100,000 items, for hits and misses, with and without a writer
// thread that rebuilds and publishes a new snapshot as fast as it can.
//
// Reference (implemented here exactly as docs/levels.md §3.2 rule 5 describes it):
// next_pow2(2n) buckets holding item index + 1, key = hash XOR djb2(name)
// (djb2: 5381, h = h * 33 + byte), linear probing, items with owned
// std::string names. Under a concurrent writer it is guarded like upstream's
// cache: readers take a read lock (pthread rwlock) per batch, the writer swaps
// the rebuilt index under the write lock.
//
// Both sides run the same pre-generated query stream (random order, names
// stored contiguously in query order) and read one field of every result.
// Latency percentiles are per batch of 256 lookups (one guard / read lock per
// batch), not per lookup. One JSON line per configuration.
#include <malloc.h>
#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "netipc/bytes.h"
#include "netipc/cgroup_item.h"
#include "netipc/snapshot.h"
#include "netipc/snapshot_cache.h"

namespace netipc::bench {
namespace {

constexpr size_t kBatch = 256;

// --- workload ---------------------------------------------------------------

std::string name_of(size_t i) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "cgroup_k8s_ns%02zu_pod_%08zx_c%zu", i % 64, i * 2654435761u,
                i % 3);
  return buf;
}
std::string path_of(size_t i) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/pod%08zx/c%zu/cgroup.procs",
                i * 2654435761u, i % 3);
  return buf;
}

std::vector<CgroupItem> make_items(size_t n) {
  std::vector<CgroupItem> items(n);
  for (size_t i = 0; i < n; ++i) {
    items[i].name = name_of(i);
    items[i].path = path_of(i);
    items[i].hash = fnv1a32(items[i].name);
    items[i].options = (i % 5 == 0) ? kCgroupOptSystemdService : 0;
    items[i].enabled = 1;
    items[i].cgroup_id = 1000 + i;
  }
  return items;
}

std::shared_ptr<const Snapshot> build_ours(const std::vector<CgroupItem>& items, uint64_t gen) {
  SnapshotBuilder b;
  b.set_generation(gen);
  size_t bytes = 0;
  for (const auto& it : items)
    bytes += it.name.size() + it.path.size();
  if (!b.reserve(items.size(), bytes).ok()) return nullptr;
  for (const auto& it : items) {
    if (!b.add(CgroupItemView{it.hash, it.options, it.enabled, it.name, it.path, it.cgroup_id})
             .ok()) {
      return nullptr;
    }
  }
  auto r = b.finish();
  return r.ok() ? std::move(r).value() : nullptr;
}

// The same items, generated one at a time (no source copy left behind).
std::shared_ptr<const Snapshot> build_ours_generated(size_t n, uint64_t gen) {
  SnapshotBuilder b;
  b.set_generation(gen);
  if (!b.reserve(n, n * 128).ok()) return nullptr;
  for (size_t i = 0; i < n; ++i) {
    const std::string name = name_of(i), path = path_of(i);
    const uint32_t options = (i % 5 == 0) ? kCgroupOptSystemdService : 0;
    if (!b.add(CgroupItemView{fnv1a32(name), options, 1, name, path, 1000 + i}).ok()) {
      return nullptr;
    }
  }
  auto r = b.finish();
  return r.ok() ? std::move(r).value() : nullptr;
}

struct Query {
  uint32_t hash;
  uint32_t len;
  const char* name;
};

struct QueryStream {
  std::vector<char> arena;
  std::vector<Query> q;  // size is a power of two
};

QueryStream make_queries(size_t items, bool hit, size_t count) {
  std::mt19937_64 rng(items * 31 + (hit ? 1 : 2));
  std::vector<std::string> names(count);
  size_t bytes = 0;
  for (auto& s : names) {
    size_t i = rng() % items;
    s = hit ? name_of(i) : name_of(i) + "_gone";
    bytes += s.size();
  }
  QueryStream qs;
  qs.arena.resize(bytes);
  qs.q.resize(count);
  size_t off = 0;
  for (size_t k = 0; k < count; ++k) {
    std::memcpy(qs.arena.data() + off, names[k].data(), names[k].size());
    qs.q[k] = Query{fnv1a32(names[k]), static_cast<uint32_t>(names[k].size()), nullptr};
    qs.q[k].name = qs.arena.data() + off;
    off += names[k].size();
  }
  return qs;
}

// --- the reference index ----------------------------------------------------

struct RefItem {
  uint32_t hash, options, enabled;
  std::string name, path;
  uint64_t cgroup_id;
};

inline uint32_t djb2(std::string_view s) {
  uint32_t h = 5381;
  for (char c : s)
    h = h * 33 + static_cast<uint8_t>(c);
  return h;
}

class RefIndex {
 public:
  explicit RefIndex(const std::vector<CgroupItem>& src) {
    items_.reserve(src.size());
    for (const auto& it : src) {
      items_.push_back(RefItem{it.hash, it.options, it.enabled, it.name, it.path, it.cgroup_id});
    }
    size_t n = 1;
    while (n < 2 * items_.size())
      n <<= 1;
    buckets_.assign(n, 0);
    mask_ = n - 1;
    for (size_t i = 0; i < items_.size(); ++i) {
      size_t b = (items_[i].hash ^ djb2(items_[i].name)) & mask_;
      while (buckets_[b] != 0)
        b = (b + 1) & mask_;
      buckets_[b] = static_cast<uint32_t>(i + 1);
    }
  }
  const RefItem* find(uint32_t hash, std::string_view name) const {
    size_t b = (hash ^ djb2(name)) & mask_;
    while (buckets_[b] != 0) {
      const RefItem& it = items_[buckets_[b] - 1];
      if (it.hash == hash && it.name == name) return &it;
      b = (b + 1) & mask_;
    }
    return nullptr;
  }

 private:
  std::vector<RefItem> items_;
  std::vector<uint32_t> buckets_;
  size_t mask_ = 0;
};

struct RefStore {
  pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
  std::unique_ptr<RefIndex> index;
};

// --- measurement ------------------------------------------------------------

// Resident set size after returning freed heap memory to the kernel, so the
// number reflects live data.
long vm_rss_kb() {
  malloc_trim(0);
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

struct RunResult {
  double throughput = 0;
  double p50 = 0, p95 = 0, p99 = 0;
  double publishes_per_s = 0;
  uint64_t found = 0, lookups = 0;
};

// Runs `batch_fn(pos)` (which performs kBatch lookups starting at query pos
// and returns how many were found) until `seconds` pass.
template <typename BatchFn>
RunResult measure(double seconds, size_t query_count, BatchFn batch_fn) {
  LatencyRecorder lat(1 << 22);
  RunResult r;
  size_t pos = 0;
  const uint64_t start = now_ns();
  const uint64_t deadline = start + static_cast<uint64_t>(seconds * 1e9);
  uint64_t t = start;
  while (t < deadline) {
    const uint64_t t0 = t;
    r.found += batch_fn(pos);
    pos = (pos + kBatch) & (query_count - 1);
    r.lookups += kBatch;
    t = now_ns();
    lat.add(t - t0);
  }
  r.throughput = static_cast<double>(r.lookups) / (static_cast<double>(t - start) / 1e9);
  r.p50 = lat.percentile_us(0.50);
  r.p95 = lat.percentile_us(0.95);
  r.p99 = lat.percentile_us(0.99);
  return r;
}

RunResult run_ours(SnapshotStore& store, const QueryStream& qs, double seconds,
                   const std::vector<CgroupItem>* writer_src) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> publishes{0};
  std::thread writer;
  if (writer_src != nullptr) {
    writer = std::thread([&] {
      for (uint64_t gen = 2; !stop.load(std::memory_order_relaxed); ++gen) {
        auto snap = build_ours(*writer_src, gen);
        if (snap && store.publish(std::move(snap)).ok()) publishes.fetch_add(1);
      }
    });
  }
  const Query* q = qs.q.data();
  RunResult r = measure(seconds, qs.q.size(), [&](size_t pos) {
    ReadGuard guard(store);
    uint64_t found = 0;
    for (size_t k = 0; k < kBatch; ++k) {
      const Query& x = q[pos + k];
      const CgroupItemView* v = guard.find(x.hash, std::string_view(x.name, x.len));
      found += v != nullptr ? (v->enabled & 1) : 0;
    }
    return found;
  });
  stop.store(true);
  if (writer.joinable()) writer.join();
  r.publishes_per_s = static_cast<double>(publishes.load()) / seconds;
  return r;
}

RunResult run_reference(RefStore& store, const QueryStream& qs, double seconds,
                        const std::vector<CgroupItem>* writer_src) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> publishes{0};
  std::thread writer;
  const bool locked = writer_src != nullptr;
  if (locked) {
    writer = std::thread([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        auto next = std::make_unique<RefIndex>(*writer_src);
        pthread_rwlock_wrlock(&store.lock);
        store.index.swap(next);
        pthread_rwlock_unlock(&store.lock);
        publishes.fetch_add(1);
      }
    });
  }
  const Query* q = qs.q.data();
  RunResult r = measure(seconds, qs.q.size(), [&](size_t pos) {
    if (locked) pthread_rwlock_rdlock(&store.lock);
    const RefIndex& idx = *store.index;
    uint64_t found = 0;
    for (size_t k = 0; k < kBatch; ++k) {
      const Query& x = q[pos + k];
      const RefItem* v = idx.find(x.hash, std::string_view(x.name, x.len));
      found += v != nullptr ? (v->enabled & 1) : 0;
    }
    if (locked) pthread_rwlock_unlock(&store.lock);
    return found;
  });
  stop.store(true);
  if (writer.joinable()) writer.join();
  r.publishes_per_s = static_cast<double>(publishes.load()) / seconds;
  return r;
}

int run_cache_lookup(const Options& opts) {
  std::vector<size_t> sizes = {16, 100000};
  if (opts.items != 0) sizes = {static_cast<size_t>(opts.items)};
  int rc = 0;
  for (int rep = 0; rep < opts.repetitions; ++rep) {
    for (size_t n : sizes) {
      const long rss_before = vm_rss_kb();
      SnapshotStore store;
      {
        auto snap = build_ours_generated(n, 1);
        if (!snap || !store.publish(std::move(snap)).ok()) {
          std::fprintf(stderr, "cache-lookup: cannot build a %zu-item snapshot\n", n);
          return 1;
        }
      }
      const long rss_ours = vm_rss_kb();  // the cache is what grew
      const size_t cache_bytes = store.acquire()->memory_bytes();
      const std::vector<CgroupItem> items = make_items(n);
      const long rss_items = vm_rss_kb();
      RefStore ref;
      ref.index = std::make_unique<RefIndex>(items);
      const long rss_ref = vm_rss_kb();
      const size_t query_count = n <= 16 ? 4096 : (size_t{1} << 18);
      for (bool hit : {true, false}) {
        // query_count is a multiple of kBatch: a batch never wraps.
        const QueryStream queries = make_queries(n, hit, query_count);
        for (bool concurrent : {false, true}) {
          const std::vector<CgroupItem>* src = concurrent ? &items : nullptr;
          const double cpu0 = process_cpu_seconds();
          const uint64_t w0 = now_ns();
          RunResult ours = run_ours(store, queries, opts.seconds, src);
          const double cpu_pct =
              100.0 * (process_cpu_seconds() - cpu0) / (static_cast<double>(now_ns() - w0) / 1e9);
          RunResult theirs = run_reference(ref, queries, opts.seconds, src);
          const uint64_t want = hit ? ours.lookups : 0;
          const uint64_t want_ref = hit ? theirs.lookups : 0;
          if (ours.found != want || theirs.found != want_ref || ours.throughput <= 0 ||
              theirs.throughput <= 0) {
            std::fprintf(stderr, "cache-lookup: wrong results (ours %llu/%llu, ref %llu/%llu)\n",
                         static_cast<unsigned long long>(ours.found),
                         static_cast<unsigned long long>(want),
                         static_cast<unsigned long long>(theirs.found),
                         static_cast<unsigned long long>(want_ref));
            rc = 1;
          }
          JsonLine()
              .str("scenario", "cache-lookup")
              .integer("items", static_cast<int64_t>(n))
              .str("mode", hit ? "hit" : "miss")
              .integer("concurrent_refresh", concurrent ? 1 : 0)
              .num("throughput", ours.throughput)
              .num("reference_throughput", theirs.throughput)
              .num("ratio", ours.throughput / theirs.throughput)
              .num("p50_us", ours.p50)
              .num("p95_us", ours.p95)
              .num("p99_us", ours.p99)
              .num("reference_p50_us", theirs.p50)
              .num("reference_p95_us", theirs.p95)
              .num("reference_p99_us", theirs.p99)
              .str("latency", "per batch of 256 lookups")
              .num("client_cpu_pct", cpu_pct)
              .num("server_cpu_pct", 0)
              .integer("client_rss_kb", rss_ours)
              .integer("cache_bytes", static_cast<int64_t>(cache_bytes))
              .integer("cache_rss_delta_kb", rss_ours - rss_before)
              .integer("reference_rss_delta_kb", rss_ref - rss_items)
              .num("publishes_per_s", ours.publishes_per_s)
              .num("reference_publishes_per_s", theirs.publishes_per_s)
              .num("seconds", opts.seconds)
              .integer("repetition", rep)
              .print();
        }
      }
    }
  }
  return rc;
}

NETIPC_BENCH_SCENARIO("cache-lookup",
                      "Level-3 cache lookups/s vs the reference index (16 and 100k items, "
                      "hit/miss, with/without a concurrent writer)",
                      run_cache_lookup);

}  // namespace
}  // namespace netipc::bench
