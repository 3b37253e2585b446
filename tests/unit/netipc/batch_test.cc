// Batch framing (netipc/src/wire/batch.cc): BatchWriter against the spec vectors
// (with tail padding, reusing its buffer), batch_payload_size(), and
// BatchView's checks of the directory and the packed area.
#include "netipc/batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "codec_test_util.h"
#include "netipc/wire.h"

namespace netipc::wire {
namespace {

using codec_test::hex;

// docs/wire.md §8 vectors.
const char* const kBatchOf123Hex =
    "00000000 08000000 08000000 08000000  10000000 08000000 01000000 00000000"
    "02000000 00000000 03000000 00000000";
const char* const kBatchAbcDeHex =
    "00000000 03000000 08000000 02000000  61626300 00000000 64650000 00000000";

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

TEST(WireBatch, WriterWithAnOverlargeHintTrimsToTheCanonicalPayload) {
  std::vector<uint8_t> out(64, 0xCC);
  BatchWriter w(&out, 2, 4096);
  w.add(ByteSpan(reinterpret_cast<const uint8_t*>("abc"), 3));
  w.add(ByteSpan(reinterpret_cast<const uint8_t*>("de"), 2));
  w.finish();
  EXPECT_EQ(out, hex(kBatchAbcDeHex));
}

TEST(WireBatch, WriterGrowsPastAnUndersizedHintWithZeroPadding) {
  // Mixed lengths, most unaligned, over a dirty buffer and a hint far too
  // small: every padding byte must still come out zero.
  std::vector<uint8_t> out(40, 0xCC);
  std::vector<uint32_t> lengths;
  for (uint32_t i = 0; i < 300; ++i)
    lengths.push_back(i % 23);
  BatchWriter w(&out, 300, 16);
  std::vector<uint8_t> item(32);
  for (uint32_t i = 0; i < 300; ++i) {
    std::fill(item.begin(), item.end(), static_cast<uint8_t>(i + 1));
    w.add(ByteSpan(item.data(), lengths[i]));
  }
  w.finish();
  ASSERT_EQ(out.size(), batch_payload_size(lengths.data(), 300));
  // The canonical bytes built independently: a zeroed payload, item k at
  // align8(end of item k-1) of the packed area.
  std::vector<uint8_t> expected(out.size(), 0);
  uint64_t end = 0;
  for (uint32_t i = 0; i < 300; ++i) {
    const uint64_t off = align8(end);
    store_u32(expected.data() + 8 * i, static_cast<uint32_t>(off));
    store_u32(expected.data() + 8 * i + 4, lengths[i]);
    std::fill_n(expected.begin() + 8 * 300 + off, lengths[i], static_cast<uint8_t>(i + 1));
    end = off + lengths[i];
  }
  EXPECT_EQ(out, expected);
}

TEST(WireBatch, WriterReusedForASmallerBatchKeepsItsBufferAndWritesOnlyTheNewBatch) {
  std::vector<uint8_t> out;
  {
    BatchWriter w(&out, 100, 800);
    for (uint64_t v = 0; v < 100; ++v)
      store_u64(w.add_uninitialized(8), ~v);
    w.finish();
  }
  const uint8_t* data = out.data();
  BatchWriter w(&out, 3, 24);
  for (uint64_t v : {1, 2, 3})
    store_u64(w.add_uninitialized(8), v);
  w.finish();
  EXPECT_EQ(out, hex(kBatchOf123Hex));
  EXPECT_EQ(out.data(), data);
}

TEST(WireBatch, EntriesOfItemsNeverAddedReadZeroOverADirtyBuffer) {
  std::vector<uint8_t> out(100, 0xCC);
  BatchWriter w(&out, 3);
  w.add(ByteSpan(reinterpret_cast<const uint8_t*>("abc"), 3));
  w.finish();
  EXPECT_EQ(out, hex("00000000 03000000 00000000 00000000 00000000 00000000 61626300 00000000"));
}

TEST(WireBatch, UniformLayoutMatchesTheWriterOverADirtyBuffer) {
  for (uint32_t len : {0u, 3u, 8u, 13u, 16u}) {
    for (uint32_t count : {1u, 2u, 7u, 1000u}) {
      std::vector<uint8_t> expected;
      BatchWriter w(&expected, count);
      for (uint32_t i = 0; i < count; ++i)
        std::memset(w.add_uninitialized(len), static_cast<int>(0x40 + i % 64), len);
      w.finish();
      std::vector<uint8_t> out(20000, 0xCC);
      uint8_t* items = layout_uniform_batch(&out, count, len);
      for (uint32_t i = 0; i < count; ++i)
        std::memset(items + align8(len) * i, static_cast<int>(0x40 + i % 64), len);
      EXPECT_EQ(out, expected) << count << " items of " << len << " bytes";
    }
  }
  std::vector<uint8_t> out;
  std::memset(layout_uniform_batch(&out, 3, 8), 0, 24);
  for (uint64_t v : {1, 2, 3})
    store_u64(out.data() + 24 + 8 * (v - 1), v);
  EXPECT_EQ(out, hex(kBatchOf123Hex));
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
}  // namespace
}  // namespace netipc::wire
