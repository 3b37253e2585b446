// SnapshotCache against a real provider (SnapshotPublisher on a libuv
// server thread, real Unix sockets): success, status, lookups, lifecycle
// without a server, provider stop and restart, sticky auth failure, close.
// Failure paths (malformed, timeout, abort, layout fallback) are in
// snapshot_cache_failure_test.cc; concurrency in snapshot_cache_readers_test.cc.
#include "netipc/snapshot_cache_client.h"

#include <gtest/gtest.h>
#include <time.h>

#include <string>
#include <vector>

#include "cache_test_util.h"
#include "test_support.h"

namespace netipc {
namespace {

using cache_test::item_of;
using cache_test::items_of;
using cache_test::TestProvider;

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

class SnapshotCacheTest : public ::testing::Test {
 protected:
  std::unique_ptr<SnapshotCache> make_cache(uint64_t token = 0) {
    return cache_test::make_cache(dir_.path(), service_, 0, token);
  }
  // Every served item is found with all fields equal.
  static void expect_serves(const SnapshotCache& cache, const std::vector<CgroupItem>& items,
                            bool with_ids = true) {
    ReadGuard g = cache.guard();
    ASSERT_TRUE(g.populated());
    ASSERT_EQ(g.item_count(), items.size());
    for (const CgroupItem& want : items) {
      const CgroupItemView* v = g.find(want.hash, want.name);
      ASSERT_NE(v, nullptr) << want.name;
      CgroupItem got;
      ASSERT_TRUE(g.copy(v, &got).ok());
      CgroupItem w = want;
      if (!with_ids) w.cgroup_id = 0;
      EXPECT_EQ(got, w) << want.name;
    }
  }

