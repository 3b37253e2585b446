// HELLO and HELLO_ACK payloads and packets (netipc/src/wire/wire.cc): the spec
// vectors, every field at its offset both ways, exact lengths, and the
// control header a HELLO packet carries.
#include "netipc/wire.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "codec_test_util.h"

namespace netipc::wire {
namespace {

using codec_test::expect_fields;
using codec_test::expect_untouched;
using codec_test::hex;
using codec_test::u16_at;
using codec_test::u32_at;
using codec_test::u64_at;

// docs/wire.md §8 vector.
const char* const kHelloAckOkHex =
    "4350494e 01002000 03000000 02000000  30000000 01000000 00000000 00000000"
    "01000000 03000000 03000000 02000000  00040000 01000000 00000100 01000000"
    "00400300 00000000 01000000 00000000";

TEST(Wire, HelloMatchesSpecVector) {
  const auto expected =
      hex("4350494e 01002000 03000000 01000000  2c000000 01000000 00000000 00000000"
          "01000000 03000000 02000000 00040000  01000000 00000100 01000000 00000000"
          "88776655 44332211 00400300");
  Hello h;
  h.supported_profiles = 3;
  h.preferred_profiles = 2;
  h.max_request_payload_bytes = 1024;
  h.max_request_batch_items = 1;
  h.max_response_payload_bytes = 65536;
  h.max_response_batch_items = 1;
  h.auth_token = 0x1122334455667788ull;
  h.packet_size = 212992;
  std::vector<uint8_t> pkt(kHelloPacketLen);
  encode_hello_packet(h, pkt.data());
  EXPECT_EQ(pkt, expected);
  auto back = decode_hello(ByteSpan(pkt).subspan(32));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->auth_token, h.auth_token);
  EXPECT_EQ(back->packet_size, 212992u);
}

// ---- HELLO / HELLO_ACK payloads ----

TEST(WireHello, EncodesExactly44Bytes) {
  Hello h;
  h.auth_token = ~uint64_t{0};
  h.packet_size = ~uint32_t{0};
  uint8_t out[64];
  std::memset(out, 0xEE, sizeof out);
  encode_hello(h, out);
  expect_untouched(out, kHelloLen, sizeof out, 0xEE);
  EXPECT_EQ(load_u32(out + 40), ~uint32_t{0});
}

TEST(WireHello, EncodesEveryFieldAtItsOffset) {
  Hello h;
  h.layout_version = 0x0102;
  h.flags = 0x0304;
  h.supported_profiles = 0x05060708;
  h.preferred_profiles = 0x090A0B0C;
  h.max_request_payload_bytes = 0x11121314;
  h.max_request_batch_items = 0x21222324;
  h.max_response_payload_bytes = 0x31323334;
  h.max_response_batch_items = 0x41424344;
  h.reserved = 0x51525354;
  h.auth_token = 0x6162636465666768ull;
  h.packet_size = 0x71727374;
  uint8_t out[kHelloLen];
  encode_hello(h, out);
  expect_fields(out, {u16_at(0, 0x0102), u16_at(2, 0x0304), u32_at(4, 0x05060708),
                      u32_at(8, 0x090A0B0C), u32_at(12, 0x11121314), u32_at(16, 0x21222324),
                      u32_at(20, 0x31323334), u32_at(24, 0x41424344), u32_at(28, 0x51525354),
                      u64_at(32, 0x6162636465666768ull), u32_at(40, 0x71727374)});
  auto back = decode_hello(ByteSpan(out, sizeof out));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->layout_version, h.layout_version);
  EXPECT_EQ(back->flags, h.flags);
  EXPECT_EQ(back->supported_profiles, h.supported_profiles);
  EXPECT_EQ(back->preferred_profiles, h.preferred_profiles);
  EXPECT_EQ(back->max_request_payload_bytes, h.max_request_payload_bytes);
  EXPECT_EQ(back->max_request_batch_items, h.max_request_batch_items);
  EXPECT_EQ(back->max_response_payload_bytes, h.max_response_payload_bytes);
  EXPECT_EQ(back->max_response_batch_items, h.max_response_batch_items);
  EXPECT_EQ(back->reserved, h.reserved);
  EXPECT_EQ(back->auth_token, h.auth_token);
  EXPECT_EQ(back->packet_size, h.packet_size);
}

TEST(WireHello, DecodeRejects43Bytes) {
  uint8_t out[kHelloLen];
  encode_hello(Hello{}, out);
  EXPECT_EQ(decode_hello(ByteSpan(out, 43)).code(), Errc::kTruncated);
}

TEST(WireHello, HelloPacketHeaderCarriesControlHelloValues) {
  uint8_t pkt[kHelloPacketLen];
  encode_hello_packet(Hello{}, pkt);
  auto h = decode_header(ByteSpan(pkt, sizeof pkt));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->kind, 3);
  EXPECT_EQ(h->code, 1);
  EXPECT_EQ(h->flags, 0);
  EXPECT_EQ(h->transport_status, 0);
  EXPECT_EQ(h->payload_len, 44u);
  EXPECT_EQ(h->item_count, 1u);
  EXPECT_EQ(h->message_id, 0u);
}

