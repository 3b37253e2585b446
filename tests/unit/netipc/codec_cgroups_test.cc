#include "netipc/codec/cgroups.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "netipc/codec/cgroups_pb.h"

namespace netipc::codec {
namespace {

std::vector<uint8_t> hex(const std::string& s) {
  std::string digits;
  for (char c : s) {
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

const std::vector<uint8_t>& spec_vector() {
  static const std::vector<uint8_t> v =
      hex("01000000 03000000 01000000 00000000  e7030000 00000000 00000000 45000000"
          "48000000 6b000000 b8000000 22000000  01000000 64000000 00000000 01000000"
          "20000000 0a000000 2b000000 19000000  696e6974 2e73636f 7065002f 7379732f"
          "66732f63 67726f75 702f696e 69742e73  636f7065 00000000 01000000 c8000000"
          "02000000 00000000 20000000 1d000000  3e000000 2c000000 73797374 656d2e73"
          "6c696365 2f646f63 6b65722d 6162632e  73636f70 65002f73 79732f66 732f6367"
          "726f7570 2f737973 74656d2e 736c6963  652f646f 636b6572 2d616263 2e73636f"
          "70650000 00000000 01000000 2c010000  00000000 01000000 20000000 00000000"
          "21000000 00000000 0000");
  return v;
}

std::vector<CgroupItem> spec_items() {
  return {
      {100, 0, 1, "init.scope", "/sys/fs/cgroup/init.scope", 0},
      {200, 0x02, 0, "system.slice/docker-abc.scope",
       "/sys/fs/cgroup/system.slice/docker-abc.scope", 0},
      {300, 0, 1, "", "", 0},
  };
}

// Payload offsets of the spec vector's items (packed area starts at 48).
constexpr size_t kItem0 = 48;
constexpr size_t kItem1 = 48 + 72;

std::string hex_id(uint64_t seed, size_t len) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < len; ++i) {
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    s.push_back(kDigits[(x >> 59) & 0xF]);
  }
  return s;
}

CgroupItem make_item(std::string name, std::string path, uint32_t options, uint32_t enabled,
                     uint64_t cgroup_id) {
  CgroupItem it;
  it.hash = fnv1a32(name);
  it.options = options;
  it.enabled = enabled;
  it.name = std::move(name);
  it.path = std::move(path);
  it.cgroup_id = cgroup_id;
  return it;
}

// What a Netdata host with systemd, docker, podman, kubernetes and logged-in
// users reports.
std::vector<CgroupItem> production_corpus() {
  constexpr uint32_t kSvc = kCgroupOptSystemdService | kCgroupOptIsUnified;
  const std::string root = "/sys/fs/cgroup/";
  std::vector<CgroupItem> v;
  uint64_t inode = 4000;
  for (const char* svc : {"ssh", "nginx", "docker", "containerd", "systemd-journald",
                          "systemd-logind", "cron", "netdata", "postgresql@15-main", "dbus"}) {
    v.push_back(make_item(std::string("systemd_") + svc,
                          root + "system.slice/" + svc + ".service/cgroup.procs", kSvc, 1,
                          ++inode));
  }
  for (int i = 0; i < 20; ++i) {
    const std::string id = hex_id(i, 64);
    v.push_back(make_item("cgroup_docker_web_" + std::to_string(i),
                          root + "system.slice/docker-" + id + ".scope/cgroup.procs",
                          kCgroupOptIsUnified, 1, ++inode));
  }
  for (int i = 0; i < 5; ++i) {
    v.push_back(
        make_item("cgroup_podman_db_" + std::to_string(i),
                  root + "machine.slice/libpod-" + hex_id(100 + i, 64) + ".scope/cgroup.procs",
                  kCgroupOptIsUnified, 1, ++inode));
  }
  for (int i = 0; i < 30; ++i) {
    const std::string pod = hex_id(200 + i, 8) + "_" + hex_id(300 + i, 4) + "_" +
                            hex_id(400 + i, 4) + "_" + hex_id(500 + i, 4) + "_" +
                            hex_id(600 + i, 12);
    v.push_back(make_item("cgroup_k8s_kube-system_coredns-" + hex_id(700 + i, 10) + "_coredns",
                          root + "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                              pod + ".slice/cri-containerd-" + hex_id(800 + i, 64) +
                              ".scope/cgroup.procs",
                          kCgroupOptIsUnified, 1, ++inode));
  }
  for (int uid : {1000, 1001, 1002}) {
    const std::string u = std::to_string(uid);
    v.push_back(make_item("cgroup_user.slice_user-" + u + ".slice",
                          root + "user.slice/user-" + u + ".slice/cgroup.procs",
                          kCgroupOptIsUnified, 1, ++inode));
    v.push_back(
        make_item("systemd_user@" + u,
                  root + "user.slice/user-" + u + ".slice/user@" + u + ".service/cgroup.procs",
                  kSvc, 1, ++inode));
  }
  // Disabled ones: a duplicate and an excluded one, without a path.
  v.push_back(make_item("cgroup_init.scope", "", kCgroupOptDisabledDuplicate, 0, 0));
  v.push_back(make_item("cgroup_machine.slice", "", kCgroupOptDisabledExcluded, 0, ++inode));
  return v;
}

std::vector<CgroupItem> large_corpus(size_t n) {
  std::vector<CgroupItem> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    v.push_back(make_item("cgroup_k8s_ns" + std::to_string(i % 50) + "_pod" + std::to_string(i),
                          "/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/pod" +
                              std::to_string(i) + "/cri-containerd-" + hex_id(i, 64) +
                              ".scope/cgroup.procs",
                          kCgroupOptIsUnified, static_cast<uint32_t>(i & 1), i + 1));
  }
  return v;
}

// Layout 1 does not carry cgroup_id.
std::vector<CgroupItem> without_ids(std::vector<CgroupItem> items) {
  for (auto& it : items)
    it.cgroup_id = 0;
  return items;
}

std::vector<CgroupItem> decode_all(const std::vector<uint8_t>& payload) {
  auto view = CgroupsSnapshotView::parse(ByteSpan(payload));
  EXPECT_TRUE(view.ok()) << errc_name(view.code());
  std::vector<CgroupItem> out;
  if (!view.ok()) return out;
  EXPECT_TRUE(view->validate_all().ok());
  for (uint32_t i = 0; i < view->size(); ++i) {
    auto it = view->item(i);
    EXPECT_TRUE(it.ok()) << "item " << i << ": " << errc_name(it.code());
    if (it.ok()) out.push_back(it->to_owned());
  }
  return out;
}

void round_trip(const std::vector<CgroupItem>& items, uint32_t systemd, uint64_t gen) {
  std::vector<uint8_t> buf;
  ASSERT_TRUE(encode_cgroups_snapshot_v1(items, systemd, gen, &buf).ok());
  EXPECT_EQ(buf.size(), cgroups_snapshot_v1_size(items));
  auto view = CgroupsSnapshotView::parse(ByteSpan(buf));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->systemd_enabled(), systemd);
  EXPECT_EQ(view->generation(), gen);
  EXPECT_EQ(decode_all(buf), without_ids(items));
}

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

