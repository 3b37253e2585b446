// The target table against cgroup.procs files with real processes in them.
//
// One scenario, two backends:
// - RealCgroupfs: unique child cgroups under a cgroup v1 controller
//   (/sys/fs/cgroup/cpuacct) and under cgroup2 (/sys/fs/cgroup/unified);
//   processes are moved in by writing their PID to cgroup.procs and leave
//   when they die. Needs root and a writable cgroupfs; skipped loudly when
//   the machine does not allow it.
// - DirectoryTree: the same shape under a temporary directory, with the PID
//   lines written and removed by the test. Always runs.
// The scenario: PIDs appear and leave, a cgroup vanishes while still listed,
// and a new cgroup replacing a removed one (same count) raises the
// "send cgroup charts" signal.
#include <errno.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cgroup_tree_util.h"
#include "ebpf_consumer/target_table.h"
#include "netipc/bytes.h"
#include "test_support.h"

namespace netipc::ebpf {
namespace {

using ::testing::ElementsAre;

namespace fs = std::filesystem;

using cgroup_tree::Backend;
using cgroup_tree::DirectoryTree;
using cgroup_tree::RealCgroupfs;
using cgroup_tree::sleeper;

std::shared_ptr<const Snapshot> snapshot_of(const Backend& b, const std::vector<std::string>& cgs,
                                            uint64_t gen) {
  SnapshotBuilder builder;
  builder.set_generation(gen);
  builder.set_systemd_enabled(true);
  for (const auto& cg : cgs) {
    const std::string name = "cgroup_" + cg;
    const std::string path = b.procs(cg);
    EXPECT_TRUE(builder.add(CgroupItemView{fnv1a32(name), 0, 1, name, path, 0}).ok());
  }
  auto r = builder.finish();
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

const Target* find(const TargetTable& t, const std::string& cg) {
  const std::string name = "cgroup_" + cg;
  return t.view()->find(fnv1a32(name), name);
}

void kill_and_reap(test::Child& c) {
  c.kill_with(SIGKILL);
  EXPECT_NE(c.wait(), -1);
}

void run_scenario(Backend& b) {
  TargetTable table;
  uint64_t gen = 0;
  auto apply = [&](const std::vector<std::string>& cgs) {
    auto snap = snapshot_of(b, cgs, ++gen);
    auto r = table.apply(*snap);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : ApplyStats{};
  };

  ASSERT_TRUE(b.create("web"));
  ASSERT_TRUE(b.create("db"));
  test::Child c1 = sleeper(), c2 = sleeper();
  ASSERT_TRUE(c1.valid() && c2.valid());
  ASSERT_TRUE(b.enter("web", c1.pid()));
  ASSERT_TRUE(b.enter("db", c2.pid()));

  ApplyStats st = apply({"web", "db"});
  EXPECT_EQ(st.targets_added, 2u);
  EXPECT_EQ(st.files_read, 2u);
  EXPECT_TRUE(st.send_cgroup_charts);
  ASSERT_NE(find(table, "web"), nullptr);
  EXPECT_THAT(find(table, "web")->pids, ElementsAre(c1.pid()));
  EXPECT_THAT(find(table, "db")->pids, ElementsAre(c2.pid()));

  // A PID appears.
  test::Child c3 = sleeper();
  ASSERT_TRUE(c3.valid());
  ASSERT_TRUE(b.enter("web", c3.pid()));
  st = apply({"web", "db"});
  EXPECT_EQ(st.pids_added, 1u);
  EXPECT_FALSE(st.send_cgroup_charts);
  EXPECT_TRUE(find(table, "web")->has_pid(c1.pid()));
  EXPECT_TRUE(find(table, "web")->has_pid(c3.pid()));

  // A PID leaves (the process dies).
  const pid_t dead = c1.pid();
  kill_and_reap(c1);
  b.left("web", dead);
  st = apply({"web", "db"});
  EXPECT_EQ(st.pids_removed, 1u);
  EXPECT_FALSE(find(table, "web")->has_pid(dead));
  EXPECT_TRUE(find(table, "web")->has_pid(c3.pid()));

  // The db cgroup vanishes while the snapshot still lists it.
  const pid_t db_pid = c2.pid();
  kill_and_reap(c2);
  b.left("db", db_pid);
  ASSERT_TRUE(b.remove("db"));
  st = apply({"web", "db"});
  EXPECT_EQ(st.files_vanished, 1u);
  EXPECT_EQ(st.read_failures, 0u);
  ASSERT_NE(find(table, "db"), nullptr);
  EXPECT_TRUE(find(table, "db")->pids.empty());

  // A new cgroup replaces it: same count, different set.
  ASSERT_TRUE(b.create("cache"));
  test::Child c4 = sleeper();
  ASSERT_TRUE(c4.valid());
  ASSERT_TRUE(b.enter("cache", c4.pid()));
  st = apply({"web", "cache"});
  EXPECT_EQ(st.targets, 2u);
  EXPECT_EQ(st.targets_added, 1u);
  EXPECT_EQ(st.targets_removed, 1u);
  EXPECT_TRUE(st.send_cgroup_charts) << "same count, different set";
  EXPECT_EQ(find(table, "db"), nullptr);
  EXPECT_THAT(find(table, "cache")->pids, ElementsAre(c4.pid()));
  ASSERT_EQ(table.view()->removed().size(), 1u);
  EXPECT_EQ(table.view()->removed()[0]->name, "cgroup_db");

  kill_and_reap(c3);
  kill_and_reap(c4);
}

TEST(TargetTableCgroupfs, DirectoryTreeScenario) {
  DirectoryTree tree;
  run_scenario(tree);
}

class RealCgroupfsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(RealCgroupfsTest, Scenario) {
  const std::string base = GetParam();
  struct stat st {};
  if (::stat((base + "/cgroup.procs").c_str(), &st) != 0) {
    GTEST_SKIP() << "SKIPPED LOUDLY: no cgroup hierarchy at " << base
                 << "; DirectoryTreeScenario covers the same behaviour";
  }
  RealCgroupfs cg(base);
  std::string why = cg.probe();
  if (!why.empty()) {
    GTEST_SKIP() << "SKIPPED LOUDLY: cannot create cgroups here (" << why
                 << "); DirectoryTreeScenario covers the same behaviour";
  }
  run_scenario(cg);
}

INSTANTIATE_TEST_SUITE_P(Hierarchies, RealCgroupfsTest,
                         ::testing::Values("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/unified"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string(p.param).find("unified") != std::string::npos
                                      ? std::string("CgroupV2")
                                      : std::string("CgroupV1Cpuacct");
                         });

}  // namespace
}  // namespace netipc::ebpf
