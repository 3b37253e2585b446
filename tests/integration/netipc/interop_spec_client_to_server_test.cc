// Interoperability over UDS SEQPACKET: the independent spec client
// (tests/support/spec_peer.h) against the project's servers, the Level-1
// pieces and the Level-2 uv::ServerThread (most tests run on both): ACK
// bytes, session ids, single and batch calls, chunking, the 300 000-byte
// clamp, packet size 33, pipelining, ceilings, rejections, odd HELLOs and
// snapshots. One test puts the spec client in a forked process.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "interop_project_server.h"

namespace netipc {
namespace {

using namespace interop;  // NOLINT(google-build-using-namespace): test helpers

INSTANTIATE_TEST_SUITE_P(Interop, ProjectServerTest,
                         ::testing::Values(ServerKind::kLevel1, ServerKind::kUv),
                         [](const ::testing::TestParamInfo<ServerKind>& p) {
                           return kind_name(p.param);
                         });

// uv::ServerThread documents stats() as callable from any thread while the
// loop thread adds and removes sessions. Under ThreadSanitizer this test
// reports a data race if stats() reads loop-owned state (it once read the
// session set's size) instead of its atomic counters.
TEST(UvServerThreadTest, StatsCanBeReadFromAnotherThreadWhileSessionsComeAndGo) {
  TempDir dir;
  const std::string service = test::unique_service("stats");
  UvEndpoint server(dir.path(), service, project_policy(), sp::kMethodIncrement, sample_snapshot());
  ASSERT_EQ(server.problem(), "");
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load())
      (void)server.stats();
  });
  auto churn = [&] {
    for (uint64_t i = 0; i < 20; ++i) {
      auto c = spec_connect(dir, service);
      ASSERT_NE(c, nullptr);
      sp::Hello h = c->default_hello();
      h.auth_token = kToken;
      ASSERT_EQ(c->handshake(h), "");
      uint64_t v = 0;
      ASSERT_EQ(c->increment(i, &v), "");
    }
  };
  churn();
  done.store(true);
  reader.join();
  EXPECT_EQ(server.stop_and_count_dropped(), 0u);
  EXPECT_EQ(server.stats().sessions_accepted, 20u);
}

// Level 1 only: the vector selects SHM_HYBRID, which this test does not serve.
TEST(Level1ServerTest, ProjectServerAckMatchesWireSpecVector) {
  ServerPolicy p;
  p.supported_profiles = 0x03;
  p.preferred_profiles = 0x02;
  p.max_request_payload_bytes = 1024;
  p.max_response_payload_bytes = 65536;
  p.packet_size = 212992;
  p.auth_token = 0x1122334455667788ull;
  TempDir dir;
  const std::string service = test::unique_service("vector");
  Level1Server server(dir.path(), service, p, sample_snapshot());
  ASSERT_EQ(server.problem(), "");
  auto c = spec_connect(dir, service);
  ASSERT_NE(c, nullptr);
  const sp::Bytes hello_vector = sp::from_hex(
      "4350494e 01002000 03000000 01000000 2c000000 01000000 00000000 00000000"
      "01000000 03000000 02000000 00040000 01000000 00000100 01000000 00000000"
      "88776655 44332211 00400300");
  ASSERT_EQ(c->link().send_packet(hello_vector), "");
  sp::Bytes raw;
  uint16_t status = 0xFFFF;
  sp::HelloAck ack;
  ASSERT_EQ(c->receive_ack(&raw, &status, &ack), "");
  EXPECT_EQ(sp::to_hex(raw),
            sp::to_hex(sp::from_hex("4350494e 01002000 03000000 02000000 30000000 01000000"
                                    "00000000 00000000 01000000 03000000 03000000 02000000"
                                    "00040000 01000000 00000100 01000000 00400300 00000000"
                                    "01000000 00000000")));
}

TEST_P(ProjectServerTest, ProjectServerAckCarriesEveryNegotiatedField) {
  ServerPolicy p = project_policy();
  p.max_request_payload_bytes = 8192;
  p.max_response_payload_bytes = 70000;
  start(p);
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c, 4096, 17);
  h.max_response_payload = 1;  // a hint: the server answers with its own ceiling
  ASSERT_EQ(c->send_hello(h), "");
  sp::Bytes raw;
  uint16_t status = 0xFFFF;
  sp::HelloAck ack;
  ASSERT_EQ(c->receive_ack(&raw, &status, &ack), "");
  sp::HelloAck expected;
  expected.server_supported = 0x01;
  expected.intersection = 0x01;
  expected.selected = 0x01;
  expected.max_request_payload = 4096;
  expected.max_request_items = 17;
  expected.max_response_payload = 70000;
  expected.max_response_items = 17;
  expected.packet_size = default_sndbuf() - 32;  // min(raw SO_SNDBUF, SO_SNDBUF - 32)
  expected.session_id = 1;
  EXPECT_EQ(sp::to_hex(raw), sp::to_hex(sp::ack_packet(expected, sp::kStatusOk)));
}

