// The scanner's compact state: the open-addressing slot index and the name
// arenas, and a scanner that keeps returning exactly a fresh scanner's items
// while thousands of cgroups come and go (which compacts every arena).
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../../../cgroups-provider/src/scanner_internal.h"
#include "cgroups_provider/scanner.h"
#include "fake_cgroupfs.h"

namespace netipc::cgroups_provider {
namespace {

using detail::SlotIndex;
using testing::FakeHost;
using testing::HostKind;
using testing::sorted;

// Every (tag, slot) pair the reference holds must be found.
void expect_same(const SlotIndex& index, const std::multimap<uint32_t, uint32_t>& ref) {
  for (const auto& [tag, slot] : ref) {
    const uint32_t want = slot;
    EXPECT_EQ(index.find(tag, [&](uint32_t s) { return s == want; }), want) << "slot " << want;
  }
}

TEST(ScannerSlotIndex, FindsEveryEntryThroughCollisionsAndDeletions) {
  SlotIndex index;
  std::multimap<uint32_t, uint32_t> ref;
  std::mt19937 rng(42);
  // Few distinct tags and tags that share home buckets: long probe runs
  // that wrap around, the case backward-shift deletion must get right.
  std::vector<uint32_t> tags = {0, 1, 63, 64, 127, 128, 0xFFFFFFFFu, 0x80000000u, 5, 69};
  uint32_t next_slot = 0;
  std::vector<std::pair<uint32_t, uint32_t>> live;
  for (int step = 0; step < 20000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      const uint32_t tag = tags[rng() % tags.size()] + (rng() % 4 == 0 ? rng() : 0);
      index.insert(tag, next_slot);
      ref.emplace(tag, next_slot);
      live.emplace_back(tag, next_slot);
      ++next_slot;
    } else {
      const size_t k = rng() % live.size();
      auto [tag, slot] = live[k];
      index.erase(tag, slot);
      for (auto it = ref.find(tag); it != ref.end() && it->first == tag; ++it) {
        if (it->second == slot) {
          ref.erase(it);
          break;
        }
      }
      live[k] = live.back();
      live.pop_back();
      // A removed slot is gone.
      EXPECT_EQ(index.find(tag, [&](uint32_t s) { return s == slot; }), SlotIndex::kEmpty);
    }
    if (step % 997 == 0) expect_same(index, ref);
  }
  expect_same(index, ref);
  index.erase(12345, 999999);  // absent: no effect
  expect_same(index, ref);
}

TEST(ScannerNameArena, NamesStayNulTerminatedAndGarbageTriggersCompaction) {
  detail::NameArena a;
  const uint32_t x = a.add("docker-abc.scope");
  const uint32_t y = a.add("b");
  EXPECT_EQ(a.get(x, 16), "docker-abc.scope");
  EXPECT_STREQ(a.c_str(x), "docker-abc.scope");
  EXPECT_STREQ(a.c_str(y), "b");
  EXPECT_FALSE(a.wants_compaction());
  const std::string big(200, 'n');
  for (int i = 0; i < 1000; ++i)
    a.add(big);
  for (int i = 0; i < 999; ++i)
    a.release(200);
  EXPECT_TRUE(a.wants_compaction());
}

class ScannerChurn : public ::testing::TestWithParam<HostKind> {};

// Long names (like container scopes) so that removing a few thousand of
// them leaves more than half of every arena as garbage.
std::vector<std::string> scope_names(size_t n, int round) {
  std::vector<std::string> v;
  for (size_t i = 0; i < n; ++i) {
    char b[128];
    std::snprintf(b, sizeof b, "docker-%02d%062llx.scope", round,
                  static_cast<unsigned long long>(i) * 0x9E3779B97F4A7C15ull);
    v.emplace_back(b);
  }
  return v;
}

TEST_P(ScannerChurn, ItemsEqualAFreshScannersThroughAdditionsRemovalsAndCompaction) {
  FakeHost host(GetParam(), "/dev/shm");  // tmpfs: thousands of mkdirs stay fast
  std::vector<std::string> bases;
  if (GetParam() == HostKind::kV2) {
    bases = {host.unified()};
  } else {
    for (const char* c : {"cpu,cpuacct", "cpuset", "blkio", "memory"})
      bases.push_back(host.base(c));
  }
  for (const auto& b : bases)
    host.add(b, "/system.slice");
  auto make = [&] {
    // On tmpfs the automatic detection would say v1; the mode is given.
    ScannerConfig cfg =
        host.config(GetParam() == HostKind::kV2 ? CgroupMode::kV2 : CgroupMode::kV1);
    cfg.max_cgroups = 100000;  // a fresh scanner admits in listing order: no limit here
    auto s = Scanner::create(cfg);
    if (!s.ok()) std::abort();
    return std::move(*s);
  };
  Scanner kept = make();
  ASSERT_TRUE(kept.scan().ok());
  for (int round = 0; round < 3; ++round) {
    const auto names = scope_names(1500, round);
    for (const auto& b : bases)
      host.add_leaves(b + "/system.slice", names);
    auto grown = kept.scan();
    ASSERT_TRUE(grown.ok());
    ASSERT_TRUE(grown->changed);
    Scanner fresh = make();
    auto want = fresh.scan();
    ASSERT_TRUE(want.ok());
    EXPECT_EQ(sorted(*grown->items), sorted(*want->items)) << "round " << round;
    // Remove all but every tenth: most of each arena becomes garbage.
    for (size_t i = 0; i < names.size(); ++i) {
      if (i % 10 == 0) continue;
      for (const auto& b : bases)
        host.remove(b, "/system.slice/" + names[i]);
    }
    auto shrunk = kept.scan();
    ASSERT_TRUE(shrunk.ok());
    ASSERT_TRUE(shrunk->changed);
    Scanner fresh2 = make();
    auto want2 = fresh2.scan();
    ASSERT_TRUE(want2.ok());
    EXPECT_EQ(sorted(*shrunk->items), sorted(*want2->items)) << "round " << round;
    // And nothing changes when nothing changed.
    auto same = kept.scan();
    ASSERT_TRUE(same.ok());
    EXPECT_FALSE(same->changed);
  }
}

INSTANTIATE_TEST_SUITE_P(Hosts, ScannerChurn, ::testing::Values(HostKind::kV2, HostKind::kHybrid),
                         [](const auto& param_info) {
                           return param_info.param == HostKind::kV2 ? std::string("V2")
                                                                    : std::string("Hybrid");
                         });

}  // namespace
}  // namespace netipc::cgroups_provider
