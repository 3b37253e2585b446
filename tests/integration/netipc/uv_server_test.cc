// netipc::uv::Server serving requests over real sockets: single and batch
// INCREMENT, session ids, the ACK's values, and every per-request error
// status (docs/levels.md §2.4) with what happens to the session after it;
// response-ceiling growth. Hostile clients and the session limit are in
// uv_server_hostile_test.cc, stop and ServerThread in
// uv_server_lifecycle_test.cc.
#include <gtest/gtest.h>

#include "uv_test_util.h"

namespace netipc {
namespace {

using namespace uv_test;  // NOLINT: test helpers
using UvServer = UvServerTest;

// ---- request serving ----

TEST_F(UvServer, AnswersASingleIncrement) {
  ASSERT_TRUE(start_server());
  auto c = connect(cfg_);
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto v = increment(*c, 1, 41);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 42u);
  v = increment(*c, 2, UINT64_MAX);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 0u);
  EXPECT_EQ(server().stats().requests, 2u);
}

TEST_F(UvServer, AnswersAnIncrementBatch) {
  cfg_.max_request_payload_bytes = 16 * 100;
  ASSERT_TRUE(start_server());
  ClientProposal p;
  p.max_request_payload_bytes = 16 * 100;
  p.max_request_batch_items = 100;
  auto c = connect(cfg_, p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  std::vector<uint64_t> in(100);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = i * 3;
  std::vector<uint8_t> payload;
  ASSERT_TRUE(codec::encode_increment_batch(in.data(), 100, &payload).ok());
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(payload), 100, deadline_in_ms(5000)).ok());
  auto r = c->receive_response(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status, 0);
  EXPECT_EQ(r->header.flags, wire::kFlagBatch);
  EXPECT_EQ(r->header.item_count, 100u);
  std::vector<uint64_t> out;
  ASSERT_TRUE(codec::decode_increment_batch(r->payload, 100, &out).ok());
  for (size_t i = 0; i < in.size(); ++i)
    EXPECT_EQ(out[i], in[i] + 1);
}

TEST_F(UvServer, SuccessiveSessionsGetIds1Then2Then3) {
  ASSERT_TRUE(start_server());
  for (uint64_t want = 1; want <= 3; ++want) {
    auto c = connect(cfg_);
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->agreed().session_id, want);
    ASSERT_TRUE(increment(*c, 1, want).ok());
  }
}

TEST_F(UvServer, SessionIdsStrictlyIncreaseAcrossARejectedHandshake) {
  cfg_.auth_token = 0x77;
  ASSERT_TRUE(start_server());
  ClientProposal good;
  good.auth_token = 0x77;
  auto a = connect(cfg_, good);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(connect(cfg_).code(), Errc::kAuthFailed);
  auto b = connect(cfg_, good);
  ASSERT_TRUE(b.ok());
  EXPECT_GT(b->agreed().session_id, a->agreed().session_id);
  EXPECT_TRUE(increment(*a, 1, 1).ok());
  EXPECT_TRUE(increment(*b, 1, 1).ok());
}

TEST_F(UvServer, AckOffersTheConfiguredCeilingsAndTheUdsProfile) {
  cfg_.max_request_payload_bytes = 5000;
  cfg_.max_response_payload_bytes = 7000;
  cfg_.packet_size = 4096;
  ASSERT_TRUE(start_server());
  ClientProposal p;
  p.supported_profiles = wire::kProfileUds | wire::kProfileShmHybrid;
  p.max_request_payload_bytes = 5000;
  auto c = connect(cfg_, p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->profile(), wire::kProfileUds);  // shared memory is not negotiated yet
  EXPECT_EQ(c->agreed().agreed_max_request_payload_bytes, 5000u);
  EXPECT_EQ(c->agreed().agreed_max_response_payload_bytes, 7000u);
  EXPECT_EQ(c->agreed().agreed_packet_size, 4096u);
  EXPECT_EQ(increment(*c, 1, 9).value(), 10u);
}