TEST_P(ProjectServerTest, ProjectServerAssignsSessionIdsFromOneStrictlyIncreasing) {
  start(project_policy());
  std::vector<uint64_t> ids;
  for (int i = 0; i < 4; ++i) {
    auto c = client();
    ASSERT_NE(c, nullptr);
    sp::HelloAck ack;
    ASSERT_EQ(c->handshake(hello(*c), &ack), "");
    uint64_t v = 0;
    ASSERT_EQ(c->increment(i, &v), "");  // the session works before the next one
    EXPECT_EQ(v, static_cast<uint64_t>(i) + 1);
    ids.push_back(ack.session_id);
  }
  ASSERT_EQ(ids.front(), 1u);
  for (size_t i = 1; i < ids.size(); ++i)
    EXPECT_GT(ids[i], ids[i - 1]);
}

TEST_P(ProjectServerTest, ProjectServerAnswersSpecClientSingleAndBatchIncrements) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c, 16000, 1000)), "");
  uint64_t v = 0;
  ASSERT_EQ(c->increment(41, &v), "");
  EXPECT_EQ(v, 42u);
  ASSERT_EQ(c->increment(UINT64_MAX, &v), "");
  EXPECT_EQ(v, 0u);
  for (size_t n : {2, 3, 7, 64, 333, 999, 1000}) {
    SCOPED_TRACE(n);
    const auto values = iota_values(n, n);
    std::vector<uint64_t> got;
    ASSERT_EQ(c->increment_batch(values, &got), "");  // also checks canonical framing
    ASSERT_EQ(got.size(), n);
    for (size_t i = 0; i < n; ++i)
      EXPECT_EQ(got[i], values[i] + 1);
  }
  EXPECT_EQ(server_->stop_and_count_dropped(), 0u);
}

TEST_P(ProjectServerTest, ProjectServerReassemblesChunkedRequestsAndChunksReplies) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c, 16000, 1000);
  h.packet_size = 256;
  sp::HelloAck ack;
  ASSERT_EQ(c->handshake(h, &ack), "");
  ASSERT_EQ(ack.packet_size, 256u);
  const auto values = iota_values(625, 11);  // 10000 bytes each way
  std::vector<uint64_t> got;
  ASSERT_EQ(c->increment_batch(values, &got), "");
  for (size_t i = 0; i < values.size(); ++i)
    ASSERT_EQ(got[i], values[i] + 1);
  // docs/wire.md §4.2: 45 packets, every non-final one exactly 256 bytes, the last
  // 32 + (10000 - 44 * 224) = 176.
  std::vector<size_t> expected(44, 256);
  expected.push_back(176);
  EXPECT_EQ(c->link().last_packet_sizes(), expected);
  EXPECT_EQ(server_->stop_and_count_dropped(), 0u);
}

TEST_P(ProjectServerTest, ProjectServerRoundTrips300000BytesWithUpstreamSizedHello) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c, 300000, 18750);
  ASSERT_EQ(h.packet_size, default_sndbuf());  // what an upstream client proposes
  sp::HelloAck ack;
  ASSERT_EQ(c->handshake(h, &ack), "");
  EXPECT_EQ(ack.packet_size, default_sndbuf() - 32);
  const auto values = iota_values(18750, 3);
  std::vector<uint64_t> got;
  ASSERT_EQ(c->increment_batch(values, &got), "");
  EXPECT_EQ(got.back(), values.back() + 1);
  EXPECT_EQ(c->link().last_packet_sizes().size(), 2u);
}

TEST_P(ProjectServerTest, ProjectServerServesAtMinimalPacketSize33) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c);
  h.packet_size = 33;  // docs/wire.md §9.6: 33 is accepted; one payload byte per packet
  sp::HelloAck ack;
  ASSERT_EQ(c->handshake(h, &ack), "");
  ASSERT_EQ(ack.packet_size, 33u);
  uint64_t v = 0;
  ASSERT_EQ(c->increment(99, &v), "");
  EXPECT_EQ(v, 100u);
  EXPECT_EQ(c->link().last_packet_sizes(), std::vector<size_t>(8, 33));
}

