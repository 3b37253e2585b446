// Every rule by which the server rejects a HELLO, each on its own
// (docs/wire.md §5, §9.6): a HELLO_ACK with its status where §5.5
// answers, a silent close where it does not, the order of the checks, and
// the exact bytes of every rejection. Packets are built byte by byte where
// the encoder cannot produce them (future versions, short bodies, bad fields).
#include "netipc/handshake.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

#include "codec_test_util.h"
#include "handshake_test_util.h"
#include "netipc/wire.h"

namespace netipc {
namespace {

using Outcome = ServerDecision::Outcome;
using codec_test::Field;
using codec_test::u16_at;
using codec_test::u32_at;
using codec_test::u64_at;
using handshake_test::decide;
using handshake_test::expect_rejected;
using handshake_test::hello;
using handshake_test::hello_with;
using handshake_test::kToken;
using handshake_test::packet;
using handshake_test::policy;
using wire::TransportStatus;

// A HELLO packet with `fields` overwritten.
std::vector<uint8_t> packet_with(std::initializer_list<Field> fields) {
  return codec_test::with_fields(packet(hello()), fields);
}

// What the server does with a HELLO packet with `fields` overwritten.
Outcome outcome_with(std::initializer_list<Field> fields) {
  return decide(policy(), packet_with(fields)).outcome;
}

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
  expect_rejected(decide(policy(), packet_with({u16_at(4, 2)})), TransportStatus::kIncompatible);
}

TEST(ServerHandshake, HeaderVersion2HelloWithoutBodyGetsIncompatibleAck) {
  auto pkt = packet(hello());
  store_u16(pkt.data() + 4, 2);
  pkt.resize(32);
  expect_rejected(decide(policy(), pkt), TransportStatus::kIncompatible);
}

TEST(ServerHandshake, HeaderVersion2NonHelloIsClosedSilently) {
  EXPECT_EQ(outcome_with({u16_at(4, 2), u16_at(8, 1)}),  // version 2, kind REQUEST
            Outcome::kCloseSilent);
}

TEST(ServerHandshake, HeaderVersion2HelloWithBadHeaderLenIsClosedSilently) {
  EXPECT_EQ(outcome_with({u16_at(4, 2), u16_at(6, 40)}), Outcome::kCloseSilent);
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
  EXPECT_EQ(outcome_with({u32_at(16, 0)}), Outcome::kAccept);
}

TEST(ServerHandshake, HelloHeaderFlagsStatusItemsAndIdAreNotChecked) {
  EXPECT_EQ(outcome_with({u16_at(10, 0xFFFF), u16_at(14, 5), u32_at(20, 9), u64_at(24, 77)}),
            Outcome::kAccept);
}

TEST(ServerHandshake, RequestAsFirstPacketIsClosedSilently) {
  // REQUEST, code 1 = INCREMENT
  EXPECT_EQ(outcome_with({u16_at(8, 1)}), Outcome::kCloseSilent);
}

TEST(ServerHandshake, ResponseAsFirstPacketIsClosedSilently) {
  EXPECT_EQ(outcome_with({u16_at(8, 2)}), Outcome::kCloseSilent);
}

TEST(ServerHandshake, HelloAckAsFirstPacketIsClosedSilently) {
  EXPECT_EQ(outcome_with({u16_at(12, 2)}), Outcome::kCloseSilent);  // CONTROL / HELLO_ACK
}

TEST(ServerHandshake, UnknownControlCodeIsClosedSilently) {
  EXPECT_EQ(outcome_with({u16_at(12, 3)}), Outcome::kCloseSilent);
}

TEST(ServerHandshake, BadMagicIsClosedSilently) {
  EXPECT_EQ(outcome_with({u32_at(0, 0x4E43484B)}), Outcome::kCloseSilent);
}

TEST(ServerHandshake, BadHeaderLenIsClosedSilently) {
  EXPECT_EQ(outcome_with({u16_at(6, 76)}), Outcome::kCloseSilent);
}

TEST(ServerHandshake, BadKindIsClosedSilently) {
  EXPECT_EQ(outcome_with({u16_at(8, 4)}), Outcome::kCloseSilent);
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
  const struct {
    TransportStatus status;
    wire::Hello hello;
  } cases[] = {
      {TransportStatus::kAuthFailed, hello_with([](wire::Hello& h) { h.auth_token = 0; })},
      {TransportStatus::kUnsupported, hello_with([](wire::Hello& h) { h.supported_profiles = 4; })},
      {TransportStatus::kIncompatible, hello_with([](wire::Hello& h) { h.packet_size = 10; })},
      {TransportStatus::kLimitExceeded,
       hello_with([](wire::Hello& h) { h.max_request_payload_bytes = 1u << 30; })},
      {TransportStatus::kBadEnvelope, hello_with([](wire::Hello& h) { h.reserved = 1; })},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(wire::transport_status_name(static_cast<uint16_t>(c.status)));
    expect_rejected(decide(policy(), c.hello), c.status);
  }
}

}  // namespace
}  // namespace netipc
