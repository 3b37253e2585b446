// SnapshotCache failure paths against a real provider whose answers the test
// switches: malformed responses (undecodable, and one bad item) keep the
// cache AND drop the session (the next refresh reconnects: connect_count
// goes up), timeout, abort from another thread, the layout-2 -> 1
// fallback for upstream-like peers, and no fallback when layout 2 is forced.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "cache_test_util.h"
#include "netipc/snapshot_cache_client.h"
#include "test_support.h"

namespace netipc {
namespace {

using cache_test::items_of;
using cache_test::Mode;
using cache_test::TestProvider;

class SnapshotCacheFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    provider_ = TestProvider::start(dir_.path(), service_, 100);
    ASSERT_TRUE(provider_);
    items_ = items_of(4, 30);
    gen_ = provider_->publish(items_);
  }
  std::unique_ptr<SnapshotCache> make_cache(uint16_t layout = 0) {
    return cache_test::make_cache(dir_.path(), service_, layout);
  }
  void expect_previous_kept(const SnapshotCache& cache) {
    const CacheStatus st = cache.status();
    EXPECT_TRUE(st.populated);
    EXPECT_EQ(st.generation, gen_);
    EXPECT_EQ(st.item_count, items_.size());
    ReadGuard g = cache.guard();
    for (const CgroupItem& it : items_) {
      const CgroupItemView* v = g.find(it.hash, it.name);
      ASSERT_NE(v, nullptr);
      EXPECT_EQ(v->path, it.path);
    }
  }
  // A malformed answer after a good refresh: the refresh fails as
  // malformed, the cache stays, the session is dropped, and the next good
  // refresh opens a NEW session (connect_count 2, server accepted 2).
  void check_malformed(Mode mode, uint16_t layout) {
    auto cache = make_cache(layout);
    ASSERT_TRUE(cache);
    ASSERT_TRUE(cache->refresh().ok());
    ASSERT_EQ(cache->client_status().connect_count, 1u);

    provider_->set_mode(mode);
    RefreshOutcome out;
    const Status st = cache->refresh(0, &out);
    EXPECT_FALSE(st.ok());
    EXPECT_TRUE(out.malformed);
    EXPECT_EQ(out.error.action(), Action::kMalformedPeer) << out.error.message();
    EXPECT_EQ(cache->malformed_count(), 1u);
    EXPECT_EQ(cache->status().refresh_failure_count, 1u);
    EXPECT_EQ(cache->status().connection_state, ClientState::kDisconnected);
    EXPECT_EQ(cache->client_status().connect_count, 1u);
    expect_previous_kept(*cache);

    provider_->set_mode(Mode::kServe);
    const auto next = items_of(5, 12);
    const uint64_t next_gen = provider_->publish(next);
    ASSERT_TRUE(cache->refresh().ok());
    EXPECT_EQ(cache->client_status().connect_count, 2u);
    EXPECT_EQ(cache->client_status().reconnect_count, 0u);
    EXPECT_EQ(cache->status().generation, next_gen);
    EXPECT_EQ(cache->status().connection_state, ClientState::kReady);
    EXPECT_TRUE(test::wait_until([&] { return provider_->stats().sessions_accepted == 2; }));
  }

  test::TempDir dir_;
  std::string service_ = test::unique_service("cachef");
  std::unique_ptr<TestProvider> provider_;
  std::vector<CgroupItem> items_;
  uint64_t gen_ = 0;
};

TEST_F(SnapshotCacheFailureTest, UndecodableResponseKeepsCacheAndDropsSession) {
  check_malformed(Mode::kGarbage, 0);
}

TEST_F(SnapshotCacheFailureTest, UndecodableLayout1ResponseKeepsCacheAndDropsSession) {
  check_malformed(Mode::kGarbage, codec::kCgroupsLayoutBinary);
}

TEST_F(SnapshotCacheFailureTest, ItemFailingValidationKeepsCacheAndDropsSession) {
  check_malformed(Mode::kBadItem, codec::kCgroupsLayoutBinary);
}

TEST_F(SnapshotCacheFailureTest, TimeoutKeepsCacheAndTheNextRefreshReconnects) {
  auto cache = make_cache();
  ASSERT_TRUE(cache);
  ASSERT_TRUE(cache->refresh().ok());
  provider_->set_mode(Mode::kStall);
  RefreshOutcome out;
  EXPECT_EQ(cache->refresh(200, &out).code(), Errc::kTimeout);
  EXPECT_FALSE(out.malformed);
  EXPECT_EQ(cache->status().connection_state, ClientState::kBroken);
  EXPECT_EQ(cache->status().last_error, Errc::kTimeout);
  expect_previous_kept(*cache);
  // No retry of a timed-out refresh: the provider saw the request once.
  EXPECT_EQ(provider_->requests(), 2u);

  provider_->set_mode(Mode::kServe);
  provider_->release();
  ASSERT_TRUE(cache->refresh().ok());
  EXPECT_EQ(cache->client_status().reconnect_count, 1u);
  EXPECT_EQ(cache->status().connection_state, ClientState::kReady);
}

