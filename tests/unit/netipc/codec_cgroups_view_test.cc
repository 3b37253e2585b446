// The layout-1 cgroups snapshot codec (netipc/src/codec/cgroups.cc), decoding
// side: CgroupsSnapshotView's checks of the header and the directory, then
// of each item, on the spec vector corrupted field by field and on
// hand-made items.
#include "netipc/codec/cgroups.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "codec_test_util.h"

namespace netipc::codec {
namespace {

using codec_test::cgroups_spec_items;
using codec_test::cgroups_spec_vector;
using codec_test::decode_all_v1;
using codec_test::Field;
using codec_test::hex;
using codec_test::u16_at;
using codec_test::u32_at;
using codec_test::with_fields;

// Payload offsets of the spec vector's items (packed area starts at 48).
constexpr size_t kItem0 = 48;
constexpr size_t kItem1 = 48 + 72;

// A one-item snapshot around hand-made item bytes (for non-canonical items).
std::vector<uint8_t> single_item_payload(const std::vector<uint8_t>& item) {
  std::vector<uint8_t> p(24 + 8);
  store_u16(p.data(), 1);
  store_u32(p.data() + 4, 1);
  store_u32(p.data() + 24, 0);
  store_u32(p.data() + 28, static_cast<uint32_t>(item.size()));
  p.insert(p.end(), item.begin(), item.end());
  return p;
}

std::vector<uint8_t> raw_item(uint32_t name_off, uint32_t name_len, uint32_t path_off,
                              uint32_t path_len, const std::string& data) {
  std::vector<uint8_t> item(32);
  store_u16(item.data(), 1);
  store_u32(item.data() + 4, 77);
  store_u32(item.data() + 16, name_off);
  store_u32(item.data() + 20, name_len);
  store_u32(item.data() + 24, path_off);
  store_u32(item.data() + 28, path_len);
  item.insert(item.end(), data.begin(), data.end());
  return item;
}

Errc parse_code(const std::vector<uint8_t>& payload) {
  return CgroupsSnapshotView::parse(ByteSpan(payload)).code();
}

Errc item_code(const std::vector<uint8_t>& payload, uint32_t i) {
  auto view = CgroupsSnapshotView::parse(ByteSpan(payload));
  EXPECT_TRUE(view.ok()) << errc_name(view.code());
  if (!view.ok()) return view.code();
  return view->item(i).code();
}

// parse_code() / item_code() of the spec vector with `fields` overwritten.
Errc parse_code_with(std::initializer_list<Field> fields) {
  return parse_code(with_fields(cgroups_spec_vector(), fields));
}
Errc item_code_with(uint32_t i, std::initializer_list<Field> fields) {
  return item_code(with_fields(cgroups_spec_vector(), fields), i);
}

// ---- View: header and directory -------------------------------------------------

TEST(CgroupsSnapshotView, ParsesSpecVector) {
  auto view = CgroupsSnapshotView::parse(ByteSpan(cgroups_spec_vector()));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->size(), 3u);
  EXPECT_EQ(view->systemd_enabled(), 1u);
  EXPECT_EQ(view->generation(), 999u);
  EXPECT_EQ(decode_all_v1(cgroups_spec_vector()), cgroups_spec_items());
}

TEST(CgroupsSnapshotView, IgnoresTrailingBytes) {
  auto p = cgroups_spec_vector();
  p.insert(p.end(), {1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(decode_all_v1(p), cgroups_spec_items());
}

TEST(CgroupsSnapshotView, RejectsHeaderShorterThan24Bytes) {
  auto p = hex("01000000 00000000 00000000 00000000 2a000000 00000000");
  p.pop_back();
  EXPECT_EQ(parse_code(p), Errc::kTruncated);
}

TEST(CgroupsSnapshotView, RejectsHeaderLayoutTwo) {
  EXPECT_EQ(parse_code_with({u16_at(0, 2)}), Errc::kBadLayout);
}

TEST(CgroupsSnapshotView, RejectsHeaderFlags) {
  EXPECT_EQ(parse_code_with({u16_at(2, 1)}), Errc::kBadLayout);
}

TEST(CgroupsSnapshotView, RejectsHeaderReserved) {
  EXPECT_EQ(parse_code_with({u32_at(12, 1)}), Errc::kBadLayout);
}

TEST(CgroupsSnapshotView, RejectsItemCountWhoseDirectoryOverflowsPayload) {
  auto p = cgroups_spec_vector();
  store_u32(p.data() + 4, 31);  // 24 + 248 > 266
  EXPECT_EQ(parse_code(p), Errc::kBadItemCount);
  store_u32(p.data() + 4, 0xFFFFFFFFu);
  EXPECT_EQ(parse_code(p), Errc::kBadItemCount);
}

TEST(CgroupsSnapshotView, RejectsMisalignedItemOffset) {
  EXPECT_EQ(parse_code_with({u32_at(24 + 8, 73)}), Errc::kBadAlignment);
}

TEST(CgroupsSnapshotView, RejectsItemPastPackedArea) {
  // item 2: 184 + 35 > 218
  EXPECT_EQ(parse_code_with({u32_at(24 + 16 + 4, 35)}), Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotView, RejectsHugeOffsetWithoutOverflow) {
  EXPECT_EQ(parse_code_with({u32_at(24, 0xFFFFFFF8u), u32_at(28, 0xFFFFFFFFu)}),
            Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotView, RejectsItemShorterThanFixedPart) {
  EXPECT_EQ(parse_code_with({u32_at(24 + 16 + 4, 31)}), Errc::kTruncated);
}

// ---- View: items ------------------------------------------------------------------

TEST(CgroupsSnapshotItem, RejectsItemLayoutTwo) {
  auto p = cgroups_spec_vector();
  store_u16(p.data() + kItem1, 2);
  EXPECT_EQ(item_code(p, 1), Errc::kBadLayout);
  EXPECT_TRUE(CgroupsSnapshotView::parse(ByteSpan(p))->item(0).ok());
}

TEST(CgroupsSnapshotItem, RejectsItemFlags) {
  EXPECT_EQ(item_code_with(1, {u16_at(kItem1 + 2, 1)}), Errc::kBadLayout);
}

TEST(CgroupsSnapshotItem, RejectsNameOffsetInsideFixedPart) {
  EXPECT_EQ(item_code_with(0, {u32_at(kItem0 + 16, 31)}), Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotItem, RejectsNameExtendingPastItem) {
  auto p = cgroups_spec_vector();
  store_u32(p.data() + kItem0 + 20, 37);  // 32 + 37 + 1 > 69
  EXPECT_EQ(item_code(p, 0), Errc::kOutOfBounds);
  store_u32(p.data() + kItem0 + 20, 0xFFFFFFFFu);
  EXPECT_EQ(item_code(p, 0), Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotItem, RejectsMissingNameNul) {
  auto p = cgroups_spec_vector();
  p[kItem0 + 32 + 10] = 'x';
  EXPECT_EQ(item_code(p, 0), Errc::kMissingNul);
}

TEST(CgroupsSnapshotItem, RejectsPathOffsetInsideFixedPart) {
  EXPECT_EQ(item_code_with(0, {u32_at(kItem0 + 24, 0)}), Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotItem, RejectsPathExtendingPastItem) {
  // 43 + 26 + 1 > 69
  EXPECT_EQ(item_code_with(0, {u32_at(kItem0 + 28, 26)}), Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotItem, RejectsMissingPathNul) {
  auto p = cgroups_spec_vector();
  p[kItem0 + 43 + 25] = 'x';
  EXPECT_EQ(item_code(p, 0), Errc::kMissingNul);
}

TEST(CgroupsSnapshotItem, RejectsOverlappingNameAndPath) {
  // path == name
  EXPECT_EQ(item_code_with(0, {u32_at(kItem0 + 24, 32), u32_at(kItem0 + 28, 10)}),
            Errc::kBadLayout);
}

TEST(CgroupsSnapshotItem, RejectsOverlapOnlyOnTheNul) {
  // empty path on the name's NUL
  EXPECT_EQ(item_code_with(0, {u32_at(kItem0 + 24, 42), u32_at(kItem0 + 28, 0)}), Errc::kBadLayout);
}

TEST(CgroupsSnapshotItem, AcceptsPathBeforeName) {
  // path "/a" at 32, name "n1" at 35: valid, just not canonical.
  const auto p = single_item_payload(raw_item(35, 2, 32, 2, std::string("/a\0n1\0", 6)));
  auto view = CgroupsSnapshotView::parse(ByteSpan(p));
  ASSERT_TRUE(view.ok());
  auto it = view->item(0);
  ASSERT_TRUE(it.ok()) << errc_name(it.code());
  EXPECT_EQ(it->name, "n1");
  EXPECT_EQ(it->path, "/a");
  EXPECT_EQ(it->hash, 77u);
  EXPECT_EQ(it->cgroup_id, 0u);
}

TEST(CgroupsSnapshotItem, AcceptsEmbeddedNulInName) {
  const auto p = single_item_payload(raw_item(32, 3, 36, 0, std::string("a\0b\0\0", 5)));
  auto view = CgroupsSnapshotView::parse(ByteSpan(p));
  ASSERT_TRUE(view.ok());
  auto it = view->item(0);
  ASSERT_TRUE(it.ok());
  EXPECT_EQ(it->name, std::string_view("a\0b", 3));
}

TEST(CgroupsSnapshotItem, IndexPastEndIsInvalidArgument) {
  auto view = CgroupsSnapshotView::parse(ByteSpan(cgroups_spec_vector()));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->item(3).code(), Errc::kInvalidArgument);
}

TEST(CgroupsSnapshotItem, ValidateAllReportsABadItem) {
  auto p = cgroups_spec_vector();
  p[kItem1 + 32 + 29] = 'x';  // item 1's name NUL
  auto view = CgroupsSnapshotView::parse(ByteSpan(p));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->validate_all().code(), Errc::kMissingNul);
  CgroupsSnapshotViews decoded;
  EXPECT_EQ(decode_cgroups_snapshot_v1(ByteSpan(p), &decoded).code(), Errc::kMissingNul);
  EXPECT_TRUE(decoded.items.empty());
}

}  // namespace
}  // namespace netipc::codec