HelloAck spec_ok_ack() {
  HelloAck a;
  a.server_supported_profiles = 0x03;
  a.intersection_profiles = 0x03;
  a.selected_profile = 0x02;
  a.agreed_max_request_payload_bytes = 1024;
  a.agreed_max_request_batch_items = 1;
  a.agreed_max_response_payload_bytes = 65536;
  a.agreed_max_response_batch_items = 1;
  a.agreed_packet_size = 212992;
  a.session_id = 1;
  return a;
}

TEST(WireHelloAck, OkPacketMatchesSpecVector) {
  std::vector<uint8_t> pkt(kHelloAckPacketLen);
  encode_hello_ack_packet(spec_ok_ack(), TransportStatus::kOk, pkt.data());
  EXPECT_EQ(pkt, hex(kHelloAckOkHex));
}

TEST(WireHelloAck, DecodeReadsSpecVector) {
  const auto pkt = hex(kHelloAckOkHex);
  auto h = decode_header(ByteSpan(pkt));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->kind, 3);
  EXPECT_EQ(h->code, 2);
  EXPECT_EQ(h->transport_status, 0);
  EXPECT_EQ(h->payload_len, 48u);
  auto a = decode_hello_ack(ByteSpan(pkt).subspan(kHeaderLen));
  ASSERT_TRUE(a.ok());
  const HelloAck want = spec_ok_ack();
  EXPECT_EQ(a->layout_version, 1);
  EXPECT_EQ(a->flags, 0);
  EXPECT_EQ(a->server_supported_profiles, want.server_supported_profiles);
  EXPECT_EQ(a->intersection_profiles, want.intersection_profiles);
  EXPECT_EQ(a->selected_profile, want.selected_profile);
  EXPECT_EQ(a->agreed_max_request_payload_bytes, want.agreed_max_request_payload_bytes);
  EXPECT_EQ(a->agreed_max_request_batch_items, want.agreed_max_request_batch_items);
  EXPECT_EQ(a->agreed_max_response_payload_bytes, want.agreed_max_response_payload_bytes);
  EXPECT_EQ(a->agreed_max_response_batch_items, want.agreed_max_response_batch_items);
  EXPECT_EQ(a->agreed_packet_size, want.agreed_packet_size);
  EXPECT_EQ(a->reserved, 0u);
  EXPECT_EQ(a->session_id, 1u);
}

TEST(WireHelloAck, AuthFailedRejectionMatchesSpecVector) {
  // Header as the OK vector but bytes 12-15 = 02000200; payload 01000000 + 44 zeros.
  auto expected = hex(kHelloAckOkHex);
  const auto status = hex("02000200");
  std::copy(status.begin(), status.end(), expected.begin() + 12);
  std::fill(expected.begin() + kHeaderLen, expected.end(), 0);
  expected[kHeaderLen] = 0x01;
  std::vector<uint8_t> pkt(kHelloAckPacketLen);
  encode_hello_ack_packet(HelloAck{}, TransportStatus::kAuthFailed, pkt.data());
  EXPECT_EQ(pkt, expected);
}

TEST(WireHelloAck, EncodesEveryFieldAtItsOffset) {
  HelloAck a;
  a.layout_version = 0x0102;
  a.flags = 0x0304;
  a.server_supported_profiles = 0x11111111;
  a.intersection_profiles = 0x22222222;
  a.selected_profile = 0x33333333;
  a.agreed_max_request_payload_bytes = 0x44444444;
  a.agreed_max_request_batch_items = 0x55555555;
  a.agreed_max_response_payload_bytes = 0x66666666;
  a.agreed_max_response_batch_items = 0x77777777;
  a.agreed_packet_size = 0x88888888;
  a.reserved = 0x99999999;
  a.session_id = 0xAAAAAAAABBBBBBBBull;
  uint8_t out[kHelloAckLen + 4];
  std::memset(out, 0xEE, sizeof out);
  encode_hello_ack(a, out);
  expect_fields(out,
                {u16_at(0, 0x0102), u16_at(2, 0x0304), u32_at(4, 0x11111111), u32_at(8, 0x22222222),
                 u32_at(12, 0x33333333), u32_at(16, 0x44444444), u32_at(20, 0x55555555),
                 u32_at(24, 0x66666666), u32_at(28, 0x77777777), u32_at(32, 0x88888888),
                 u32_at(36, 0x99999999), u64_at(40, 0xAAAAAAAABBBBBBBBull)});
  expect_untouched(out, kHelloAckLen, sizeof out, 0xEE);
  auto back = decode_hello_ack(ByteSpan(out, kHelloAckLen));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->reserved, 0x99999999u);
  EXPECT_EQ(back->session_id, 0xAAAAAAAABBBBBBBBull);
  EXPECT_EQ(back->agreed_packet_size, 0x88888888u);
}

TEST(WireHelloAck, DecodeRejects47Bytes) {
  uint8_t out[kHelloAckLen];
  encode_hello_ack(HelloAck{}, out);
  EXPECT_EQ(decode_hello_ack(ByteSpan(out, 47)).code(), Errc::kTruncated);
}
}  // namespace
}  // namespace netipc::wire
