#include "netipc/wire.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "netipc/batch.h"

namespace netipc::wire {
namespace {

std::vector<uint8_t> hex(const std::string& s) {
  std::vector<uint8_t> out;
  std::string digits;
  for (char c : s) {
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// A well-formed 32-byte header (an INCREMENT request) to corrupt field by field.
std::vector<uint8_t> valid_header() {
  return hex("4350494e 01002000 01000000 01000000  08000000 01000000 01000000 00000000");
}

// Spec §8 vectors.
const char* const kHelloAckOkHex =
    "4350494e 01002000 03000000 02000000  30000000 01000000 00000000 00000000"
    "01000000 03000000 03000000 02000000  00040000 01000000 00000100 01000000"
    "00400300 00000000 01000000 00000000";
const char* const kChunkHeaderHex =
    "4b48434e 01000000 07000000 00000000  08040000 01000000 05000000 e0000000";
const char* const kBatchOf123Hex =
    "00000000 08000000 08000000 08000000  10000000 08000000 01000000 00000000"
    "02000000 00000000 03000000 00000000";
const char* const kBatchAbcDeHex =
    "00000000 03000000 08000000 02000000  61626300 00000000 64650000 00000000";

TEST(Wire, IncrementRequestMatchesSpecVector) {
  const auto expected =
      hex("4350494e 01002000 01000000 01000000  08000000 01000000 01000000 00000000"
          "29000000 00000000");
  std::vector<uint8_t> msg(40);
  Header h;
  h.kind = static_cast<uint16_t>(Kind::kRequest);
  h.code = static_cast<uint16_t>(Method::kIncrement);
  h.payload_len = 8;
  h.message_id = 1;
  encode_header(h, msg.data());
  store_u64(msg.data() + 32, 41);
  EXPECT_EQ(msg, expected);
  auto d = decode_header(ByteSpan(msg));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, 1);
  EXPECT_EQ(d->code, 1);
  EXPECT_EQ(d->payload_len, 8u);
  EXPECT_EQ(d->item_count, 1u);
  EXPECT_EQ(d->message_id, 1u);
}

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

// ---- constants ----

TEST(Wire, ConstantsMatchSpecTable) {
  EXPECT_EQ(kMsgMagic, 0x4E495043u);
  EXPECT_EQ(kChunkMagic, 0x4E43484Bu);
  EXPECT_EQ(kVersion, 1);
  EXPECT_EQ(kHeaderLen, 32u);
  EXPECT_EQ(kHelloLen, 44u);
  EXPECT_EQ(kHelloAckLen, 48u);
  EXPECT_EQ(kHelloPacketLen, 76u);
  EXPECT_EQ(kHelloAckPacketLen, 80u);
  EXPECT_EQ(kAlignment, 8u);
  EXPECT_EQ(kMaxPayloadDefault, 1024u);
  EXPECT_EQ(kMaxPayloadCap, 1048576u);
  EXPECT_EQ(kServiceResponseDefault, 65536u);
  EXPECT_EQ(kPacketSizeFallback, 65536u);
  EXPECT_EQ(kFlagBatch, 0x0001);
  EXPECT_EQ(kProfileUds, 0x01u);
  EXPECT_EQ(kProfileShmHybrid, 0x02u);
  EXPECT_EQ(kProfileShmFutex, 0x04u);
}

TEST(Wire, MagicBytesSpellNipcAndNchkInMemoryOrder) {
  uint8_t out[kHeaderLen];
  encode_header(Header{}, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 4), hex("43 50 49 4E"));
  encode_chunk_header(ChunkHeader{}, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 4), hex("4B 48 43 4E"));
}

// ---- outer header ----

TEST(WireHeader, EncodesEveryFieldAtItsOffset) {
  Header h;
  h.kind = 0x0203;
  h.flags = 0x0405;
  h.code = 0x0607;
  h.transport_status = 0x0809;
  h.payload_len = 0x0A0B0C0D;
  h.item_count = 0x0E0F1011;
  h.message_id = 0x1213141516171819ull;
  uint8_t out[kHeaderLen + 4];
  std::memset(out, 0xEE, sizeof out);
  encode_header(h, out);
  EXPECT_EQ(load_u32(out + 0), kMsgMagic);
  EXPECT_EQ(load_u16(out + 4), 1);
  EXPECT_EQ(load_u16(out + 6), 32);
  EXPECT_EQ(load_u16(out + 8), 0x0203);
  EXPECT_EQ(load_u16(out + 10), 0x0405);
  EXPECT_EQ(load_u16(out + 12), 0x0607);
  EXPECT_EQ(load_u16(out + 14), 0x0809);
  EXPECT_EQ(load_u32(out + 16), 0x0A0B0C0Du);
  EXPECT_EQ(load_u32(out + 20), 0x0E0F1011u);
  EXPECT_EQ(load_u64(out + 24), 0x1213141516171819ull);
  // Exactly 32 bytes written.
  for (size_t i = kHeaderLen; i < sizeof out; ++i)
    EXPECT_EQ(out[i], 0xEE) << "byte " << i;
}

TEST(WireHeader, DecodesEveryFieldFromItsOffset) {
  auto b = valid_header();
  store_u16(b.data() + 8, 2);
  store_u16(b.data() + 10, 0x0001);
  store_u16(b.data() + 12, 0x0607);
  store_u16(b.data() + 14, 0x0005);
  store_u32(b.data() + 16, 0x0A0B0C0D);
  store_u32(b.data() + 20, 0x0E0F1011);
  store_u64(b.data() + 24, 0x1213141516171819ull);
  auto h = decode_header(ByteSpan(b));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->kind, 2);
  EXPECT_EQ(h->flags, 0x0001);
  EXPECT_EQ(h->code, 0x0607);
  EXPECT_EQ(h->transport_status, 5);
  EXPECT_EQ(h->payload_len, 0x0A0B0C0Du);
  EXPECT_EQ(h->item_count, 0x0E0F1011u);
  EXPECT_EQ(h->message_id, 0x1213141516171819ull);
}

