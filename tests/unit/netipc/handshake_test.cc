// The handshake as pure functions (netipc-wire.md §5, §9.6): every row of
// the negotiation matrix, every rejection rule, and the client's reading of
// the HELLO_ACK, each on its own. Packets are built byte by byte where the
// encoder cannot produce them (future versions, short bodies, bad fields).
#include "netipc/handshake.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "netipc/wire.h"

namespace netipc {
namespace {

using Outcome = ServerDecision::Outcome;
using wire::TransportStatus;

constexpr uint64_t kToken = 0x1122334455667788ull;
constexpr uint64_t kSessionId = 42;

ServerPolicy policy() {
  ServerPolicy p;
  p.supported_profiles = wire::kProfileUds;
  p.preferred_profiles = 0;
  p.max_request_payload_bytes = 4096;
  p.max_response_payload_bytes = 65536;
  p.packet_size = 65536;
  p.auth_token = kToken;
  return p;
}

wire::Hello hello() {
  wire::Hello h;
  h.supported_profiles = wire::kProfileUds;
  h.max_request_payload_bytes = 1024;
  h.max_request_batch_items = 1;
  h.max_response_payload_bytes = 1024;
  h.max_response_batch_items = 1;
  h.auth_token = kToken;
  h.packet_size = 212960;
  return h;
}

std::vector<uint8_t> packet(const wire::Hello& h) {
  std::vector<uint8_t> p(wire::kHelloPacketLen);
  wire::encode_hello_packet(h, p.data());
  return p;
}

ServerDecision decide(const ServerPolicy& pol, const std::vector<uint8_t>& pkt) {
  return server_handshake(pol, ByteSpan(pkt), kSessionId);
}
ServerDecision decide(const ServerPolicy& pol, const wire::Hello& h) {
  return decide(pol, packet(h));
}

std::vector<uint8_t> ack_bytes(const ServerDecision& d) {
  return std::vector<uint8_t>(d.packet, d.packet + sizeof d.packet);
}

// The 80 bytes of a rejection (§5.7): HELLO_ACK header with `status`, a
// payload that is all zero except layout_version = 1.
std::vector<uint8_t> expected_rejection(TransportStatus status) {
  std::vector<uint8_t> p(wire::kHelloAckPacketLen, 0);
  store_u32(p.data() + 0, 0x4E495043);
  store_u16(p.data() + 4, 1);
  store_u16(p.data() + 6, 32);
  store_u16(p.data() + 8, 3);
  store_u16(p.data() + 10, 0);
  store_u16(p.data() + 12, 2);
  store_u16(p.data() + 14, static_cast<uint16_t>(status));
  store_u32(p.data() + 16, 48);
  store_u32(p.data() + 20, 1);
  store_u64(p.data() + 24, 0);
  store_u16(p.data() + 32, 1);
  return p;
}

void expect_rejected(const ServerDecision& d, TransportStatus status) {
  EXPECT_EQ(d.outcome, Outcome::kReject);
  EXPECT_EQ(d.status, status);
  EXPECT_EQ(ack_bytes(d), expected_rejection(status));
  EXPECT_EQ(d.ack.session_id, 0u);
}

// ---- accepted HELLO: the negotiation matrix, row by row ----

TEST(ServerHandshake, AcceptsMatchingHelloWithOkAck) {
  auto d = decide(policy(), hello());
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.status, TransportStatus::kOk);
  auto h = wire::decode_header(ByteSpan(d.packet, sizeof d.packet));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->kind, 3);
  EXPECT_EQ(h->code, 2);
  EXPECT_EQ(h->flags, 0);
  EXPECT_EQ(h->transport_status, 0);
  EXPECT_EQ(h->payload_len, 48u);
  EXPECT_EQ(h->item_count, 1u);
  EXPECT_EQ(h->message_id, 0u);
}

