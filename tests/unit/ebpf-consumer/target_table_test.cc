// TargetTable and ProcsReader against a directory tree whose files have the
// shape of cgroup.procs (the real cgroupfs version is in
// tests/integration/ebpf-consumer/target_table_cgroupfs_test.cc).
#include "ebpf_consumer/target_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/cgroup_item.h"
#include "test_support.h"

namespace netipc::ebpf {
namespace {

using ::testing::ElementsAre;

namespace fs = std::filesystem;

struct Spec {
  std::string name;
  uint32_t enabled = 1;
  uint32_t options = 0;
};

class TargetTableTest : public ::testing::Test {
 protected:
  std::string procs(const std::string& cg) const {
    return dir_.path() + "/" + cg + "/cgroup.procs";
  }

  void write_pids(const std::string& cg, const std::vector<pid_t>& pids) {
    fs::create_directories(dir_.path() + "/" + cg);
    std::ofstream f(procs(cg), std::ios::trunc);
    for (pid_t p : pids)
      f << p << "\n";
  }
  void remove_cgroup(const std::string& cg) { fs::remove_all(dir_.path() + "/" + cg); }

  std::shared_ptr<const Snapshot> snapshot(const std::vector<Spec>& specs, uint64_t gen = 1,
                                           bool systemd = true) {
    SnapshotBuilder b;
    b.set_generation(gen);
    b.set_systemd_enabled(systemd);
    for (const auto& s : specs) {
      const std::string path = procs(s.name);
      EXPECT_TRUE(
          b.add(CgroupItemView{fnv1a32(s.name), s.options, s.enabled, s.name, path, 0}).ok());
    }
    auto r = b.finish();
    EXPECT_TRUE(r.ok());
    return std::move(r).value();
  }

  ApplyStats apply(const std::vector<Spec>& specs, uint64_t gen = 1, bool systemd = true) {
    auto snap = snapshot(specs, gen, systemd);
    auto r = table_.apply(*snap);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : ApplyStats{};
  }

  const Target* target(const std::string& name) const {
    return table_.view()->find(fnv1a32(name), name);
  }