TEST_F(SnapshotCacheFailureTest, AbortFromAnotherThreadEndsARefreshAndStaysUntilCleared) {
  auto cache = make_cache();
  ASSERT_TRUE(cache);
  ASSERT_TRUE(cache->refresh().ok());
  provider_->set_mode(Mode::kStall);
  std::thread aborter([&] {
    // Abort once the request is waiting in the provider.
    if (test::wait_until([&] { return provider_->requests() == 2; })) cache->abort();
  });
  RefreshOutcome out;
  const Status st = cache->refresh(10000, &out);
  aborter.join();
  EXPECT_EQ(st.code(), Errc::kAborted);
  EXPECT_LT(out.call_ns, int64_t{5000} * 1000000);
  EXPECT_TRUE(cache->abort_pending());
  expect_previous_kept(*cache);

  provider_->set_mode(Mode::kServe);
  provider_->release();
  // Sticky until clear_abort().
  EXPECT_EQ(cache->refresh().code(), Errc::kAborted);
  cache->clear_abort();
  EXPECT_FALSE(cache->abort_pending());
  ASSERT_TRUE(cache->refresh().ok());
  EXPECT_EQ(cache->status().refresh_failure_count, 2u);
}

TEST_F(SnapshotCacheFailureTest, LayoutOnePeerMakesTheCacheFallBackForGood) {
  provider_->set_mode(Mode::kLayout1Only);
  auto cache = make_cache();
  ASSERT_TRUE(cache);
  RefreshOutcome out;
  ASSERT_TRUE(cache->refresh(0, &out).ok()) << out.error.message();
  EXPECT_EQ(out.layout, codec::kCgroupsLayoutBinary);
  EXPECT_EQ(cache->layout(), codec::kCgroupsLayoutBinary);
  {
    ReadGuard g = cache->guard();
    const CgroupItemView* v = g.find(items_[0].hash, items_[0].name);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->cgroup_id, 0u);  // layout 1 carries no cgroup id
  }
  // Later refreshes ask for layout 1 straight away (one request each).
  const uint64_t before = provider_->requests();
  ASSERT_TRUE(cache->refresh().ok());
  EXPECT_EQ(provider_->requests(), before + 1);
}

TEST_F(SnapshotCacheFailureTest, ForcedLayout2AgainstALayout1OnlyPeerFailsWithoutFallingBack) {
  provider_->set_mode(Mode::kLayout1Only);
  auto cache = make_cache(codec::kCgroupsLayoutProtobuf);
  ASSERT_TRUE(cache);
  for (uint64_t attempt = 1; attempt <= 2; ++attempt) {
    RefreshOutcome out;
    EXPECT_EQ(cache->refresh(0, &out).code(), Errc::kBadEnvelope);
    EXPECT_FALSE(out.malformed);
    EXPECT_EQ(out.layout, codec::kCgroupsLayoutProtobuf);
    EXPECT_EQ(cache->layout(), codec::kCgroupsLayoutProtobuf);
    // The peer would serve a layout-1 request, so the failure itself shows
    // that none was sent; the two copies are the Level-2 client's one
    // retry of a call whose session the server closed.
    EXPECT_EQ(provider_->requests(), 2 * attempt);
  }
  EXPECT_FALSE(cache->ready());
  EXPECT_EQ(cache->status().refresh_failure_count, 2u);
}

TEST_F(SnapshotCacheFailureTest, SnapshotOverTheMemoryCapIsRejectedWithoutDroppingTheSession) {
  ClientConfig c;
  c.run_dir = dir_.path();
  c.service = service_;
  SnapshotCacheOptions o;
  o.max_snapshot_bytes = 512;  // far below 30 items
  auto cache = SnapshotCache::create(c, o);
  ASSERT_TRUE(cache.ok());
  RefreshOutcome out;
  EXPECT_EQ((*cache)->refresh(0, &out).code(), Errc::kLimitExceeded);
  EXPECT_FALSE(out.malformed);
  EXPECT_EQ((*cache)->status().connection_state, ClientState::kReady);
  EXPECT_FALSE((*cache)->ready());
}

}  // namespace
}  // namespace netipc