// ---- Request -----------------------------------------------------------------

TEST(CgroupsRequest, EncodesLayoutOneAsSpecBytes) {
  uint8_t out[4] = {0xFF, 0xFF, 0xFF, 0xFF};
  encode_cgroups_request(kCgroupsLayoutBinary, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 4), hex("01000000"));
  encode_cgroups_request(kCgroupsLayoutProtobuf, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + 4), hex("02000000"));
}

TEST(CgroupsRequest, DecodeRejectsThreeBytes) {
  const auto b = hex("010000");
  EXPECT_EQ(decode_cgroups_request(ByteSpan(b), kCgroupsLayoutsAll).code(), Errc::kTruncated);
}

TEST(CgroupsRequest, DecodeRejectsLayoutZero) {
  const auto b = hex("00000000");
  EXPECT_EQ(decode_cgroups_request(ByteSpan(b), kCgroupsLayoutsUpstream).code(), Errc::kBadLayout);
  EXPECT_EQ(decode_cgroups_request(ByteSpan(b), kCgroupsLayoutsAll).code(), Errc::kBadLayout);
}

TEST(CgroupsRequest, DecodeRejectsLayoutTwoWhenOnlyLayoutOneIsAccepted) {
  const auto b = hex("02000000");
  EXPECT_EQ(decode_cgroups_request(ByteSpan(b), kCgroupsLayoutsUpstream).code(), Errc::kBadLayout);
}

