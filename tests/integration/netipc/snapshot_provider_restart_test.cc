// Providers restart and vanish: a typed client keeps working across a
// server that is stopped and replaced on the same endpoint mid-session (the
// next fetch reconnects and sees the new generation), and across a provider
// that is absent for a while. Both transports, blocking and async faces.
#include <uv.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "netipc/cgroups_snapshot_client.h"
#include "netipc/uv/async_cgroups_snapshot_client.h"
#include "snapshot_test_util.h"
#include "test_support.h"

namespace netipc {
namespace {

using namespace snapshot_test;  // NOLINT
using test::TempDir;

class SnapshotProviderRestart : public ::testing::TestWithParam<uint32_t> {};

TEST_P(SnapshotProviderRestart, NextFetchReconnectsToTheNewProviderAndSeesItsGeneration) {
  const uint32_t profiles = GetParam();
  TempDir dir;
  const auto cfg = snapshot_server_config(dir.path(), "restart", profiles);
  const std::vector<CgroupItem> first = make_items(1000, 1);
  auto a = start_snapshot_server(cfg, share(first), 4);
  ASSERT_TRUE(a->thread);
  auto client = CgroupsSnapshotClient::create(client_config(dir.path(), "restart", profiles));
  ASSERT_TRUE(client.ok());
  auto snap = client->fetch();
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  EXPECT_EQ((*snap)->generation, 5u);
  expect_items_equal(**snap, first, 2);

  // The provider restarts: a new process would start from its own
  // generation counter and content.
  a->stop();
  const std::vector<CgroupItem> second = make_items(700, 2);
  auto b = start_snapshot_server(cfg, share(second), 20);
  ASSERT_TRUE(b->thread);

  snap = client->fetch();
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  EXPECT_EQ((*snap)->generation, 21u);
  expect_items_equal(**snap, second, 2);
  const CgroupsSnapshotClientStatus st = client->status();
  EXPECT_EQ(st.client.state, ClientState::kReady);
  EXPECT_EQ(st.client.connect_count, 1u);
  EXPECT_EQ(st.client.reconnect_count, 1u);  // the dead session was replaced inside the fetch
  EXPECT_EQ(st.client.selected_profile,
            profiles == kShm ? wire::kProfileShmHybrid : wire::kProfileUds);
  EXPECT_EQ(st.fetch_count, 2u);
  EXPECT_EQ(st.layout, codec::kCgroupsLayoutProtobuf);
}

TEST_P(SnapshotProviderRestart, AbsentProviderFailsFetchesUntilItComesBack) {
  const uint32_t profiles = GetParam();
  TempDir dir;
  const auto cfg = snapshot_server_config(dir.path(), "late", profiles);
  auto client = CgroupsSnapshotClient::create(client_config(dir.path(), "late", profiles));
  ASSERT_TRUE(client.ok());
  auto snap = client->fetch();
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.code(), Errc::kNotFound);

  const std::vector<CgroupItem> items = make_items(50);
  auto a = start_snapshot_server(cfg, share(items), 1);
  ASSERT_TRUE(a->thread);
  snap = client->fetch();
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  EXPECT_EQ((*snap)->generation, 2u);

  a->stop();  // vanishes: the dead session fails, the reconnect finds nobody
  snap = client->fetch();
  ASSERT_FALSE(snap.ok());
  EXPECT_NE(client->state(), ClientState::kReady);

  auto b = start_snapshot_server(cfg, share(items), 9);
  ASSERT_TRUE(b->thread);
  snap = client->fetch();
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  EXPECT_EQ((*snap)->generation, 10u);
  expect_items_equal(**snap, items, 2);
}

INSTANTIATE_TEST_SUITE_P(Transports, SnapshotProviderRestart, ::testing::Values(kUds, kShm),
                         [](const ::testing::TestParamInfo<uint32_t>& i) {
                           return i.param == kShm ? "Shm" : "Uds";
                         });

// The async face on its loop: fetch, restart the provider, fetch again.
TEST(AsyncSnapshotProviderRestart, NextFetchReconnectsToTheNewProvider) {
  TempDir dir;
  const auto cfg = snapshot_server_config(dir.path(), "arestart", kUds);
  auto a = start_snapshot_server(cfg, share(make_items(100, 1)), 4);
  ASSERT_TRUE(a->thread);
  std::unique_ptr<SnapshotServer> b;

  uv_loop_t loop;
  uv_loop_init(&loop);
  auto client =
      uv::AsyncCgroupsSnapshotClient::create(&loop, client_config(dir.path(), "arestart", kUds));
  ASSERT_TRUE(client.ok());
  uv::AsyncCgroupsSnapshotClient* c = client->get();
  std::vector<uint64_t> generations;
  std::function<void(Result<const codec::CgroupsSnapshotViews*>)> on_fetch =
      [&](Result<const codec::CgroupsSnapshotViews*> r) {
        ASSERT_TRUE(r.ok()) << r.error().message();
        generations.push_back((*r)->generation);
        if (generations.size() == 1) {
          a->stop();  // blocking here is fine for the test: the loop has nothing else
          b = start_snapshot_server(cfg, share(make_items(80, 2)), 30);
          ASSERT_TRUE(c->fetch(0, on_fetch).ok());
        } else {
          c->close(nullptr);
        }
      };
  ASSERT_TRUE(c->fetch(0, on_fetch).ok());
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(generations.size(), 2u);
  EXPECT_EQ(generations[0], 5u);
  EXPECT_EQ(generations[1], 31u);
  EXPECT_EQ(c->status().client.reconnect_count, 1u);
  client->reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace netipc
