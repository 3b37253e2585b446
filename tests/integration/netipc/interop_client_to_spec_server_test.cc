// Interoperability over UDS SEQPACKET: the project's ClientSession against
// the independent spec server (tests/support/spec_peer.h). HELLO bytes,
// adoption of every ACK field, single and batch calls, chunking, the
// 300 000-byte clamp, pipelining, error paths and rejections. Forgeries are
// in interop_forgery_test.cc, SHM in interop_shm_test.cc. Real sockets;
// one test puts the spec server in a forked process.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "base/abort.h"
#include "interop_test_util.h"
#include "netipc/codec/cgroups.h"

namespace netipc {
namespace {

using namespace interop;  // NOLINT(google-build-using-namespace): test helpers

TEST_F(SpecServerTest, ProjectClientHelloMatchesSpecFieldByField) {
  start(spec_config());
  ClientProposal p = proposal(4096, 17);
  p.supported_profiles = wire::kProfileUds;
  p.preferred_profiles = wire::kProfileUds;
  p.max_response_payload_bytes = 70000;
  auto c = connect(p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  const auto log = server_->log();
  ASSERT_EQ(log.hello_packets.size(), 1u);
  sp::Hello expected;
  expected.supported = 0x01;
  expected.preferred = 0x01;
  expected.max_request_payload = 4096;
  expected.max_request_items = 17;
  expected.max_response_payload = 70000;
  expected.max_response_items = 17;
  expected.auth_token = kToken;
  expected.packet_size = default_sndbuf() - 32;  // docs/transport.md A.4 rule 3: SO_SNDBUF - 32
  EXPECT_EQ(sp::to_hex(log.hello_packets[0]), sp::to_hex(sp::hello_packet(expected)));
  expect_no_violations();
}

TEST_F(SpecServerTest, ProjectClientAdoptsEveryHelloAckField) {
  sp::ServerConfig config = spec_config(5000);
  config.policy.supported = 0x07;
  config.policy.preferred = 0x02;
  config.policy.max_request_payload = 8192;
  config.policy.max_response_payload = 70000;
  config.first_session_id = 0x1122334455667788ull;
  start(config);
  ClientProposal p = proposal(4096, 17);
  p.max_response_payload_bytes = 1024;  // a hint the server overrides
  auto c = connect(p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  const wire::HelloAck& a = c->agreed();
  EXPECT_EQ(a.layout_version, 1);
  EXPECT_EQ(a.flags, 0);
  EXPECT_EQ(a.server_supported_profiles, 0x07u);
  EXPECT_EQ(a.intersection_profiles, 0x01u);
  EXPECT_EQ(a.selected_profile, 0x01u);
  EXPECT_EQ(a.agreed_max_request_payload_bytes, 4096u);
  EXPECT_EQ(a.agreed_max_request_batch_items, 17u);
  EXPECT_EQ(a.agreed_max_response_payload_bytes, 70000u);
  EXPECT_EQ(a.agreed_max_response_batch_items, 17u);
  EXPECT_EQ(a.agreed_packet_size, 5000u);
  EXPECT_EQ(a.reserved, 0u);
  EXPECT_EQ(a.session_id, 0x1122334455667788ull);
  EXPECT_FALSE(c->uses_shm());
  // The session runs on the agreed values: 5000-byte packets, 70000 inbound.
  auto v = increment(*c, 1, 7);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 8u);
}

TEST_F(SpecServerTest, ProjectClientAgreesOnTheSmallerPacketSize) {
  start(spec_config(0));  // the spec server advertises raw SO_SNDBUF, as upstream does
  ClientProposal p = proposal();
  p.packet_size = 3000;
  auto c = connect(p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->agreed().agreed_packet_size, 3000u);
}

TEST_F(SpecServerTest, ProjectClientSingleIncrementMatchesSpecVector) {
  start(spec_config());
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto v = increment(*c, 1, 41);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 42u);
  auto wrap = increment(*c, 2, UINT64_MAX);
  ASSERT_TRUE(wrap.ok()) << wrap.error().message();
  EXPECT_EQ(*wrap, 0u);
  const auto log = server_->log();
  ASSERT_EQ(log.requests.size(), 2u);
  sp::Bytes wire_bytes(32);
  sp::put_header(log.requests[0].header, wire_bytes.data());
  wire_bytes.insert(wire_bytes.end(), log.requests[0].payload.begin(),
                    log.requests[0].payload.end());
  EXPECT_EQ(sp::to_hex(wire_bytes),
            sp::to_hex(sp::from_hex("4350494e 01002000 01000000 01000000 08000000 01000000"
                                    "01000000 00000000 29000000 00000000")));
  expect_no_violations();
}

TEST_F(SpecServerTest, ProjectClientBatchIncrementsFrom2To1000Items) {
  start(spec_config());
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  uint64_t id = 1;
  for (size_t n : {2, 3, 7, 64, 333, 999, 1000}) {
    SCOPED_TRACE(n);
    const auto values = iota_values(n, n * 1000);
    const auto payload = project_batch(values);
    ASSERT_EQ(payload.size(), 16 * n);  // docs/codecs.md §3 rule 4
    ASSERT_TRUE(c->send_request(1, id, ByteSpan(payload), static_cast<uint32_t>(n)).ok());
    auto m = c->receive_response(in_ms(5000));
    ASSERT_TRUE(m.ok()) << m.error().message();
    EXPECT_EQ(m->header.message_id, id++);
    EXPECT_EQ(m->header.flags, wire::kFlagBatch);
    ASSERT_EQ(m->header.item_count, n);
    auto view = wire::BatchView::parse(m->payload, m->header.item_count);
    ASSERT_TRUE(view.ok()) << view.error().message();
    for (uint32_t i = 0; i < n; ++i) {
      ASSERT_EQ(view->item(i).size, 8u);
      EXPECT_EQ(load_u64(view->item(i).data), values[i] + 1);
    }
  }
  expect_no_violations();
}

TEST_F(SpecServerTest, ProjectClientChunksRequestsAndReassemblesChunkedResponses) {
  start(spec_config(256));
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->agreed().agreed_packet_size, 256u);
  const auto values = iota_values(625, 5);  // 10000-byte request and response
  const auto payload = project_batch(values);
  ASSERT_TRUE(c->send_request(1, 9, ByteSpan(payload), 625).ok());
  auto m = c->receive_response(in_ms(5000));
  ASSERT_TRUE(m.ok()) << m.error().message();
  ASSERT_EQ(m->payload.size, 10000u);
  auto view = wire::BatchView::parse(m->payload, m->header.item_count);
  ASSERT_TRUE(view.ok());
  for (uint32_t i = 0; i < 625; ++i)
    EXPECT_EQ(load_u64(view->item(i).data), values[i] + 1);
  // docs/wire.md §4.2: B = 224, 1 + ceil((10000 - 224) / 224) = 45 packets, each
  // checked by the spec server's reassembly (every non-final packet 256 B).
  const auto log = server_->log();
  ASSERT_EQ(log.request_packets.size(), 1u);
  EXPECT_EQ(log.request_packets[0], 45u);
  expect_no_violations();
}

TEST_F(SpecServerTest, ProjectClientRoundTrips300000BytesAtAutoPacketSize) {
  // The spec server advertises raw SO_SNDBUF like upstream; the project's
  // SO_SNDBUF - 32 wins the min() and the kernel accepts every packet.
  sp::ServerConfig config = spec_config(0);
  config.policy.max_request_payload = 300000;
  config.policy.max_response_payload = 300000;
  start(config);
  ClientProposal p = proposal(300000, 18750);
  p.max_response_payload_bytes = 300000;
  auto c = connect(p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->agreed().agreed_packet_size, default_sndbuf() - 32);
  const auto values = iota_values(18750, 1);  // 300000-byte payload
  const auto payload = project_batch(values);
  ASSERT_EQ(payload.size(), 300000u);
  Status st = c->send_request(1, 1, ByteSpan(payload), 18750, in_ms(10000));
  ASSERT_TRUE(st.ok()) << st.error().message();
  auto m = c->receive_response(in_ms(10000));
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto view = wire::BatchView::parse(m->payload, m->header.item_count);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(load_u64(view->item(18749).data), values[18749] + 1);
  EXPECT_EQ(server_->log().request_packets.at(0), 2u);
  expect_no_violations();
}

TEST_F(SpecServerTest, ProjectClientMatchesPipelinedResponsesAnsweredInReverse) {
  sp::ServerConfig config = spec_config();
  config.reverse_batch = 5;
  start(config);
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  for (uint64_t id = 1; id <= 5; ++id) {
    ASSERT_TRUE(c->send_request(1, id, ByteSpan(u64_bytes(id * 10))).ok());
  }
  EXPECT_EQ(c->in_flight(), 5u);
  std::vector<uint64_t> order;
  for (int i = 0; i < 5; ++i) {
    auto m = c->receive_response(in_ms(5000));
    ASSERT_TRUE(m.ok()) << m.error().message();
    order.push_back(m->header.message_id);
    EXPECT_EQ(load_u64(m->payload.data), m->header.message_id * 10 + 1);
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{5, 4, 3, 2, 1}));
  EXPECT_EQ(c->in_flight(), 0u);
}