TEST(WireHeader, EncodeDecodeRoundTripIsLossless) {
  Header h;
  h.kind = static_cast<uint16_t>(Kind::kResponse);
  h.flags = kFlagBatch;
  h.code = static_cast<uint16_t>(Method::kCgroupsSnapshot);
  h.transport_status = static_cast<uint16_t>(TransportStatus::kLimitExceeded);
  h.payload_len = 123456;
  h.item_count = 77;
  h.message_id = ~uint64_t{0};
  uint8_t out[kHeaderLen];
  encode_header(h, out);
  auto d = decode_header(ByteSpan(out, sizeof out));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, h.kind);
  EXPECT_EQ(d->flags, h.flags);
  EXPECT_EQ(d->code, h.code);
  EXPECT_EQ(d->transport_status, h.transport_status);
  EXPECT_EQ(d->payload_len, h.payload_len);
  EXPECT_EQ(d->item_count, h.item_count);
  EXPECT_EQ(d->message_id, h.message_id);
}

TEST(WireHeader, DecodeRejectsFewerThan32Bytes) {
  const auto b = valid_header();
  EXPECT_EQ(decode_header(ByteSpan(b.data(), 31)).code(), Errc::kTruncated);
  EXPECT_EQ(decode_header(ByteSpan(b.data(), 0)).code(), Errc::kTruncated);
}

TEST(WireHeader, DecodeRejectsBadMagic) {
  auto b = valid_header();
  store_u32(b.data(), kChunkMagic);  // a continuation header is not a message
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadMagic);
  b[3] ^= 0x01;
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadMagic);
}

TEST(WireHeader, DecodeRejectsVersionOtherThan1) {
  auto b = valid_header();
  store_u16(b.data() + 4, 2);
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadVersion);
  store_u16(b.data() + 4, 0);
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadVersion);
}

TEST(WireHeader, DecodeRejectsHeaderLenOtherThan32) {
  auto b = valid_header();
  store_u16(b.data() + 6, 64);
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadHeaderLen);
  store_u16(b.data() + 6, 31);
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadHeaderLen);
}