TEST_F(UvServer, WrongTokenIsRejectedAndCounted) {
  cfg_.auth_token = 0x1234;
  ASSERT_TRUE(start_server());
  EXPECT_EQ(connect(cfg_).code(), Errc::kAuthFailed);
  EXPECT_TRUE(test::wait_until([&] { return server().stats().sessions_rejected == 1; }));
  EXPECT_EQ(server().stats().sessions_accepted, 0u);
}

TEST_F(UvServer, UnservedMethodIsUnsupportedAndTheSessionGoesOn) {
  ASSERT_TRUE(start_server());
  auto c = connect(cfg_);
  ASSERT_TRUE(c.ok());
  uint8_t p[8] = {};
  const uint16_t reverse = static_cast<uint16_t>(wire::Method::kStringReverse);
  ASSERT_TRUE(c->send_request(reverse, 1, ByteSpan(p, 8)).ok());
  auto r = c->receive_response(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status, static_cast<uint16_t>(wire::TransportStatus::kUnsupported));
  EXPECT_EQ(r->header.code, reverse);
  EXPECT_EQ(r->header.message_id, 1u);
  EXPECT_EQ(r->payload.size, 0u);
  auto v = increment(*c, 2, 1);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 2u);
}

TEST_F(UvServer, MalformedRequestIsBadEnvelopeThenTheSessionIsClosed) {
  ASSERT_TRUE(start_server());
  auto c = connect(cfg_);
  ASSERT_TRUE(c.ok());
  const uint8_t three[3] = {1, 2, 3};  // INCREMENT needs 8 bytes
  ASSERT_TRUE(c->send_request(kIncrement, 7, ByteSpan(three, 3)).ok());
  auto r = c->receive_response(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status, static_cast<uint16_t>(wire::TransportStatus::kBadEnvelope));
  EXPECT_EQ(r->header.message_id, 7u);
  EXPECT_EQ(r->payload.size, 0u);
  EXPECT_TRUE(closed_by_peer(c->fd(), 5000));
  expect_served(cfg_);
}

TEST_F(UvServer, MalformedBatchDirectoryIsBadEnvelopeThenTheSessionIsClosed) {
  ASSERT_TRUE(start_server());
  ClientProposal p;
  p.max_request_batch_items = 4;
  auto c = connect(cfg_, p);
  ASSERT_TRUE(c.ok());
  Bytes payload(32, 0);
  store_u32(payload.data() + 8, 3);  // item 1 at a misaligned offset
  store_u32(payload.data() + 12, 8);
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(payload), 2).ok());
  auto r = c->receive_response(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status, static_cast<uint16_t>(wire::TransportStatus::kBadEnvelope));
  EXPECT_TRUE(closed_by_peer(c->fd(), 5000));
}

TEST_F(UvServer, RequestOverTheAgreedCeilingIsLimitExceededThenTheSessionIsClosed) {
  ASSERT_TRUE(start_server());
  auto c = raw_client(cfg_);  // agrees on 1024 bytes, then ignores it
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->ack.agreed_max_request_payload_bytes, 1024u);
  const Bytes big(2000, 0);
  ASSERT_TRUE(c->conn.send(request(9), ByteSpan(big), deadline_in_ms(5000)).ok());
  auto r = c->conn.receive(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.kind, static_cast<uint16_t>(wire::Kind::kResponse));
  EXPECT_EQ(r->header.transport_status,
            static_cast<uint16_t>(wire::TransportStatus::kLimitExceeded));
  EXPECT_EQ(r->header.message_id, 9u);
  EXPECT_EQ(r->payload.size, 0u);
  EXPECT_TRUE(closed_by_peer(c->conn.fd(), 5000));
  expect_served(cfg_);
}

