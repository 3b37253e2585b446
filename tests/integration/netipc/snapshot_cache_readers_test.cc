// Readers on several threads look items up while the real refresh path
// (client call, decode, build, publish) replaces the cache again and again.
// Meant for TSan: every item's fields encode its generation, so a reader
// can tell a torn or half-built snapshot from a consistent one.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "cache_test_util.h"
#include "netipc/snapshot_cache_client.h"
#include "test_support.h"

namespace netipc {
namespace {

using cache_test::item_of;
using cache_test::items_of;
using cache_test::TestProvider;

constexpr size_t kItems = 64;

// Generation g serves kItems - g % 8 items built by item_of(g, i).
size_t items_in(uint64_t g) {
  return kItems - static_cast<size_t>(g % 8);
}

TEST(SnapshotCacheReaders, LookupsDuringRefreshesSeeOnlyWholeGenerations) {
  test::TempDir dir;
  const std::string service = test::unique_service("cacher");
  auto provider = TestProvider::start(dir.path(), service, 0);
  ASSERT_TRUE(provider);

  ClientConfig c;
  c.run_dir = dir.path();
  c.service = service;
  auto made = SnapshotCache::create(c);
  ASSERT_TRUE(made.ok());
  SnapshotCache& cache = **made;

  // Names (and hashes) are the same in every generation.
  std::vector<CgroupItem> keys = items_of(0, kItems);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0};
  constexpr size_t kReaders = 4;
  std::vector<std::atomic<uint64_t>> lookups(kReaders), found(kReaders);
  std::vector<std::thread> readers;
  for (size_t t = 0; t < kReaders; ++t) {
    readers.emplace_back([&, t] {
      size_t k = t;
      while (!stop.load(std::memory_order_relaxed)) {
        ReadGuard g = cache.guard();
        if (!g.populated()) continue;
        // Which generation this guard pinned: item 0 says it (and so must
        // every other item under the same guard).
        const CgroupItemView* first = g.find(keys[0].hash, keys[0].name);
        if (first == nullptr) {
          bad.fetch_add(1);
          continue;
        }
        const uint64_t gen = first->cgroup_id / 1000000;
        if (g.generation() != gen || g.item_count() != items_in(gen)) bad.fetch_add(1);
        for (int n = 0; n < 32; ++n, k = (k + 7) % kItems) {
          const CgroupItemView* v = g.find(keys[k].hash, keys[k].name);
          lookups[t].fetch_add(1, std::memory_order_relaxed);
          if (k >= items_in(gen)) {
            if (v != nullptr) bad.fetch_add(1);
            continue;
          }
          if (v == nullptr) {
            bad.fetch_add(1);
            continue;
          }
          found[t].fetch_add(1, std::memory_order_relaxed);
          const CgroupItem want = item_of(gen, k);
          if (v->cgroup_id != want.cgroup_id || v->options != want.options ||
              v->path != want.path || v->name != want.name) {
            bad.fetch_add(1);
          }
        }
      }
    });
  }

  constexpr uint64_t kGenerations = 40;
  uint64_t published = 0;
  for (uint64_t g = 1; g <= kGenerations; ++g) {
    // The publisher numbers generations itself (one per change): serve
    // content for the number it will assign.
    published = provider->publish(items_of(g, items_in(g)));
    ASSERT_EQ(published, g);
    RefreshOutcome out;
    ASSERT_TRUE(cache.refresh(0, &out).ok()) << out.error.message();
    ASSERT_EQ(out.generation, g);
    if (g == 1) {
      // Every reader is looking items up before the replacements start.
      ASSERT_TRUE(test::wait_until([&] {
        for (const auto& l : lookups) {
          if (l.load() == 0) return false;
        }
        return true;
      }));
    }
  }
  stop.store(true);
  for (auto& r : readers)
    r.join();

  EXPECT_EQ(bad.load(), 0u);
  for (size_t t = 0; t < kReaders; ++t) {
    EXPECT_GT(lookups[t].load(), 0u) << "reader " << t;
    EXPECT_GT(found[t].load(), 0u) << "reader " << t;
  }
  const CacheStatus st = cache.status();
  EXPECT_EQ(st.refresh_success_count, kGenerations);
  EXPECT_EQ(st.generation, published);
  // Replaced snapshots were freed: only the current one (and nothing a
  // reader still pins) is alive once the store is synchronised.
  ASSERT_TRUE(cache.store()->synchronize().ok());
  EXPECT_EQ(cache.store()->reclaim(), 0u);
}

}  // namespace
}  // namespace netipc