TEST(WireHeader, DecodeRejectsKind0) {
  auto b = valid_header();
  store_u16(b.data() + 8, 0);
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadKind);
}

TEST(WireHeader, DecodeRejectsKind4) {
  auto b = valid_header();
  store_u16(b.data() + 8, 4);
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadKind);
}

TEST(WireHeader, DecodeAcceptsKinds1To3) {
  for (uint16_t kind : {1, 2, 3}) {
    auto b = valid_header();
    store_u16(b.data() + 8, kind);
    auto h = decode_header(ByteSpan(b));
    ASSERT_TRUE(h.ok()) << "kind " << kind;
    EXPECT_EQ(h->kind, kind);
  }
}

TEST(WireHeader, DecodeAcceptsUnknownFlagBits) {
  auto b = valid_header();
  store_u16(b.data() + 10, 0xFFFE);
  auto h = decode_header(ByteSpan(b));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->flags, 0xFFFE);
  EXPECT_FALSE(h->is_batch());
}

TEST(WireHeader, DecodeChecksMagicBeforeVersionBeforeHeaderLenBeforeKind) {
  auto b = valid_header();
  store_u16(b.data() + 8, 9);  // bad kind
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadKind);
  store_u16(b.data() + 6, 16);  // and bad header_len
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadHeaderLen);
  store_u16(b.data() + 4, 7);  // and bad version
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadVersion);
  store_u32(b.data(), 0);  // and bad magic
  EXPECT_EQ(decode_header(ByteSpan(b)).code(), Errc::kBadMagic);
}

TEST(WireHeader, DecodeIgnoresBytesAfterTheHeader) {
  auto b = valid_header();
  b.resize(100, 0xAB);
  auto h = decode_header(ByteSpan(b));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->payload_len, 8u);
}

TEST(WireHeader, IsBatchNeedsTheFlagAndAtLeastTwoItems) {
  Header h;
  h.flags = kFlagBatch;
  h.item_count = 1;
  EXPECT_FALSE(h.is_batch());
  h.item_count = 2;
  EXPECT_TRUE(h.is_batch());
  h.flags = 0;
  EXPECT_FALSE(h.is_batch());
}

// ---- chunk continuation header ----

TEST(WireChunk, HeaderMatchesSpecVector) {
  ChunkHeader c;
  c.message_id = 7;
  c.total_message_len = 1032;
  c.chunk_index = 1;
  c.chunk_count = 5;
  c.chunk_payload_len = 224;
  std::vector<uint8_t> out(kHeaderLen);
  encode_chunk_header(c, out.data());
  EXPECT_EQ(out, hex(kChunkHeaderHex));
}

TEST(WireChunk, DecodeReadsSpecVector) {
  const auto b = hex(kChunkHeaderHex);
  auto c = decode_chunk_header(ByteSpan(b));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->message_id, 7u);
  EXPECT_EQ(c->total_message_len, 1032u);
  EXPECT_EQ(c->chunk_index, 1u);
  EXPECT_EQ(c->chunk_count, 5u);
  EXPECT_EQ(c->chunk_payload_len, 224u);
}

TEST(WireChunk, EncodesEveryFieldAtItsOffset) {
  ChunkHeader c;
  c.message_id = 0x0102030405060708ull;
  c.total_message_len = 0x11121314;
  c.chunk_index = 0x21222324;
  c.chunk_count = 0x31323334;
  c.chunk_payload_len = 0x41424344;
  uint8_t out[kHeaderLen + 4];
  std::memset(out, 0xEE, sizeof out);
  encode_chunk_header(c, out);
  EXPECT_EQ(load_u32(out + 0), kChunkMagic);
  EXPECT_EQ(load_u16(out + 4), 1);
  EXPECT_EQ(load_u16(out + 6), 0);
  EXPECT_EQ(load_u64(out + 8), 0x0102030405060708ull);
  EXPECT_EQ(load_u32(out + 16), 0x11121314u);
  EXPECT_EQ(load_u32(out + 20), 0x21222324u);
  EXPECT_EQ(load_u32(out + 24), 0x31323334u);
  EXPECT_EQ(load_u32(out + 28), 0x41424344u);
  for (size_t i = kHeaderLen; i < sizeof out; ++i)
    EXPECT_EQ(out[i], 0xEE) << "byte " << i;
}

