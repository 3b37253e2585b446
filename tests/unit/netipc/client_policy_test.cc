// ClientPolicy without sockets: the Level-2 decisions of
// docs/levels.md §1.3-§1.8, driven step by step with forged
// ACKs and responses (cases a real server cannot be made to produce, and
// exact attempt counting).
#include "client/client_policy.h"

#include <gtest/gtest.h>

#include <vector>

namespace netipc {
namespace {

using Step = ClientPolicy::Step;
constexpr uint16_t kMethod = 1;

ClientConfig config() {
  ClientConfig c;
  c.run_dir = "/run/x";
  c.service = "svc";
  c.method = kMethod;
  return c;
}

ClientPolicy make(const ClientConfig& c = config()) {
  auto p = ClientPolicy::create(c);
  EXPECT_TRUE(p.ok());
  return std::move(*p);
}

wire::HelloAck ack(uint32_t req = 1024, uint32_t resp = 65536, uint32_t items = 1,
                   uint32_t profile = wire::kProfileUds) {
  wire::HelloAck a;
  a.selected_profile = profile;
  a.agreed_max_request_payload_bytes = req;
  a.agreed_max_request_batch_items = items;
  a.agreed_max_response_payload_bytes = resp;
  a.agreed_max_response_batch_items = items;
  a.agreed_packet_size = 4096;
  a.session_id = 1;
  return a;
}

Message response(uint64_t id, uint16_t status = 0, uint16_t code = kMethod) {
  Message m;
  m.header.kind = static_cast<uint16_t>(wire::Kind::kResponse);
  m.header.code = code;
  m.header.message_id = id;
  m.header.transport_status = status;
  return m;
}

constexpr uint16_t kLimit = static_cast<uint16_t>(wire::TransportStatus::kLimitExceeded);

TEST(ClientGrow, MatchesTheSpecExamples) {
  for (uint64_t n = 0; n <= 16; ++n)
    EXPECT_EQ(client_grow(n), 16u) << n;
  EXPECT_EQ(client_grow(1000), 1024u);
  EXPECT_EQ(client_grow(1025), 2048u);
  EXPECT_EQ(client_grow(131072), 131072u);
  EXPECT_EQ(client_grow(uint64_t{1} << 31), 1u << 31);
  EXPECT_EQ(client_grow((uint64_t{1} << 31) + 1), 0u);  // does not fit: ignored
}

TEST(ClientPolicy, ResolvesZeroConfigToDefaults) {
  ClientPolicy p = make();
  const ClientProposal prop = p.proposal();
  EXPECT_EQ(prop.supported_profiles, wire::kProfileUds);
  EXPECT_EQ(prop.max_request_payload_bytes, 1024u);
  EXPECT_EQ(prop.max_request_batch_items, 1u);
  EXPECT_EQ(prop.max_response_payload_bytes, 65536u);
  EXPECT_EQ(p.timeout_ms(0), 30000);
  EXPECT_EQ(p.timeout_ms(5), 5);
  EXPECT_EQ(p.config().connect_timeout_ms, 5000);
  EXPECT_EQ(p.state(), ClientState::kDisconnected);
}

TEST(ClientPolicy, FirstCallConnectsThenAttemptsWithIdOne) {
  ClientPolicy p = make();
  EXPECT_EQ(p.start_call(8, 1, false), Step::kConnect);
  EXPECT_EQ(p.state(), ClientState::kConnecting);
  EXPECT_EQ(p.on_connected(ack()), Step::kAttempt);
  EXPECT_EQ(p.message_id(), 1u);
  EXPECT_EQ(p.on_response(response(1)), Step::kSucceed);
  EXPECT_EQ(p.message_id(), 2u);
  EXPECT_EQ(p.start_call(8, 1, false), Step::kAttempt);  // READY: no connect
  EXPECT_EQ(p.status().connect_count, 1u);
  EXPECT_EQ(p.status().call_count, 1u);
}

TEST(ClientPolicy, MismatchingResponseIsRetriedOnceWithTheSameId) {
  ClientPolicy p = make();
  p.start_call(8, 1, false);
  p.on_connected(ack());
  EXPECT_EQ(p.on_response(response(1, 0, /*code=*/2)), Step::kConnect);
  EXPECT_EQ(p.on_connected(ack()), Step::kAttempt);
  EXPECT_EQ(p.message_id(), 1u);
  EXPECT_EQ(p.on_response(response(7)), Step::kFail);  // wrong id: second failure
  EXPECT_EQ(p.error().code, Errc::kProtocol);
  EXPECT_EQ(p.state(), ClientState::kBroken);
  EXPECT_EQ(p.status().reconnect_count, 1u);
  EXPECT_EQ(p.status().error_count, 1u);
}

TEST(ClientPolicy, FailedReconnectReturnsTheOriginalError) {
  ClientPolicy p = make();
  p.start_call(8, 1, false);
  p.on_connected(ack());
  EXPECT_EQ(p.on_attempt_error(make_error(Errc::kPeerGone, "recv")), Step::kConnect);
  EXPECT_EQ(p.on_connect_failed(make_error(Errc::kNotFound, "connect")), Step::kFail);
  EXPECT_EQ(p.error().code, Errc::kPeerGone);
  EXPECT_EQ(p.state(), ClientState::kNotFound);
}

TEST(ClientPolicy, AbortDuringAReconnectIsReportedAsAbort) {
  ClientPolicy p = make();
  p.start_call(8, 1, false);
  p.on_connected(ack());
  EXPECT_EQ(p.on_attempt_error(make_error(Errc::kPeerGone)), Step::kConnect);
  EXPECT_EQ(p.on_connect_failed(make_error(Errc::kAborted)), Step::kFail);
  EXPECT_EQ(p.error().code, Errc::kAborted);
  EXPECT_EQ(p.state(), ClientState::kDisconnected);
}

TEST(ClientPolicy, TimeoutAndAbortAreNeverRetried) {
  for (Errc e : {Errc::kTimeout, Errc::kAborted}) {
    ClientPolicy p = make();
    p.start_call(8, 1, false);
    p.on_connected(ack());
    EXPECT_EQ(p.on_attempt_error(make_error(e)), Step::kFail);
    EXPECT_EQ(p.error().code, e);
    EXPECT_EQ(p.state(), ClientState::kBroken);
  }
}

TEST(ClientPolicy, PendingAbortFailsEveryCallAndTearsDownTheSession) {
  ClientPolicy p = make();
  EXPECT_EQ(p.start_call(8, 1, true), Step::kFail);
  EXPECT_EQ(p.state(), ClientState::kDisconnected);  // nothing to tear down
  p.start_refresh();
  p.on_connected(ack());
  EXPECT_EQ(p.start_call(8, 1, true), Step::kFail);
  EXPECT_EQ(p.error().code, Errc::kAborted);
  EXPECT_EQ(p.state(), ClientState::kBroken);
}

TEST(ClientPolicy, StickyStatesFailWithoutConnecting) {
  ClientPolicy p = make();
  p.start_call(8, 1, false);
  EXPECT_EQ(p.on_connect_failed(make_error(Errc::kAuthFailed)), Step::kFail);
  EXPECT_EQ(p.start_call(8, 1, false), Step::kFail);
  EXPECT_EQ(p.error().code, Errc::kAuthFailed);
  EXPECT_EQ(p.start_refresh(), Step::kSucceed);  // refresh does nothing either
  p.reset();
  p.start_call(8, 1, false);
  EXPECT_EQ(p.on_connect_failed(make_error(Errc::kUnsupported)), Step::kFail);
  EXPECT_EQ(p.error().code, Errc::kIncompatible);  // no common profile
  EXPECT_EQ(p.state(), ClientState::kIncompatible);
  EXPECT_EQ(p.start_call(8, 1, false), Step::kFail);
  EXPECT_EQ(p.error().code, Errc::kIncompatible);
}

TEST(ClientPolicy, RefreshCountsConnectsAndReconnects) {
  ClientPolicy p = make();
  EXPECT_EQ(p.start_refresh(), Step::kConnect);
  EXPECT_EQ(p.on_connect_failed(make_error(Errc::kNotFound)), Step::kFail);
  EXPECT_EQ(p.state(), ClientState::kNotFound);
  EXPECT_EQ(p.start_refresh(), Step::kConnect);
  EXPECT_EQ(p.on_connected(ack()), Step::kSucceed);
  EXPECT_EQ(p.start_refresh(), Step::kSucceed);  // READY: nothing
  p.start_call(8, 1, false);
  p.on_attempt_error(make_error(Errc::kTimeout));  // BROKEN
  EXPECT_EQ(p.start_refresh(), Step::kConnect);
  p.on_connected(ack());
  EXPECT_EQ(p.status().connect_count, 1u);
  EXPECT_EQ(p.status().reconnect_count, 1u);
  EXPECT_EQ(p.status().error_count, 1u);  // refresh failures are not counted
}

// Drives one call against a server whose ACK response ceiling starts at
// 1024 and doubles after each overflow; returns the number of attempts.
int overflow_attempts(uint32_t need, Step* last, ClientPolicy* p) {
  uint32_t ceiling = 1024;
  int attempts = 0;
  Step s = p->start_call(8, 1, false);
  for (;;) {
    if (s == Step::kConnect) {
      s = p->on_connected(ack(1024, ceiling));
    } else if (s == Step::kAttempt) {
      ++attempts;
      if (need > ceiling) {
        ceiling *= 2;
        s = p->on_response(response(p->message_id(), kLimit));
      } else {
        s = p->on_response(response(p->message_id()));
      }
    } else {
      *last = s;
      return attempts;
    }
  }
}

TEST(ClientPolicy, OverflowLoopSucceedsOnAttemptSevenAndStopsAfterEight) {
  Step last = Step::kFail;
  ClientPolicy a = make();
  EXPECT_EQ(overflow_attempts(40000, &last, &a), 7);
  EXPECT_EQ(last, Step::kSucceed);
  EXPECT_EQ(a.status().reconnect_count, 6u);
  ClientPolicy b = make();
  EXPECT_EQ(overflow_attempts(150000, &last, &b), 8);
  EXPECT_EQ(last, Step::kFail);
  EXPECT_EQ(b.error().code, Errc::kLimitExceeded);
  EXPECT_EQ(b.status().reconnect_count, 8u);  // the 8th failure still reconnects
  EXPECT_EQ(b.state(), ClientState::kBroken);
}

TEST(ClientPolicy, ServerThatCannotGrowStopsAfterTwoAttempts) {
  ClientPolicy p = make();
  p.start_call(8, 1, false);
  EXPECT_EQ(p.on_connected(ack()), Step::kAttempt);
  EXPECT_EQ(p.on_response(response(1, kLimit)), Step::kConnect);
  EXPECT_EQ(p.status().learned_response_payload_bytes, 131072u);
  EXPECT_EQ(p.on_connected(ack()), Step::kAttempt);  // learned size grew
  EXPECT_EQ(p.on_response(response(1, kLimit)), Step::kConnect);
  EXPECT_EQ(p.on_connected(ack()), Step::kFail);  // nothing grew this round
  EXPECT_EQ(p.error().code, Errc::kLimitExceeded);
}

TEST(ClientPolicy, ResponseGrowthIsCappedAtOneMebibyteButConfigAboveIsKept) {
  ClientPolicy p = make();
  p.start_call(8, 1, false);
  p.on_connected(ack(1024, 1u << 20));
  p.on_response(response(1, kLimit));
  EXPECT_EQ(p.status().learned_response_payload_bytes, 1u << 20);
  ClientConfig big = config();
  big.max_response_payload_bytes = 3u << 20;
  ClientPolicy q = make(big);
  q.start_call(8, 1, false);
  q.on_connected(ack(1024, 1u << 20));
  q.on_response(response(1, kLimit));
  EXPECT_EQ(q.status().learned_response_payload_bytes, 3u << 20);
}

TEST(ClientPolicy, OversizedRequestGrowsBeforeAnythingIsSent) {
  ClientPolicy p = make();
  p.start_call(1025, 1, false);
  EXPECT_EQ(p.on_connected(ack()), Step::kConnect);  // no kAttempt: reconnect first
  EXPECT_EQ(p.proposal().max_request_payload_bytes, 2048u);
  EXPECT_EQ(p.on_connect_failed(make_error(Errc::kLimitExceeded)), Step::kFail);
  EXPECT_EQ(p.error().code, Errc::kLimitExceeded);
  EXPECT_EQ(p.state(), ClientState::kDisconnected);
}

TEST(ClientPolicy, BatchResponsesNeedTheBatchFlagAndItemCount) {
  ClientConfig c = config();
  c.max_request_batch_items = 4;
  ClientPolicy p = make(c);
  EXPECT_EQ(p.start_call(64, 5, false), Step::kFail);  // over the configured ceiling
  EXPECT_EQ(p.start_call(64, 2, false), Step::kConnect);
  EXPECT_EQ(p.on_connected(ack(1024, 65536, 4)), Step::kAttempt);
  std::vector<uint8_t> payload(32, 0);
  store_u32(payload.data() + 8, 8);
  store_u32(payload.data() + 4, 8);
  store_u32(payload.data() + 12, 8);
  Message m = response(1);
  m.payload = ByteSpan(payload);
  m.header.flags = wire::kFlagBatch;
  m.header.item_count = 3;
  EXPECT_EQ(p.on_response(m), Step::kConnect);  // wrong count: ordinary failure
  EXPECT_EQ(p.on_connected(ack(1024, 65536, 4)), Step::kAttempt);
  m.header.item_count = 2;
  EXPECT_EQ(p.on_response(m), Step::kSucceed);
  // An error status is judged before the item count (error replies carry 1).
  p.start_call(64, 2, false);
  EXPECT_EQ(p.on_response(response(2, kLimit)), Step::kConnect);
}

TEST(ClientPolicy, ShmAttachFailureStripsShmForLifeAndReconnectsAtOnce) {
  ClientConfig c = config();
  c.supported_profiles = wire::kProfileUds | wire::kProfileShmHybrid;
  c.preferred_profiles = wire::kProfileShmHybrid;
  ClientPolicy p = make(c);
  EXPECT_EQ(p.start_call(8, 1, false), Step::kConnect);
  EXPECT_EQ(p.on_connect_failed(make_error(Errc::kShmUnavailable, "attach")), Step::kConnect);
  EXPECT_EQ(p.proposal().supported_profiles, wire::kProfileUds);
  EXPECT_EQ(p.proposal().preferred_profiles, 0u);
  EXPECT_EQ(p.on_connected(ack()), Step::kAttempt);
  EXPECT_EQ(p.status().connect_count, 1u);
  EXPECT_EQ(p.status().error_count, 0u);
  // A later failure of the same kind is an ordinary connect failure now.
  p.reset();
  p.start_call(8, 1, false);
  EXPECT_EQ(p.on_connect_failed(make_error(Errc::kShmUnavailable)), Step::kFail);
  EXPECT_EQ(p.proposal().supported_profiles, wire::kProfileUds);
}

TEST(ClientPolicy, ShmOnlyConfigWhoseAttachFailsIsDisconnected) {
  ClientConfig c = config();
  c.supported_profiles = wire::kProfileShmHybrid;
  ClientPolicy p = make(c);
  p.start_call(8, 1, false);
  EXPECT_EQ(p.on_connect_failed(make_error(Errc::kShmUnavailable)), Step::kFail);
  EXPECT_EQ(p.state(), ClientState::kDisconnected);
  EXPECT_EQ(p.proposal().supported_profiles, wire::kProfileShmHybrid);
}

TEST(ClientPolicy, StateNamesAreTheSpecNames) {
  EXPECT_STREQ(client_state_name(ClientState::kDisconnected), "DISCONNECTED");
  EXPECT_STREQ(client_state_name(ClientState::kNotFound), "NOT_FOUND");
  EXPECT_STREQ(client_state_name(ClientState::kAuthFailed), "AUTH_FAILED");
  EXPECT_STREQ(client_state_name(ClientState::kBroken), "BROKEN");
  EXPECT_TRUE(client_state_is_sticky(ClientState::kIncompatible));
  EXPECT_FALSE(client_state_is_sticky(ClientState::kBroken));
}

}  // namespace
}  // namespace netipc
