// A 100,000-item cgroups snapshot (~18 MB in layout 1, ~16 MB in layout 2)
// over both transports in both layouts, with no size configured anywhere:
// the first fetch succeeds on the first session, without the caller (or
// the client's counters) seeing any growth step. The server's HELLO_ACK
// ceiling covers the snapshot because the publisher announced its size.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "netipc/cgroups_snapshot_client.h"
#include "snapshot_test_util.h"
#include "test_support.h"

namespace netipc {
namespace {

using namespace snapshot_test;  // NOLINT
using test::TempDir;

constexpr size_t kItems = 100000;

const std::shared_ptr<const std::vector<CgroupItem>>& items() {
  static const auto v = share(make_items(kItems));
  return v;
}

struct Mode {
  uint32_t profiles;
  uint16_t layout;
};

class Snapshot100k : public ::testing::TestWithParam<Mode> {};

TEST_P(Snapshot100k, FirstFetchSucceedsWithoutAnyGrowthStep) {
  const Mode m = GetParam();
  TempDir dir;
  // Zero-config server: only endpoint, method and transport.
  auto server =
      start_snapshot_server(snapshot_server_config(dir.path(), "big", m.profiles), items(), 1);
  ASSERT_TRUE(server->thread);
  const auto encoded = server->publisher->current();
  const size_t payload = m.layout == 1 ? encoded->layout1->size() : encoded->layout2->size();
  ASSERT_GT(payload, size_t{15} << 20);  // the snapshot is far beyond any default ceiling

  auto client =
      CgroupsSnapshotClient::create(client_config(dir.path(), "big", m.profiles, m.layout));
  ASSERT_TRUE(client.ok());
  auto snap = client->fetch();
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  const CgroupsSnapshotClientStatus st = client->status();
  // No LIMIT_EXCEEDED round: one session, no reconnect, no error.
  EXPECT_EQ(st.client.connect_count, 1u);
  EXPECT_EQ(st.client.reconnect_count, 0u);
  EXPECT_EQ(st.client.error_count, 0u);
  EXPECT_EQ(st.client.call_count, 1u);
  EXPECT_GE(st.client.agreed_max_response_payload_bytes, payload);
  EXPECT_EQ(st.client.selected_profile,
            m.profiles == kShm ? wire::kProfileShmHybrid : wire::kProfileUds);
  EXPECT_EQ(st.layout, m.layout);
  EXPECT_EQ((*snap)->generation, 2u);
  expect_items_equal(**snap, *items(), m.layout);

  // And again on the same session.
  snap = client->fetch();
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  EXPECT_EQ((*snap)->items.size(), kItems);
  EXPECT_EQ(client->status().client.reconnect_count, 0u);
  EXPECT_EQ(client->status().client.connect_count, 1u);
}

INSTANTIATE_TEST_SUITE_P(TransportsAndLayouts, Snapshot100k,
                         ::testing::Values(Mode{kUds, 1}, Mode{kUds, 2}, Mode{kShm, 1},
                                           Mode{kShm, 2}),
                         [](const ::testing::TestParamInfo<Mode>& i) {
                           return std::string(i.param.profiles == kShm ? "Shm" : "Uds") + "Layout" +
                                  std::to_string(i.param.layout);
                         });

}  // namespace
}  // namespace netipc
