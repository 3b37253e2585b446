// Rescans (state kept between scans), limits, duplicates and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cgroups_provider/scanner.h"
#include "fake_cgroupfs.h"

namespace netipc::cgroups_provider {
namespace {

using testing::FakeHost;
using testing::find_item;
using testing::HostKind;
using testing::index_of;

class ScannerRescan : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"/system.slice/a.scope", "/system.slice/b.scope",
                           "/machine.slice/vm1.scope", "/machine.slice/sub.slice/c.scope"}) {
      host_.add(host_.unified(), id);
    }
  }
  Scanner make(ScannerConfig cfg) {
    auto s = Scanner::create(std::move(cfg));
    if (!s.ok()) std::abort();
    return std::move(*s);
  }
  ScanResult scan(Scanner& s) {
    auto r = s.scan();
    if (!r.ok()) std::abort();
    return std::move(*r);
  }
  std::string u(const std::string& id) const { return host_.unified() + id; }

  FakeHost host_{HostKind::kV2};
};

TEST_F(ScannerRescan, UnchangedTreeReportsUnchangedAndReusesItems) {
  Scanner s = make(host_.config());
  ScanResult first = scan(s);
  ScanResult second = scan(s);
  EXPECT_TRUE(first.changed);
  EXPECT_FALSE(second.changed);
  EXPECT_EQ(second.items.get(), first.items.get());
  EXPECT_EQ(second.generation, first.generation);
  EXPECT_EQ(second.stats.cgroups_published, first.items->size());
  // Directories with subdirectories are listed; leaves (nlink == 2) are not:
  // /, /system.slice, /machine.slice, /machine.slice/sub.slice.
  EXPECT_EQ(second.stats.dirs_listed, 4u);
  EXPECT_EQ(second.stats.dirs_visited, 8u);
}

TEST_F(ScannerRescan, UnchangedRescanBuildsNothingOnceNobodyHoldsTheItems) {
  Scanner s = make(host_.config());
  std::vector<CgroupItem> first = *scan(s).items;  // the vector itself is released
  ScanResult same = scan(s);
  EXPECT_FALSE(same.changed);
  EXPECT_EQ(same.items, nullptr);  // the daemon's case: no vector rebuilt
  EXPECT_EQ(same.stats.cgroups_published, first.size());
  // A change afterwards still yields the whole, current set.
  host_.add(host_.unified(), "/system.slice/later.scope");
  ScanResult next = scan(s);
  ASSERT_TRUE(next.changed);
  ASSERT_NE(next.items, nullptr);
  ASSERT_EQ(next.items->size(), first.size() + 1);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), next.items->begin()));
  EXPECT_EQ(next.items->back().name, "cgroup_system-slice_later-scope");
}

TEST_F(ScannerRescan, WithoutNlinkShortcutEveryDescendedDirectoryIsListed) {
  auto cfg = host_.config();
  cfg.use_nlink_shortcut = false;
  Scanner plain = make(cfg);
  Scanner fast = make(host_.config());
  ScanResult a = scan(plain);
  ScanResult b = scan(fast);
  EXPECT_EQ(*a.items, *b.items);
  EXPECT_EQ(a.stats.dirs_listed, 8u);
  host_.add(host_.unified(), "/machine.slice/vm1.scope/inner");
  EXPECT_EQ(*scan(plain).items, *scan(fast).items);
}

TEST_F(ScannerRescan, AddedCgroupAppearsLastInDiscoveryOrder) {
  Scanner s = make(host_.config());
  ScanResult first = scan(s);
  host_.add(host_.unified(), "/system.slice/new.scope");
  ScanResult r = scan(s);
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.generation, first.generation + 1);
  ASSERT_EQ(r.items->size(), first.items->size() + 1);
  EXPECT_EQ(r.items->back().name, "cgroup_system-slice_new-scope");
  EXPECT_EQ(r.items->back().cgroup_id, FakeHost::ino(u("/system.slice/new.scope")));
  EXPECT_EQ(r.items->back().path, u("/system.slice/new.scope/cgroup.procs"));
  EXPECT_EQ(r.items->back().enabled, 1u);
}

TEST_F(ScannerRescan, RemovedCgroupDisappears) {
  Scanner s = make(host_.config());
  ScanResult first = scan(s);
  ASSERT_NE(find_item(*first.items, "cgroup_system-slice_a-scope"), nullptr);
  host_.remove(host_.unified(), "/system.slice/a.scope");
  ScanResult r = scan(s);
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(find_item(*r.items, "cgroup_system-slice_a-scope"), nullptr);
  EXPECT_EQ(r.items->size(), first.items->size() - 1);
}