  test::TempDir dir_;
  TargetTable table_;
};

TEST_F(TargetTableTest, AppliesOnlyEnabledItemsAndTakesSystemdFromBit0x2) {
  write_pids("systemd_nginx", {10, 11});
  write_pids("cgroup_web", {20});
  write_pids("cgroup_off", {30});
  EXPECT_FALSE(table_.integration_active());
  ApplyStats st = apply({{"systemd_nginx", 1, kCgroupOptSystemdService | kCgroupOptIsUnified},
                         {"cgroup_web", 1, kCgroupOptIsUnified},
                         {"cgroup_off", 0, kCgroupOptDisabledDuplicate}});
  EXPECT_EQ(st.targets, 2u);
  EXPECT_EQ(st.targets_added, 2u);
  EXPECT_EQ(st.disabled_skipped, 1u);
  EXPECT_EQ(st.files_read, 2u);
  EXPECT_EQ(st.pids, 3u);
  EXPECT_EQ(st.pids_added, 3u);
  EXPECT_TRUE(st.send_cgroup_charts);
  ASSERT_NE(target("systemd_nginx"), nullptr);
  EXPECT_TRUE(target("systemd_nginx")->systemd);
  EXPECT_THAT(target("systemd_nginx")->pids, ElementsAre(10, 11));
  ASSERT_NE(target("cgroup_web"), nullptr);
  EXPECT_FALSE(target("cgroup_web")->systemd);
  EXPECT_EQ(target("cgroup_off"), nullptr);
  EXPECT_TRUE(table_.integration_active());
  EXPECT_TRUE(table_.systemd_enabled());
  auto view = table_.view();
  EXPECT_EQ(view->pass(), 1u);
  EXPECT_TRUE(view->integration_active());
}

TEST_F(TargetTableTest, PidsAppearAndLeaveWithPerPassCounts) {
  write_pids("cgroup_a", {100, 101});
  apply({{"cgroup_a"}});
  write_pids("cgroup_a", {101, 102, 103});
  ApplyStats st = apply({{"cgroup_a"}});
  EXPECT_EQ(st.pids_added, 2u);
  EXPECT_EQ(st.pids_removed, 1u);
  EXPECT_FALSE(st.send_cgroup_charts) << "same set of cgroups";
  const Target* t = target("cgroup_a");
  ASSERT_NE(t, nullptr);
  EXPECT_THAT(t->pids, ElementsAre(101, 102, 103));
  EXPECT_TRUE(t->has_pid(102));
  EXPECT_FALSE(t->has_pid(100));
}

TEST_F(TargetTableTest, CgroupLeavingTheSnapshotIsRemovedInTheSamePass) {
  write_pids("cgroup_a", {1});
  write_pids("cgroup_b", {2, 3});
  apply({{"cgroup_a"}, {"cgroup_b"}});
  ApplyStats st = apply({{"cgroup_a"}});
  EXPECT_EQ(st.targets_removed, 1u);
  EXPECT_EQ(st.pids_removed, 2u);
  EXPECT_TRUE(st.send_cgroup_charts);
  EXPECT_EQ(target("cgroup_b"), nullptr) << "no one-pass lag";
  auto view = table_.view();
  ASSERT_EQ(view->removed().size(), 1u);
  EXPECT_EQ(view->removed()[0]->name, "cgroup_b") << "listed so its charts can be obsoleted";
}

// Legacy raised the signal only when the count changed; a service replaced by
// another in the same pass got no charts.
TEST_F(TargetTableTest, SameCountButDifferentSetRaisesSendCharts) {
  write_pids("systemd_old", {1});
  write_pids("systemd_new", {2});
  apply({{"systemd_old", 1, kCgroupOptSystemdService}});
  ApplyStats st = apply({{"systemd_new", 1, kCgroupOptSystemdService}});
  EXPECT_EQ(st.targets, 1u);
  EXPECT_EQ(st.targets_added, 1u);
  EXPECT_EQ(st.targets_removed, 1u);
  EXPECT_TRUE(st.send_cgroup_charts);
  EXPECT_TRUE(table_.view()->send_cgroup_charts());
}

TEST_F(TargetTableTest, UnchangedSetDoesNotRaiseSendChartsAndSharesTargets) {
  write_pids("cgroup_a", {1});
  write_pids("cgroup_b", {2});
  apply({{"cgroup_a"}, {"cgroup_b"}});
  auto before = table_.view();
  write_pids("cgroup_b", {2, 3});
  ApplyStats st = apply({{"cgroup_b"}, {"cgroup_a"}});
  EXPECT_FALSE(st.send_cgroup_charts);
  auto after = table_.view();
  EXPECT_EQ(before->find(fnv1a32("cgroup_a"), "cgroup_a"),
            after->find(fnv1a32("cgroup_a"), "cgroup_a"))
      << "unchanged target is shared, not copied";
  const Target* b_before = before->find(fnv1a32("cgroup_b"), "cgroup_b");
  const Target* b_after = after->find(fnv1a32("cgroup_b"), "cgroup_b");
  EXPECT_NE(b_before, b_after);
  EXPECT_EQ(b_before->id, b_after->id) << "identity survives a PID change";
  EXPECT_THAT(b_before->pids, ElementsAre(2)) << "published views never change";
  EXPECT_THAT(b_after->pids, ElementsAre(2, 3));
}

TEST_F(TargetTableTest, VanishedProcsFileGivesEmptyPidSetThisPass) {
  write_pids("cgroup_a", {5, 6});
  apply({{"cgroup_a"}});
  remove_cgroup("cgroup_a");  // cgroup removed before the provider noticed
  ApplyStats st = apply({{"cgroup_a"}});
  EXPECT_EQ(st.files_vanished, 1u);
  EXPECT_EQ(st.read_failures, 0u);
  EXPECT_EQ(st.pids_removed, 2u);
  ASSERT_NE(target("cgroup_a"), nullptr) << "still listed by the snapshot";
  EXPECT_TRUE(target("cgroup_a")->pids.empty());
}

TEST_F(TargetTableTest, OtherReadFailuresKeepThePreviousPids) {
  write_pids("cgroup_a", {5, 6});
  apply({{"cgroup_a"}});
  fs::remove(procs("cgroup_a"));
  fs::create_directory(procs("cgroup_a"));  // read() fails with EISDIR
  ApplyStats st = apply({{"cgroup_a"}});
  EXPECT_EQ(st.read_failures, 1u);
  EXPECT_EQ(st.files_read, 0u);
  EXPECT_THAT(target("cgroup_a")->pids, ElementsAre(5, 6));
}

TEST_F(TargetTableTest, DuplicateItemsProduceOneTarget) {
  write_pids("cgroup_a", {1});
  ApplyStats st = apply({{"cgroup_a"}, {"cgroup_a"}});
  EXPECT_EQ(st.targets, 1u);
  EXPECT_EQ(st.duplicates_skipped, 1u);
}

// The same number of items as before, but one is a duplicate and one is
// disabled: the cgroups they replaced still leave.
TEST_F(TargetTableTest, DuplicatesAndDisabledItemsDoNotHideRemovedTargets) {
  write_pids("cgroup_a", {1});
  write_pids("cgroup_b", {2});
  write_pids("cgroup_c", {3});
  apply({{"cgroup_a"}, {"cgroup_b"}, {"cgroup_c"}});
  ApplyStats st = apply({{"cgroup_a"}, {"cgroup_a"}, {"cgroup_c", 0}});
  EXPECT_EQ(st.targets, 1u);
  EXPECT_EQ(st.duplicates_skipped, 1u);
  EXPECT_EQ(st.disabled_skipped, 1u);
  EXPECT_EQ(st.targets_removed, 2u);
  EXPECT_EQ(st.pids_removed, 2u);
  EXPECT_TRUE(st.send_cgroup_charts);
  EXPECT_EQ(target("cgroup_b"), nullptr);
  EXPECT_EQ(target("cgroup_c"), nullptr);
  ASSERT_EQ(table_.view()->removed().size(), 2u);
}

TEST_F(TargetTableTest, EmptySnapshotKeepsTargetsAndNextNonEmptyPassSendsCharts) {
  write_pids("cgroup_a", {1});
  apply({{"cgroup_a"}});
  EXPECT_TRUE(table_.integration_active());
  ApplyStats st = apply({}, 2, false);
  EXPECT_FALSE(table_.integration_active());
  EXPECT_FALSE(table_.systemd_enabled());
  EXPECT_EQ(st.targets, 1u);
  EXPECT_NE(target("cgroup_a"), nullptr) << "legacy keeps targets on an empty snapshot";
  EXPECT_FALSE(st.send_cgroup_charts);
  st = apply({{"cgroup_a"}}, 3);
  EXPECT_TRUE(table_.integration_active());
  EXPECT_TRUE(st.send_cgroup_charts) << "integration came back";
  st = apply({{"cgroup_a"}}, 4);
  EXPECT_FALSE(st.send_cgroup_charts);
}

TEST_F(TargetTableTest, TargetThatLeavesAndReturnsGetsANewIdentity) {
  write_pids("cgroup_a", {1});
  apply({{"cgroup_a"}});
  const uint64_t first = target("cgroup_a")->id;
  apply({});
  apply({{"cgroup_b"}});
  apply({{"cgroup_a"}});
  ASSERT_NE(target("cgroup_a"), nullptr);
  EXPECT_NE(target("cgroup_a")->id, first);
  EXPECT_EQ(target("cgroup_a")->added_pass, table_.view()->pass());
}

TEST_F(TargetTableTest, NeverUnlinksAnything) {
  write_pids("cgroup_a", {1});
  write_pids("cgroup_b", {2});
  {
    TargetTable table;
    auto snap = snapshot({{"cgroup_a"}, {"cgroup_b"}});
    ASSERT_TRUE(table.apply(*snap).ok());
    auto empty = snapshot({});
    ASSERT_TRUE(table.apply(*empty).ok());
  }
  EXPECT_TRUE(fs::exists(procs("cgroup_a")));
  EXPECT_TRUE(fs::exists(procs("cgroup_b")));
}

// Collection threads read views while the table is rebuilt: every view must
// be one whole pass (all targets of set A or all of set B, with that set's
// PIDs), never a mix.
TEST_F(TargetTableTest, ReadersNeverSeeAHalfUpdatedTable) {
  std::vector<Spec> set_a, set_b;
  for (int i = 0; i < 40; ++i) {
    set_a.push_back({"cgroup_a" + std::to_string(i)});
    set_b.push_back({"cgroup_b" + std::to_string(i)});
    write_pids(set_a.back().name, {static_cast<pid_t>(1000 + i)});
    write_pids(set_b.back().name, {static_cast<pid_t>(2000 + i), static_cast<pid_t>(3000 + i)});
  }
  auto snap_a = snapshot(set_a), snap_b = snapshot(set_b);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, views{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto v = table_.view();
        if (v->pass() != 0) {
          const bool is_a = (*v)[0].name[7] == 'a';
          if (v->size() != 40) bad.fetch_add(1);
          for (const auto& t : v->targets()) {
            const bool a = t->name[7] == 'a';
            if (a != is_a || t->pids.size() != (a ? 1u : 2u)) bad.fetch_add(1);
          }
          views.fetch_add(1);
        }
        std::this_thread::yield();
      }
    });
  }
  for (int pass = 0; pass < 200; ++pass) {
    ASSERT_TRUE(table_.apply(pass % 2 == 0 ? *snap_a : *snap_b).ok());
  }
  ASSERT_TRUE(test::wait_until([&] { return views.load() > 0; }));
  stop.store(true);
  for (auto& t : readers)
    t.join();
  EXPECT_EQ(bad.load(), 0u);
}