TEST_F(UvServer, BatchOverTheAgreedItemCountIsLimitExceededThenTheSessionIsClosed) {
  ASSERT_TRUE(start_server());
  ClientProposal p;
  p.max_request_batch_items = 2;
  auto c = raw_client(cfg_, p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  std::vector<uint64_t> in = {1, 2, 3};
  std::vector<uint8_t> payload;
  ASSERT_TRUE(codec::encode_increment_batch(in.data(), 3, &payload).ok());
  ASSERT_TRUE(c->conn.send(request(4, kIncrement, 3), ByteSpan(payload)).ok());
  auto r = c->conn.receive(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status,
            static_cast<uint16_t>(wire::TransportStatus::kLimitExceeded));
  EXPECT_TRUE(closed_by_peer(c->conn.fd(), 5000));
}

TEST_F(UvServer, HandlerFailureIsInternalErrorThenTheSessionIsClosed) {
  ASSERT_TRUE(start_server(
      [](ByteSpan, ResponseWriter&) -> Status { return make_error(Errc::kNoMemory, "handler"); }));
  auto c = connect(cfg_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(increment(*c, 3, 1).code(), Errc::kInternalError);
  EXPECT_TRUE(closed_by_peer(c->fd(), 5000));
}

TEST_F(UvServer, ResponseOverTheCeilingIsLimitExceededAndTheNextSessionGetsAGrownCeiling) {
  cfg_.max_response_payload_bytes = 1024;
  ASSERT_TRUE(start_server([](ByteSpan req, ResponseWriter& out) -> Status {
    auto v = codec::decode_increment(req);
    if (!v.ok()) return v.error();
    out.bytes().assign(5000, 0);  // an answer bigger than the first ceiling
    codec::encode_increment(*v + 1, out.bytes().data());
    return ok_status();
  }));
  auto first = connect(cfg_);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->agreed().agreed_max_response_payload_bytes, 1024u);
  EXPECT_EQ(increment(*first, 1, 1).code(), Errc::kLimitExceeded);
  EXPECT_TRUE(closed_by_peer(first->fd(), 5000));
  EXPECT_GE(server().response_ceiling(), 5000u);

  auto second = connect(cfg_);
  ASSERT_TRUE(second.ok());
  EXPECT_GE(second->agreed().agreed_max_response_payload_bytes, 5000u);
  EXPECT_EQ(second->agreed().agreed_max_response_payload_bytes, server().response_ceiling());
  auto v = increment(*second, 1, 1);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 2u);
}

TEST_F(UvServer, HandlerReportingLimitExceededGrowsTheCeilingForTheNextSession) {
  cfg_.max_response_payload_bytes = 1024;
  ASSERT_TRUE(start_server([](ByteSpan, ResponseWriter&) -> Status {
    return make_error(Errc::kLimitExceeded, "answer does not fit");
  }));
  auto c = connect(cfg_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(increment(*c, 1, 1).code(), Errc::kLimitExceeded);
  EXPECT_TRUE(closed_by_peer(c->fd(), 5000));
  auto next = connect(cfg_);
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->agreed().agreed_max_response_payload_bytes, 1024u);
}

TEST_F(UvServer, AnnouncedResponseSizeRaisesTheCeilingOfferedToNewSessions) {
  ASSERT_TRUE(start_server());
  auto before = connect(cfg_);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->agreed().agreed_max_response_payload_bytes, 65536u);
  server().announce_response_size(100000);  // from the test thread: any thread may
  EXPECT_GE(server().response_ceiling(), 100000u);
  auto after = connect(cfg_);
  ASSERT_TRUE(after.ok());
  EXPECT_GE(after->agreed().agreed_max_response_payload_bytes, 100000u);
  EXPECT_EQ(before->agreed().agreed_max_response_payload_bytes, 65536u);  // fixed for life
  EXPECT_TRUE(increment(*before, 1, 1).ok());
  EXPECT_TRUE(increment(*after, 1, 1).ok());
}

TEST_F(UvServer, AnnouncedSizeNeverShrinksTheCeiling) {
  ASSERT_TRUE(start_server());
  server().announce_response_size(10);
  EXPECT_EQ(server().response_ceiling(), 65536u);
}

TEST_F(UvServer, AnnouncedSizeIsCappedByTheGrowthCeiling) {
  cfg_.response_growth_ceiling = 200000;
  ASSERT_TRUE(start_server());
  server().announce_response_size(50u << 20);
  EXPECT_EQ(server().response_ceiling(), 200000u);
  auto c = connect(cfg_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->agreed().agreed_max_response_payload_bytes, 200000u);
}

}  // namespace
}  // namespace netipc