TEST_F(ScannerRescan, RemovedSubtreeDisappearsWhole) {
  Scanner s = make(host_.config());
  ScanResult first = scan(s);
  host_.remove(host_.unified(), "/machine.slice");
  ScanResult r = scan(s);
  EXPECT_EQ(r.items->size(), first.items->size() - 4);
  for (const auto& i : *r.items)
    EXPECT_EQ(i.name.find("machine-slice"), std::string::npos);
}

TEST_F(ScannerRescan, ChildOfAFormerLeafAppears) {
  Scanner s = make(host_.config());
  scan(s);
  host_.add(host_.unified(), "/system.slice/a.scope/payload");  // nlink of a.scope: 2 -> 3
  ScanResult r = scan(s);
  EXPECT_TRUE(r.changed);
  EXPECT_NE(find_item(*r.items, "cgroup_system-slice_a-scope_payload"), nullptr);
}

TEST_F(ScannerRescan, ReplacementWithSameCountIsSeen) {
  Scanner s = make(host_.config());
  ScanResult first = scan(s);
  host_.remove(host_.unified(), "/system.slice/b.scope");
  host_.add(host_.unified(), "/system.slice/z.scope");
  ScanResult r = scan(s);
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.items->size(), first.items->size());
  EXPECT_EQ(find_item(*r.items, "cgroup_system-slice_b-scope"), nullptr);
  EXPECT_NE(find_item(*r.items, "cgroup_system-slice_z-scope"), nullptr);
}

TEST_F(ScannerRescan, CgroupProcsCreatedLaterEnablesTheCgroup) {
  host_.add(host_.unified(), "/system.slice/late.scope", /*with_procs=*/false);
  Scanner s = make(host_.config());
  ScanResult first = scan(s);
  const CgroupItem* before = find_item(*first.items, "cgroup_system-slice_late-scope");
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(before->enabled, 0u);
  EXPECT_EQ(before->path, "");
  FakeHost::touch(u("/system.slice/late.scope/cgroup.procs"));
  ScanResult r = scan(s);
  EXPECT_TRUE(r.changed);
  const CgroupItem* after = find_item(*r.items, "cgroup_system-slice_late-scope");
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->enabled, 1u);
  EXPECT_EQ(after->path, u("/system.slice/late.scope/cgroup.procs"));
}

TEST_F(ScannerRescan, DepthLimitSkipsDeeperDirectories) {
  auto cfg = host_.config();
  cfg.max_depth = 1;  // "/" and "/x" have one '/'; "/x/y" has two
  Scanner s = make(cfg);
  ScanResult r = scan(s);
  std::vector<std::string> names;
  for (const auto& i : *r.items)
    names.push_back(i.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names,
            (std::vector<std::string>{"cgroup_/", "cgroup_machine-slice", "cgroup_system-slice"}));
  EXPECT_EQ(r.stats.skipped_by_depth, 4u);  // a, b, vm1, sub.slice (c is below sub.slice)
  cfg.max_depth = 2;
  Scanner deeper = make(cfg);
  EXPECT_EQ(scan(deeper).items->size(), 7u);
}

TEST_F(ScannerRescan, CountLimitKeepsPublishedCgroupsAndWarnsAtMostOncePerInterval) {
  auto cfg = host_.config();
  cfg.max_cgroups = 3;
  std::vector<std::string> warnings;
  cfg.warn = [&](std::string_view m) { warnings.emplace_back(m); };
  Scanner s = make(cfg);
  ScanResult first = scan(s);
  ASSERT_EQ(first.items->size(), 3u);
  EXPECT_EQ(first.stats.cgroups_found, 8u);
  EXPECT_EQ(first.stats.skipped_by_limit, 5u);
  ScanResult second = scan(s);
  EXPECT_FALSE(second.changed);
  EXPECT_EQ(second.stats.skipped_by_limit, 5u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("maximum number of cgroups reached"), std::string::npos);

  // Free a place: the first waiting cgroup in discovery order takes it and
  // the others keep theirs.
  const CgroupItem keep0 = (*first.items)[0];
  const CgroupItem gone = (*first.items)[2];
  host_.remove(host_.unified(),
               gone.path.substr(host_.unified().size(), gone.path.size() - host_.unified().size() -
                                                            std::string("/cgroup.procs").size()));
  ScanResult third = scan(s);
  EXPECT_TRUE(third.changed);
  ASSERT_EQ(third.items->size(), 3u);
  EXPECT_EQ((*third.items)[0], keep0);
  EXPECT_EQ((*third.items)[1], (*first.items)[1]);
  EXPECT_EQ(find_item(*third.items, gone.name), nullptr);
}

