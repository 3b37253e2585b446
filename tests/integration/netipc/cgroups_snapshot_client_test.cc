// The blocking typed cgroups-snapshot client (CgroupsSnapshotClient):
// against the independent spec peer in both directions (layout-1-only
// server: automatic fallback from layout 2; spec client reading our
// server), and against our own server over both transports in all layout
// modes.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "client_test_server.h"
#include "netipc/cgroups_snapshot_client.h"
#include "snapshot_test_util.h"
#include "spec_peer.h"
#include "test_support.h"

namespace netipc {
namespace {

using namespace snapshot_test;  // NOLINT
using test::TempDir;
namespace sp = spec_peer;

// The vector snapshot of docs/codecs.md §2.6.
sp::Snapshot spec_snapshot() {
  sp::Snapshot s;
  s.systemd_enabled = 1;
  s.generation = 999;
  s.items = {{100, 0, 1, "init.scope", "/sys/fs/cgroup/init.scope"},
             {200, 0x02, 0, "system.slice/docker-abc.scope",
              "/sys/fs/cgroup/system.slice/docker-abc.scope"},
             {300, 0, 1, "", ""}};
  return s;
}

std::unique_ptr<sp::SpecServer> start_spec_server(const TempDir& dir, const std::string& service,
                                                  sp::ServerConfig cfg = {}) {
  cfg.snapshot = spec_snapshot();
  std::string problem;
  auto s = sp::SpecServer::start(dir.path(), service, std::move(cfg), &problem);
  EXPECT_TRUE(s) << problem;
  return s;
}

uint16_t request_layout(const sp::Message& m) {
  return m.payload.size() >= 2 ? sp::rd16(m.payload.data()) : 0;
}

void expect_spec_items(const codec::CgroupsSnapshotViews& v) {
  const sp::Snapshot want = spec_snapshot();
  EXPECT_EQ(v.generation, want.generation);
  EXPECT_EQ(v.systemd_enabled, want.systemd_enabled);
  ASSERT_EQ(v.items.size(), want.items.size());
  for (size_t i = 0; i < want.items.size(); ++i) {
    EXPECT_EQ(v.items[i].hash, want.items[i].hash);
    EXPECT_EQ(v.items[i].options, want.items[i].options);
    EXPECT_EQ(v.items[i].enabled, want.items[i].enabled);
    EXPECT_EQ(v.items[i].name, want.items[i].name);
    EXPECT_EQ(v.items[i].path, want.items[i].path);
    EXPECT_EQ(v.items[i].cgroup_id, 0u);
  }
}

TEST(CgroupsSnapshotClientSpec, DefaultClientFallsBackToLayout1AgainstALayout1OnlySpecServer) {
  TempDir dir;
  auto server = start_spec_server(dir, "snap");
  ASSERT_TRUE(server);
  // The default config: no layout, no profiles, no sizes.
  CgroupsSnapshotClientConfig cfg;
  cfg.run_dir = dir.path();
  cfg.service = "snap";
  auto client = CgroupsSnapshotClient::create(cfg);
  ASSERT_TRUE(client.ok()) << client.error().message();
  EXPECT_EQ(client->status().layout, codec::kCgroupsLayoutProtobuf);

  auto snap = client->fetch();
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  expect_spec_items(**snap);
  CgroupsSnapshotClientStatus st = client->status();
  EXPECT_EQ(st.layout, codec::kCgroupsLayoutBinary);
  EXPECT_TRUE(st.fell_back);
  EXPECT_EQ(st.client.state, ClientState::kReady);
  EXPECT_EQ(st.client.selected_profile, wire::kProfileUds);  // the spec server is UDS only

  // It asked for layout 2 first and ended with layout 1.
  std::vector<sp::Message> reqs = server->log().requests;
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_EQ(request_layout(reqs.front()), codec::kCgroupsLayoutProtobuf);
  EXPECT_EQ(request_layout(reqs.back()), codec::kCgroupsLayoutBinary);
  EXPECT_TRUE(server->log().violations.empty()) << server->log().violations.front();

  // The fallback is remembered: the next fetch asks for layout 1 only.
  const size_t before = reqs.size();
  snap = client->fetch();
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  expect_spec_items(**snap);
  reqs = server->log().requests;
  ASSERT_EQ(reqs.size(), before + 1);
  EXPECT_EQ(request_layout(reqs.back()), codec::kCgroupsLayoutBinary);
  EXPECT_EQ(client->status().fetch_count, 2u);
}

TEST(CgroupsSnapshotClientSpec, ForcedLayout2AgainstALayout1OnlyServerFailsWithBadEnvelope) {
  TempDir dir;
  auto server = start_spec_server(dir, "snap2");
  ASSERT_TRUE(server);
  auto client = CgroupsSnapshotClient::create(client_config(dir.path(), "snap2", kUds, 2));
  ASSERT_TRUE(client.ok());
  auto snap = client->fetch();
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.code(), Errc::kBadEnvelope);
  EXPECT_EQ(client->status().layout, codec::kCgroupsLayoutProtobuf);
  EXPECT_FALSE(client->status().fell_back);
  for (const sp::Message& m : server->log().requests) {
    EXPECT_EQ(request_layout(m), codec::kCgroupsLayoutProtobuf);
  }
}

TEST(CgroupsSnapshotClientSpec, SpecClientReadsOurSnapshotServerInLayout1) {
  TempDir dir;
  const std::vector<CgroupItem> items = make_items(200);
  auto server =
      start_snapshot_server(snapshot_server_config(dir.path(), "ours", kUds), share(items), 41, 0);
  ASSERT_TRUE(server->thread);
  std::string problem;
  auto client = sp::SpecClient::connect(dir.path(), "ours", &problem);
  ASSERT_TRUE(client) << problem;
  ASSERT_EQ(client->handshake(client->default_hello()), "");
  sp::Snapshot got;
  ASSERT_EQ(client->snapshot(&got), "");  // also checks canonical bytes
  EXPECT_EQ(got.generation, 42u);
  EXPECT_EQ(got.systemd_enabled, 0u);
  ASSERT_EQ(got.items.size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const sp::CgroupEntry want{items[i].hash, items[i].options, items[i].enabled, items[i].name,
                               items[i].path};
    EXPECT_TRUE(got.items[i] == want) << "item " << i;
  }
}

TEST(CgroupsSnapshotClient, NoServerFailsWithNotFound) {
  TempDir dir;
  auto client = CgroupsSnapshotClient::create(client_config(dir.path(), "none", 0));
  ASSERT_TRUE(client.ok());
  auto snap = client->fetch();
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.code(), Errc::kNotFound);
  EXPECT_EQ(client->state(), ClientState::kNotFound);
}