TEST(ServerHandshake, AckPacketEncodesTheDecidedValues) {
  auto d = decide(policy(), hello());
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  auto a = wire::decode_hello_ack(ByteSpan(d.packet, sizeof d.packet).subspan(32));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->layout_version, 1);
  EXPECT_EQ(a->flags, 0);
  EXPECT_EQ(a->reserved, 0u);
  EXPECT_EQ(a->server_supported_profiles, d.ack.server_supported_profiles);
  EXPECT_EQ(a->intersection_profiles, d.ack.intersection_profiles);
  EXPECT_EQ(a->selected_profile, d.ack.selected_profile);
  EXPECT_EQ(a->agreed_max_request_payload_bytes, d.ack.agreed_max_request_payload_bytes);
  EXPECT_EQ(a->agreed_max_request_batch_items, d.ack.agreed_max_request_batch_items);
  EXPECT_EQ(a->agreed_max_response_payload_bytes, d.ack.agreed_max_response_payload_bytes);
  EXPECT_EQ(a->agreed_max_response_batch_items, d.ack.agreed_max_response_batch_items);
  EXPECT_EQ(a->agreed_packet_size, d.ack.agreed_packet_size);
  EXPECT_EQ(a->session_id, kSessionId);
}

TEST(ServerHandshake, ReturnsTheClientProposal) {
  auto h = hello();
  h.max_request_batch_items = 9;
  auto d = decide(policy(), h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.hello.max_request_batch_items, 9u);
  EXPECT_EQ(d.hello.auth_token, kToken);
  EXPECT_EQ(d.hello.packet_size, 212960u);
}

TEST(ServerHandshake, AckCarriesTheGivenSessionId) {
  auto pkt = packet(hello());
  EXPECT_EQ(server_handshake(policy(), ByteSpan(pkt), 1).ack.session_id, 1u);
  EXPECT_EQ(server_handshake(policy(), ByteSpan(pkt), 0xABCDEF).ack.session_id, 0xABCDEFu);
}

TEST(ServerHandshake, AckReportsServerProfilesAndTheIntersection) {
  auto pol = policy();
  pol.supported_profiles = 0x03;
  auto h = hello();
  h.supported_profiles = 0x05;
  auto d = decide(pol, h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.server_supported_profiles, 0x03u);
  EXPECT_EQ(d.ack.intersection_profiles, 0x01u);
  EXPECT_EQ(d.ack.selected_profile, 0x01u);
}

TEST(ServerHandshake, RequestCeilingBelowServerMaxIsEchoedUnchanged) {
  auto h = hello();
  h.max_request_payload_bytes = 100;
  auto d = decide(policy(), h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.agreed_max_request_payload_bytes, 100u);
}

TEST(ServerHandshake, RequestCeilingEqualToServerMaxIsAccepted) {
  auto h = hello();
  h.max_request_payload_bytes = policy().max_request_payload_bytes;
  auto d = decide(policy(), h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.agreed_max_request_payload_bytes, policy().max_request_payload_bytes);
}

TEST(ServerHandshake, RequestCeilingOneAboveServerMaxIsLimitExceeded) {
  auto h = hello();
  h.max_request_payload_bytes = policy().max_request_payload_bytes + 1;
  expect_rejected(decide(policy(), h), TransportStatus::kLimitExceeded);
}

TEST(ServerHandshake, ResponseCeilingIsTheServersWhateverTheHintBelow) {
  auto h = hello();
  h.max_response_payload_bytes = 16;
  auto d = decide(policy(), h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.agreed_max_response_payload_bytes, 65536u);
}

TEST(ServerHandshake, ResponseCeilingIsTheServersWhateverTheHintAbove) {
  auto h = hello();
  h.max_response_payload_bytes = 0xFFFFFFFF;
  auto d = decide(policy(), h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.agreed_max_response_payload_bytes, 65536u);
}

TEST(ServerHandshake, BatchItemsAreEchoedWithoutServerCap) {
  auto h = hello();
  h.max_request_batch_items = 1000000;
  auto d = decide(policy(), h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.agreed_max_request_batch_items, 1000000u);
}

TEST(ServerHandshake, ResponseBatchItemsEqualRequestBatchItemsIgnoringTheHint) {
  auto h = hello();
  h.max_request_batch_items = 7;
  h.max_response_batch_items = 500;
  auto d = decide(policy(), h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.agreed_max_request_batch_items, 7u);
  EXPECT_EQ(d.ack.agreed_max_response_batch_items, 7u);
}

TEST(ServerHandshake, PacketSizeIsTheClientsWhenSmaller) {
  auto h = hello();
  h.packet_size = 4096;
  auto d = decide(policy(), h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.agreed_packet_size, 4096u);
}

TEST(ServerHandshake, PacketSizeIsTheServersWhenSmaller) {
  auto pol = policy();
  pol.packet_size = 1000;
  auto d = decide(pol, hello());
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.agreed_packet_size, 1000u);
}