TEST(CgroupsRequest, DecodeAcceptsLayoutTwoWhenServerAcceptsBoth) {
  const auto b = hex("02000000");
  auto r = decode_cgroups_request(ByteSpan(b), kCgroupsLayoutsAll);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, kCgroupsLayoutProtobuf);
}

TEST(CgroupsRequest, DecodeRejectsNonZeroFlags) {
  const auto b = hex("01000100");
  EXPECT_EQ(decode_cgroups_request(ByteSpan(b), kCgroupsLayoutsAll).code(), Errc::kBadLayout);
}

TEST(CgroupsRequest, DecodeRejectsLayoutBeyondMaskWidth) {
  const auto b = hex("21000000");  // layout 33 has no bit in a u32 mask
  EXPECT_EQ(decode_cgroups_request(ByteSpan(b), 0xFFFFFFFFu).code(), Errc::kBadLayout);
}

TEST(CgroupsRequest, DecodeAcceptsFiveBytesIgnoringTheExtra) {
  const auto b = hex("01000000ff");
  auto r = decode_cgroups_request(ByteSpan(b), kCgroupsLayoutsUpstream);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, kCgroupsLayoutBinary);
}

// ---- Builder -------------------------------------------------------------------

TEST(CgroupsSnapshotBuilder, ReproducesSpecVector) {
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_cgroups_snapshot_v1(spec_items(), 1, 999, &out).ok());
  ASSERT_EQ(out.size(), 266u);
  EXPECT_EQ(out, spec_vector());
}

TEST(CgroupsSnapshotBuilder, ReproducesEmptySpecVector) {
  std::vector<uint8_t> out;
  ASSERT_TRUE(encode_cgroups_snapshot_v1({}, 0, 42, &out).ok());
  EXPECT_EQ(out, hex("01000000 00000000 00000000 00000000 2a000000 00000000"));
}

TEST(CgroupsSnapshotBuilder, IncrementalAddsReproduceSpecVector) {
  std::vector<uint8_t> out;
  auto b = CgroupsSnapshotBuilder::start(&out, 3, 1, 999);
  ASSERT_TRUE(b.ok());
  for (const auto& it : spec_items()) {
    ASSERT_TRUE(b->add(it.hash, it.options, it.enabled, it.name, it.path).ok());
  }
  auto done = b->finish();
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->size, 266u);
  EXPECT_EQ(out, spec_vector());
}

TEST(CgroupsSnapshotBuilder, CompactsUnusedDirectorySlots) {
  std::vector<uint8_t> out;
  auto b = CgroupsSnapshotBuilder::start(&out, 50, 1, 999);
  ASSERT_TRUE(b.ok());
  for (const auto& it : spec_items())
    ASSERT_TRUE(b->add(CgroupItemView{it.hash, it.options, it.enabled, it.name, it.path, 0}).ok());
  ASSERT_TRUE(b->finish().ok());
  EXPECT_EQ(out, spec_vector());
}

