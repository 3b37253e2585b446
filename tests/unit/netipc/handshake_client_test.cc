// The client's side of the handshake (docs/wire.md §5): make_hello()'s
// proposal with the spec defaults, and client_read_ack()'s reading of the
// HELLO_ACK, every status and every malformed field on its own.
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
using handshake_test::decide;
using handshake_test::hello;
using handshake_test::kSessionId;
using handshake_test::kToken;
using handshake_test::policy;
using wire::TransportStatus;

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

Errc status_ack_code(uint16_t status) {
  return client_read_ack(ByteSpan(status_ack_packet(status))).code();
}

// client_read_ack() of ok_ack_packet() with `fields` overwritten.
Errc ok_ack_code_with(std::initializer_list<Field> fields) {
  return client_read_ack(ByteSpan(codec_test::with_fields(ok_ack_packet(), fields))).code();
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
  EXPECT_EQ(status_ack_code(1), Errc::kBadEnvelope);
}
TEST(ClientReadAck, AuthFailedStatusIsAuthFailed) {
  EXPECT_EQ(status_ack_code(2), Errc::kAuthFailed);
}
TEST(ClientReadAck, IncompatibleStatusIsIncompatible) {
  EXPECT_EQ(status_ack_code(3), Errc::kIncompatible);
}
TEST(ClientReadAck, UnsupportedStatusIsUnsupported) {
  EXPECT_EQ(status_ack_code(4), Errc::kUnsupported);
}
TEST(ClientReadAck, LimitExceededStatusIsLimitExceeded) {
  EXPECT_EQ(status_ack_code(5), Errc::kLimitExceeded);
}
TEST(ClientReadAck, InternalErrorStatusIsInternalError) {
  EXPECT_EQ(status_ack_code(6), Errc::kInternalError);
}
TEST(ClientReadAck, UnknownStatusIsAProtocolError) {
  EXPECT_EQ(status_ack_code(7), Errc::kProtocol);
  EXPECT_EQ(status_ack_code(0xFFFF), Errc::kProtocol);
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
  EXPECT_EQ(ok_ack_code_with({u16_at(4, 2)}), Errc::kIncompatible);
}

TEST(ClientReadAck, BadMagicIsAProtocolError) {
  EXPECT_EQ(ok_ack_code_with({u32_at(0, 0)}), Errc::kProtocol);
}

TEST(ClientReadAck, PacketShorterThanAHeaderIsAProtocolError) {
  auto p = ok_ack_packet();
  p.resize(20);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, WrongKindIsAProtocolError) {
  EXPECT_EQ(ok_ack_code_with({u16_at(8, 2)}), Errc::kProtocol);  // RESPONSE
}

TEST(ClientReadAck, HelloCodeInsteadOfHelloAckIsAProtocolError) {
  EXPECT_EQ(ok_ack_code_with({u16_at(12, 1)}), Errc::kProtocol);
}

TEST(ClientReadAck, ShortBodyIsAProtocolError) {
  auto p = ok_ack_packet();
  p.resize(32 + 47);
  EXPECT_EQ(client_read_ack(ByteSpan(p)).code(), Errc::kProtocol);
}

TEST(ClientReadAck, LayoutVersion2IsIncompatible) {
  EXPECT_EQ(ok_ack_code_with({u16_at(32, 2)}), Errc::kIncompatible);
}

TEST(ClientReadAck, NonZeroFlagsAreAProtocolError) {
  EXPECT_EQ(ok_ack_code_with({u16_at(34, 1)}), Errc::kProtocol);
}

TEST(ClientReadAck, NonZeroReservedIsAccepted) {
  EXPECT_EQ(ok_ack_code_with({u32_at(32 + 36, 0xDEADBEEF)}), Errc::kOk);
}

TEST(ClientReadAck, PacketSize32IsAProtocolError) {
  EXPECT_EQ(ok_ack_code_with({u32_at(32 + 32, 32)}), Errc::kProtocol);
}

TEST(ClientReadAck, PacketSize0IsAProtocolError) {
  EXPECT_EQ(ok_ack_code_with({u32_at(32 + 32, 0)}), Errc::kProtocol);
}

TEST(ClientReadAck, PacketSize33IsAccepted) {
  auto p = ok_ack_packet();
  store_u32(p.data() + 32 + 32, 33);
  auto r = client_read_ack(ByteSpan(p));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->agreed_packet_size, 33u);
}

TEST(ClientReadAck, NoSelectedProfileIsAProtocolError) {
  EXPECT_EQ(ok_ack_code_with({u32_at(32 + 12, 0)}), Errc::kProtocol);
}

TEST(ClientReadAck, TwoSelectedProfilesAreAProtocolError) {
  EXPECT_EQ(ok_ack_code_with({u32_at(32 + 12, 0x03)}), Errc::kProtocol);
  EXPECT_EQ(ok_ack_code_with({u32_at(32 + 12, 0x80000001u)}), Errc::kProtocol);
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
