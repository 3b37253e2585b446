#include "netipc/codec/increment.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codec_test_util.h"
#include "netipc/batch.h"
#include "netipc/wire.h"

namespace netipc::codec {
namespace {

using codec_test::hex;

const std::vector<uint8_t> kBatchOf123 =
    hex("00000000 08000000 08000000 08000000  10000000 08000000 01000000 00000000"
        "02000000 00000000 03000000 00000000");

TEST(Increment, EncodesEightBytesInHostOrder) {
  uint8_t out[8];
  encode_increment(0x0102030405060708ull, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 8), hex("0807060504030201"));
}

TEST(Increment, DecodeRejectsSevenBytes) {
  const auto b = hex("01000000 000000");
  EXPECT_EQ(decode_increment(ByteSpan(b)).code(), Errc::kTruncated);
}

TEST(Increment, DecodeIgnoresExtraBytes) {
  const auto b = hex("29000000 00000000 ff");
  auto v = decode_increment(ByteSpan(b));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 41u);
}

TEST(Increment, ReplyAddsOneAndWrapsAtTwoToThe64) {
  EXPECT_EQ(increment_reply(41), 42u);
  EXPECT_EQ(increment_reply(UINT64_MAX), 0u);
}

TEST(Increment, SingleMessageMatchesWireVector) {
  const auto expected =
      hex("4350494e 01002000 01000000 01000000  08000000 01000000 01000000 00000000"
          "29000000 00000000");
  std::vector<uint8_t> msg(wire::kHeaderLen + kIncrementLen);
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kRequest);
  h.code = static_cast<uint16_t>(wire::Method::kIncrement);
  h.payload_len = kIncrementLen;
  h.message_id = 1;
  wire::encode_header(h, msg.data());
  encode_increment(41, msg.data() + wire::kHeaderLen);
  EXPECT_EQ(msg, expected);
  auto v = decode_increment(ByteSpan(msg).subspan(wire::kHeaderLen));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 41u);
}

TEST(Increment, BatchOfThreeMatchesWireVector) {
  const uint64_t values[] = {1, 2, 3};
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_increment_batch(values, 3, &out).ok());
  EXPECT_EQ(out, kBatchOf123);
}

TEST(Increment, BatchRoundTripsAndReusesTheBuffer) {
  std::vector<uint64_t> values;
  for (uint64_t i = 0; i < 1000; ++i)
    values.push_back(i * 0x9E3779B97F4A7C15ull);
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_increment_batch(values.data(), 1000, &out).ok());
  EXPECT_EQ(out.size(), 16u * 1000);
  const uint8_t* data = out.data();
  std::vector<uint64_t> decoded;
  ASSERT_TRUE(decode_increment_batch(ByteSpan(out), 1000, &decoded).ok());
  EXPECT_EQ(decoded, values);
  ASSERT_TRUE(encode_increment_batch(values.data(), 500, &out).ok());
  EXPECT_EQ(out.data(), data);
  ASSERT_TRUE(decode_increment_batch(ByteSpan(out), 500, &decoded).ok());
  EXPECT_EQ(decoded, std::vector<uint64_t>(values.begin(), values.begin() + 500));
}

TEST(Increment, BatchAnswerAddsOnePerItemInOrder) {
  const uint64_t values[] = {7, UINT64_MAX, 0};
  std::vector<uint8_t> req;
  ASSERT_TRUE(encode_increment_batch(values, 3, &req).ok());
  std::vector<uint8_t> resp;
  ASSERT_TRUE(answer_increment_batch(ByteSpan(req), 3, &resp).ok());
  std::vector<uint64_t> decoded;
  ASSERT_TRUE(decode_increment_batch(ByteSpan(resp), 3, &decoded).ok());
  EXPECT_EQ(decoded, (std::vector<uint64_t>{8, 0, 1}));
  ASSERT_TRUE(answer_increment_batch(ByteSpan(kBatchOf123), 3, &resp).ok());
  EXPECT_EQ(resp, hex("00000000 08000000 08000000 08000000  10000000 08000000 02000000 00000000"
                      "03000000 00000000 04000000 00000000"));
}

TEST(Increment, BatchAnswerAcceptsLongerItems) {
  // Items may carry more than 8 bytes; the extra is ignored like in the
  // single form.
  std::vector<uint8_t> req;
  wire::BatchWriter w(&req, 2);
  const auto a = hex("05000000 00000000 ffff");
  const auto b = hex("06000000 00000000");
  w.add(ByteSpan(a));
  w.add(ByteSpan(b));
  w.finish();
  std::vector<uint8_t> resp;
  ASSERT_TRUE(answer_increment_batch(ByteSpan(req), 2, &resp).ok());
  std::vector<uint64_t> decoded;
  ASSERT_TRUE(decode_increment_batch(ByteSpan(resp), 2, &decoded).ok());
  EXPECT_EQ(decoded, (std::vector<uint64_t>{6, 7}));
}

TEST(Increment, BatchRejectsShortItem) {
  std::vector<uint8_t> req;
  wire::BatchWriter w(&req, 2);
  const auto a = hex("05000000 00000000");
  const auto b = hex("06000000 000000");
  w.add(ByteSpan(a));
  w.add(ByteSpan(b));
  w.finish();
  std::vector<uint8_t> resp = {9};
  EXPECT_EQ(answer_increment_batch(ByteSpan(req), 2, &resp).code(), Errc::kTruncated);
  EXPECT_EQ(resp, std::vector<uint8_t>{9});  // nothing half-built
  std::vector<uint64_t> decoded = {1};
  EXPECT_EQ(decode_increment_batch(ByteSpan(req), 2, &decoded).code(), Errc::kTruncated);
  EXPECT_TRUE(decoded.empty());
}

TEST(Increment, BatchRejectsMisalignedOffset) {
  auto b = kBatchOf123;
  store_u32(b.data() + 8, 9);
  std::vector<uint64_t> decoded;
  EXPECT_EQ(decode_increment_batch(ByteSpan(b), 3, &decoded).code(), Errc::kBadAlignment);
  std::vector<uint8_t> resp;
  EXPECT_EQ(answer_increment_batch(ByteSpan(b), 3, &resp).code(), Errc::kBadAlignment);
}

TEST(Increment, BatchRejectsItemPastPackedArea) {
  auto b = kBatchOf123;
  store_u32(b.data() + 16, 24);
  std::vector<uint64_t> decoded;
  EXPECT_EQ(decode_increment_batch(ByteSpan(b), 3, &decoded).code(), Errc::kOutOfBounds);
}

TEST(Increment, BatchRejectsDirectoryLongerThanPayload) {
  std::vector<uint64_t> decoded;
  EXPECT_EQ(decode_increment_batch(ByteSpan(kBatchOf123), 7, &decoded).code(), Errc::kBadItemCount);
}

TEST(Increment, BatchEncodeRejectsMissingValues) {
  std::vector<uint8_t> out;
  EXPECT_EQ(encode_increment_batch(nullptr, 2, &out).code(), Errc::kInvalidArgument);
  EXPECT_EQ(encode_increment_batch(nullptr, 0, nullptr).code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace netipc::codec
