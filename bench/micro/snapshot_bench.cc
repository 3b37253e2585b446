// Micro benchmarks of the Level-3 snapshot: build time of 1k/10k/100k-item
// snapshots (copy + layout + index) and single lookups (hit and miss), bare
// and through a SnapshotStore ReadGuard.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/cgroup_item.h"
#include "netipc/snapshot.h"
#include "netipc/snapshot_cache.h"

namespace {

using netipc::CgroupItem;
using netipc::CgroupItemView;
using netipc::Snapshot;
using netipc::SnapshotBuilder;

std::vector<CgroupItem> make_items(size_t n) {
  std::vector<CgroupItem> items(n);
  char buf[160];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "cgroup_k8s_ns%02zu_pod_%08zx_c%zu", i % 64, i * 2654435761u,
                  i % 3);
    items[i].name = buf;
    std::snprintf(buf, sizeof buf,
                  "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/pod%08zx/cgroup.procs",
                  i * 2654435761u);
    items[i].path = buf;
    items[i].hash = netipc::fnv1a32(items[i].name);
    items[i].enabled = 1;
    items[i].cgroup_id = i;
  }
  return items;
}

std::shared_ptr<const Snapshot> build(const std::vector<CgroupItem>& items) {
  SnapshotBuilder b;
  (void)b.reserve(items.size());
  for (const auto& it : items) {
    (void)b.add(CgroupItemView{it.hash, it.options, it.enabled, it.name, it.path, it.cgroup_id});
  }
  auto r = b.finish();
  return r.ok() ? std::move(r).value() : nullptr;
}

void BM_SnapshotBuild(benchmark::State& state) {
  const auto items = make_items(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto snap = build(items);
    if (!snap) state.SkipWithError("build failed");
    benchmark::DoNotOptimize(snap.get());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SnapshotBuild)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

struct Keys {
  std::vector<std::string> names;
  std::vector<uint32_t> hashes;
};

Keys make_keys(const std::vector<CgroupItem>& items, bool hit) {
  std::mt19937 rng(42);
  Keys k;
  for (int i = 0; i < 4096; ++i) {
    const auto& it = items[rng() % items.size()];
    k.names.push_back(hit ? it.name : it.name + "_gone");
    k.hashes.push_back(netipc::fnv1a32(k.names.back()));
  }
  return k;
}

void BM_SnapshotFind(benchmark::State& state) {
  const auto items = make_items(static_cast<size_t>(state.range(0)));
  const bool hit = state.range(1) != 0;
  auto snap = build(items);
  const Keys keys = make_keys(items, hit);
  size_t i = 0, found = 0;
  for (auto _ : state) {
    const CgroupItemView* v = snap->find(keys.hashes[i], keys.names[i]);
    found += v != nullptr;
    benchmark::DoNotOptimize(v);
    i = (i + 1) & 4095;
  }
  if ((found != 0) != hit) state.SkipWithError("wrong lookup results");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SnapshotFind)->ArgsProduct({{16, 1000, 100000}, {1, 0}})->ArgNames({"items", "hit"});

// One guard per lookup: the whole read-side cost a caller pays.
void BM_GuardedFind(benchmark::State& state) {
  const auto items = make_items(static_cast<size_t>(state.range(0)));
  netipc::SnapshotStore store;
  if (!store.publish(build(items)).ok()) state.SkipWithError("publish failed");
  const Keys keys = make_keys(items, true);
  size_t i = 0;
  for (auto _ : state) {
    netipc::ReadGuard guard(store);
    benchmark::DoNotOptimize(guard.find(keys.hashes[i], keys.names[i]));
    i = (i + 1) & 4095;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GuardedFind)->Arg(16)->Arg(100000);

}  // namespace