// A view is a picture that outlives later passes and the table itself: the
// name, path and PID pointers of its targets stay valid and unchanged while
// it is held, whether the target was replaced (PIDs changed), removed, or
// kept (then it is the very same block in the newer view).
TEST_F(TargetTableTest, HeldViewKeepsItsTargetsPointersValidAcrossPassesAndTheTable) {
  const size_t live = Target::live_instances();
  write_pids("cgroup_changes", {1});
  write_pids("cgroup_leaves", {2, 3});
  write_pids("cgroup_stays", {4});
  auto table = std::make_unique<TargetTable>();
  auto first = snapshot({{"cgroup_changes"}, {"cgroup_leaves"}, {"cgroup_stays"}});
  ASSERT_TRUE(table->apply(*first).ok());
  std::shared_ptr<const TargetView> held = table->view();
  const Target* changes = held->find(fnv1a32("cgroup_changes"), "cgroup_changes");
  const Target* leaves = held->find(fnv1a32("cgroup_leaves"), "cgroup_leaves");
  const Target* stays = held->find(fnv1a32("cgroup_stays"), "cgroup_stays");
  ASSERT_TRUE(changes != nullptr && leaves != nullptr && stays != nullptr);
  const char* changes_name = changes->name.c_str();
  const char* leaves_path = leaves->path.c_str();
  const pid_t* leaves_pids = leaves->pids.data();
  const char* stays_name = stays->name.c_str();

  write_pids("cgroup_changes", {1, 5});
  auto second = snapshot({{"cgroup_changes"}, {"cgroup_stays"}});
  for (int pass = 0; pass < 3; ++pass)
    ASSERT_TRUE(table->apply(*second).ok());
  auto now = table->view();
  const Target* changes_now = now->find(fnv1a32("cgroup_changes"), "cgroup_changes");
  const Target* stays_now = now->find(fnv1a32("cgroup_stays"), "cgroup_stays");
  ASSERT_TRUE(changes_now != nullptr && stays_now != nullptr);
  EXPECT_NE(changes_now, changes) << "a PID change makes a new target";
  EXPECT_EQ(changes_now->id, changes->id);
  EXPECT_EQ(stays_now, stays) << "an unchanged target is shared";
  EXPECT_EQ(stays_now->name.c_str(), stays_name);
  EXPECT_EQ(now->find(fnv1a32("cgroup_leaves"), "cgroup_leaves"), nullptr);
  now.reset();
  table.reset();  // the table and every later view are gone; `held` is not

  EXPECT_STREQ(changes_name, "cgroup_changes");
  EXPECT_THAT(changes->pids, ElementsAre(1));
  EXPECT_STREQ(leaves_path, procs("cgroup_leaves").c_str());
  EXPECT_EQ(leaves_pids[0], 2);
  EXPECT_EQ(leaves_pids[1], 3);
  EXPECT_STREQ(stays_name, "cgroup_stays");
  EXPECT_EQ(Target::live_instances(), live + 3) << "exactly the held view's targets";
  held.reset();
  EXPECT_EQ(Target::live_instances(), live) << "the last view frees its targets";
}

