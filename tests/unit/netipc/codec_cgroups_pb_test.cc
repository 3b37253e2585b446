#include "netipc/codec/cgroups_pb.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

// The generated classes are the reference for layout 2.
#if __has_include("netipc/cgroups_snapshot.pb.h")
#include "netipc/cgroups_snapshot.pb.h"
#else
#include "proto/netipc/cgroups_snapshot.pb.h"
#endif

#include "codec_test_util.h"

namespace netipc::codec {
namespace {

using codec_test::hex_id;
using codec_test::large_corpus;
using codec_test::make_item;

// systemd services, docker and podman containers, k8s pods, user slices and
// disabled entries without a path, with cgroup ids from small to 64-bit.
std::vector<CgroupItem> production_corpus() {
  constexpr uint32_t kSvc = kCgroupOptSystemdService | kCgroupOptIsUnified;
  const std::string root = "/sys/fs/cgroup/";
  std::vector<CgroupItem> v;
  uint64_t inode = 4000;
  for (const char* svc : {"ssh", "nginx", "docker", "systemd-journald", "netdata", "dbus"}) {
    v.push_back(make_item(std::string("systemd_") + svc,
                          root + "system.slice/" + svc + ".service/cgroup.procs", kSvc, 1,
                          ++inode));
  }
  for (int i = 0; i < 10; ++i) {
    v.push_back(make_item("cgroup_docker_web_" + std::to_string(i),
                          root + "system.slice/docker-" + hex_id(i, 64) + ".scope/cgroup.procs",
                          kCgroupOptIsUnified, 1, inode += 1000));
    v.push_back(
        make_item("cgroup_podman_db_" + std::to_string(i),
                  root + "machine.slice/libpod-" + hex_id(50 + i, 64) + ".scope/cgroup.procs",
                  kCgroupOptIsUnified, 1, inode += 100000));
  }
  for (int i = 0; i < 10; ++i) {
    v.push_back(make_item("cgroup_k8s_default_app-" + hex_id(i, 10) + "_app",
                          root + "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                              hex_id(100 + i, 8) + "_" + hex_id(200 + i, 4) +
                              ".slice/cri-containerd-" + hex_id(300 + i, 64) +
                              ".scope/cgroup.procs",
                          kCgroupOptIsUnified, 1, (uint64_t{1} << 40) + i));
  }
  for (int uid : {1000, 1001}) {
    const std::string u = std::to_string(uid);
    v.push_back(make_item("cgroup_user.slice_user-" + u + ".slice",
                          root + "user.slice/user-" + u + ".slice/cgroup.procs",
                          kCgroupOptIsUnified, 1, ++inode));
  }
  v.push_back(make_item("cgroup_init.scope", "", kCgroupOptDisabledDuplicate, 0, 0));
  v.push_back(make_item("", "", 0, 0, 0));  // an all-default item encodes as "1a 00"
  return v;
}

pb::CgroupsSnapshot to_pb(const std::vector<CgroupItem>& items, uint32_t systemd, uint64_t gen) {
  pb::CgroupsSnapshot m;
  m.set_generation(gen);
  m.set_systemd_enabled(systemd);
  for (const auto& it : items) {
    pb::CgroupItem* p = m.add_items();
    p->set_hash(it.hash);
    p->set_options(it.options);
    p->set_enabled(it.enabled);
    p->set_name(it.name);
    p->set_path(it.path);
    p->set_cgroup_id(it.cgroup_id);
  }
  return m;
}

std::vector<CgroupItem> from_pb(const pb::CgroupsSnapshot& m) {
  std::vector<CgroupItem> out;
  for (const auto& p : m.items()) {
    out.push_back(
        CgroupItem{p.hash(), p.options(), p.enabled(), p.name(), p.path(), p.cgroup_id()});
  }
  return out;
}

std::vector<uint8_t> serialize(const pb::CgroupsSnapshot& m) {
  std::vector<uint8_t> out(m.ByteSizeLong());
  EXPECT_TRUE(m.SerializeToArray(out.data(), static_cast<int>(out.size())));
  return out;
}

std::vector<CgroupItem> owned(const CgroupsSnapshotViews& v) {
  std::vector<CgroupItem> out;
  for (const auto& it : v.items)
    out.push_back(it.to_owned());
  return out;
}

Errc decode_code(const std::vector<uint8_t>& bytes) {
  CgroupsSnapshotViews v;
  return decode_cgroups_snapshot_v2(ByteSpan(bytes), &v).code();
}

bool generated_accepts(const std::vector<uint8_t>& bytes) {
  pb::CgroupsSnapshot m;
  return m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

// Both parsers must agree on acceptance and, when they accept, on content.
void expect_same_as_generated(const std::vector<uint8_t>& bytes) {
  pb::CgroupsSnapshot m;
  const bool ref_ok = m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  CgroupsSnapshotViews v;
  Status s = decode_cgroups_snapshot_v2(ByteSpan(bytes), &v);
  ASSERT_EQ(s.ok(), ref_ok) << "ours: " << errc_name(s.code());
  if (!ref_ok) return;
  EXPECT_EQ(v.generation, m.generation());
  EXPECT_EQ(v.systemd_enabled, m.systemd_enabled());
  EXPECT_EQ(owned(v), from_pb(m));
}

void append(std::vector<uint8_t>* v, std::initializer_list<uint8_t> bytes) {
  v->insert(v->end(), bytes.begin(), bytes.end());
}

// One item {hash 5, name "n"} followed by the given extra item bytes.
std::vector<uint8_t> item_with(std::initializer_list<uint8_t> extra) {
  std::vector<uint8_t> body = {0x08, 0x05, 0x22, 0x01, 'n'};
  append(&body, extra);
  std::vector<uint8_t> out = {0x08, 0x07, 0x1a, static_cast<uint8_t>(body.size())};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// ---- Equivalence with the generated classes ------------------------------------

TEST(CgroupsPb, EncoderOutputIsByteIdenticalToGeneratedSerializer) {
  const auto items = production_corpus();
  for (uint64_t gen : {uint64_t{0}, uint64_t{1}, uint64_t{300}, UINT64_MAX}) {
    for (uint32_t systemd : {0u, 1u, UINT32_MAX}) {
      std::vector<uint8_t> ours;
      ASSERT_TRUE(encode_cgroups_snapshot_v2(items, systemd, gen, &ours).ok());
      EXPECT_EQ(ours, serialize(to_pb(items, systemd, gen)));
      EXPECT_EQ(ours.size(), cgroups_snapshot_v2_size(items, systemd, gen));
    }
  }
}

TEST(CgroupsPb, GeneratedParserAcceptsEncoderOutput) {
  const auto items = production_corpus();
  std::vector<uint8_t> ours;
  ASSERT_TRUE(encode_cgroups_snapshot_v2(items, 1, 77, &ours).ok());
  pb::CgroupsSnapshot m;
  ASSERT_TRUE(m.ParseFromArray(ours.data(), static_cast<int>(ours.size())));
  EXPECT_EQ(m.generation(), 77u);
  EXPECT_EQ(m.systemd_enabled(), 1u);
  EXPECT_EQ(from_pb(m), items);
}

TEST(CgroupsPb, DecoderReadsGeneratedSerializerOutput) {
  const auto items = production_corpus();
  const auto bytes = serialize(to_pb(items, 1, 1234567));
  CgroupsSnapshotViews v;
  ASSERT_TRUE(decode_cgroups_snapshot_v2(ByteSpan(bytes), &v).ok());
  EXPECT_EQ(v.generation, 1234567u);
  EXPECT_EQ(v.systemd_enabled, 1u);
  EXPECT_EQ(owned(v), items);
  // Zero copy: the strings live in the payload.
  ASSERT_FALSE(v.items.empty());
  const auto* name = reinterpret_cast<const uint8_t*>(v.items[0].name.data());
  EXPECT_GE(name, bytes.data());
  EXPECT_LT(name, bytes.data() + bytes.size());
}

TEST(CgroupsPb, DecoderAgreesWithGeneratedParserOnMutatedInputs) {
  std::vector<uint8_t> base;
  ASSERT_TRUE(encode_cgroups_snapshot_v2(production_corpus(), 1, 99, &base).ok());
  std::mt19937_64 rng(7);
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> b = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 3) {
        case 0:
          b[rng() % b.size()] = static_cast<uint8_t>(rng());
          break;
        case 1:
          b.resize(rng() % b.size());
          break;
        case 2:
          b.insert(b.begin() + static_cast<long>(rng() % (b.size() + 1)),
                   static_cast<uint8_t>(rng()));
          break;
      }
      if (b.empty()) b.push_back(0x08);
    }
    expect_same_as_generated(b);
    if (HasFatalFailure()) return;
  }
}

// ---- Round trips ------------------------------------------------------------------

TEST(CgroupsPb, RoundTripsEveryFieldIncludingCgroupId) {
  const std::vector<CgroupItem> items = {
      {UINT32_MAX, UINT32_MAX, UINT32_MAX, "name", "/path", UINT64_MAX},
      {1, 2, 3, "n", "p", 1},
      {0x80, 0x4000, 0x200000, "x", "", uint64_t{1} << 63},
  };
  std::vector<uint8_t> buf;
  ASSERT_TRUE(encode_cgroups_snapshot_v2(items, UINT32_MAX, UINT64_MAX, &buf).ok());
  CgroupsSnapshotViews v;
  ASSERT_TRUE(decode_cgroups_snapshot_v2(ByteSpan(buf), &v).ok());
  EXPECT_EQ(v.generation, UINT64_MAX);
  EXPECT_EQ(v.systemd_enabled, UINT32_MAX);
  EXPECT_EQ(owned(v), items);
}

TEST(CgroupsPb, RoundTripsEmptySnapshotAsEmptyPayload) {
  std::vector<uint8_t> buf = {1, 2, 3};
  ASSERT_TRUE(encode_cgroups_snapshot_v2({}, 0, 0, &buf).ok());
  EXPECT_TRUE(buf.empty());
  CgroupsSnapshotViews v;
  v.generation = 5;
  v.items.push_back(CgroupItemView{});
  ASSERT_TRUE(decode_cgroups_snapshot_v2(ByteSpan(buf), &v).ok());
  EXPECT_EQ(v.generation, 0u);
  EXPECT_TRUE(v.items.empty());
}

TEST(CgroupsPb, RoundTripsEmptyNameAndPath) {
  const std::vector<CgroupItem> items = {{0, 0, 0, "", "", 0}, {1, 0, 1, "", "/p", 2}};
  std::vector<uint8_t> buf;
  ASSERT_TRUE(encode_cgroups_snapshot_v2(items, 0, 1, &buf).ok());
  CgroupsSnapshotViews v;
  ASSERT_TRUE(decode_cgroups_snapshot_v2(ByteSpan(buf), &v).ok());
  EXPECT_EQ(owned(v), items);
}

TEST(CgroupsPb, RoundTripsLongNamesAndPaths) {
  const std::vector<CgroupItem> items = {
      make_item(std::string(70000, 'n'), std::string(1 << 20, 'p'), 1, 1, 42),
      make_item("short", std::string(200, '/'), 0, 0, 43)};
  std::vector<uint8_t> buf;
  ASSERT_TRUE(encode_cgroups_snapshot_v2(items, 1, 2, &buf).ok());
  EXPECT_EQ(buf, serialize(to_pb(items, 1, 2)));
  CgroupsSnapshotViews v;
  ASSERT_TRUE(decode_cgroups_snapshot_v2(ByteSpan(buf), &v).ok());
  EXPECT_EQ(owned(v), items);
}

TEST(CgroupsPb, RoundTripsProductionCorpusIntoOwnedItems) {
  const auto items = production_corpus();
  std::vector<uint8_t> buf;
  ASSERT_TRUE(encode_cgroups_snapshot_v2(items, 1, 8, &buf).ok());
  uint32_t systemd = 0;
  uint64_t gen = 0;
  std::vector<CgroupItem> decoded;
  ASSERT_TRUE(decode_cgroups_snapshot_v2(ByteSpan(buf), &systemd, &gen, &decoded).ok());
  buf.assign(buf.size(), 0);  // owned items survive their payload
  EXPECT_EQ(systemd, 1u);
  EXPECT_EQ(gen, 8u);
  EXPECT_EQ(decoded, items);
}

TEST(CgroupsPb, RoundTripsHundredThousandItems) {
  const auto items = large_corpus(100000, 7919);  // ids of one to five varint bytes
  std::vector<uint8_t> buf;
  ASSERT_TRUE(encode_cgroups_snapshot_v2(items, 1, 100000, &buf).ok());
  CgroupsSnapshotViews v;
  ASSERT_TRUE(decode_cgroups_snapshot_v2(ByteSpan(buf), &v).ok());
  EXPECT_EQ(v.generation, 100000u);
  EXPECT_EQ(owned(v), items);
  EXPECT_TRUE(generated_accepts(buf));
}

TEST(CgroupsPb, EncoderReusesBufferWithoutReallocating) {
  const auto items = production_corpus();
  std::vector<uint8_t> buf;
  ASSERT_TRUE(encode_cgroups_snapshot_v2(items, 1, 1, &buf).ok());
  const uint8_t* data = buf.data();
  ASSERT_TRUE(encode_cgroups_snapshot_v2({items[0]}, 1, 2, &buf).ok());
  EXPECT_EQ(buf, serialize(to_pb({items[0]}, 1, 2)));
  ASSERT_TRUE(encode_cgroups_snapshot_v2(items, 1, 3, &buf).ok());
  EXPECT_EQ(buf.data(), data);
}

TEST(CgroupsPb, EncoderRejectsSnapshotPastCeiling) {
  const auto items = production_corpus();
  const uint64_t size = cgroups_snapshot_v2_size(items, 1, 1);
  std::vector<uint8_t> buf;
  EXPECT_EQ(encode_cgroups_snapshot_v2(items, 1, 1, &buf, size - 1).code(), Errc::kLimitExceeded);
  EXPECT_TRUE(encode_cgroups_snapshot_v2(items, 1, 1, &buf, size).ok());
}

// ---- Schema evolution -------------------------------------------------------------

TEST(CgroupsPb, SkipsUnknownFieldsOfEveryWireTypeInSnapshotAndItem) {
  std::vector<uint8_t> b = item_with({
      0x38, 0x96, 0x01,                             // field 7 varint 150
      0x41, 1,    2,    3,    4,    5,    6, 7, 8,  // field 8 fixed64
      0x4a, 0x03, 'a',  'b',  'c',                  // field 9 bytes
      0x55, 1,    2,    3,    4,                    // field 10 fixed32
      0x5b, 0x60, 0x01, 0x5c,                       // field 11 group { field 12 = 1 }
      0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01,           // field 2^29-1 varint
  });
  append(&b, {0xa0, 0x06, 0x09,  // field 100 varint at the top level
              0x10, 0x01});      // then systemd_enabled = 1
  CgroupsSnapshotViews v;
  ASSERT_TRUE(decode_cgroups_snapshot_v2(ByteSpan(b), &v).ok());
  EXPECT_EQ(v.generation, 7u);
  EXPECT_EQ(v.systemd_enabled, 1u);
  ASSERT_EQ(v.items.size(), 1u);
  EXPECT_EQ(v.items[0].hash, 5u);
  EXPECT_EQ(v.items[0].name, "n");
  expect_same_as_generated(b);
}

TEST(CgroupsPb, TreatsKnownFieldWithWrongWireTypeAsUnknown) {
  // name (4) sent as a varint, hash (1) sent as bytes: both skipped.
  const auto b = item_with({0x20, 0x05, 0x0a, 0x01, 'z'});
  CgroupsSnapshotViews v;
  ASSERT_TRUE(decode_cgroups_snapshot_v2(ByteSpan(b), &v).ok());
  EXPECT_EQ(v.items[0].name, "n");
  EXPECT_EQ(v.items[0].hash, 5u);
  expect_same_as_generated(b);
}

TEST(CgroupsPb, KeepsLastValueOfARepeatedScalar) {
  const auto b = item_with({0x08, 0x09, 0x22, 0x02, 'm', '2'});
  CgroupsSnapshotViews v;
  ASSERT_TRUE(decode_cgroups_snapshot_v2(ByteSpan(b), &v).ok());
  EXPECT_EQ(v.items[0].hash, 9u);
  EXPECT_EQ(v.items[0].name, "m2");
  expect_same_as_generated(b);
}

TEST(CgroupsPb, KeepsLow32BitsOfAnOversizedUint32) {
  // hash = 2^35 + 5 as a 6-byte varint.
  const auto b = item_with({0x08, 0x85, 0x80, 0x80, 0x80, 0x80, 0x01});
  CgroupsSnapshotViews v;
  ASSERT_TRUE(decode_cgroups_snapshot_v2(ByteSpan(b), &v).ok());
  EXPECT_EQ(v.items[0].hash, 5u);
  expect_same_as_generated(b);
}

// ---- Rejections ---------------------------------------------------------------------

TEST(CgroupsPb, RejectsEveryTruncationInsideAnItem) {
  std::vector<uint8_t> full;
  ASSERT_TRUE(
      encode_cgroups_snapshot_v2({make_item("cgroup_a", "/a", 1, 1, 300)}, 1, 5, &full).ok());
  // generation (2 bytes) + systemd (2 bytes) precede the item field.
  for (size_t n = 5; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
    EXPECT_EQ(decode_code(cut), Errc::kTruncated) << n;
    EXPECT_FALSE(generated_accepts(cut)) << n;
  }
}

TEST(CgroupsPb, RejectsItemLengthPastEnd) {
  auto b = item_with({});
  b[3] = 0x7f;
  EXPECT_EQ(decode_code(b), Errc::kTruncated);
  expect_same_as_generated(b);
}

TEST(CgroupsPb, RejectsVarintCrossingItemEnd) {
  // The item claims 2 bytes; its varint continues into the next bytes.
  const std::vector<uint8_t> b = {0x1a, 0x02, 0x08, 0x85, 0x01, 0x10, 0x01};
  EXPECT_EQ(decode_code(b), Errc::kTruncated);
  expect_same_as_generated(b);
}

TEST(CgroupsPb, RejectsFieldNumberZero) {
  EXPECT_EQ(decode_code({0x00}), Errc::kProtocol);
  EXPECT_EQ(decode_code({0x02, 0x00}), Errc::kProtocol);
  EXPECT_EQ(decode_code(item_with({0x00})), Errc::kProtocol);
  expect_same_as_generated({0x02, 0x00});
  expect_same_as_generated(item_with({0x00}));
}

TEST(CgroupsPb, RejectsWireTypesSixAndSeven) {
  EXPECT_EQ(decode_code({0x3e, 0x00}), Errc::kProtocol);
  EXPECT_EQ(decode_code(item_with({0x3f})), Errc::kProtocol);
  expect_same_as_generated({0x3e, 0x00});
}

TEST(CgroupsPb, RejectsEndGroupWithoutStart) {
  EXPECT_EQ(decode_code({0x3c}), Errc::kProtocol);
  EXPECT_EQ(decode_code(item_with({0x3c})), Errc::kProtocol);
  expect_same_as_generated(item_with({0x3c}));
}

TEST(CgroupsPb, RejectsMismatchedEndGroup) {
  EXPECT_EQ(decode_code({0x3b, 0x44}), Errc::kProtocol);  // start 7, end 8
  expect_same_as_generated({0x3b, 0x44});
}

TEST(CgroupsPb, RejectsUnterminatedGroup) {
  EXPECT_EQ(decode_code({0x3b, 0x08, 0x01}), Errc::kTruncated);
  // A group cannot end at its item's end either.
  EXPECT_EQ(decode_code(item_with({0x3b})), Errc::kTruncated);
  expect_same_as_generated(item_with({0x3b}));
}

TEST(CgroupsPb, RejectsVarintLongerThanTenBytes) {
  const std::vector<uint8_t> b = {0x08, 0x80, 0x80, 0x80, 0x80, 0x80,
                                  0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  EXPECT_EQ(decode_code(b), Errc::kProtocol);
  expect_same_as_generated(b);
  // Ten bytes are fine.
  const std::vector<uint8_t> ok = {0x08, 0x80, 0x80, 0x80, 0x80, 0x80,
                                   0x80, 0x80, 0x80, 0x80, 0x01};
  EXPECT_EQ(decode_code(ok), Errc::kOk);
  expect_same_as_generated(ok);
}

TEST(CgroupsPb, RejectsTagLongerThanFiveBytes) {
  const std::vector<uint8_t> b = {0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01};
  EXPECT_EQ(decode_code(b), Errc::kProtocol);
  expect_same_as_generated(b);
}

TEST(CgroupsPb, RejectsLengthOfTwoGigabytesOrMore) {
  const std::vector<uint8_t> b = {0x4a, 0xff, 0xff, 0xff, 0xff, 0x08};
  EXPECT_EQ(decode_code(b), Errc::kProtocol);
  expect_same_as_generated(b);
  // protobuf also refuses lengths within 16 bytes of 2 GiB (INT_MAX - 15).
  const std::vector<uint8_t> near = {0x4a, 0xf0, 0xff, 0xff, 0xff, 0x07};
  EXPECT_EQ(decode_code(near), Errc::kProtocol);
  expect_same_as_generated(near);
}

TEST(CgroupsPb, RejectsLengthLongerThanFiveBytes) {
  // Length 1 in six bytes, then the one byte: an over-long but small length.
  const std::vector<uint8_t> b = {0x4a, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 'x'};
  EXPECT_EQ(decode_code(b), Errc::kProtocol);
  expect_same_as_generated(b);
  // Five bytes are fine.
  const std::vector<uint8_t> ok = {0x4a, 0x81, 0x80, 0x80, 0x80, 0x00, 'x'};
  EXPECT_EQ(decode_code(ok), Errc::kOk);
  expect_same_as_generated(ok);
}

TEST(CgroupsPb, LimitsGroupNestingLikeTheGeneratedParser) {
  // d nested groups of field 7 at the top level, then inside an item.
  auto nested = [](int d) {
    std::vector<uint8_t> g(static_cast<size_t>(d), 0x3b);
    g.insert(g.end(), static_cast<size_t>(d), 0x3c);
    return g;
  };
  for (int d : {1, 50, 99, 100, 101, 150}) {
    expect_same_as_generated(nested(d));
    std::vector<uint8_t> body = nested(d);
    std::vector<uint8_t> b = {0x1a};
    uint64_t n = body.size();
    while (n >= 0x80) {
      b.push_back(static_cast<uint8_t>(n | 0x80));
      n >>= 7;
    }
    b.push_back(static_cast<uint8_t>(n));
    b.insert(b.end(), body.begin(), body.end());
    expect_same_as_generated(b);
  }
  EXPECT_EQ(decode_code(nested(100)), Errc::kOk);
  EXPECT_EQ(decode_code(nested(101)), Errc::kProtocol);
}

TEST(CgroupsPb, RejectsRandomGarbageCleanly) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> b(1 + rng() % 64);
    for (auto& x : b)
      x = static_cast<uint8_t>(rng());
    CgroupsSnapshotViews v;
    Status s = decode_cgroups_snapshot_v2(ByteSpan(b), &v);
    if (!s.ok()) {
      EXPECT_TRUE(v.items.empty());
    }
    expect_same_as_generated(b);
    if (HasFatalFailure()) return;
  }
}

TEST(CgroupsPb, FailedDecodeLeavesOutputEmpty) {
  auto b = serialize(to_pb(production_corpus(), 1, 1));
  b.push_back(0x1a);  // an item field without its length
  CgroupsSnapshotViews v;
  EXPECT_EQ(decode_cgroups_snapshot_v2(ByteSpan(b), &v).code(), Errc::kTruncated);
  EXPECT_TRUE(v.items.empty());
  EXPECT_EQ(v.generation, 0u);
  uint32_t systemd = 0;
  uint64_t gen = 0;
  std::vector<CgroupItem> items = {CgroupItem{}};
  EXPECT_FALSE(decode_cgroups_snapshot_v2(ByteSpan(b), &systemd, &gen, &items).ok());
  EXPECT_TRUE(items.empty());
}

}  // namespace
}  // namespace netipc::codec