TEST(WireChunk, DecodeRejectsBadMagic) {
  auto b = hex(kChunkHeaderHex);
  store_u32(b.data(), kMsgMagic);
  EXPECT_EQ(decode_chunk_header(ByteSpan(b)).code(), Errc::kBadMagic);
}

TEST(WireChunk, DecodeRejectsVersionOtherThan1) {
  auto b = hex(kChunkHeaderHex);
  store_u16(b.data() + 4, 2);
  EXPECT_EQ(decode_chunk_header(ByteSpan(b)).code(), Errc::kBadVersion);
}

TEST(WireChunk, DecodeRejectsNonZeroFlags) {
  auto b = hex(kChunkHeaderHex);
  store_u16(b.data() + 6, 1);
  EXPECT_EQ(decode_chunk_header(ByteSpan(b)).code(), Errc::kProtocol);
}

TEST(WireChunk, DecodeRejectsZeroChunkPayloadLen) {
  auto b = hex(kChunkHeaderHex);
  store_u32(b.data() + 28, 0);
  EXPECT_EQ(decode_chunk_header(ByteSpan(b)).code(), Errc::kProtocol);
}

TEST(WireChunk, DecodeRejectsFewerThan32Bytes) {
  const auto b = hex(kChunkHeaderHex);
  EXPECT_EQ(decode_chunk_header(ByteSpan(b.data(), 31)).code(), Errc::kTruncated);
}

// ---- chunk_count_for (P = 256, B = 224) ----

TEST(WireChunkCount, EmptyPayloadIsOnePacket) {
  EXPECT_EQ(chunk_count_for(0, 256), 1u);
}
TEST(WireChunkCount, Payload223IsOnePacket) {
  EXPECT_EQ(chunk_count_for(223, 256), 1u);
}
TEST(WireChunkCount, Payload224FillsExactlyOnePacket) {
  EXPECT_EQ(chunk_count_for(224, 256), 1u);
}
TEST(WireChunkCount, Payload225NeedsTwoPackets) {
  EXPECT_EQ(chunk_count_for(225, 256), 2u);
}
TEST(WireChunkCount, Payload1000NeedsFivePacketsAsInTheSpecExample) {
  EXPECT_EQ(chunk_count_for(1000, 256), 5u);
}
TEST(WireChunkCount, Payload10000Needs45Packets) {
  // 1 + ceil((10000 - 224) / 224) = 1 + ceil(43.64) = 45.
  EXPECT_EQ(chunk_count_for(10000, 256), 45u);
}
TEST(WireChunkCount, ExactMultiplesOfTheBodyNeedNoExtraPacket) {
  EXPECT_EQ(chunk_count_for(448, 256), 2u);
  EXPECT_EQ(chunk_count_for(449, 256), 3u);
}
TEST(WireChunkCount, LargestPayloadDoesNotOverflow) {
  // 1 + ceil((2^32 - 1 - 224) / 224) computed in 64 bits.
  EXPECT_EQ(chunk_count_for(UINT32_MAX, 256), 1u + (uint64_t{UINT32_MAX} - 224 + 223) / 224);
}
TEST(WireChunkCount, PacketSizeOf32OrLessIsInvalid) {
  EXPECT_EQ(chunk_count_for(10, 32), 0u);
  EXPECT_EQ(chunk_count_for(10, 0), 0u);
  EXPECT_EQ(chunk_count_for(1, 33), 1u);
  EXPECT_EQ(chunk_count_for(2, 33), 2u);
}

// ---- HELLO / HELLO_ACK payloads ----