// Targets are freed as soon as no view holds them: after every pass the
// live blocks are exactly those of the current view and its removed list.
TEST_F(TargetTableTest, ReplacedAndRemovedTargetsAreFreedWithTheirLastView) {
  const size_t live = Target::live_instances();
  {
    TargetTable table;
    for (int pass = 0; pass < 12; ++pass) {
      std::vector<Spec> specs;
      for (int i = pass % 3; i < 10; ++i) {
        specs.push_back({"cgroup_" + std::to_string(i)});
        write_pids(specs.back().name,
                   {static_cast<pid_t>(100 + i), static_cast<pid_t>(200 + pass % 2)});
      }
      auto snap = snapshot(specs);
      ASSERT_TRUE(table.apply(*snap).ok());
      auto v = table.view();
      EXPECT_EQ(Target::live_instances(), live + v->size() + v->removed().size())
          << "pass " << pass;
    }
  }
  EXPECT_EQ(Target::live_instances(), live);
}

TEST_F(TargetTableTest, ManyPidsAndFewPidsSideBySide) {
  std::vector<pid_t> many;
  for (pid_t p = 60000; p > 0; p -= 2)
    many.push_back(p);  // unsorted on disk, like cgroup v2
  write_pids("cgroup_big", many);
  write_pids("cgroup_one", {7});
  write_pids("cgroup_none", {});
  ApplyStats st = apply({{"cgroup_big"}, {"cgroup_one"}, {"cgroup_none"}});
  EXPECT_EQ(st.pids, many.size() + 1);
  const Target* big = target("cgroup_big");
  ASSERT_NE(big, nullptr);
  ASSERT_EQ(big->pids.size(), many.size());
  EXPECT_TRUE(std::is_sorted(big->pids.begin(), big->pids.end()));
  EXPECT_EQ(big->pids[0], 2);
  EXPECT_TRUE(big->has_pid(60000));
  EXPECT_FALSE(big->has_pid(59999));
  EXPECT_EQ(big->name, "cgroup_big");
  EXPECT_EQ(big->path, procs("cgroup_big"));
  EXPECT_THAT(target("cgroup_one")->pids, ElementsAre(7));
  EXPECT_TRUE(target("cgroup_none")->pids.empty());

  write_pids("cgroup_big", {2, 4});
  write_pids("cgroup_none", {8, 9, 10});
  st = apply({{"cgroup_big"}, {"cgroup_one"}, {"cgroup_none"}});
  EXPECT_EQ(st.pids_removed, many.size() - 2);
  EXPECT_EQ(st.pids_added, 3u);
  EXPECT_THAT(target("cgroup_big")->pids, ElementsAre(2, 4));
  EXPECT_THAT(target("cgroup_none")->pids, ElementsAre(8, 9, 10));
}

