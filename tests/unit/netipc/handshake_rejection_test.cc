// Every rule by which the server rejects a HELLO, each on its own
// (netipc-wire.md §5, §9.6): a HELLO_ACK with its status where the spec
// answers, a silent close where it does not, the order of the checks, and
// the exact bytes of every rejection. Packets are built byte by byte where
// the encoder cannot produce them (future versions, short bodies, bad fields).
#include "netipc/handshake.h"

#include <gtest/gtest.h>

#include <vector>

#include "handshake_test_util.h"
#include "netipc/wire.h"

namespace netipc {
namespace {

using Outcome = ServerDecision::Outcome;
using handshake_test::decide;
using handshake_test::expect_rejected;
using handshake_test::hello;
using handshake_test::kToken;
using handshake_test::packet;
using handshake_test::policy;
using wire::TransportStatus;

// ---- rejections ----

TEST(ServerHandshake, WrongAuthTokenIsAuthFailed) {
  auto h = hello();
  h.auth_token = kToken ^ 1;
  auto d = decide(policy(), h);
  expect_rejected(d, TransportStatus::kAuthFailed);
}

TEST(ServerHandshake, TokenDifferingOnlyInTheTopBitIsAuthFailed) {
  auto h = hello();
  h.auth_token = kToken ^ (uint64_t{1} << 63);
  expect_rejected(decide(policy(), h), TransportStatus::kAuthFailed);
}

TEST(ServerHandshake, ZeroTokenAgainstNonZeroServerTokenIsAuthFailed) {
  auto h = hello();
  h.auth_token = 0;
  expect_rejected(decide(policy(), h), TransportStatus::kAuthFailed);
}

TEST(ServerHandshake, DisjointProfilesAreUnsupported) {
  auto h = hello();
  h.supported_profiles = 0x02;
  expect_rejected(decide(policy(), h), TransportStatus::kUnsupported);
}

TEST(ServerHandshake, NoClientProfilesAreUnsupported) {
  auto h = hello();
  h.supported_profiles = 0;
  expect_rejected(decide(policy(), h), TransportStatus::kUnsupported);
}

TEST(ServerHandshake, WrongTokenAndDisjointProfilesIsAuthFailedBecauseAuthComesFirst) {
  // Deliberate deviation (handshake.h): an unauthenticated peer learns
  // nothing about the server's profiles.
  auto h = hello();
  h.auth_token = kToken + 1;
  h.supported_profiles = 0x02;
  expect_rejected(decide(policy(), h), TransportStatus::kAuthFailed);
}

TEST(ServerHandshake, WrongTokenAndExcessiveRequestCeilingIsAuthFailed) {
  auto h = hello();
  h.auth_token = 0;
  h.max_request_payload_bytes = 0xFFFFFFFF;
  expect_rejected(decide(policy(), h), TransportStatus::kAuthFailed);
}

TEST(ServerHandshake, LayoutVersion2IsIncompatible) {
  auto h = hello();
  h.layout_version = 2;
  expect_rejected(decide(policy(), h), TransportStatus::kIncompatible);
}

TEST(ServerHandshake, LayoutVersion0IsIncompatible) {
  auto h = hello();
  h.layout_version = 0;
  expect_rejected(decide(policy(), h), TransportStatus::kIncompatible);
}

TEST(ServerHandshake, HeaderVersion2HelloGetsIncompatibleAck) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 4, 2);
  expect_rejected(decide(policy(), pkt), TransportStatus::kIncompatible);
}

TEST(ServerHandshake, HeaderVersion2HelloWithoutBodyGetsIncompatibleAck) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 4, 2);
  pkt.resize(32);
  expect_rejected(decide(policy(), pkt), TransportStatus::kIncompatible);
}

TEST(ServerHandshake, HeaderVersion2NonHelloIsClosedSilently) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 4, 2);
  store_u16(pkt.data() + 8, 1);  // REQUEST
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kCloseSilent);
}

TEST(ServerHandshake, HeaderVersion2HelloWithBadHeaderLenIsClosedSilently) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 4, 2);
  store_u16(pkt.data() + 6, 40);
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kCloseSilent);
}

TEST(ServerHandshake, NonZeroHelloFlagsGetBadEnvelopeAck) {
  auto h = hello();
  h.flags = 1;
  expect_rejected(decide(policy(), h), TransportStatus::kBadEnvelope);
}

TEST(ServerHandshake, NonZeroHelloReservedGetsBadEnvelopeAck) {
  auto h = hello();
  h.reserved = 0x80000000u;
  expect_rejected(decide(policy(), h), TransportStatus::kBadEnvelope);
}

TEST(ServerHandshake, BodyShorterThan44BytesGetsBadEnvelopeAck) {
  auto pkt = packet(hello());
  pkt.resize(32 + 43);
  expect_rejected(decide(policy(), pkt), TransportStatus::kBadEnvelope);
}

TEST(ServerHandshake, HeaderOnlyHelloGetsBadEnvelopeAck) {
  auto pkt = packet(hello());
  pkt.resize(32);
  expect_rejected(decide(policy(), pkt), TransportStatus::kBadEnvelope);
}

TEST(ServerHandshake, ExtraBytesAfterTheBodyAreIgnored) {
  auto pkt = packet(hello());
  pkt.resize(pkt.size() + 20, 0xFF);
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kAccept);
}