TEST(CgroupsSnapshotBuilder, ReusedBufferDoesNotReallocateOrLeakOldBytes) {
  std::vector<uint8_t> out;
  const auto big = production_corpus();
  ASSERT_TRUE(encode_cgroups_snapshot_v1(big, 1, 1, &out).ok());
  // Overwrite with junk so stale bytes would show in the next payload.
  std::fill(out.begin(), out.end(), 0xAB);
  const uint8_t* data = out.data();
  const size_t cap = out.capacity();
  ASSERT_TRUE(encode_cgroups_snapshot_v1(spec_items(), 1, 999, &out).ok());
  EXPECT_EQ(out, spec_vector());
  ASSERT_TRUE(encode_cgroups_snapshot_v1(big, 1, 1, &out).ok());
  EXPECT_EQ(out.data(), data);
  EXPECT_EQ(out.capacity(), cap);
  EXPECT_EQ(decode_all(out), without_ids(big));
}

TEST(CgroupsSnapshotBuilder, GrowsBufferWithoutSizeHint) {
  std::vector<uint8_t> out;
  const auto items = large_corpus(2000);
  auto b = CgroupsSnapshotBuilder::start(&out, 2000, 0, 5);
  ASSERT_TRUE(b.ok());
  for (const auto& it : items)
    ASSERT_TRUE(b->add(it.hash, it.options, it.enabled, it.name, it.path).ok());
  ASSERT_TRUE(b->finish().ok());
  std::vector<uint8_t> expected;
  ASSERT_TRUE(encode_cgroups_snapshot_v1(items, 0, 5, &expected).ok());
  EXPECT_EQ(out, expected);
}

TEST(CgroupsSnapshotBuilder, RejectsMoreItemsThanDeclared) {
  std::vector<uint8_t> out;
  auto b = CgroupsSnapshotBuilder::start(&out, 1, 0, 0);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(b->add(1, 0, 1, "a", "b").ok());
  EXPECT_EQ(b->add(2, 0, 1, "c", "d").code(), Errc::kLimitExceeded);
  EXPECT_EQ(b->added(), 1u);
}

TEST(CgroupsSnapshotBuilder, RejectsItemPastCeilingAndStaysUsable) {
  std::vector<uint8_t> out;
  auto b = CgroupsSnapshotBuilder::start(&out, 2, 0, 0, /*max_payload=*/100);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->add(1, 0, 1, std::string(60, 'n'), "").code(), Errc::kLimitExceeded);
  ASSERT_TRUE(b->add(1, 0, 1, "a", "b").ok());
  auto done = b->finish();
  ASSERT_TRUE(done.ok());
  // Compacted: one slot unused. 24 + 8 + 36.
  EXPECT_EQ(done->size, 68u);
  EXPECT_EQ(decode_all(out), (std::vector<CgroupItem>{{1, 0, 1, "a", "b", 0}}));
}

TEST(CgroupsSnapshotBuilder, RejectsDirectoryPastCeiling) {
  std::vector<uint8_t> out;
  EXPECT_EQ(CgroupsSnapshotBuilder::start(&out, 100, 0, 0, 800).code(), Errc::kLimitExceeded);
}

TEST(CgroupsSnapshotBuilder, RefusesAddAfterFinish) {
  std::vector<uint8_t> out;
  auto b = CgroupsSnapshotBuilder::start(&out, 2, 0, 0);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(b->finish().ok());
  EXPECT_EQ(b->add(1, 0, 1, "a", "b").code(), Errc::kInvalidArgument);
  EXPECT_EQ(b->finish().code(), Errc::kInvalidArgument);
}

TEST(CgroupsSnapshotBuilder, EncodeRejectsSnapshotPastCeiling) {
  std::vector<uint8_t> out;
  EXPECT_EQ(encode_cgroups_snapshot_v1(spec_items(), 1, 999, &out, 265).code(),
            Errc::kLimitExceeded);
  EXPECT_TRUE(encode_cgroups_snapshot_v1(spec_items(), 1, 999, &out, 266).ok());
}