TEST_F(SpecServerTest, ProjectClientReportsProtocolErrorOnWrongMessageId) {
  sp::ServerConfig config = spec_config();
  config.misbehaviour = sp::Misbehaviour::kWrongMessageId;
  start(config);
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->send_request(1, 3, ByteSpan(u64_bytes(1))).ok());
  auto m = c->receive_response(in_ms(5000));
  EXPECT_EQ(m.code(), Errc::kProtocol);
  EXPECT_EQ(c->in_flight(), 0u);
}

TEST_F(SpecServerTest, ProjectClientRejectsGarbageResponse) {
  sp::ServerConfig config = spec_config();
  config.misbehaviour = sp::Misbehaviour::kGarbage;
  start(config);
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(u64_bytes(1))).ok());
  auto m = c->receive_response(in_ms(5000));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.code(), Errc::kBadMagic);
  EXPECT_EQ(m.error().action(), Action::kMalformedPeer);
}

TEST_F(SpecServerTest, ProjectClientReportsPeerGoneWhenServerClosesMidMessage) {
  sp::ServerConfig config = spec_config(256);
  config.misbehaviour = sp::Misbehaviour::kCloseMidMessage;
  start(config);
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  const auto payload = project_batch(iota_values(100, 1));  // 1600-byte response
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(payload), 100).ok());
  auto m = c->receive_response(in_ms(5000));
  EXPECT_EQ(m.code(), Errc::kPeerGone);
}