TEST(ServerHandshake, HelloHeaderPayloadLenIsNotChecked) {
  // §5.5.2: the body is read from the received bytes.
  auto pkt = packet(hello());
  store_u32(pkt.data() + 16, 0);
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kAccept);
}

TEST(ServerHandshake, HelloHeaderFlagsStatusItemsAndIdAreNotChecked) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 10, 0xFFFF);
  store_u16(pkt.data() + 14, 5);
  store_u32(pkt.data() + 20, 9);
  store_u64(pkt.data() + 24, 77);
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kAccept);
}

TEST(ServerHandshake, RequestAsFirstPacketIsClosedSilently) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 8, 1);  // REQUEST, code 1 = INCREMENT
  auto d = decide(policy(), pkt);
  EXPECT_EQ(d.outcome, Outcome::kCloseSilent);
}

TEST(ServerHandshake, ResponseAsFirstPacketIsClosedSilently) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 8, 2);
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kCloseSilent);
}

TEST(ServerHandshake, HelloAckAsFirstPacketIsClosedSilently) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 12, 2);  // CONTROL / HELLO_ACK
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kCloseSilent);
}

TEST(ServerHandshake, UnknownControlCodeIsClosedSilently) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 12, 3);
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kCloseSilent);
}

TEST(ServerHandshake, BadMagicIsClosedSilently) {
  auto pkt = packet(hello());
  store_u32(pkt.data(), 0x4E43484B);
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kCloseSilent);
}

TEST(ServerHandshake, BadHeaderLenIsClosedSilently) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 6, 76);
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kCloseSilent);
}

TEST(ServerHandshake, BadKindIsClosedSilently) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 8, 4);
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kCloseSilent);
}

TEST(ServerHandshake, PacketShorterThanAHeaderIsClosedSilently) {
  auto pkt = packet(hello());
  pkt.resize(31);
  EXPECT_EQ(decide(policy(), pkt).outcome, Outcome::kCloseSilent);
  EXPECT_EQ(decide(policy(), std::vector<uint8_t>{}).outcome, Outcome::kCloseSilent);
}

TEST(ServerHandshake, GarbageIsClosedSilently) {
  std::vector<uint8_t> garbage(76);
  for (size_t i = 0; i < garbage.size(); ++i)
    garbage[i] = static_cast<uint8_t>(i * 37 + 11);
  auto d = decide(policy(), garbage);
  EXPECT_EQ(d.outcome, Outcome::kCloseSilent);
  EXPECT_STRNE(d.reason, "");
}

TEST(ServerHandshake, EveryRejectionHasAReason) {
  auto h = hello();
  h.auth_token = 0;
  auto d = decide(policy(), h);
  ASSERT_EQ(d.outcome, Outcome::kReject);
  EXPECT_STRNE(d.reason, "");
}

// Rejection order: layout before flags, flags before auth, auth before
// profiles, profiles before limits, limits before packet size.
TEST(ServerHandshake, LayoutVersionIsCheckedBeforeFlags) {
  auto h = hello();
  h.layout_version = 2;
  h.flags = 1;
  expect_rejected(decide(policy(), h), TransportStatus::kIncompatible);
}

TEST(ServerHandshake, FlagsAreCheckedBeforeAuth) {
  auto h = hello();
  h.flags = 1;
  h.auth_token = 0;
  expect_rejected(decide(policy(), h), TransportStatus::kBadEnvelope);
}

TEST(ServerHandshake, ProfilesAreCheckedBeforeTheRequestCeiling) {
  auto h = hello();
  h.supported_profiles = 0x02;
  h.max_request_payload_bytes = 0xFFFFFFFF;
  expect_rejected(decide(policy(), h), TransportStatus::kUnsupported);
}

TEST(ServerHandshake, RequestCeilingIsCheckedBeforePacketSize) {
  auto h = hello();
  h.max_request_payload_bytes = 0xFFFFFFFF;
  h.packet_size = 1;
  expect_rejected(decide(policy(), h), TransportStatus::kLimitExceeded);
}

TEST(ServerHandshake, RejectionPayloadIsAllZeroExceptLayoutVersionForEveryStatus) {
  struct Case {
    TransportStatus status;
    wire::Hello hello;
    ServerPolicy policy;
  };
  std::vector<Case> cases;
  {
    Case c{TransportStatus::kAuthFailed, hello(), policy()};
    c.hello.auth_token = 0;
    cases.push_back(c);
  }
  {
    Case c{TransportStatus::kUnsupported, hello(), policy()};
    c.hello.supported_profiles = 0x04;
    cases.push_back(c);
  }
  {
    Case c{TransportStatus::kIncompatible, hello(), policy()};
    c.hello.packet_size = 10;
    cases.push_back(c);
  }
  {
    Case c{TransportStatus::kLimitExceeded, hello(), policy()};
    c.hello.max_request_payload_bytes = 1u << 30;
    cases.push_back(c);
  }
  {
    Case c{TransportStatus::kBadEnvelope, hello(), policy()};
    c.hello.reserved = 1;
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(wire::transport_status_name(static_cast<uint16_t>(c.status)));
    expect_rejected(decide(c.policy, c.hello), c.status);
  }
}

}  // namespace
}  // namespace netipc