TEST(ServerHandshake, ClientPacketSize32IsIncompatible) {
  auto h = hello();
  h.packet_size = 32;
  expect_rejected(decide(policy(), h), TransportStatus::kIncompatible);
}

TEST(ServerHandshake, ClientPacketSize33IsAccepted) {
  auto h = hello();
  h.packet_size = 33;
  auto d = decide(policy(), h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.agreed_packet_size, 33u);
}

TEST(ServerHandshake, ServerPacketSize32IsIncompatible) {
  auto pol = policy();
  pol.packet_size = 32;
  expect_rejected(decide(pol, hello()), TransportStatus::kIncompatible);
}

TEST(ServerHandshake, ClientPacketSize0IsIncompatible) {
  auto h = hello();
  h.packet_size = 0;
  expect_rejected(decide(policy(), h), TransportStatus::kIncompatible);
}

// ---- profile selection (§5.4) ----

TEST(SelectProfile, ClientPrefersShmServerHasNoPreferenceSelectsShmHybrid) {
  // client 0x03/0x02 vs server 0x03/0 -> 0x02.
  EXPECT_EQ(select_profile(0x03, 0x02, 0x00), 0x02u);
}

TEST(SelectProfile, BothPreferBaselineSelectsBaseline) {
  EXPECT_EQ(select_profile(0x03, 0x01, 0x01), 0x01u);
}

TEST(SelectProfile, NoPreferencesSelectsHighestCommonBit) {
  EXPECT_EQ(select_profile(0x07, 0x00, 0x00), 0x04u);
}

TEST(SelectProfile, BothPreferringBothSelectsShmHybrid) {
  EXPECT_EQ(select_profile(0x03, 0x03, 0x03), 0x02u);
}

TEST(SelectProfile, OnlyOneSidePreferringBaselineSelectsShmHybrid) {
  EXPECT_EQ(select_profile(0x03, 0x01, 0x00), 0x02u);
  EXPECT_EQ(select_profile(0x03, 0x00, 0x01), 0x02u);
}

TEST(SelectProfile, PreferenceOutsideTheIntersectionIsIgnored) {
  EXPECT_EQ(select_profile(0x01, 0x02, 0x02), 0x01u);
}

TEST(SelectProfile, EmptyIntersectionSelectsNothing) {
  EXPECT_EQ(select_profile(0, 0x01, 0x01), 0u);
}

TEST(ServerHandshake, SelectsShmHybridFor03Prefer02Against03NoPreference) {
  auto pol = policy();
  pol.supported_profiles = 0x03;
  auto h = hello();
  h.supported_profiles = 0x03;
  h.preferred_profiles = 0x02;
  auto d = decide(pol, h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.intersection_profiles, 0x03u);
  EXPECT_EQ(d.ack.selected_profile, 0x02u);
}

TEST(ServerHandshake, SelectsBaselineWhenBothPreferIt) {
  auto pol = policy();
  pol.supported_profiles = 0x03;
  pol.preferred_profiles = 0x01;
  auto h = hello();
  h.supported_profiles = 0x03;
  h.preferred_profiles = 0x01;
  auto d = decide(pol, h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.selected_profile, 0x01u);
}