TEST_F(SpecServerTest, ProjectClientTimesOutWhenServerStallsAfterFirstChunk) {
  sp::ServerConfig config = spec_config(256);
  config.misbehaviour = sp::Misbehaviour::kStallAfterFirstChunk;
  start(config);
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  const auto payload = project_batch(iota_values(100, 1));
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(payload), 100).ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto m = c->receive_response(in_ms(300));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(m.code(), Errc::kTimeout);
  EXPECT_GE(took, std::chrono::milliseconds(290));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(SpecServerTest, ProjectClientAbortsStalledChunkedReceive) {
  sp::ServerConfig config = spec_config(256);
  config.misbehaviour = sp::Misbehaviour::kStallAfterFirstChunk;
  start(config);
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto abort = AbortHandle::create();
  ASSERT_TRUE(abort.ok());
  const auto payload = project_batch(iota_values(100, 1));
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(payload), 100).ok());
  auto readable = [&] {
    pollfd p{c->fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  };
  // The first chunk is queued; the server sends nothing more. Once the
  // client has consumed it, it is mid-message: abort then.
  ASSERT_TRUE(test::wait_until(readable));
  std::thread aborter([&] {
    test::wait_until([&] { return !readable(); });
    abort->abort();
  });
  auto m = c->receive_response(0, abort->fd());
  aborter.join();
  EXPECT_EQ(m.code(), Errc::kAborted);
}

TEST_F(SpecServerTest, ProjectClientTimesOutWhenServerNeverAnswers) {
  sp::ServerConfig config = spec_config();
  config.misbehaviour = sp::Misbehaviour::kNeverAnswer;
  start(config);
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(u64_bytes(1))).ok());
  auto m = c->receive_response(in_ms(200));
  EXPECT_EQ(m.code(), Errc::kTimeout);
  ASSERT_TRUE(test::wait_until([&] { return server_->log().requests.size() == 1; }));
}