TEST(WireHello, EncodesExactly44Bytes) {
  Hello h;
  h.auth_token = ~uint64_t{0};
  h.packet_size = ~uint32_t{0};
  uint8_t out[64];
  std::memset(out, 0xEE, sizeof out);
  encode_hello(h, out);
  for (size_t i = kHelloLen; i < sizeof out; ++i)
    EXPECT_EQ(out[i], 0xEE) << "byte " << i;
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
  EXPECT_EQ(load_u16(out + 0), 0x0102);
  EXPECT_EQ(load_u16(out + 2), 0x0304);
  EXPECT_EQ(load_u32(out + 4), 0x05060708u);
  EXPECT_EQ(load_u32(out + 8), 0x090A0B0Cu);
  EXPECT_EQ(load_u32(out + 12), 0x11121314u);
  EXPECT_EQ(load_u32(out + 16), 0x21222324u);
  EXPECT_EQ(load_u32(out + 20), 0x31323334u);
  EXPECT_EQ(load_u32(out + 24), 0x41424344u);
  EXPECT_EQ(load_u32(out + 28), 0x51525354u);
  EXPECT_EQ(load_u64(out + 32), 0x6162636465666768ull);
  EXPECT_EQ(load_u32(out + 40), 0x71727374u);
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
  EXPECT_EQ(load_u16(out + 0), 0x0102);
  EXPECT_EQ(load_u16(out + 2), 0x0304);
  EXPECT_EQ(load_u32(out + 4), 0x11111111u);
  EXPECT_EQ(load_u32(out + 8), 0x22222222u);
  EXPECT_EQ(load_u32(out + 12), 0x33333333u);
  EXPECT_EQ(load_u32(out + 16), 0x44444444u);
  EXPECT_EQ(load_u32(out + 20), 0x55555555u);
  EXPECT_EQ(load_u32(out + 24), 0x66666666u);
  EXPECT_EQ(load_u32(out + 28), 0x77777777u);
  EXPECT_EQ(load_u32(out + 32), 0x88888888u);
  EXPECT_EQ(load_u32(out + 36), 0x99999999u);
  EXPECT_EQ(load_u64(out + 40), 0xAAAAAAAABBBBBBBBull);
  for (size_t i = kHelloAckLen; i < sizeof out; ++i)
    EXPECT_EQ(out[i], 0xEE) << "byte " << i;
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

// ---- batch framing ----

TEST(WireBatch, ThreeU64ItemsMatchSpecVector) {
  std::vector<uint8_t> out;
  BatchWriter w(&out, 3);
  for (uint64_t v : {1, 2, 3}) {
    uint8_t item[8];
    store_u64(item, v);
    w.add(ByteSpan(item, sizeof item));
  }
  ByteSpan done = w.finish();
  EXPECT_EQ(std::vector<uint8_t>(done.data, done.data + done.size), hex(kBatchOf123Hex));
  EXPECT_EQ(w.added(), 3u);
}

TEST(WireBatch, AbcAndDeMatchSpecVectorWithTailPadding) {
  std::vector<uint8_t> out;
  BatchWriter w(&out, 2);
  w.add(ByteSpan(reinterpret_cast<const uint8_t*>("abc"), 3));
  w.add(ByteSpan(reinterpret_cast<const uint8_t*>("de"), 2));
  ByteSpan done = w.finish();
  EXPECT_EQ(std::vector<uint8_t>(done.data, done.data + done.size), hex(kBatchAbcDeHex));
}

TEST(WireBatch, AddUninitializedPlacesItemsLikeAdd) {
  std::vector<uint8_t> out;
  BatchWriter w(&out, 3);
  for (uint64_t v : {1, 2, 3})
    store_u64(w.add_uninitialized(8), v);
  w.finish();
  EXPECT_EQ(out, hex(kBatchOf123Hex));
}

TEST(WireBatch, WriterReusesTheBufferFromScratch) {
  std::vector<uint8_t> out(500, 0xCC);
  BatchWriter w(&out, 2);
  w.add(ByteSpan(reinterpret_cast<const uint8_t*>("abc"), 3));
  w.add(ByteSpan(reinterpret_cast<const uint8_t*>("de"), 2));
  w.finish();
  EXPECT_EQ(out, hex(kBatchAbcDeHex));
}

TEST(WireBatch, PayloadSizeMatchesCanonicalEncoding) {
  const uint32_t three_u64[] = {8, 8, 8};
  EXPECT_EQ(batch_payload_size(three_u64, 3), 48u);
  const uint32_t abc_de[] = {3, 2};
  EXPECT_EQ(batch_payload_size(abc_de, 2), 32u);
  const uint32_t empties[] = {0, 0};
  EXPECT_EQ(batch_payload_size(empties, 2), 16u);
}

TEST(WireBatch, ViewReadsThreeU64Vector) {
  const auto b = hex(kBatchOf123Hex);
  auto v = BatchView::parse(ByteSpan(b), 3);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    ASSERT_EQ(v->item(i).size, 8u);
    EXPECT_EQ(load_u64(v->item(i).data), i + 1);
  }
}