TEST_P(ProjectServerTest, ProjectServerAnswersPipelinedSpecRequests) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c)), "");
  for (uint64_t id = 1; id <= 5; ++id) {
    sp::Header h;
    h.kind = sp::kKindRequest;
    h.code = sp::kMethodIncrement;
    h.message_id = id;
    ASSERT_EQ(c->link().send(h, sp::u64_payload(id * 100)), "");
  }
  for (uint64_t id = 1; id <= 5; ++id) {
    sp::Message m;
    ASSERT_EQ(c->link().receive(&m, 5000), "");
    EXPECT_EQ(m.header.kind, sp::kKindResponse);
    EXPECT_EQ(m.header.message_id, id);
    EXPECT_EQ(sp::rd64(m.payload.data()), id * 100 + 1);
  }
}

TEST_P(ProjectServerTest, ProjectServerAnswersOverCeilingRequestWithLimitExceeded) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c, 1024)), "");
  sp::Header h;
  h.kind = sp::kKindRequest;
  h.code = sp::kMethodIncrement;
  h.message_id = 77;
  ASSERT_EQ(c->link().send(h, sp::Bytes(1032, 0)), "");  // 8 bytes over the agreed 1024
  sp::Message m;
  ASSERT_EQ(c->link().receive(&m, 5000), "");
  EXPECT_EQ(m.header.message_id, 77u);
  EXPECT_EQ(m.header.status, sp::kStatusLimitExceeded);
  EXPECT_TRUE(m.payload.empty());
  EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
}

TEST_P(ProjectServerTest, ProjectServerAnswersOverItemCountRequestWithLimitExceeded) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c, 16000, 10)), "");
  std::vector<sp::Bytes> items(11, sp::u64_payload(1));  // one item over the agreed 10
  sp::Header h;
  h.kind = sp::kKindRequest;
  h.code = sp::kMethodIncrement;
  h.flags = sp::kFlagBatch;
  h.item_count = 11;
  h.message_id = 5;
  ASSERT_EQ(c->link().send(h, sp::make_batch(items)), "");
  sp::Message m;
  ASSERT_EQ(c->link().receive(&m, 5000), "");
  EXPECT_EQ(m.header.message_id, 5u);
  EXPECT_EQ(m.header.status, sp::kStatusLimitExceeded);
  EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
}

struct Rejection {
  const char* name;
  std::function<void(sp::Hello*)> edit;
  uint16_t status;
};
void PrintTo(const Rejection& p, std::ostream* os) {
  *os << p.name;
}

class ProjectServerRejectionTest
    : public ProjectServerFixture,
      public ::testing::WithParamInterface<std::tuple<Rejection, ServerKind>> {
 protected:
  ServerKind kind() const override { return std::get<1>(GetParam()); }
  const Rejection& rejection() const { return std::get<0>(GetParam()); }
};

TEST_P(ProjectServerRejectionTest, RejectionAckIsZeroExceptLayoutVersionThenCloses) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c);
  rejection().edit(&h);
  ASSERT_EQ(c->send_hello(h), "");
  sp::Bytes raw;
  uint16_t status = 0xFFFF;
  sp::HelloAck ack;
  ASSERT_EQ(c->receive_ack(&raw, &status, &ack), "");
  EXPECT_EQ(status, rejection().status);
  EXPECT_EQ(sp::to_hex(raw), sp::to_hex(sp::ack_packet(sp::rejection_ack(), rejection().status)));
  EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
}

INSTANTIATE_TEST_SUITE_P(
    Interop, ProjectServerRejectionTest,
    ::testing::Combine(
        ::testing::Values(Rejection{"WrongToken", [](sp::Hello* h) { h->auth_token ^= 1; },
                                    sp::kStatusAuthFailed},
                          Rejection{"NoCommonProfile", [](sp::Hello* h) { h->supported = 0x08; },
                                    sp::kStatusUnsupported},
                          Rejection{"LayoutVersion2", [](sp::Hello* h) { h->layout_version = 2; },
                                    sp::kStatusIncompatible},
                          Rejection{"PacketSize32", [](sp::Hello* h) { h->packet_size = 32; },
                                    sp::kStatusIncompatible},
                          Rejection{"RequestCeilingAboveServerMax",
                                    [](sp::Hello* h) { h->max_request_payload = 300001; },
                                    sp::kStatusLimitExceeded}),
        ::testing::Values(ServerKind::kLevel1, ServerKind::kUv)),
    [](const ::testing::TestParamInfo<std::tuple<Rejection, ServerKind>>& p) {
      return std::string(std::get<0>(p.param).name) + "_" + kind_name(std::get<1>(p.param));
    });

