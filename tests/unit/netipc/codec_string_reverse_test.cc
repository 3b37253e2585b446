#include "netipc/codec/string_reverse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "codec_test_util.h"

namespace netipc::codec {
namespace {

using codec_test::hex;

const std::vector<uint8_t> kHello = hex("08000000 05000000 68656c6c 6f00");

TEST(StringReverse, EncodesSpecVectorForHello) {
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_string_reverse("hello", &out).ok());
  EXPECT_EQ(out, kHello);
}

TEST(StringReverse, DecodesSpecVector) {
  auto s = decode_string_reverse(ByteSpan(kHello));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "hello");
}

TEST(StringReverse, ResponseCarriesReversedString) {
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_string_reversed("hello", &out).ok());
  EXPECT_EQ(out, hex("08000000 05000000 6f6c6c65 6800"));
  auto s = decode_string_reverse(ByteSpan(out));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, "olleh");
}

TEST(StringReverse, RoundTripsEmptyAndLongStrings) {
  std::vector<uint8_t> out = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  ASSERT_TRUE(encode_string_reverse("", &out).ok());
  EXPECT_EQ(out, hex("08000000 00000000 00"));
  ASSERT_TRUE(decode_string_reverse(ByteSpan(out)).ok());
  EXPECT_EQ(*decode_string_reverse(ByteSpan(out)), "");
  std::string big(100000, 'x');
  big[0] = 'a';
  ASSERT_TRUE(encode_string_reversed(big, &out).ok());
  auto s = decode_string_reverse(ByteSpan(out));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size(), big.size());
  EXPECT_EQ(s->back(), 'a');
}

TEST(StringReverse, AcceptsEmbeddedNulAndExtraBytes) {
  auto b = hex("08000000 03000000 61006200 ffff");
  auto s = decode_string_reverse(ByteSpan(b));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, std::string_view("a\0b", 3));
}

TEST(StringReverse, RejectsPayloadShorterThanHeader) {
  const auto b = hex("08000000 050000");
  EXPECT_EQ(decode_string_reverse(ByteSpan(b)).code(), Errc::kTruncated);
}

TEST(StringReverse, RejectsOffsetSeven) {
  auto b = kHello;
  store_u32(b.data(), 7);
  EXPECT_EQ(decode_string_reverse(ByteSpan(b)).code(), Errc::kBadLayout);
}

TEST(StringReverse, RejectsMissingNul) {
  auto b = kHello;
  b.back() = '!';
  EXPECT_EQ(decode_string_reverse(ByteSpan(b)).code(), Errc::kMissingNul);
}

TEST(StringReverse, RejectsLengthPastEnd) {
  auto b = kHello;
  store_u32(b.data() + 4, 6);
  EXPECT_EQ(decode_string_reverse(ByteSpan(b)).code(), Errc::kOutOfBounds);
  store_u32(b.data() + 4, 0xFFFFFFFFu);
  EXPECT_EQ(decode_string_reverse(ByteSpan(b)).code(), Errc::kOutOfBounds);
}

}  // namespace
}  // namespace netipc::codec