TEST(WireBatch, ViewReadsAbcDeVector) {
  const auto b = hex(kBatchAbcDeHex);
  auto v = BatchView::parse(ByteSpan(b), 2);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->item(0).as_chars(), "abc");
  EXPECT_EQ(v->item(1).as_chars(), "de");
}

TEST(WireBatch, ViewRejectsMisalignedOffset) {
  auto b = hex(kBatchAbcDeHex);
  store_u32(b.data() + 8, 4);  // item 1 at packed offset 4
  EXPECT_EQ(BatchView::parse(ByteSpan(b), 2).code(), Errc::kBadAlignment);
}

TEST(WireBatch, ViewRejectsOffsetPlusLengthPastThePackedArea) {
  auto b = hex(kBatchAbcDeHex);  // packed area: 16 bytes
  store_u32(b.data() + 12, 9);   // item 1: offset 8 + 9 = 17
  EXPECT_EQ(BatchView::parse(ByteSpan(b), 2).code(), Errc::kOutOfBounds);
}

TEST(WireBatch, ViewAcceptsAnItemEndingExactlyAtThePackedAreaEnd) {
  auto b = hex(kBatchAbcDeHex);
  store_u32(b.data() + 12, 8);  // offset 8 + 8 = 16
  auto v = BatchView::parse(ByteSpan(b), 2);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->item(1).size, 8u);
}

TEST(WireBatch, ViewUses64BitMathForOffsetPlusLength) {
  auto b = hex(kBatchAbcDeHex);
  store_u32(b.data() + 8, 0xFFFFFFF8u);
  store_u32(b.data() + 12, 0x10);  // wraps to 8 in 32-bit math
  EXPECT_EQ(BatchView::parse(ByteSpan(b), 2).code(), Errc::kOutOfBounds);
}

TEST(WireBatch, ViewRejectsDirectoryLongerThanPayload) {
  const auto b = hex(kBatchAbcDeHex);  // 32 bytes: room for 4 entries at most
  EXPECT_EQ(BatchView::parse(ByteSpan(b), 5).code(), Errc::kBadItemCount);
  EXPECT_EQ(BatchView::parse(ByteSpan(b.data(), 15), 2).code(), Errc::kBadItemCount);
}

TEST(WireBatch, ViewRejectsHugeItemCountWithoutOverflow) {
  const auto b = hex(kBatchAbcDeHex);
  EXPECT_EQ(BatchView::parse(ByteSpan(b), UINT32_MAX).code(), Errc::kBadItemCount);
}

TEST(WireBatch, ViewAcceptsZeroLengthItems) {
  std::vector<uint8_t> out;
  BatchWriter w(&out, 3);
  w.add(ByteSpan());
  w.add(ByteSpan(reinterpret_cast<const uint8_t*>("x"), 1));
  w.add(ByteSpan());
  w.finish();
  auto v = BatchView::parse(ByteSpan(out), 3);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->item(0).size, 0u);
  EXPECT_EQ(v->item(1).as_chars(), "x");
  EXPECT_EQ(v->item(2).size, 0u);
}

TEST(WireBatch, ViewAcceptsZeroLengthItemAtTheEndOfAnEmptyPackedArea) {
  std::vector<uint8_t> b(16, 0);  // two entries {0, 0}, no packed bytes
  auto v = BatchView::parse(ByteSpan(b), 2);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->item(0).size, 0u);
  EXPECT_EQ(v->item(1).size, 0u);
}