TEST_P(ProjectServerTest, ProjectServerAnswersHeaderVersion2HelloWithIncompatible) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->send_hello(hello(*c), 2), "");
  sp::Bytes raw;
  uint16_t status = 0xFFFF;
  sp::HelloAck ack;
  ASSERT_EQ(c->receive_ack(&raw, &status, &ack), "");
  EXPECT_EQ(status, sp::kStatusIncompatible);
  EXPECT_EQ(sp::to_hex(raw), sp::to_hex(sp::ack_packet(sp::rejection_ack(), status)));
  EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
}

TEST_P(ProjectServerTest, ProjectServerAcceptsHelloWithZeroPayloadLenLikeUpstream) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Bytes pkt = sp::hello_packet(hello(*c));
  sp::wr32(pkt.data() + 16, 0);  // docs/wire.md §5.5 step 2: the body is read from the bytes
  ASSERT_EQ(c->link().send_packet(pkt), "");
  sp::Bytes raw;
  uint16_t status = 0xFFFF;
  sp::HelloAck ack;
  ASSERT_EQ(c->receive_ack(&raw, &status, &ack), "");
  EXPECT_EQ(status, sp::kStatusOk);
  EXPECT_EQ(ack.session_id, 1u);
}

TEST_P(ProjectServerTest, ProjectServerNeverAcceptsHelloWithNonZeroReserved) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c);
  h.reserved = 1;
  ASSERT_EQ(c->send_hello(h), "");
  // Upstream closes silently; a C++ server may send BAD_ENVELOPE first (docs/wire.md §5.7).
  sp::Bytes raw;
  const std::string got = c->link().receive_packet(&raw, 5000);
  if (got.empty()) {
    ASSERT_GE(raw.size(), 16u);
    EXPECT_EQ(sp::rd16(raw.data() + 14), sp::kStatusBadEnvelope);
    EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
  } else {
    EXPECT_EQ(got, sp::kPeerClosed);
  }
}

TEST_P(ProjectServerTest, ProjectServerSnapshotDecodesWithSpecPeer) {
  start(project_policy(), sp::kMethodCgroupsSnapshot);
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c)), "");
  sp::Snapshot got;
  ASSERT_EQ(c->snapshot(&got), "");  // also checks the canonical encoding
  const sp::Snapshot expected = sample_snapshot();
  EXPECT_EQ(got.generation, expected.generation);
  EXPECT_EQ(got.systemd_enabled, expected.systemd_enabled);
  EXPECT_TRUE(got.items == expected.items);
}

TEST_P(ProjectServerTest, ProjectServerSnapshotMatchesCodecSpecVector) {
  sp::Snapshot s = sample_snapshot();
  s.items.pop_back();  // exactly the docs/codecs.md §2.6 items
  start(project_policy(), sp::kMethodCgroupsSnapshot, s);
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c)), "");
  sp::Message m;
  ASSERT_EQ(c->call(sp::kMethodCgroupsSnapshot, sp::snapshot_request(), 1, &m), "");
  EXPECT_EQ(sp::to_hex(m.payload), sp::to_hex(sp::from_hex(kSnapshotVector)));
}

TEST_P(ProjectServerTest, ProjectServerServesSpecClientInAnotherProcess) {
  start(project_policy());
  const std::string dir = dir_.path();
  const std::string service = service_;
  test::Child child = test::Child::fork_fn([&]() -> int {
    std::string problem;
    auto c = sp::SpecClient::connect(dir, service, &problem);
    if (c == nullptr) return 2;
    sp::Hello h = c->default_hello();
    h.auth_token = kToken;
    h.max_request_payload = 16000;
    h.max_request_items = h.max_response_items = 1000;
    h.packet_size = 512;
    uint64_t v = 0;
    std::vector<uint64_t> got;
    if (!c->handshake(h).empty() || !c->increment(1, &v).empty() || v != 2) return 3;
    if (!c->increment_batch(iota_values(900, 1), &got).empty() || got[899] != 1 + 899 * 3 + 1) {
      return 4;
    }
    return 0;
  });
  ASSERT_TRUE(child.valid());
  EXPECT_EQ(child.wait(), 0);
  EXPECT_EQ(server_->stop_and_count_dropped(), 0u);
}

}  // namespace
}  // namespace netipc