TEST_F(SpecServerTest, ProjectClientMapsAuthFailedRejection) {
  start(spec_config());
  ClientProposal p = proposal();
  p.auth_token = kToken + 1;
  EXPECT_EQ(connect(p).code(), Errc::kAuthFailed);
}

TEST_F(SpecServerTest, ProjectClientMapsUnsupportedRejection) {
  sp::ServerConfig config = spec_config();
  config.policy.supported = wire::kProfileShmHybrid;  // nothing in common with UDS only
  start(config);
  EXPECT_EQ(connect(proposal()).code(), Errc::kUnsupported);
}

TEST_F(SpecServerTest, ProjectClientMapsIncompatibleRejection) {
  start(spec_config(32));  // agreed packet size 32 -> INCOMPATIBLE
  EXPECT_EQ(connect(proposal()).code(), Errc::kIncompatible);
}

TEST_F(SpecServerTest, ProjectClientMapsLimitExceededRejection) {
  sp::ServerConfig config = spec_config();
  config.policy.max_request_payload = 2048;
  start(config);
  EXPECT_EQ(connect(proposal(2049)).code(), Errc::kLimitExceeded);
}

TEST_F(SpecServerTest, ProjectClientTreatsCloseWithoutAckAsHandshakeFailure) {
  sp::ServerConfig config = spec_config();
  config.misbehaviour = sp::Misbehaviour::kCloseBeforeAck;
  start(config);
  auto c = connect(proposal());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.code(), Errc::kBadEnvelope);  // docs/wire.md §5.7 rule 2: closed == BAD_ENVELOPE
}

TEST_F(SpecServerTest, ProjectClientDecodesSpecSnapshotLayout1) {
  start(spec_config());
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  uint8_t req[codec::kCgroupsRequestLen];
  codec::encode_cgroups_request(codec::kCgroupsLayoutBinary, req);
  ASSERT_TRUE(c->send_request(2, 1, ByteSpan(req, sizeof req)).ok());
  auto m = c->receive_response(in_ms(5000));
  ASSERT_TRUE(m.ok()) << m.error().message();
  codec::CgroupsSnapshotViews views;
  Status st = codec::decode_cgroups_snapshot_v1(m->payload, &views);
  ASSERT_TRUE(st.ok()) << st.error().message();
  const sp::Snapshot expected = sample_snapshot();
  EXPECT_EQ(views.generation, expected.generation);
  EXPECT_EQ(views.systemd_enabled, expected.systemd_enabled);
  ASSERT_EQ(views.items.size(), expected.items.size());
  for (size_t i = 0; i < views.items.size(); ++i) {
    const sp::CgroupEntry got{views.items[i].hash, views.items[i].options, views.items[i].enabled,
                              std::string(views.items[i].name), std::string(views.items[i].path)};
    EXPECT_TRUE(got == expected.items[i]) << "item " << i;
  }
  expect_no_violations();  // the request was exactly 01 00 00 00
}

TEST_F(SpecServerTest, ProjectClientTalksToSpecServerInAnotherProcess) {
  const std::string dir = dir_.path();
  const std::string service = service_;
  test::Child child = test::Child::fork_fn([&] {
    std::string problem;
    auto server = sp::SpecServer::start(dir, service, spec_config(256), &problem);
    if (server == nullptr) return 1;
    (void)!::write(STDOUT_FILENO, "ready\n", 6);
    for (;;)
      ::pause();  // killed by the parent
  });
  ASSERT_TRUE(child.valid());
  ASSERT_TRUE(child.wait_for_line("ready"));
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto v = increment(*c, 1, 41);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 42u);
  const auto values = iota_values(500, 7);  // chunked both ways at 256
  const auto payload = project_batch(values);
  ASSERT_TRUE(c->send_request(1, 2, ByteSpan(payload), 500).ok());
  auto m = c->receive_response(in_ms(5000));
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto view = wire::BatchView::parse(m->payload, m->header.item_count);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(load_u64(view->item(499).data), values[499] + 1);
}

}  // namespace
}  // namespace netipc