TEST(ServerHandshake, SelectsShmFutexFor07Against07WithoutPreferences) {
  auto pol = policy();
  pol.supported_profiles = 0x07;
  auto h = hello();
  h.supported_profiles = 0x07;
  auto d = decide(pol, h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.ack.intersection_profiles, 0x07u);
  EXPECT_EQ(d.ack.selected_profile, 0x04u);
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

// ---- make_hello: the client proposal with spec defaults ----

TEST(MakeHello, ZeroFieldsTakeSpecDefaults) {
  wire::Hello h = make_hello(ClientProposal{});
  EXPECT_EQ(h.layout_version, 1);
  EXPECT_EQ(h.flags, 0);
  EXPECT_EQ(h.supported_profiles, 0x01u);
  EXPECT_EQ(h.preferred_profiles, 0u);
  EXPECT_EQ(h.max_request_payload_bytes, 1024u);
  EXPECT_EQ(h.max_request_batch_items, 1u);
  EXPECT_EQ(h.max_response_payload_bytes, 1024u);
  EXPECT_EQ(h.max_response_batch_items, 1u);
  EXPECT_EQ(h.reserved, 0u);
}

TEST(MakeHello, CopiesGivenValuesAndMirrorsBatchItems) {
  ClientProposal p;
  p.supported_profiles = 0x03;
  p.preferred_profiles = 0x02;
  p.max_request_payload_bytes = 5000;
  p.max_request_batch_items = 64;
  p.max_response_payload_bytes = 70000;
  p.auth_token = kToken;
  p.packet_size = 4096;
  wire::Hello h = make_hello(p);
  EXPECT_EQ(h.supported_profiles, 0x03u);
  EXPECT_EQ(h.preferred_profiles, 0x02u);
  EXPECT_EQ(h.max_request_payload_bytes, 5000u);
  EXPECT_EQ(h.max_request_batch_items, 64u);
  EXPECT_EQ(h.max_response_payload_bytes, 70000u);
  EXPECT_EQ(h.max_response_batch_items, 64u);  // L2 sends the same value as the request's
  EXPECT_EQ(h.auth_token, kToken);
  EXPECT_EQ(h.packet_size, 4096u);
}

// ---- client_read_ack ----

std::vector<uint8_t> ok_ack_packet(wire::HelloAck a = {}) {
  if (a.selected_profile == 0) {
    a.server_supported_profiles = 0x01;
    a.intersection_profiles = 0x01;
    a.selected_profile = 0x01;
    a.agreed_max_request_payload_bytes = 1024;
    a.agreed_max_request_batch_items = 1;
    a.agreed_max_response_payload_bytes = 65536;
    a.agreed_max_response_batch_items = 1;
    a.agreed_packet_size = 65504;
    a.session_id = 3;
  }
  std::vector<uint8_t> p(wire::kHelloAckPacketLen);
  wire::encode_hello_ack_packet(a, TransportStatus::kOk, p.data());
  return p;
}

std::vector<uint8_t> status_ack_packet(uint16_t status) {
  std::vector<uint8_t> p(wire::kHelloAckPacketLen);
  wire::encode_hello_ack_packet(wire::HelloAck{}, TransportStatus::kOk, p.data());
  store_u16(p.data() + 14, status);
  return p;
}

TEST(ClientReadAck, AdoptsEveryValueOfAnOkAck) {
  auto r = client_read_ack(ByteSpan(ok_ack_packet()));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->selected_profile, 0x01u);
  EXPECT_EQ(r->agreed_max_request_payload_bytes, 1024u);
  EXPECT_EQ(r->agreed_max_request_batch_items, 1u);
  EXPECT_EQ(r->agreed_max_response_payload_bytes, 65536u);
  EXPECT_EQ(r->agreed_max_response_batch_items, 1u);
  EXPECT_EQ(r->agreed_packet_size, 65504u);
  EXPECT_EQ(r->session_id, 3u);
}

TEST(ClientReadAck, ReadsWhatTheServerDecided) {
  auto pol = policy();
  pol.supported_profiles = 0x07;
  auto h = hello();
  h.supported_profiles = 0x07;
  h.max_request_batch_items = 12;
  auto d = decide(pol, h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  auto r = client_read_ack(ByteSpan(d.packet, sizeof d.packet));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->selected_profile, 0x04u);
  EXPECT_EQ(r->agreed_max_request_batch_items, 12u);
  EXPECT_EQ(r->agreed_max_response_batch_items, 12u);
  EXPECT_EQ(r->agreed_packet_size, 65536u);
  EXPECT_EQ(r->session_id, kSessionId);
}

TEST(ClientReadAck, BadEnvelopeStatusIsBadEnvelope) {
  EXPECT_EQ(client_read_ack(ByteSpan(status_ack_packet(1))).code(), Errc::kBadEnvelope);
}
TEST(ClientReadAck, AuthFailedStatusIsAuthFailed) {
  EXPECT_EQ(client_read_ack(ByteSpan(status_ack_packet(2))).code(), Errc::kAuthFailed);
}
TEST(ClientReadAck, IncompatibleStatusIsIncompatible) {
  EXPECT_EQ(client_read_ack(ByteSpan(status_ack_packet(3))).code(), Errc::kIncompatible);
}
TEST(ClientReadAck, UnsupportedStatusIsUnsupported) {
  EXPECT_EQ(client_read_ack(ByteSpan(status_ack_packet(4))).code(), Errc::kUnsupported);
}
TEST(ClientReadAck, LimitExceededStatusIsLimitExceeded) {
  EXPECT_EQ(client_read_ack(ByteSpan(status_ack_packet(5))).code(), Errc::kLimitExceeded);
}
TEST(ClientReadAck, InternalErrorStatusIsInternalError) {
  EXPECT_EQ(client_read_ack(ByteSpan(status_ack_packet(6))).code(), Errc::kInternalError);
}
TEST(ClientReadAck, UnknownStatusIsAProtocolError) {
  EXPECT_EQ(client_read_ack(ByteSpan(status_ack_packet(7))).code(), Errc::kProtocol);
  EXPECT_EQ(client_read_ack(ByteSpan(status_ack_packet(0xFFFF))).code(), Errc::kProtocol);
}

