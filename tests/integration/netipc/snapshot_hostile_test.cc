// Hostile clients of a cgroups-snapshot endpoint (silent, garbage, one that
// never reads its snapshot, a thousand connections) do not stop service to
// a well-behaved typed client, over either transport.
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "netipc/cgroups_snapshot_client.h"
#include "netipc/uds.h"
#include "snapshot_test_util.h"
#include "test_support.h"
#include "uv_test_util.h"

namespace netipc {
namespace {

using namespace snapshot_test;  // NOLINT
using test::TempDir;

// A snapshot larger than one UDS packet, so a response is several sends.
const std::vector<CgroupItem>& items() {
  static const std::vector<CgroupItem> v = make_items(3000);
  return v;
}

struct Fixture {
  TempDir dir;
  uv::ServerConfig cfg;
  std::unique_ptr<SnapshotServer> server;

  explicit Fixture(const char* service) {
    cfg = snapshot_server_config(dir.path(), service, kShm);
    server = start_snapshot_server(cfg, share(items()), 1);
  }

  // A fresh typed client per transport: one fetch each, every field checked.
  void expect_typed_service() {
    for (uint32_t profiles : {kUds, kShm}) {
      SCOPED_TRACE(profiles == kShm ? "shm" : "uds");
      auto c = CgroupsSnapshotClient::create(client_config(cfg.run_dir, cfg.service, profiles));
      ASSERT_TRUE(c.ok());
      auto snap = c->fetch(5000);
      ASSERT_TRUE(snap.ok()) << snap.error().message();
      EXPECT_EQ((*snap)->generation, 2u);
      expect_items_equal(**snap, items(), 2);
    }
  }
};

UniqueFd connect_retrying(const uv::ServerConfig& cfg) {
  Result<UniqueFd> fd = make_error(Errc::kNotReady);
  EXPECT_TRUE(test::wait_until([&] {
    fd = uds_connect(cfg.run_dir, cfg.service);
    return fd.code() != Errc::kNotReady;
  }));
  EXPECT_TRUE(fd.ok()) << fd.error().message();
  return fd.ok() ? std::move(*fd) : UniqueFd();
}

TEST(SnapshotServerHostile, SilentConnectionsAndSilentSessionsDoNotStopService) {
  Fixture f("silent");
  ASSERT_TRUE(f.server->thread);
  std::vector<UniqueFd> no_hello;
  for (int i = 0; i < 20; ++i)
    no_hello.push_back(connect_retrying(f.cfg));
  std::vector<uv_test::RawClient> no_request;
  for (int i = 0; i < 5; ++i) {
    auto c = uv_test::raw_client(f.cfg);
    ASSERT_TRUE(c.ok()) << c.error().message();
    no_request.push_back(std::move(*c));
  }
  f.expect_typed_service();
}

TEST(SnapshotServerHostile, GarbageClientsAreClosedAndDoNotStopService) {
  Fixture f("garbage");
  ASSERT_TRUE(f.server->thread);
  // Garbage instead of HELLO.
  UniqueFd g1 = connect_retrying(f.cfg);
  const std::vector<uint8_t> junk(100, 0xA5);
  ASSERT_EQ(::send(g1.get(), junk.data(), junk.size(), MSG_NOSIGNAL), 100);
  // Garbage after a good handshake.
  auto g2 = uv_test::raw_client(f.cfg);
  ASSERT_TRUE(g2.ok()) << g2.error().message();
  ASSERT_EQ(::send(g2->conn.fd(), junk.data(), junk.size(), MSG_NOSIGNAL), 100);
  // A snapshot request that is not one (3 bytes): BAD_ENVELOPE, then close.
  auto g3 = uv_test::raw_client(f.cfg);
  ASSERT_TRUE(g3.ok());
  const uint8_t short_req[3] = {2, 0, 0};
  ASSERT_TRUE(g3->conn
                  .send(uv_test::request(1, kSnapshotMethod), ByteSpan(short_req, 3),
                        uv_test::deadline_in_ms(5000))
                  .ok());
  auto r = g3->conn.receive(uv_test::deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status, static_cast<uint16_t>(wire::TransportStatus::kBadEnvelope));

  EXPECT_TRUE(uv_test::closed_by_peer(g1.get(), 5000));
  EXPECT_TRUE(uv_test::closed_by_peer(g2->conn.fd(), 5000));
  EXPECT_TRUE(uv_test::closed_by_peer(g3->conn.fd(), 5000));
  f.expect_typed_service();
}

TEST(SnapshotServerHostile, ClientThatNeverReadsItsSnapshotDoesNotStopService) {
  Fixture f("slow");
  ASSERT_TRUE(f.server->thread);
  std::vector<uv_test::RawClient> stalled;
  const uint8_t req[4] = {2, 0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    auto c = uv_test::raw_client(f.cfg);
    ASSERT_TRUE(c.ok()) << c.error().message();
    for (uint64_t id = 1; id <= 4; ++id) {
      ASSERT_TRUE(c->conn
                      .send(uv_test::request(id, kSnapshotMethod), ByteSpan(req, 4),
                            uv_test::deadline_in_ms(5000))
                      .ok());
    }
    stalled.push_back(std::move(*c));
  }
  // The server's sends to them are stuck on full socket buffers.
  f.expect_typed_service();
  f.expect_typed_service();
}

TEST(SnapshotServerHostile, AThousandConnectionsDoNotStopService) {
  constexpr int kConnections = 1000;
  const std::string no_fds = test::raise_fd_limit(2 * kConnections + 200);
  if (!no_fds.empty()) GTEST_SKIP() << no_fds;
  Fixture f("many");
  ASSERT_TRUE(f.server->thread);
  std::vector<UniqueFd> fds;
  fds.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i) {
    fds.push_back(connect_retrying(f.cfg));
    ASSERT_TRUE(fds.back()) << "connection " << i;
  }
  // The server holds what its pre-handshake budget allows (128 by default)
  // and pushes older silent connections out as new ones come.
  ASSERT_TRUE(test::wait_until([&] {
    return f.server->server().stats().handshakes_shed >= kConnections - 128;
  }));
  EXPECT_LE(f.server->server().stats().sessions_active, 128u);
  f.expect_typed_service();
  fds.clear();
  ASSERT_TRUE(test::wait_until([&] { return f.server->server().stats().sessions_active == 0; }));
  f.expect_typed_service();
}

}  // namespace
}  // namespace netipc
