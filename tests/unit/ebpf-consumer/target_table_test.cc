// TargetTable and ProcsReader against a directory tree whose files have the
// shape of cgroup.procs (the real cgroupfs version is in
// tests/integration/ebpf-consumer/target_table_cgroupfs_test.cc).
#include "ebpf_consumer/target_table.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/cgroup_item.h"
#include "test_support.h"

namespace netipc::ebpf {
namespace {

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
  EXPECT_EQ(target("systemd_nginx")->pids, (std::vector<pid_t>{10, 11}));
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
  EXPECT_EQ(t->pids, (std::vector<pid_t>{101, 102, 103}));
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
  EXPECT_EQ(b_before->pids, (std::vector<pid_t>{2})) << "published views never change";
  EXPECT_EQ(b_after->pids, (std::vector<pid_t>{2, 3}));
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
  EXPECT_EQ(target("cgroup_a")->pids, (std::vector<pid_t>{5, 6}));
}

TEST_F(TargetTableTest, DuplicateItemsProduceOneTarget) {
  write_pids("cgroup_a", {1});
  ApplyStats st = apply({{"cgroup_a"}, {"cgroup_a"}});
  EXPECT_EQ(st.targets, 1u);
  EXPECT_EQ(st.duplicates_skipped, 1u);
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