TEST(CgroupsSnapshotClient, CreateRejectsAnUnknownLayout) {
  auto client = CgroupsSnapshotClient::create(client_config("/tmp", "x", 0, 3));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.code(), Errc::kInvalidArgument);
}

TEST(CgroupsSnapshotClient, MalformedSnapshotFailsTheFetchAndDropsTheSession) {
  TempDir dir;
  test::TestServer server(dir.path(), "bad", test::basic_policy(),
                          test::undecodable_snapshot_handler());
  ASSERT_TRUE(server.ok()) << server.error();
  auto client = CgroupsSnapshotClient::create(client_config(dir.path(), "bad", kUds));
  ASSERT_TRUE(client.ok());
  auto snap = client->fetch();
  ASSERT_FALSE(snap.ok());
  EXPECT_NE(snap.code(), Errc::kOk);
  EXPECT_EQ(client->status().malformed_count, 1u);
  EXPECT_EQ(client->state(), ClientState::kDisconnected);
  EXPECT_EQ(client->status().layout, codec::kCgroupsLayoutProtobuf);  // not a layout rejection
  snap = client->fetch();
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(server.connections(), 2);  // the second fetch came on a new session
}

// ---- our client against our server: transport x layout mode ----

struct Mode {
  uint32_t profiles;
  uint16_t layout;  // 0 = automatic
};

class CgroupsSnapshotClientOurs : public ::testing::TestWithParam<Mode> {};