TEST(CgroupsSnapshotBuilder, FillsNegotiatedCeilingWithMaximumItems) {
  constexpr uint64_t kCeiling = 65536;
  std::vector<uint8_t> out;
  auto b = CgroupsSnapshotBuilder::start(&out, 1000, 1, 7, kCeiling);
  ASSERT_TRUE(b.ok());
  std::vector<CgroupItem> added;
  for (uint32_t i = 0;; ++i) {
    CgroupItem it = make_item("cgroup_fill_" + std::to_string(i),
                              "/sys/fs/cgroup/x" + std::to_string(i) + "/cgroup.procs", 0, 1, 0);
    Status s = b->add(it.hash, it.options, it.enabled, it.name, it.path);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), Errc::kLimitExceeded);
      break;
    }
    added.push_back(it);
  }
  auto done = b->finish();
  ASSERT_TRUE(done.ok());
  EXPECT_LE(done->size, kCeiling);
  EXPECT_GT(added.size(), 300u);
  EXPECT_EQ(decode_all(out), added);
}

// ---- View: header and directory -------------------------------------------------

TEST(CgroupsSnapshotView, ParsesSpecVector) {
  auto view = CgroupsSnapshotView::parse(ByteSpan(spec_vector()));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->size(), 3u);
  EXPECT_EQ(view->systemd_enabled(), 1u);
  EXPECT_EQ(view->generation(), 999u);
  EXPECT_EQ(decode_all(spec_vector()), spec_items());
}

