// Chunk continuation headers (netipc/src/wire/wire.cc): the spec vector, every
// field at its offset, each rejection, and chunk_count_for() at the packet
// boundaries.
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

// docs/wire.md §8 vector.
const char* const kChunkHeaderHex =
    "4b48434e 01000000 07000000 00000000  08040000 01000000 05000000 e0000000";

// decode_chunk_header() of the spec vector with `fields` overwritten.
Errc code_with(std::initializer_list<Field> fields) {
  return decode_chunk_header(ByteSpan(with_fields(hex(kChunkHeaderHex), fields))).code();
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
  expect_fields(out, {u32_at(0, kChunkMagic), u16_at(4, 1), u16_at(6, 0),
                      u64_at(8, 0x0102030405060708ull), u32_at(16, 0x11121314),
                      u32_at(20, 0x21222324), u32_at(24, 0x31323334), u32_at(28, 0x41424344)});
  expect_untouched(out, kHeaderLen, sizeof out, 0xEE);
}

TEST(WireChunk, DecodeRejectsBadMagic) {
  EXPECT_EQ(code_with({u32_at(0, kMsgMagic)}), Errc::kBadMagic);
}

TEST(WireChunk, DecodeRejectsVersionOtherThan1) {
  EXPECT_EQ(code_with({u16_at(4, 2)}), Errc::kBadVersion);
}

TEST(WireChunk, DecodeRejectsNonZeroFlags) {
  EXPECT_EQ(code_with({u16_at(6, 1)}), Errc::kProtocol);
}

TEST(WireChunk, DecodeRejectsZeroChunkPayloadLen) {
  EXPECT_EQ(code_with({u32_at(28, 0)}), Errc::kProtocol);
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
}  // namespace
}  // namespace netipc::wire