  test::TempDir dir_;
  std::string service_ = test::unique_service("cache");
};

TEST_F(SnapshotCacheTest, CreateRejectsOtherMethodsAndLayouts) {
  ClientConfig c;
  c.run_dir = dir_.path();
  c.service = service_;
  c.method = static_cast<uint16_t>(wire::Method::kIncrement);
  EXPECT_EQ(SnapshotCache::create(c).code(), Errc::kInvalidArgument);
  c.method = 0;
  SnapshotCacheOptions o;
  o.layout = 3;
  EXPECT_EQ(SnapshotCache::create(c, o).code(), Errc::kInvalidArgument);
  c.run_dir = "";
  EXPECT_EQ(SnapshotCache::create(c).code(), Errc::kInvalidArgument);
}

TEST_F(SnapshotCacheTest, RefreshPublishesTheProviderSnapshotWithExactStatus) {
  auto p = TestProvider::start(dir_.path(), service_, 41);
  const auto items = items_of(7, 50);
  const uint64_t gen = p->publish(items, 1);
  auto cache = make_cache();
  ASSERT_TRUE(cache);

  const CacheStatus before = cache->status();
  EXPECT_FALSE(before.populated);
  EXPECT_EQ(before.connection_state, ClientState::kDisconnected);
  EXPECT_EQ(before.last_refresh_ts, 0);

  const int64_t t0 = now_ms();
  RefreshOutcome out;
  ASSERT_TRUE(cache->refresh(0, &out).ok()) << out.error.message();
  EXPECT_TRUE(out.ok());
  EXPECT_FALSE(out.malformed);
  EXPECT_EQ(out.layout, codec::kCgroupsLayoutProtobuf);
  EXPECT_EQ(out.generation, gen);
  EXPECT_EQ(out.item_count, 50u);
  EXPECT_GT(out.payload_bytes, 0u);

  const CacheStatus st = cache->status();
  EXPECT_TRUE(st.populated);
  EXPECT_TRUE(cache->ready());
  EXPECT_TRUE(st.systemd_enabled);
  EXPECT_EQ(st.connection_state, ClientState::kReady);
  EXPECT_EQ(st.item_count, 50u);
  EXPECT_EQ(st.generation, gen);
  EXPECT_EQ(st.refresh_success_count, 1u);
  EXPECT_EQ(st.refresh_failure_count, 0u);
  EXPECT_GE(st.last_refresh_ts, t0);
  EXPECT_LE(st.last_refresh_ts, now_ms());
  EXPECT_EQ(cache->client_status().connect_count, 1u);
  EXPECT_EQ(cache->layout(), codec::kCgroupsLayoutProtobuf);
  expect_serves(*cache, items);

  // Misses, and copy-out.
  {
    ReadGuard g = cache->guard();
    const CgroupItem& first = items.front();
    EXPECT_EQ(g.find(first.hash ^ 1, first.name), nullptr);
    EXPECT_EQ(g.find(first.hash, first.name + "x"), nullptr);
  }
  CgroupItem kept;
  ASSERT_TRUE(cache->copy(items[3].hash, items[3].name, &kept).ok());
  EXPECT_EQ(kept, items[3]);
  EXPECT_EQ(cache->copy(1, "cgroup_nope", &kept).code(), Errc::kNotFound);

  // The session stays open between refreshes.
  ASSERT_TRUE(cache->refresh().ok());
  EXPECT_EQ(cache->client_status().connect_count, 1u);
  EXPECT_EQ(cache->client_status().reconnect_count, 0u);
  EXPECT_EQ(cache->status().refresh_success_count, 2u);
}

TEST_F(SnapshotCacheTest, WithoutAServerRefreshFailsUntilOneAppears) {
  auto cache = make_cache();
  ASSERT_TRUE(cache);
  for (uint64_t i = 1; i <= 3; ++i) {
    RefreshOutcome out;
    EXPECT_EQ(cache->refresh(0, &out).code(), Errc::kNotFound);
    EXPECT_EQ(out.consecutive_failures, i);
    const CacheStatus st = cache->status();
    EXPECT_FALSE(st.populated);
    EXPECT_EQ(st.connection_state, ClientState::kNotFound);
    EXPECT_EQ(st.refresh_failure_count, i);
    EXPECT_EQ(st.refresh_success_count, 0u);
    EXPECT_EQ(st.last_error, Errc::kNotFound);
    EXPECT_EQ(st.last_refresh_ts, 0);
    ReadGuard g = cache->guard();
    EXPECT_FALSE(g.populated());
    EXPECT_EQ(g.find(item_of(1, 0).hash, item_of(1, 0).name), nullptr);
  }
  // The consumer never gives up: the provider appears late.
  auto p = TestProvider::start(dir_.path(), service_);
  const auto items = items_of(2, 10);
  p->publish(items);
  ASSERT_TRUE(cache->refresh().ok());
  const CacheStatus st = cache->status();
  EXPECT_TRUE(st.populated);
  EXPECT_EQ(st.connection_state, ClientState::kReady);
  EXPECT_EQ(st.refresh_failure_count, 3u);
  EXPECT_EQ(st.consecutive_failures, 0u);
  EXPECT_EQ(st.refresh_success_count, 1u);
  EXPECT_EQ(cache->client_status().connect_count, 1u);
  expect_serves(*cache, items);
}

TEST_F(SnapshotCacheTest, StoppedProviderKeepsThePreviousSnapshot) {
  auto p = TestProvider::start(dir_.path(), service_);
  const auto items = items_of(3, 20);
  const uint64_t gen = p->publish(items);
  auto cache = make_cache();
  ASSERT_TRUE(cache);
  ASSERT_TRUE(cache->refresh().ok());
  p->stop();

  RefreshOutcome out;
  EXPECT_FALSE(cache->refresh(0, &out).ok());
  EXPECT_FALSE(out.malformed);
  const CacheStatus st = cache->status();
  EXPECT_TRUE(st.populated);
  EXPECT_EQ(st.generation, gen);
  EXPECT_EQ(st.item_count, 20u);
  EXPECT_EQ(st.refresh_success_count, 1u);
  EXPECT_EQ(st.refresh_failure_count, 1u);
  EXPECT_NE(st.connection_state, ClientState::kReady);
  expect_serves(*cache, items);
}

TEST_F(SnapshotCacheTest, RestartedProviderIsPickedUpByTheNextRefresh) {
  auto p = TestProvider::start(dir_.path(), service_, 1);
  const auto old_items = items_of(1, 15);
  const uint64_t old_gen = p->publish(old_items);
  auto cache = make_cache();
  ASSERT_TRUE(cache);
  ASSERT_TRUE(cache->refresh().ok());

  // Restart with other content and a later generation, between refreshes:
  // the next refresh finds the dead session, reconnects once and succeeds.
  p->stop();
  p = TestProvider::start(dir_.path(), service_, 500);
  const auto new_items = items_of(9, 25);
  const uint64_t new_gen = p->publish(new_items);
  ASSERT_NE(new_gen, old_gen);
  RefreshOutcome out;
  ASSERT_TRUE(cache->refresh(0, &out).ok()) << out.error.message();
  EXPECT_EQ(out.generation, new_gen);
  EXPECT_EQ(cache->status().generation, new_gen);
  EXPECT_EQ(cache->client_status().reconnect_count, 1u);
  expect_serves(*cache, new_items);

  // A restart with a refresh in between that finds nobody: that refresh
  // fails, the snapshot stays, the next one connects to the new provider.
  p->stop();
  EXPECT_FALSE(cache->refresh().ok());
  EXPECT_EQ(cache->status().generation, new_gen);
  p = TestProvider::start(dir_.path(), service_, 900);
  const uint64_t third_gen = p->publish(items_of(11, 5));
  ASSERT_TRUE(cache->refresh().ok());
  EXPECT_EQ(cache->status().generation, third_gen);
  EXPECT_EQ(cache->status().item_count, 5u);
  EXPECT_EQ(cache->status().refresh_success_count, 3u);
  EXPECT_EQ(cache->status().refresh_failure_count, 1u);
}

TEST_F(SnapshotCacheTest, WrongTokenIsStickyAndKeepsTheCacheEmpty) {
  auto p = TestProvider::start(dir_.path(), service_, 1, 0xABCD);
  p->publish(items_of(1, 3));
  auto cache = make_cache(0x1234);
  ASSERT_TRUE(cache);
  EXPECT_EQ(cache->refresh().code(), Errc::kAuthFailed);
  EXPECT_EQ(cache->status().connection_state, ClientState::kAuthFailed);
  ASSERT_TRUE(test::wait_until([&] { return p->stats().sessions_rejected >= 1; }));
  const uint64_t rejected = p->stats().sessions_rejected;
  // Sticky: no new connect attempt reaches the server.
  EXPECT_EQ(cache->refresh().code(), Errc::kAuthFailed);
  EXPECT_EQ(p->stats().sessions_rejected, rejected);
  EXPECT_FALSE(cache->ready());
  // reset_connection() retries (and fails again with the same token).
  cache->reset_connection();
  EXPECT_EQ(cache->status().connection_state, ClientState::kDisconnected);
  EXPECT_EQ(cache->refresh().code(), Errc::kAuthFailed);
  EXPECT_TRUE(test::wait_until([&] { return p->stats().sessions_rejected == rejected + 1; }));
}

TEST_F(SnapshotCacheTest, CloseDropsTheSnapshotAndKeepsCounters) {
  auto p = TestProvider::start(dir_.path(), service_);
  p->publish(items_of(1, 4));
  auto cache = make_cache();
  ASSERT_TRUE(cache);
  ASSERT_TRUE(cache->refresh().ok());
  const uint64_t live = Snapshot::live_instances();
  ASSERT_TRUE(cache->close().ok());
  EXPECT_FALSE(cache->ready());
  EXPECT_EQ(Snapshot::live_instances(), live - 1);
  EXPECT_EQ(cache->status().refresh_success_count, 1u);
  EXPECT_EQ(cache->status().connection_state, ClientState::kDisconnected);
  {
    ReadGuard g = cache->guard();
    EXPECT_FALSE(g.populated());
  }
  // Still usable: the next refresh connects again.
  ASSERT_TRUE(cache->refresh().ok());
  EXPECT_EQ(cache->client_status().connect_count, 2u);
}

TEST_F(SnapshotCacheTest, EmptySnapshotIsPublishedAsEmpty) {
  auto p = TestProvider::start(dir_.path(), service_, 10);
  auto cache = make_cache();
  ASSERT_TRUE(cache);
  ASSERT_TRUE(cache->refresh().ok());
  const CacheStatus st = cache->status();
  EXPECT_TRUE(st.populated);
  EXPECT_EQ(st.item_count, 0u);
  ReadGuard g = cache->guard();
  EXPECT_EQ(g.find(item_of(1, 0).hash, item_of(1, 0).name), nullptr);
}

}  // namespace
}  // namespace netipc