TEST_F(ScannerRescan, DuplicateChartIdsDisableLaterOnesUntilTheFirstGoes) {
  // "x@y" and "x_y" sanitize to the same chart id; so do a.b and a-b services.
  host_.add(host_.unified(), "/machine.slice/x@y.scope");
  host_.add(host_.unified(), "/machine.slice/x_y.scope");
  host_.add(host_.unified(), "/system.slice/a.b.service");
  host_.add(host_.unified(), "/system.slice/a-b.service");
  Scanner s = make(host_.config());
  ScanResult r = scan(s);
  for (const std::string name : {"cgroup_machine-slice_x_y-scope", "systemd_a-b"}) {
    std::vector<const CgroupItem*> same;
    for (const auto& i : *r.items) {
      if (i.name == name) same.push_back(&i);
    }
    ASSERT_EQ(same.size(), 2u) << name;
    EXPECT_EQ(same[0]->enabled, 1u) << name;
    EXPECT_EQ(same[0]->options & kCgroupOptDisabledDuplicate, 0u) << name;
    EXPECT_EQ(same[1]->enabled, 0u) << name;
    EXPECT_EQ(same[1]->options & kCgroupOptDisabledDuplicate, kCgroupOptDisabledDuplicate) << name;
    EXPECT_EQ(same[1]->options & ~kCgroupOptDisabledDuplicate, same[0]->options) << name;
  }
  // Remove the enabled service twin: the other one takes over.
  const CgroupItem* svc = nullptr;
  for (const auto& i : *r.items) {
    if (i.name == "systemd_a-b" && i.enabled) svc = &i;
  }
  ASSERT_NE(svc, nullptr);
  const uint64_t survivor_ino = FakeHost::ino(u("/system.slice/a.b.service")) == svc->cgroup_id
                                    ? FakeHost::ino(u("/system.slice/a-b.service"))
                                    : FakeHost::ino(u("/system.slice/a.b.service"));
  host_.remove(host_.unified(), svc->path.substr(host_.unified().size(),
                                                 svc->path.size() - host_.unified().size() - 13));
  ScanResult after = scan(s);
  const CgroupItem* twin = find_item(*after.items, "systemd_a-b");
  ASSERT_NE(twin, nullptr);
  EXPECT_EQ(twin->cgroup_id, survivor_ino);
  EXPECT_EQ(twin->enabled, 1u);
  EXPECT_EQ(twin->options, kCgroupOptIsUnified | kCgroupOptSystemdService);
}

TEST_F(ScannerRescan, ServiceAndNonServiceWithTheSameChartIdAreNotDuplicates) {
  host_.add(host_.unified(), "/system.slice/nginx.service");
  auto cfg = host_.config();
  cfg.patterns.rename = "!*";  // not renamed: chart id from the id
  cfg.patterns.enable = "*";
  host_.add(host_.unified(), "/nginx");
  Scanner s = make(cfg);
  ScanResult r = scan(s);
  const CgroupItem* svc = find_item(*r.items, "systemd_nginx");
  const CgroupItem* cg = find_item(*r.items, "cgroup_nginx");
  ASSERT_NE(svc, nullptr);
  ASSERT_NE(cg, nullptr);
  EXPECT_EQ(svc->enabled, 1u);
  EXPECT_EQ(cg->enabled, 1u);
  EXPECT_EQ(cg->options & kCgroupOptDisabledDuplicate, 0u);
}

TEST_F(ScannerRescan, MissingHierarchyFailsWithNotFoundThenRecovers) {
  Scanner s = make(host_.config());
  ScanResult first = scan(s);
  std::filesystem::rename(host_.root(), host_.prefix() + "/moved");
  auto r = s.scan();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::kNotFound);
  std::filesystem::rename(host_.prefix() + "/moved", host_.root());
  auto again = s.scan();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(*again->items, *first.items);
}

TEST_F(ScannerRescan, EmptyHierarchyGivesOnlyTheRoot) {
  host_.remove(host_.unified(), "/system.slice");
  host_.remove(host_.unified(), "/machine.slice");
  Scanner s = make(host_.config());
  ScanResult r = scan(s);
  ASSERT_EQ(r.items->size(), 1u);
  EXPECT_EQ(r.items->front().name, "cgroup_/");
  EXPECT_EQ(index_of(*r.items, "cgroup_/"), 0u);
}

}  // namespace
}  // namespace netipc::cgroups_provider