TEST(ClientReadAck, StatusIsMappedBeforeThePayloadIsDecoded) {
  auto p = status_ack_packet(2);
  p.resize(32);  // no body at all
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kAuthFailed);
}

TEST(ClientReadAck, ServerRejectionPacketsReadBackAsTheirErrors) {
  auto h = hello();
  h.auth_token = 0;
  auto d = decide(policy(), h);
  EXPECT_EQ(client_read_ack(ByteSpan(d.packet, sizeof d.packet)).code(), Errc::kAuthFailed);
  h = hello();
  h.supported_profiles = 0x02;
  d = decide(policy(), h);
  EXPECT_EQ(client_read_ack(ByteSpan(d.packet, sizeof d.packet)).code(), Errc::kUnsupported);
}

TEST(ClientReadAck, HeaderVersion2IsIncompatible) {
  auto p = ok_ack_packet();
  store_u16(p.data() + 4, 2);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kIncompatible);
}

TEST(ClientReadAck, BadMagicIsAProtocolError) {
  auto p = ok_ack_packet();
  store_u32(p.data(), 0);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, PacketShorterThanAHeaderIsAProtocolError) {
  auto p = ok_ack_packet();
  p.resize(20);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, WrongKindIsAProtocolError) {
  auto p = ok_ack_packet();
  store_u16(p.data() + 8, 2);  // RESPONSE
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, HelloCodeInsteadOfHelloAckIsAProtocolError) {
  auto p = ok_ack_packet();
  store_u16(p.data() + 12, 1);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, ShortBodyIsAProtocolError) {
  auto p = ok_ack_packet();
  p.resize(32 + 47);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, LayoutVersion2IsIncompatible) {
  auto p = ok_ack_packet();
  store_u16(p.data() + 32, 2);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kIncompatible);
}

TEST(ClientReadAck, NonZeroFlagsAreAProtocolError) {
  auto p = ok_ack_packet();
  store_u16(p.data() + 34, 1);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, NonZeroReservedIsAccepted) {
  auto p = ok_ack_packet();
  store_u32(p.data() + 32 + 36, 0xDEADBEEF);
  EXPECT_TRUE(client_read_ack(ByteSpan(p)).ok());
}

TEST(ClientReadAck, PacketSize32IsAProtocolError) {
  auto p = ok_ack_packet();
  store_u32(p.data() + 32 + 32, 32);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, PacketSize0IsAProtocolError) {
  auto p = ok_ack_packet();
  store_u32(p.data() + 32 + 32, 0);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, PacketSize33IsAccepted) {
  auto p = ok_ack_packet();
  store_u32(p.data() + 32 + 32, 33);
  auto r = client_read_ack(ByteSpan(p));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->agreed_packet_size, 33u);
}

TEST(ClientReadAck, NoSelectedProfileIsAProtocolError) {
  auto p = ok_ack_packet();
  store_u32(p.data() + 32 + 12, 0);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, TwoSelectedProfilesAreAProtocolError) {
  auto p = ok_ack_packet();
  store_u32(p.data() + 32 + 12, 0x03);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
  store_u32(p.data() + 32 + 12, 0x80000001u);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, EverySingleSelectedBitIsAccepted) {
  for (uint32_t bit = 1; bit != 0; bit <<= 1) {
    auto p = ok_ack_packet();
    store_u32(p.data() + 32 + 12, bit);
    auto r = client_read_ack(ByteSpan(p));
    ASSERT_TRUE(r.ok()) << std::hex << bit;
    EXPECT_EQ(r->selected_profile, bit);
  }
}

}  // namespace
}  // namespace netipc