TEST_F(TargetTableTest, LongNamesAndPathsRoundTrip) {
  std::string name = "cgroup_k8s";
  while (name.size() < 6000)
    name += "_default_app-0123456789abcdef";
  // A deep path under the test directory, close to PATH_MAX (each component
  // below NAME_MAX): open() must still find it.
  std::string cg = "kubepods.slice";
  while (dir_.path().size() + cg.size() < 3800)
    cg += "/kubepods-burstable-pod0123456789abcdef0123456789abcdef.slice";
  write_pids(cg, {11, 12});
  SnapshotBuilder b;
  const std::string path = procs(cg);
  ASSERT_TRUE(b.add(CgroupItemView{fnv1a32(name), 0, 1, name, path, 9}).ok());
  auto snap = b.finish();
  ASSERT_TRUE(snap.ok());
  auto st = table_.apply(**snap);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->files_read, 1u);
  const Target* t = target(name);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name, name);
  EXPECT_EQ(t->path, path);
  EXPECT_EQ(std::strlen(t->path.c_str()), path.size());
  EXPECT_THAT(t->pids, ElementsAre(11, 12));
  EXPECT_EQ(target(name.substr(0, name.size() - 1)), nullptr);
}

// Readers hold views for a while and drop them on their own threads; every
// pass replaces every target (the paths alternate), so the last reference
// to a target, and its free, is often on a reader thread. ThreadSanitizer
// (tsan build) checks that no read of a target races with its free.
TEST_F(TargetTableTest, TargetsFreedOnReaderThreadsNeverRaceWithReads) {
  const size_t live = Target::live_instances();
  std::vector<std::string> names;
  for (int i = 0; i < 32; ++i) {
    names.push_back("cgroup_" + std::to_string(i));
    write_pids("a/" + names.back(), {static_cast<pid_t>(10 + i)});
    write_pids("b/" + names.back(), {static_cast<pid_t>(10 + i), static_cast<pid_t>(1000 + i)});
  }
  auto build = [&](const char* side) {
    SnapshotBuilder b;
    for (const auto& n : names) {
      const std::string path = procs(std::string(side) + "/" + n);
      EXPECT_TRUE(b.add(CgroupItemView{fnv1a32(n), 0, 1, n, path, 0}).ok());
    }
    return std::move(b.finish()).value();
  };
  auto snap_a = build("a"), snap_b = build("b");
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, views{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      std::vector<std::shared_ptr<const TargetView>> kept;
      while (!stop.load()) {
        kept.push_back(table_.view());
        const TargetView& v = *kept.back();
        for (const TargetRef& t : v.targets()) {
          const bool a = t->path.view().find("/a/") != std::string_view::npos;
          if (t->pids.size() != (a ? 1u : 2u) || t->name.c_str()[t->name.size()] != '\0') {
            bad.fetch_add(1);
          }
        }
        if (kept.size() > 3) kept.erase(kept.begin());  // drop the oldest here
        views.fetch_add(1);
      }
    });
  }
  for (int pass = 0; pass < 200; ++pass) {
    ASSERT_TRUE(table_.apply(pass % 2 == 0 ? *snap_a : *snap_b).ok());
  }
  ASSERT_TRUE(test::wait_until([&] { return views.load() > 10; }));
  stop.store(true);
  for (auto& t : readers)
    t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(Target::live_instances(),
            live + table_.view()->size() + table_.view()->removed().size());
}

