// The layout-1 cgroups snapshot codec (netipc/src/codec/cgroups.cc), encoding
// side: the CGROUPS_SNAPSHOT request, the snapshot builder against the spec
// vectors and its ceilings, round trips, and the layout dispatch. The
// decoder's validation of headers, directories and items is in
// codec_cgroups_view_test.cc.
#include "netipc/codec/cgroups.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "codec_test_util.h"
#include "netipc/codec/cgroups_pb.h"

namespace netipc::codec {
namespace {

using codec_test::cgroups_spec_items;
using codec_test::cgroups_spec_vector;
using codec_test::decode_all_v1;
using codec_test::hex;
using codec_test::hex_id;
using codec_test::large_corpus;
using codec_test::make_item;
using codec_test::without_ids;

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

void round_trip(const std::vector<CgroupItem>& items, uint32_t systemd, uint64_t gen) {
  std::vector<uint8_t> buf;
  ASSERT_TRUE(encode_cgroups_snapshot_v1(items, systemd, gen, &buf).ok());
  EXPECT_EQ(buf.size(), cgroups_snapshot_v1_size(items));
  auto view = CgroupsSnapshotView::parse(ByteSpan(buf));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->systemd_enabled(), systemd);
  EXPECT_EQ(view->generation(), gen);
  EXPECT_EQ(decode_all_v1(buf), without_ids(items));
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
  ASSERT_TRUE(encode_cgroups_snapshot_v1(cgroups_spec_items(), 1, 999, &out).ok());
  ASSERT_EQ(out.size(), 266u);
  EXPECT_EQ(out, cgroups_spec_vector());
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
  for (const auto& it : cgroups_spec_items()) {
    ASSERT_TRUE(b->add(it.hash, it.options, it.enabled, it.name, it.path).ok());
  }
  auto done = b->finish();
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->size, 266u);
  EXPECT_EQ(out, cgroups_spec_vector());
}

TEST(CgroupsSnapshotBuilder, CompactsUnusedDirectorySlots) {
  std::vector<uint8_t> out;
  auto b = CgroupsSnapshotBuilder::start(&out, 50, 1, 999);
  ASSERT_TRUE(b.ok());
  for (const auto& it : cgroups_spec_items())
    ASSERT_TRUE(b->add(CgroupItemView{it.hash, it.options, it.enabled, it.name, it.path, 0}).ok());
  ASSERT_TRUE(b->finish().ok());
  EXPECT_EQ(out, cgroups_spec_vector());
}

TEST(CgroupsSnapshotBuilder, ReusedBufferDoesNotReallocateOrLeakOldBytes) {
  std::vector<uint8_t> out;
  const auto big = production_corpus();
  ASSERT_TRUE(encode_cgroups_snapshot_v1(big, 1, 1, &out).ok());
  // Overwrite with junk so stale bytes would show in the next payload.
  std::fill(out.begin(), out.end(), 0xAB);
  const uint8_t* data = out.data();
  const size_t cap = out.capacity();
  ASSERT_TRUE(encode_cgroups_snapshot_v1(cgroups_spec_items(), 1, 999, &out).ok());
  EXPECT_EQ(out, cgroups_spec_vector());
  ASSERT_TRUE(encode_cgroups_snapshot_v1(big, 1, 1, &out).ok());
  EXPECT_EQ(out.data(), data);
  EXPECT_EQ(out.capacity(), cap);
  EXPECT_EQ(decode_all_v1(out), without_ids(big));
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
  EXPECT_EQ(decode_all_v1(out), (std::vector<CgroupItem>{{1, 0, 1, "a", "b", 0}}));
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
  EXPECT_EQ(encode_cgroups_snapshot_v1(cgroups_spec_items(), 1, 999, &out, 265).code(),
            Errc::kLimitExceeded);
  EXPECT_TRUE(encode_cgroups_snapshot_v1(cgroups_spec_items(), 1, 999, &out, 266).ok());
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
  EXPECT_EQ(decode_all_v1(out), added);
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
  ASSERT_TRUE(
      encode_cgroups_snapshot(kCgroupsLayoutBinary, cgroups_spec_items(), 1, 999, &v1).ok());
  EXPECT_EQ(v1, cgroups_spec_vector());
}

TEST(CgroupsSnapshotDispatch, RejectsUnknownLayout) {
  std::vector<uint8_t> buf;
  EXPECT_EQ(encode_cgroups_snapshot(3, {}, 0, 0, &buf).code(), Errc::kBadLayout);
  CgroupsSnapshotViews decoded;
  EXPECT_EQ(decode_cgroups_snapshot(0, ByteSpan(cgroups_spec_vector()), &decoded).code(),
            Errc::kBadLayout);
}

}  // namespace
}  // namespace netipc::codec