TEST_P(CgroupsSnapshotClientOurs, FetchesEveryFieldAndFollowsNewGenerationsOnOneSession) {
  const Mode m = GetParam();
  TempDir dir;
  const std::vector<CgroupItem> items = make_items(500);
  auto server =
      start_snapshot_server(snapshot_server_config(dir.path(), "cg", m.profiles), share(items), 6);
  ASSERT_TRUE(server->thread);
  auto client =
      CgroupsSnapshotClient::create(client_config(dir.path(), "cg", m.profiles, m.layout));
  ASSERT_TRUE(client.ok());
  const uint16_t want_layout = m.layout == 0 ? codec::kCgroupsLayoutProtobuf : m.layout;

  auto snap = client->fetch();
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  EXPECT_EQ((*snap)->generation, 7u);
  EXPECT_EQ((*snap)->systemd_enabled, 1u);
  expect_items_equal(**snap, items, want_layout);
  CgroupsSnapshotClientStatus st = client->status();
  EXPECT_EQ(st.layout, want_layout);
  EXPECT_FALSE(st.fell_back);
  EXPECT_EQ(st.client.selected_profile,
            m.profiles == kShm ? wire::kProfileShmHybrid : wire::kProfileUds);

  // A new generation, served to the same session.
  const std::vector<CgroupItem> next = make_items(300, 7);
  ASSERT_TRUE(server->publisher->publish(share(next), 0).ok());
  snap = client->fetch();
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  EXPECT_EQ((*snap)->generation, 8u);
  EXPECT_EQ((*snap)->systemd_enabled, 0u);
  expect_items_equal(**snap, next, want_layout);
  st = client->status();
  EXPECT_EQ(st.client.connect_count, 1u);
  EXPECT_EQ(st.client.reconnect_count, 0u);
  EXPECT_EQ(st.fetch_count, 2u);
}

// A snapshot that outgrows the ceiling agreed when the session started:
// the server answers LIMIT_EXCEEDED, the client reconnects (the new ACK
// carries the announced ceiling) and the caller still gets its snapshot.
TEST_P(CgroupsSnapshotClientOurs, SnapshotOutgrowingTheSessionCeilingCostsOneInvisibleReconnect) {
  const Mode m = GetParam();
  TempDir dir;
  auto server = start_snapshot_server(snapshot_server_config(dir.path(), "grow", m.profiles),
                                      share(make_items(10)), 1);
  ASSERT_TRUE(server->thread);
  auto client =
      CgroupsSnapshotClient::create(client_config(dir.path(), "grow", m.profiles, m.layout));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client->fetch().ok());
  const uint32_t first_ceiling = client->status().client.agreed_max_response_payload_bytes;

  const std::vector<CgroupItem> big = make_items(20000);  // megabytes, far above the ceiling
  ASSERT_TRUE(server->publisher->publish(share(big)).ok());
  auto snap = client->fetch();
  ASSERT_TRUE(snap.ok()) << snap.error().message();
  expect_items_equal(**snap, big, m.layout == 0 ? 2 : m.layout);
  const CgroupsSnapshotClientStatus st = client->status();
  EXPECT_GT(st.client.agreed_max_response_payload_bytes, first_ceiling);
  EXPECT_EQ(st.client.reconnect_count, 1u);
  EXPECT_EQ(st.client.error_count, 0u);
  EXPECT_EQ(st.fetch_count, 2u);
}

INSTANTIATE_TEST_SUITE_P(TransportsAndLayouts, CgroupsSnapshotClientOurs,
                         ::testing::Values(Mode{kUds, 0}, Mode{kUds, 1}, Mode{kUds, 2},
                                           Mode{kShm, 0}, Mode{kShm, 1}, Mode{kShm, 2}),
                         [](const ::testing::TestParamInfo<Mode>& i) {
                           return std::string(i.param.profiles == kShm ? "Shm" : "Uds") +
                                  (i.param.layout == 0 ? "Auto"
                                                       : "Layout" + std::to_string(i.param.layout));
                         });

}  // namespace
}  // namespace netipc