TEST(WireBatch, ViewDoesNotValidateOrderOverlapOrGaps) {
  auto b = hex(kBatchAbcDeHex);
  store_u32(b.data() + 0, 8);  // item 0 after item 1
  store_u32(b.data() + 8, 0);
  auto v = BatchView::parse(ByteSpan(b), 2);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->item(0).size, 3u);
  EXPECT_EQ(v->item(0).data[0], 'd');
}

// ---- transport_status ----

TEST(WireStatus, EveryStatusMapsToItsErrc) {
  EXPECT_EQ(errc_from_status(0), Errc::kOk);
  EXPECT_EQ(errc_from_status(1), Errc::kBadEnvelope);
  EXPECT_EQ(errc_from_status(2), Errc::kAuthFailed);
  EXPECT_EQ(errc_from_status(3), Errc::kIncompatible);
  EXPECT_EQ(errc_from_status(4), Errc::kUnsupported);
  EXPECT_EQ(errc_from_status(5), Errc::kLimitExceeded);
  EXPECT_EQ(errc_from_status(6), Errc::kInternalError);
}

TEST(WireStatus, UnknownStatusMapsToProtocolError) {
  EXPECT_EQ(errc_from_status(7), Errc::kProtocol);
  EXPECT_EQ(errc_from_status(0xFFFF), Errc::kProtocol);
}

TEST(WireStatus, EveryStatusHasItsSpecName) {
  EXPECT_STREQ(transport_status_name(0), "OK");
  EXPECT_STREQ(transport_status_name(1), "BAD_ENVELOPE");
  EXPECT_STREQ(transport_status_name(2), "AUTH_FAILED");
  EXPECT_STREQ(transport_status_name(3), "INCOMPATIBLE");
  EXPECT_STREQ(transport_status_name(4), "UNSUPPORTED");
  EXPECT_STREQ(transport_status_name(5), "LIMIT_EXCEEDED");
  EXPECT_STREQ(transport_status_name(6), "INTERNAL_ERROR");
  EXPECT_STREQ(transport_status_name(7), "UNKNOWN_STATUS");
}

TEST(WireStatus, EnumValuesMatchSpecTable) {
  EXPECT_EQ(static_cast<uint16_t>(TransportStatus::kOk), 0);
  EXPECT_EQ(static_cast<uint16_t>(TransportStatus::kBadEnvelope), 1);
  EXPECT_EQ(static_cast<uint16_t>(TransportStatus::kAuthFailed), 2);
  EXPECT_EQ(static_cast<uint16_t>(TransportStatus::kIncompatible), 3);
  EXPECT_EQ(static_cast<uint16_t>(TransportStatus::kUnsupported), 4);
  EXPECT_EQ(static_cast<uint16_t>(TransportStatus::kLimitExceeded), 5);
  EXPECT_EQ(static_cast<uint16_t>(TransportStatus::kInternalError), 6);
  EXPECT_EQ(static_cast<uint16_t>(Kind::kRequest), 1);
  EXPECT_EQ(static_cast<uint16_t>(Kind::kResponse), 2);
  EXPECT_EQ(static_cast<uint16_t>(Kind::kControl), 3);
  EXPECT_EQ(static_cast<uint16_t>(ControlCode::kHello), 1);
  EXPECT_EQ(static_cast<uint16_t>(ControlCode::kHelloAck), 2);
  EXPECT_EQ(static_cast<uint16_t>(Method::kIncrement), 1);
  EXPECT_EQ(static_cast<uint16_t>(Method::kCgroupsSnapshot), 2);
  EXPECT_EQ(static_cast<uint16_t>(Method::kStringReverse), 3);
}

TEST(WireProfile, NamesEachPosixProfileBit) {
  EXPECT_STREQ(profile_name(kProfileUds), "UDS_SEQPACKET");
  EXPECT_STREQ(profile_name(kProfileShmHybrid), "SHM_HYBRID");
  EXPECT_STREQ(profile_name(kProfileShmFutex), "SHM_FUTEX");
  EXPECT_STREQ(profile_name(0), "NONE");
  EXPECT_STREQ(profile_name(0x03), "NONE");  // not a single profile
}

}  // namespace
}  // namespace netipc::wire
