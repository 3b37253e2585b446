// 100,000 cgroups: a v2 host with a few slices holding many scopes (docker,
// podman, kubernetes containers). Every item is checked field by field,
// then a rescan of the unchanged tree and one after churn.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <iterator>
#include <string>
#include <unordered_map>
#include <vector>

#include "../../unit/cgroups-provider/fake_cgroupfs.h"
#include "cgroups_provider/scanner.h"

namespace netipc::cgroups_provider {
namespace {

using testing::FakeHost;
using testing::HostKind;

constexpr size_t kPerSlice = 25000;
constexpr uint32_t kU = kCgroupOptIsUnified;

// A 64-hex container id derived from (slice, index), like docker's.
std::string hex_id(size_t slice, size_t i) {
  char buf[65];
  uint64_t x = (slice + 1) * 0x9E3779B97F4A7C15ull ^ (i * 0xC2B2AE3D27D4EB4Full);
  for (int k = 0; k < 64; k += 16) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    std::snprintf(buf + k, 17, "%016llx", static_cast<unsigned long long>(x));
  }
  return std::string(buf, 64);
}

struct Slice {
  const char* id;        // parent id
  const char* leaf_fmt;  // leaf name: prefix, then hex, then suffix
  const char* leaf_suffix;
  const char* chart_prefix;  // chart id of the renamed leaf without the hex
};

// Leaves match "*.scope", so they are renamed to the script's fallback and
// enabled. Chart ids: '/' -> '_' (fallback), '.' -> '-'.
const Slice kSlices[] = {
    {"/system.slice", "docker-", ".scope", "system-slice_docker-"},
    {"/machine.slice", "libpod-", ".scope", "machine-slice_libpod-"},
    {"/kubepods.slice/kubepods-besteffort.slice", "cri-containerd-", ".scope",
     "kubepods-slice_kubepods-besteffort-slice_cri-containerd-"},
    {"/kubepods.slice/kubepods-burstable.slice", "crio-", ".scope",
     "kubepods-slice_kubepods-burstable-slice_crio-"},
};

class Scan100k : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t0 = std::chrono::steady_clock::now();
    for (size_t s = 0; s < std::size(kSlices); ++s) {
      host_.add(host_.unified(), kSlices[s].id);
      std::vector<std::string> names;
      names.reserve(kPerSlice);
      for (size_t i = 0; i < kPerSlice; ++i)
        names.push_back(leaf(s, i));
      host_.add_leaves(host_.unified() + kSlices[s].id, names);
    }
    build_ms_ = ms_since(t0);
  }

  static std::string leaf(size_t s, size_t i) {
    return kSlices[s].leaf_fmt + hex_id(s, i) + kSlices[s].leaf_suffix;
  }
  static std::string leaf_name(size_t s, size_t i) {
    std::string chart = kSlices[s].chart_prefix + hex_id(s, i) + "-scope";
    return "cgroup_" + chart.substr(0, std::min<size_t>(chart.size(), 100));
  }
  CgroupItem leaf_item(size_t s, size_t i) const {
    const std::string dir = host_.unified() + kSlices[s].id + "/" + leaf(s, i);
    return testing::item(leaf_name(s, i), kU, 1, dir + "/cgroup.procs", FakeHost::ino(dir));
  }
  static double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

  // tmpfs when there is one: ext4 takes ~25 s to build and remove the tree.
  FakeHost host_{HostKind::kV2, ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"};
  double build_ms_ = 0;
};

TEST_F(Scan100k, EveryItemIsPresentAndCorrectAndRescansStayCheap) {
  // Forced: on tmpfs, auto-detection would (rightly) say v1.
  auto cfg = host_.config(CgroupMode::kV2);
  cfg.max_cgroups = 200000;
  auto scanner = Scanner::create(cfg);
  ASSERT_TRUE(scanner.ok());
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok()) << r.error().message();
  const auto& items = *r->items;
  // root + 4 slices + kubepods.slice + 100,000 leaves
  const size_t leaves = std::size(kSlices) * kPerSlice;
  ASSERT_EQ(items.size(), leaves + 6);
  EXPECT_EQ(r->stats.skipped_by_limit, 0u);

  std::unordered_map<std::string_view, const CgroupItem*> by_name;
  by_name.reserve(items.size());
  for (const auto& i : items)
    ASSERT_TRUE(by_name.emplace(i.name, &i).second) << i.name;
  for (size_t s = 0; s < std::size(kSlices); ++s) {
    for (size_t i = 0; i < kPerSlice; ++i) {
      CgroupItem want = leaf_item(s, i);
      auto it = by_name.find(want.name);
      ASSERT_NE(it, by_name.end()) << want.name;
      ASSERT_EQ(*it->second, want);
    }
  }
  const CgroupItem* ks = by_name.at("cgroup_kubepods-slice");
  EXPECT_EQ(*ks, testing::item("cgroup_kubepods-slice", kU, 0,
                               host_.unified() + "/kubepods.slice/cgroup.procs",
                               FakeHost::ino(host_.unified() + "/kubepods.slice")));

  auto same = scanner->scan();
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->changed);
  EXPECT_EQ(same->items.get(), r->items.get());
  EXPECT_EQ(same->stats.dirs_listed, 6u);  // root, 4 slices, kubepods.slice

  // Churn: 1,000 scopes go, 1,000 new ones come.
  for (size_t i = 0; i < 1000; ++i)
    host_.remove(host_.unified(), "/system.slice/" + leaf(0, i));
  std::vector<std::string> fresh;
  for (size_t i = kPerSlice; i < kPerSlice + 1000; ++i)
    fresh.push_back(leaf(1, i));
  host_.add_leaves(host_.unified() + "/machine.slice", fresh);
  auto churn = scanner->scan();
  ASSERT_TRUE(churn.ok());
  EXPECT_TRUE(churn->changed);
  ASSERT_EQ(churn->items->size(), items.size());
  EXPECT_EQ(testing::find_item(*churn->items, leaf_name(0, 0)), nullptr);
  EXPECT_EQ(testing::find_item(*churn->items, leaf_name(0, 999)), nullptr);
  // Newcomers go last (in listing order), after everything seen before.
  std::vector<CgroupItem> tail(churn->items->end() - 1000, churn->items->end());
  std::vector<CgroupItem> want_tail;
  for (size_t i = kPerSlice; i < kPerSlice + 1000; ++i)
    want_tail.push_back(leaf_item(1, i));
  EXPECT_EQ(testing::sorted(tail), testing::sorted(want_tail));

  std::printf(
      "scan-100k: build %.0f ms; first scan %.1f ms; unchanged rescan %.1f ms; "
      "rescan after 2k churn %.1f ms (%s build)\n",
      build_ms_, r->stats.duration_ns / 1e6, same->stats.duration_ns / 1e6,
      churn->stats.duration_ns / 1e6,
#ifdef NDEBUG
      "release"
#else
      "debug"
#endif
  );
}

}  // namespace
}  // namespace netipc::cgroups_provider
