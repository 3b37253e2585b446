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

#include "ebpf_consumer/target_table.h"
#include "netipc/bytes.h"
#include "test_support.h"

namespace netipc::ebpf {
namespace {

namespace fs = std::filesystem;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string procs(const std::string& cg) const = 0;
  virtual bool create(const std::string& cg) = 0;
  virtual bool enter(const std::string& cg, pid_t pid) = 0;
  // Called after `pid` died and was reaped.
  virtual void left(const std::string& cg, pid_t pid) = 0;
  virtual bool remove(const std::string& cg) = 0;
};

class DirectoryTree : public Backend {
 public:
  std::string procs(const std::string& cg) const override {
    return dir_.path() + "/" + cg + "/cgroup.procs";
  }
  bool create(const std::string& cg) override {
    fs::create_directories(dir_.path() + "/" + cg);
    std::ofstream(procs(cg)).flush();
    pids_[cg].clear();
    return true;
  }
  bool enter(const std::string& cg, pid_t pid) override {
    pids_[cg].push_back(pid);
    return rewrite(cg);
  }
  void left(const std::string& cg, pid_t pid) override {
    auto& v = pids_[cg];
    v.erase(std::remove(v.begin(), v.end(), pid), v.end());
    rewrite(cg);
  }
  bool remove(const std::string& cg) override {
    std::error_code ec;
    fs::remove_all(dir_.path() + "/" + cg, ec);
    return !ec;
  }

 private:
  bool rewrite(const std::string& cg) {
    std::ofstream f(procs(cg), std::ios::trunc);
    for (pid_t p : pids_[cg])
      f << p << "\n";
    return static_cast<bool>(f);
  }
  test::TempDir dir_;
  std::map<std::string, std::vector<pid_t>> pids_;
};

class RealCgroupfs : public Backend {
 public:
  explicit RealCgroupfs(std::string base)
      : base_(std::move(base)),
        root_(base_ + "/netipc_tt_" + std::to_string(getpid()) + "_" + test::unique_service("c")) {}
  // Removes every cgroup this test created, even after a failure: processes
  // still inside are moved back to the parent first.
  ~RealCgroupfs() override {
    for (auto it = created_.rbegin(); it != created_.rend(); ++it)
      evacuate_and_rmdir(*it);
    evacuate_and_rmdir(root_);
  }
  // Empty string if the machine allows it, else why not.
  std::string probe() {
    if (::mkdir(root_.c_str(), 0755) != 0) return "mkdir " + root_ + ": " + strerror(errno);
    root_made_ = true;
    return {};
  }
  std::string procs(const std::string& cg) const override { return dir(cg) + "/cgroup.procs"; }
  bool create(const std::string& cg) override {
    if (::mkdir(dir(cg).c_str(), 0755) != 0) return false;
    created_.push_back(dir(cg));
    return true;
  }
  bool enter(const std::string& cg, pid_t pid) override { return write_pid(procs(cg), pid); }
  void left(const std::string&, pid_t) override {}  // the kernel drops dead tasks
  bool remove(const std::string& cg) override { return ::rmdir(dir(cg).c_str()) == 0; }

 private:
  std::string dir(const std::string& cg) const { return root_ + "/" + cg; }
  static bool write_pid(const std::string& file, pid_t pid) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const std::string line = std::to_string(pid) + "\n";
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    return ok;
  }
  void evacuate_and_rmdir(const std::string& d) {
    if (d == root_ && !root_made_) return;
    std::ifstream f(d + "/cgroup.procs");
    pid_t p;
    while (f >> p)
      write_pid(base_ + "/cgroup.procs", p);
    ::rmdir(d.c_str());
  }

  std::string base_;
  std::string root_;
  bool root_made_ = false;
  std::vector<std::string> created_;
};

test::Child sleeper() {
  return test::Child::fork_fn([] {
    for (;;)
      pause();
    return 0;
  });
}

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
  EXPECT_EQ(find(table, "web")->pids, std::vector<pid_t>{c1.pid()});
  EXPECT_EQ(find(table, "db")->pids, std::vector<pid_t>{c2.pid()});

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
  EXPECT_EQ(find(table, "cache")->pids, std::vector<pid_t>{c4.pid()});
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
