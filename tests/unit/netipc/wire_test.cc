// The wire format's outer layer (netipc/src/wire/wire.cc): constants and
// enumerations against the spec tables, the 32-byte message header field by
// field (encode, decode, every rejection and the order of the checks), and
// the transport_status and profile names. HELLO / HELLO_ACK payloads are in
// wire_hello_test.cc, chunk continuation headers in wire_chunk_test.cc,
// batch framing in batch_test.cc.
#include "netipc/wire.h"

#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <vector>

#include "codec_test_util.h"

namespace netipc::wire {
namespace {

using codec_test::expect_fields;
using codec_test::expect_untouched;
using codec_test::Field;
using codec_test::hex;
using codec_test::u16_at;
using codec_test::u32_at;
using codec_test::u64_at;
using codec_test::with_fields;

// A well-formed 32-byte header (an INCREMENT request) to corrupt field by field.
std::vector<uint8_t> valid_header() {
  return hex("4350494e 01002000 01000000 01000000  08000000 01000000 01000000 00000000");
}

// decode_header() of valid_header() with `fields` overwritten.
Errc code_with(std::initializer_list<Field> fields) {
  return decode_header(ByteSpan(with_fields(valid_header(), fields))).code();
}

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
  expect_fields(out,
                {u32_at(0, kMsgMagic), u16_at(4, 1), u16_at(6, 32), u16_at(8, 0x0203),
                 u16_at(10, 0x0405), u16_at(12, 0x0607), u16_at(14, 0x0809), u32_at(16, 0x0A0B0C0D),
                 u32_at(20, 0x0E0F1011), u64_at(24, 0x1213141516171819ull)});
  expect_untouched(out, kHeaderLen, sizeof out, 0xEE);  // exactly 32 bytes written
}

TEST(WireHeader, DecodesEveryFieldFromItsOffset) {
  const auto b =
      with_fields(valid_header(), {u16_at(8, 2), u16_at(10, 0x0001), u16_at(12, 0x0607),
                                   u16_at(14, 0x0005), u32_at(16, 0x0A0B0C0D),
                                   u32_at(20, 0x0E0F1011), u64_at(24, 0x1213141516171819ull)});
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
  // A continuation header is not a message.
  EXPECT_EQ(code_with({u32_at(0, kChunkMagic)}), Errc::kBadMagic);
  EXPECT_EQ(code_with({u32_at(0, kMsgMagic ^ (1u << 24))}), Errc::kBadMagic);
}

TEST(WireHeader, DecodeRejectsVersionOtherThan1) {
  EXPECT_EQ(code_with({u16_at(4, 2)}), Errc::kBadVersion);
  EXPECT_EQ(code_with({u16_at(4, 0)}), Errc::kBadVersion);
}

TEST(WireHeader, DecodeRejectsHeaderLenOtherThan32) {
  EXPECT_EQ(code_with({u16_at(6, 64)}), Errc::kBadHeaderLen);
  EXPECT_EQ(code_with({u16_at(6, 31)}), Errc::kBadHeaderLen);
}

TEST(WireHeader, DecodeRejectsKind0) {
  EXPECT_EQ(code_with({u16_at(8, 0)}), Errc::kBadKind);
}

TEST(WireHeader, DecodeRejectsKind4) {
  EXPECT_EQ(code_with({u16_at(8, 4)}), Errc::kBadKind);
}

TEST(WireHeader, DecodeAcceptsKinds1To3) {
  for (uint16_t kind : {1, 2, 3}) {
    const auto b = with_fields(valid_header(), {u16_at(8, kind)});
    auto h = decode_header(ByteSpan(b));
    ASSERT_TRUE(h.ok()) << "kind " << kind;
    EXPECT_EQ(h->kind, kind);
  }
}

TEST(WireHeader, DecodeAcceptsUnknownFlagBits) {
  const auto b = with_fields(valid_header(), {u16_at(10, 0xFFFE)});
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