TEST_F(TargetTableTest, MemoryAccountingCountsTheBlocksAndTheIndex) {
  EXPECT_EQ(table_.view()->target_bytes(), 0u);
  write_pids("cgroup_a", {1, 2, 3});
  write_pids("cgroup_bb", {});
  apply({{"cgroup_a"}, {"cgroup_bb"}});
  auto v = table_.view();
  const Target* a = target("cgroup_a");
  const Target* b = target("cgroup_bb");
  ASSERT_TRUE(a != nullptr && b != nullptr);
  EXPECT_EQ(a->block_bytes(), sizeof(Target) + 3 * sizeof(pid_t) + 9 + a->path.size() + 1);
  EXPECT_EQ(v->target_bytes(), a->block_bytes() + b->block_bytes());
  // Two targets: at least 2 references and the minimum 8 index slots.
  EXPECT_GE(v->index_bytes(), sizeof(TargetView) + 2 * sizeof(TargetRef) + 8 * sizeof(uint32_t));
  EXPECT_LT(v->index_bytes(), sizeof(TargetView) + 64 * sizeof(TargetRef));
}

// ---------------------------------------------------------------------------
// ProcsReader

TEST(ProcsReader, ParsesUnsortedDuplicatedAndInvalidTokens) {
  std::vector<pid_t> pids;
  size_t invalid = ProcsReader::parse("5\n3\n  9\t3\nabc\n0\n-4\n99999999999\n12x\n7", &pids);
  EXPECT_EQ(pids, (std::vector<pid_t>{5, 3, 9, 3, 7}));
  EXPECT_EQ(invalid, 5u);
}

