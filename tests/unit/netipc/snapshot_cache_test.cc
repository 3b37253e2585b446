// SnapshotStore / ReadGuard: publication, pinning, copy-out, status block,
// failure bookkeeping, and a concurrency stress test meant for TSan.
#include "netipc/snapshot_cache.h"

#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "netipc/bytes.h"
#include "test_support.h"

namespace netipc {
namespace {

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

constexpr uint32_t kMaxItems = 48;

std::string item_name(uint32_t i) {
  return "cgroup_item_" + std::to_string(i);
}

// Generation g has kMaxItems - g % 8 items whose fields all encode g, so a
// reader can check that everything it sees under one guard is of one
// generation.
uint32_t items_in(uint64_t g) {
  return kMaxItems - static_cast<uint32_t>(g % 8);
}

void format_path(char* buf, size_t size, uint64_t g, uint32_t i) {
  std::snprintf(buf, size, "/gen/%llu/%u/cgroup.procs", static_cast<unsigned long long>(g), i);
}

std::shared_ptr<const Snapshot> make_generation(uint64_t g) {
  SnapshotBuilder b;
  b.set_generation(g);
  b.set_systemd_enabled(g % 2 == 0);
  for (uint32_t i = 0; i < items_in(g); ++i) {
    std::string name = item_name(i);
    char path[96];
    format_path(path, sizeof path, g, i);
    CgroupItemView v{
        fnv1a32(name), static_cast<uint32_t>(g & 0xFFFF), static_cast<uint32_t>(g & 1), name, path,
        g * 1000 + i};
    if (!b.add(v).ok()) return nullptr;
  }
  auto r = b.finish();
  return r.ok() ? std::move(r).value() : nullptr;
}

// True if `v` is exactly item i of generation g. Allocation-free, so that
// readers in the stress test spend little time inside their guards.
bool consistent(const CgroupItemView* v, uint64_t g, uint32_t i, std::string_view name) {
  if (v == nullptr) return false;
  char path[96];
  format_path(path, sizeof path, g, i);
  return v->cgroup_id == g * 1000 + i && v->options == (g & 0xFFFF) && v->enabled == (g & 1) &&
         v->path == path && v->name == name;
}
bool consistent(const CgroupItemView* v, uint64_t g, uint32_t i) {
  return consistent(v, g, i, item_name(i));
}

TEST(SnapshotStore, EmptyStoreFindsNothing) {
  SnapshotStore store;
  EXPECT_FALSE(store.ready());
  ReadGuard g(store);
  EXPECT_FALSE(g.populated());
  EXPECT_EQ(g.snapshot(), nullptr);
  EXPECT_EQ(g.find(fnv1a32("x"), "x"), nullptr);
  EXPECT_EQ(store.acquire(), nullptr);
}

TEST(SnapshotStore, PublishReplacesTheSnapshotForNewGuards) {
  SnapshotStore store;
  ASSERT_TRUE(store.publish(make_generation(1)).ok());
  {
    ReadGuard g(store);
    EXPECT_EQ(g.generation(), 1u);
    EXPECT_TRUE(consistent(g.find(fnv1a32(item_name(3)), item_name(3)), 1, 3));
  }
  ASSERT_TRUE(store.publish(make_generation(2)).ok());
  ReadGuard g(store);
  EXPECT_EQ(g.generation(), 2u);
  EXPECT_TRUE(consistent(g.find(fnv1a32(item_name(3)), item_name(3)), 2, 3));
  EXPECT_EQ(g.find(fnv1a32(item_name(47)), item_name(47)), nullptr) << "gen 2 has 46 items";
}

TEST(SnapshotStore, ReplacedSnapshotIsFreedOnlyAfterItsGuardsLeave) {
  const uint64_t base = Snapshot::live_instances();
  SnapshotStore store;
  ASSERT_TRUE(store.publish(make_generation(1)).ok());
  std::optional<ReadGuard> pinned(std::in_place, store);
  const CgroupItemView* view = pinned->find(fnv1a32(item_name(5)), item_name(5));
  ASSERT_TRUE(consistent(view, 1, 5));

  // Another thread publishes; it does not wait for our guard.
  std::thread writer([&] { EXPECT_TRUE(store.publish(make_generation(2)).ok()); });
  writer.join();
  {
    ReadGuard fresh(store);
    EXPECT_EQ(fresh.generation(), 2u) << "new guards see the new snapshot at once";
  }
  EXPECT_EQ(store.reclaim(), 1u) << "generation 1 is pinned";
  EXPECT_EQ(Snapshot::live_instances(), base + 2);
  EXPECT_TRUE(consistent(view, 1, 5)) << "view stays valid while its guard lives";

  pinned.reset();
  EXPECT_EQ(store.reclaim(), 0u);
  EXPECT_EQ(Snapshot::live_instances(), base + 1) << "old snapshot freed after the guard left";
}

TEST(SnapshotStore, ReplacedSnapshotIsFreedByPublishWhenNoGuardPinsIt) {
  const uint64_t base = Snapshot::live_instances();
  SnapshotStore store;
  for (uint64_t g = 1; g <= 50; ++g) {
    ASSERT_TRUE(store.publish(make_generation(g)).ok());
    {
      ReadGuard guard(store);  // taken and released between publishes
      EXPECT_EQ(guard.generation(), g);
    }
    EXPECT_EQ(Snapshot::live_instances(), base + 1) << g;
  }
}

// With every retired slot pinned by an old guard, publish() waits rather
// than let memory grow: at most 1 + kMaxRetired snapshots are alive.
TEST(SnapshotStore, PinnedRetiredSnapshotsAreBoundedAndPublishWaitsBeyondTheBound) {
  const uint64_t base = Snapshot::live_instances();
  constexpr uint64_t kExtra = 5;
  const uint64_t total = SnapshotStore::kMaxRetired + 1 + kExtra;
  SnapshotStore store;
  ASSERT_TRUE(store.publish(make_generation(1)).ok());
  std::optional<ReadGuard> pinned(std::in_place, store);
  std::atomic<uint64_t> max_live{0};
  std::thread writer([&] {
    for (uint64_t g = 2; g <= total; ++g) {
      auto snap = make_generation(g);
      EXPECT_TRUE(store.publish(std::move(snap)).ok());
      uint64_t live = Snapshot::live_instances();
      if (live > max_live.load()) max_live.store(live);
    }
  });
  // Generation kMaxRetired + 1 fills the last retired slot; the next publish
  // cannot proceed until `pinned` is gone.
  const uint64_t full_gen = SnapshotStore::kMaxRetired + 1;
  ASSERT_TRUE(test::wait_until([&] { return store.status().generation == full_gen; }));
  EXPECT_EQ(store.reclaim(), SnapshotStore::kMaxRetired);
  EXPECT_EQ(store.status().generation, full_gen) << "publish beyond the bound must wait";
  pinned.reset();
  writer.join();
  EXPECT_EQ(store.status().generation, total);
  EXPECT_LE(max_live.load(), base + 1 + SnapshotStore::kMaxRetired + 1);
  EXPECT_EQ(store.reclaim(), 0u);
  EXPECT_EQ(Snapshot::live_instances(), base + 1);
}

TEST(SnapshotStore, PublishWhileHoldingAGuardIsRefusedInsteadOfDeadlocking) {
  SnapshotStore store;
  ASSERT_TRUE(store.publish(make_generation(1)).ok());
  {
    ReadGuard g(store);
    Status st = store.publish(make_generation(2));
    EXPECT_EQ(st.code(), Errc::kInvalidArgument);
    EXPECT_EQ(store.clear().code(), Errc::kInvalidArgument);
    EXPECT_EQ(store.synchronize().code(), Errc::kInvalidArgument);
  }
  EXPECT_EQ(store.status().generation, 1u);
  EXPECT_EQ(store.status().refresh_success_count, 1u);
  EXPECT_TRUE(store.publish(make_generation(2)).ok()) << "allowed once the guard is gone";
  EXPECT_EQ(store.publish(nullptr).code(), Errc::kInvalidArgument);
}

TEST(SnapshotStore, CopySurvivesTheGuard) {
  SnapshotStore store;
  ASSERT_TRUE(store.publish(make_generation(4)).ok());
  CgroupItem owned;
  CgroupItem reused;
  reused.name.reserve(64);
  reused.path.reserve(64);
  const char* reused_name_buf = reused.name.data();
  {
    ReadGuard g(store);
    const CgroupItemView* v = g.find(fnv1a32(item_name(7)), item_name(7));
    ASSERT_NE(v, nullptr);
    auto r = g.copy(v);
    ASSERT_TRUE(r.ok());
    owned = std::move(r).value();
    ASSERT_TRUE(g.copy(v, &reused).ok());
    EXPECT_EQ(reused.name.data(), reused_name_buf) << "copy into a warm item reuses capacity";
    EXPECT_EQ(g.copy(nullptr).code(), Errc::kInvalidArgument);
    CgroupItemView foreign = *v;  // same fields, not the snapshot's record
    EXPECT_EQ(g.copy(&foreign).code(), Errc::kInvalidArgument);
  }
  ASSERT_TRUE(store.publish(make_generation(5)).ok());  // frees generation 4
  EXPECT_EQ(owned.cgroup_id, 4007u);
  EXPECT_EQ(owned.name, item_name(7));
  EXPECT_EQ(owned.path, "/gen/4/7/cgroup.procs");
  EXPECT_EQ(owned, reused);
}

TEST(SnapshotStore, StatusIsExact) {
  SnapshotStore store;
  CacheStatus s = store.status();
  EXPECT_FALSE(s.populated);
  EXPECT_EQ(s.item_count, 0u);
  EXPECT_EQ(s.generation, 0u);
  EXPECT_EQ(s.refresh_success_count, 0u);
  EXPECT_EQ(s.refresh_failure_count, 0u);
  EXPECT_EQ(s.last_refresh_ts, 0);
  EXPECT_EQ(s.connection_state, ClientState::kDisconnected);

  EXPECT_EQ(store.record_failure(make_error(Errc::kNotFound, "connect")), 1u);
  EXPECT_EQ(store.record_failure(make_error(Errc::kNotFound, "connect")), 2u);
  store.set_connection_state(ClientState::kReady);
  s = store.status();
  EXPECT_FALSE(s.populated);
  EXPECT_FALSE(store.ready());
  EXPECT_EQ(s.refresh_failure_count, 2u);
  EXPECT_EQ(s.consecutive_failures, 2u);
  EXPECT_EQ(s.last_error, Errc::kNotFound);

  const int64_t before = now_ms();
  ASSERT_TRUE(store.publish(make_generation(6)).ok());
  const int64_t after = now_ms();
  s = store.status();
  EXPECT_TRUE(s.populated);
  EXPECT_TRUE(store.ready());
  EXPECT_EQ(s.item_count, items_in(6));
  EXPECT_TRUE(s.systemd_enabled);
  EXPECT_EQ(s.generation, 6u);
  EXPECT_EQ(s.refresh_success_count, 1u);
  EXPECT_EQ(s.refresh_failure_count, 2u);
  EXPECT_EQ(s.consecutive_failures, 0u);
  EXPECT_EQ(s.connection_state, ClientState::kReady);
  EXPECT_EQ(s.last_error, Errc::kNotFound) << "last error is history, not state";
  EXPECT_GE(s.last_refresh_ts, before);
  EXPECT_LE(s.last_refresh_ts, after);

  ASSERT_TRUE(store.publish(make_generation(7)).ok());
  s = store.status();
  EXPECT_EQ(s.item_count, items_in(7));
  EXPECT_FALSE(s.systemd_enabled);
  EXPECT_EQ(s.refresh_success_count, 2u);

  ASSERT_TRUE(store.clear().ok());
  s = store.status();
  EXPECT_FALSE(s.populated);
  EXPECT_EQ(s.item_count, 0u);
  EXPECT_EQ(s.refresh_success_count, 2u) << "counters survive clear()";
  ReadGuard g(store);
  EXPECT_EQ(g.find(fnv1a32(item_name(0)), item_name(0)), nullptr);
}

TEST(SnapshotStore, ConnectionStateIsStoredVerbatim) {
  SnapshotStore store;
  ASSERT_TRUE(store.publish(make_generation(3)).ok());
  for (ClientState st : {ClientState::kConnecting, ClientState::kReady, ClientState::kNotFound,
                         ClientState::kAuthFailed, ClientState::kIncompatible, ClientState::kBroken,
                         ClientState::kDisconnected}) {
    store.set_connection_state(st);
    CacheStatus s = store.status();
    EXPECT_EQ(s.connection_state, st) << client_state_name(st);
    EXPECT_EQ(s.generation, 3u) << "other fields untouched";
    EXPECT_EQ(s.item_count, items_in(3));
    EXPECT_TRUE(s.populated);
  }
}

TEST(SnapshotStore, CacheKeepsPreviousSnapshotWhenRefreshFails) {
  SnapshotStore store;
  ASSERT_TRUE(store.publish(make_generation(9)).ok());
  for (Errc e : {Errc::kTimeout, Errc::kPeerGone, Errc::kBadItemCount, Errc::kNoMemory}) {
    store.record_failure(make_error(e, "refresh"));
    ReadGuard g(store);
    EXPECT_EQ(g.generation(), 9u);
    EXPECT_TRUE(consistent(g.find(fnv1a32(item_name(1)), item_name(1)), 9, 1));
    EXPECT_EQ(store.status().last_error, e);
  }
  CacheStatus s = store.status();
  EXPECT_TRUE(s.populated);
  EXPECT_EQ(s.generation, 9u);
  EXPECT_EQ(s.refresh_failure_count, 4u);
  EXPECT_EQ(s.consecutive_failures, 4u);
  EXPECT_EQ(s.refresh_success_count, 1u);
}

TEST(SnapshotStore, AcquiredReferenceOutlivesReplacementWithoutBlockingIt) {
  const uint64_t base = Snapshot::live_instances();
  SnapshotStore store;
  ASSERT_TRUE(store.publish(make_generation(1)).ok());
  std::shared_ptr<const Snapshot> held = store.acquire();
  ASSERT_TRUE(store.publish(make_generation(2)).ok()) << "acquire() holders never block";
  EXPECT_EQ(store.reclaim(), 0u) << "the store's own reference is released";
  EXPECT_EQ(held->generation(), 1u);
  EXPECT_TRUE(consistent(held->find(fnv1a32(item_name(2)), item_name(2)), 1, 2));
  EXPECT_EQ(Snapshot::live_instances(), base + 2);
  held.reset();
  EXPECT_EQ(Snapshot::live_instances(), base + 1);
}

// Readers look items up continuously while a writer publishes thousands of
// generations. Every item found under one guard must belong to the guard's
// generation; generations never go backwards on a thread; status copies are
// never torn; every replaced snapshot is freed by the time publish() returns.
// Run under TSan to check the memory ordering (build-cache-tsan).
TEST(SnapshotStore, ConcurrentReadersSeeWholeGenerationsWhileWriterPublishes) {
  constexpr int kReaders = 3;
  constexpr uint64_t kGenerations = 2500;
  const uint64_t base = Snapshot::live_instances();
  SnapshotStore store;
  ASSERT_TRUE(store.publish(make_generation(1)).ok());

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad_items{0}, bad_status{0}, backwards{0}, lookups{0};
  std::atomic<uint64_t> copies_ok{0};
  std::vector<std::thread> readers;
  std::vector<uint64_t> distinct(kReaders, 0);
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      uint64_t last_gen = 0;
      uint64_t seen = 0;
      uint32_t i = static_cast<uint32_t>(r);
      std::vector<std::string> names;
      std::vector<uint32_t> hashes;
      for (uint32_t n = 0; n < kMaxItems; ++n) {
        names.push_back(item_name(n));
        hashes.push_back(fnv1a32(names.back()));
      }
      CgroupItem copy;
      while (!stop.load(std::memory_order_relaxed)) {
        uint64_t g = 0;
        uint32_t copied = kMaxItems;  // index of the item copied this round, if any
        {
          ReadGuard guard(store);
          g = guard.generation();
          if (guard.item_count() != items_in(g)) bad_items.fetch_add(1);
          for (int k = 0; k < 8; ++k, i = (i + 7) % kMaxItems) {
            const CgroupItemView* v = guard.find(hashes[i], names[i]);
            const bool expected = i < items_in(g);
            if (expected ? !consistent(v, g, i, names[i]) : v != nullptr) bad_items.fetch_add(1);
            lookups.fetch_add(1, std::memory_order_relaxed);
            if (expected && copied == kMaxItems && ((g & 7) == 0 || g == kGenerations) &&
                guard.copy(v, &copy).ok()) {
              copied = i;
            }
          }
        }
        if (copied != kMaxItems) {
          // The copy outlives the guard (and possibly the snapshot).
          char path[96];
          format_path(path, sizeof path, g, copied);
          if (copy.cgroup_id != g * 1000 + copied || copy.path != path) bad_items.fetch_add(1);
          copies_ok.fetch_add(1, std::memory_order_relaxed);
        }
        // Readers outnumber the cores; yielding keeps the writer (whose
        // progress bounds the test's duration) from starving.
        std::this_thread::yield();
        if (g < last_gen) backwards.fetch_add(1);
        if (g != last_gen) ++seen;
        last_gen = g;
        CacheStatus s = store.status();
        if (s.generation != s.refresh_success_count || s.item_count != items_in(s.generation) ||
            s.systemd_enabled != (s.generation % 2 == 0)) {
          bad_status.fetch_add(1);
        }
      }
      distinct[r] = seen;
    });
  }

  uint64_t leaks = 0;
  for (uint64_t g = 2; g <= kGenerations; ++g) {
    auto snap = make_generation(g);
    ASSERT_NE(snap, nullptr);
    ASSERT_TRUE(store.publish(std::move(snap)).ok());
    if (Snapshot::live_instances() > base + 1 + SnapshotStore::kMaxRetired) ++leaks;
    if (g % 100 == 0) store.record_failure(make_error(Errc::kTimeout, "refresh"));
  }
  // The last generation is always copied from, so copies happen even when
  // a loaded machine let the writer finish before readers sampled others.
  ASSERT_TRUE(test::wait_until([&] { return lookups.load() > 0 && copies_ok.load() > 0; }));
  stop.store(true);
  for (auto& t : readers)
    t.join();

  EXPECT_EQ(bad_items.load(), 0u);
  EXPECT_EQ(bad_status.load(), 0u);
  EXPECT_EQ(backwards.load(), 0u);
  EXPECT_EQ(leaks, 0u) << "more replaced snapshots alive than the bound allows";
  EXPECT_GT(copies_ok.load(), 0u);
  uint64_t total_distinct = 0;
  for (uint64_t d : distinct)
    total_distinct += d;
  EXPECT_GT(total_distinct, static_cast<uint64_t>(kReaders)) << "readers overlapped publishes";
  CacheStatus s = store.status();
  EXPECT_EQ(s.refresh_success_count, kGenerations);
  EXPECT_EQ(s.refresh_failure_count, kGenerations / 100);
  EXPECT_EQ(store.reclaim(), 0u) << "no guard left: everything retired is freed";
  EXPECT_EQ(Snapshot::live_instances(), base + 1);
}

TEST(SnapshotStore, DestroyingTheStoreFreesItsSnapshot) {
  const uint64_t base = Snapshot::live_instances();
  {
    SnapshotStore store;
    ASSERT_TRUE(store.publish(make_generation(1)).ok());
    EXPECT_EQ(Snapshot::live_instances(), base + 1);
  }
  EXPECT_EQ(Snapshot::live_instances(), base);
}

}  // namespace
}  // namespace netipc