TEST(CgroupsSnapshotView, IgnoresTrailingBytes) {
  auto p = spec_vector();
  p.insert(p.end(), {1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(decode_all(p), spec_items());
}

TEST(CgroupsSnapshotView, RejectsHeaderShorterThan24Bytes) {
  auto p = hex("01000000 00000000 00000000 00000000 2a000000 00000000");
  p.pop_back();
  EXPECT_EQ(parse_code(p), Errc::kTruncated);
}

TEST(CgroupsSnapshotView, RejectsHeaderLayoutTwo) {
  auto p = spec_vector();
  store_u16(p.data(), 2);
  EXPECT_EQ(parse_code(p), Errc::kBadLayout);
}

TEST(CgroupsSnapshotView, RejectsHeaderFlags) {
  auto p = spec_vector();
  store_u16(p.data() + 2, 1);
  EXPECT_EQ(parse_code(p), Errc::kBadLayout);
}

TEST(CgroupsSnapshotView, RejectsHeaderReserved) {
  auto p = spec_vector();
  store_u32(p.data() + 12, 1);
  EXPECT_EQ(parse_code(p), Errc::kBadLayout);
}

TEST(CgroupsSnapshotView, RejectsItemCountWhoseDirectoryOverflowsPayload) {
  auto p = spec_vector();
  store_u32(p.data() + 4, 31);  // 24 + 248 > 266
  EXPECT_EQ(parse_code(p), Errc::kBadItemCount);
  store_u32(p.data() + 4, 0xFFFFFFFFu);
  EXPECT_EQ(parse_code(p), Errc::kBadItemCount);
}

TEST(CgroupsSnapshotView, RejectsMisalignedItemOffset) {
  auto p = spec_vector();
  store_u32(p.data() + 24 + 8, 73);
  EXPECT_EQ(parse_code(p), Errc::kBadAlignment);
}

TEST(CgroupsSnapshotView, RejectsItemPastPackedArea) {
  auto p = spec_vector();
  store_u32(p.data() + 24 + 16 + 4, 35);  // item 2: 184 + 35 > 218
  EXPECT_EQ(parse_code(p), Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotView, RejectsHugeOffsetWithoutOverflow) {
  auto p = spec_vector();
  store_u32(p.data() + 24, 0xFFFFFFF8u);
  store_u32(p.data() + 28, 0xFFFFFFFFu);
  EXPECT_EQ(parse_code(p), Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotView, RejectsItemShorterThanFixedPart) {
  auto p = spec_vector();
  store_u32(p.data() + 24 + 16 + 4, 31);
  EXPECT_EQ(parse_code(p), Errc::kTruncated);
}

// ---- View: items ------------------------------------------------------------------

TEST(CgroupsSnapshotItem, RejectsItemLayoutTwo) {
  auto p = spec_vector();
  store_u16(p.data() + kItem1, 2);
  EXPECT_EQ(item_code(p, 1), Errc::kBadLayout);
  EXPECT_TRUE(CgroupsSnapshotView::parse(ByteSpan(p))->item(0).ok());
}

TEST(CgroupsSnapshotItem, RejectsItemFlags) {
  auto p = spec_vector();
  store_u16(p.data() + kItem1 + 2, 1);
  EXPECT_EQ(item_code(p, 1), Errc::kBadLayout);
}

TEST(CgroupsSnapshotItem, RejectsNameOffsetInsideFixedPart) {
  auto p = spec_vector();
  store_u32(p.data() + kItem0 + 16, 31);
  EXPECT_EQ(item_code(p, 0), Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotItem, RejectsNameExtendingPastItem) {
  auto p = spec_vector();
  store_u32(p.data() + kItem0 + 20, 37);  // 32 + 37 + 1 > 69
  EXPECT_EQ(item_code(p, 0), Errc::kOutOfBounds);
  store_u32(p.data() + kItem0 + 20, 0xFFFFFFFFu);
  EXPECT_EQ(item_code(p, 0), Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotItem, RejectsMissingNameNul) {
  auto p = spec_vector();
  p[kItem0 + 32 + 10] = 'x';
  EXPECT_EQ(item_code(p, 0), Errc::kMissingNul);
}

TEST(CgroupsSnapshotItem, RejectsPathOffsetInsideFixedPart) {
  auto p = spec_vector();
  store_u32(p.data() + kItem0 + 24, 0);
  EXPECT_EQ(item_code(p, 0), Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotItem, RejectsPathExtendingPastItem) {
  auto p = spec_vector();
  store_u32(p.data() + kItem0 + 28, 26);  // 43 + 26 + 1 > 69
  EXPECT_EQ(item_code(p, 0), Errc::kOutOfBounds);
}

TEST(CgroupsSnapshotItem, RejectsMissingPathNul) {
  auto p = spec_vector();
  p[kItem0 + 43 + 25] = 'x';
  EXPECT_EQ(item_code(p, 0), Errc::kMissingNul);
}

TEST(CgroupsSnapshotItem, RejectsOverlappingNameAndPath) {
  auto p = spec_vector();
  store_u32(p.data() + kItem0 + 24, 32);  // path == name
  store_u32(p.data() + kItem0 + 28, 10);
  EXPECT_EQ(item_code(p, 0), Errc::kBadLayout);
}

TEST(CgroupsSnapshotItem, RejectsOverlapOnlyOnTheNul) {
  auto p = spec_vector();
  store_u32(p.data() + kItem0 + 24, 42);  // empty path on the name's NUL
  store_u32(p.data() + kItem0 + 28, 0);
  EXPECT_EQ(item_code(p, 0), Errc::kBadLayout);
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
  auto view = CgroupsSnapshotView::parse(ByteSpan(spec_vector()));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->item(3).code(), Errc::kInvalidArgument);
}

TEST(CgroupsSnapshotItem, ValidateAllReportsABadItem) {
  auto p = spec_vector();
  p[kItem1 + 32 + 29] = 'x';  // item 1's name NUL
  auto view = CgroupsSnapshotView::parse(ByteSpan(p));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->validate_all().code(), Errc::kMissingNul);
  CgroupsSnapshotViews decoded;
  EXPECT_EQ(decode_cgroups_snapshot_v1(ByteSpan(p), &decoded).code(), Errc::kMissingNul);
  EXPECT_TRUE(decoded.items.empty());
}

// ---- Round trips ------------------------------------------------------------------

TEST(CgroupsSnapshotRoundTrip, EmptySnapshot) {
  round_trip({}, 0, 42);
}

TEST(CgroupsSnapshotRoundTrip, OneItem) {
  round_trip({make_item("cgroup_a", "/sys/fs/cgroup/a/cgroup.procs", 4, 1, 0)}, 1, 1);
}

TEST(CgroupsSnapshotRoundTrip, EmptyNameAndPath) {
  round_trip(
      {make_item("", "", 0, 0, 0), make_item("x", "", 0, 1, 0), make_item("", "/p", 0, 1, 0)}, 0,
      3);
}

TEST(CgroupsSnapshotRoundTrip, LongNamesAndPaths) {
  round_trip({make_item(std::string(70000, 'n'), std::string(1 << 20, 'p'), 1, 1, 0),
              make_item("short", std::string(4097, '/'), 2, 0, 0)},
             1, UINT64_MAX);
}

TEST(CgroupsSnapshotRoundTrip, ProductionCorpus) {
  round_trip(production_corpus(), 1, 12345);
}

TEST(CgroupsSnapshotRoundTrip, HundredThousandItems) {
  const auto items = large_corpus(100000);
  round_trip(items, 1, 100000);
}

TEST(CgroupsSnapshotRoundTrip, DropsCgroupIdInLayoutOne) {
  std::vector<uint8_t> buf;
  ASSERT_TRUE(encode_cgroups_snapshot_v1({make_item("a", "b", 0, 1, 99)}, 0, 0, &buf).ok());
  CgroupsSnapshotViews decoded;
  ASSERT_TRUE(decode_cgroups_snapshot_v1(ByteSpan(buf), &decoded).ok());
  ASSERT_EQ(decoded.items.size(), 1u);
  EXPECT_EQ(decoded.items[0].cgroup_id, 0u);
  EXPECT_EQ(decoded.items[0].name, "a");
}

TEST(CgroupsSnapshotDispatch, SelectsEncodingByLayout) {
  const auto items = production_corpus();
  for (uint16_t layout : {kCgroupsLayoutBinary, kCgroupsLayoutProtobuf}) {
    std::vector<uint8_t> buf;
    ASSERT_TRUE(encode_cgroups_snapshot(layout, items, 1, 9, &buf).ok());
    CgroupsSnapshotViews decoded;
    ASSERT_TRUE(decode_cgroups_snapshot(layout, ByteSpan(buf), &decoded).ok());
    EXPECT_EQ(decoded.generation, 9u);
    EXPECT_EQ(decoded.systemd_enabled, 1u);
    ASSERT_EQ(decoded.items.size(), items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      CgroupItem expected = items[i];
      if (layout == kCgroupsLayoutBinary) expected.cgroup_id = 0;
      EXPECT_EQ(decoded.items[i].to_owned(), expected);
    }
  }
  std::vector<uint8_t> v1;
  ASSERT_TRUE(encode_cgroups_snapshot(kCgroupsLayoutBinary, spec_items(), 1, 999, &v1).ok());
  EXPECT_EQ(v1, spec_vector());
}

TEST(CgroupsSnapshotDispatch, RejectsUnknownLayout) {
  std::vector<uint8_t> buf;
  EXPECT_EQ(encode_cgroups_snapshot(3, {}, 0, 0, &buf).code(), Errc::kBadLayout);
  CgroupsSnapshotViews decoded;
  EXPECT_EQ(decode_cgroups_snapshot(0, ByteSpan(spec_vector()), &decoded).code(), Errc::kBadLayout);
}

}  // namespace
}  // namespace netipc::codec