TEST(ProcsReader, ReadsLargeFilesSortedAndUnique) {
  test::TempDir dir;
  const std::string path = dir.file("cgroup.procs");
  {
    std::ofstream f(path);
    for (int i = 200000; i > 0; --i)
      f << i << "\n";
    f << "7\n";
  }
  ProcsReader reader;
  std::vector<pid_t> pids;
  ASSERT_TRUE(reader.read(path, &pids).ok());
  ASSERT_EQ(pids.size(), 200000u);
  EXPECT_EQ(pids.front(), 1);
  EXPECT_EQ(pids.back(), 200000);
  EXPECT_TRUE(std::is_sorted(pids.begin(), pids.end()));
  EXPECT_EQ(reader.invalid_tokens(), 0u);
}

TEST(ProcsReader, AppendSortsOnlyWhatItAddsAndLeavesThePidsAsTheyWereOnError) {
  test::TempDir dir;
  const std::string path = dir.file("cgroup.procs");
  {
    std::ofstream f(path);
    f << "30\n10\n20\n10\n";
  }
  ProcsReader reader;
  std::vector<pid_t> pids = {99, 5};
  ASSERT_TRUE(reader.append(path, &pids).ok());
  EXPECT_EQ(pids, (std::vector<pid_t>{99, 5, 10, 20, 30}));
  EXPECT_EQ(reader.append(dir.file("gone/cgroup.procs"), &pids).code(), Errc::kNotFound);
  EXPECT_EQ(pids, (std::vector<pid_t>{99, 5, 10, 20, 30}));
}

// Files around one page: a first read() shorter than a page minus the
// longest record ends the file; a longer one is followed by more reads.
TEST(ProcsReader, ReadsFilesJustUnderAndOverAPageWhole) {
  test::TempDir dir;
  for (const size_t bytes : {size_t{4084}, size_t{4096}, size_t{4200}, size_t{9000}}) {
    const std::string path = dir.file("procs" + std::to_string(bytes));
    std::vector<pid_t> want;
    {
      std::ofstream f(path);
      size_t written = 0;
      for (pid_t pid = 100000; written + 7 <= bytes; ++pid) {
        f << pid << "\n";  // 7 bytes a record
        written += 7;
        want.push_back(pid);
      }
    }
    ProcsReader reader;
    std::vector<pid_t> pids;
    ASSERT_TRUE(reader.read(path, &pids).ok());
    EXPECT_EQ(pids, want) << bytes;
  }
}

TEST(ProcsReader, ReportsVanishedFilesAsNotFoundAndOtherFailuresAsSystem) {
  test::TempDir dir;
  ProcsReader reader;
  std::vector<pid_t> pids = {1, 2};
  netipc::Status st = reader.read(dir.file("gone/cgroup.procs"), &pids);
  EXPECT_EQ(st.code(), Errc::kNotFound);
  EXPECT_TRUE(pids.empty());
  st = reader.read(dir.path(), &pids);  // a directory: EISDIR
  EXPECT_EQ(st.code(), Errc::kSystem);
  EXPECT_EQ(st.error().sys_errno, EISDIR);
  EXPECT_EQ(reader.read("", &pids).code(), Errc::kInvalidArgument);
  EXPECT_EQ(reader.read(std::string("a\0b", 3), &pids).code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace netipc::ebpf
