// The scanner on cgroup v1 and hybrid hosts: cpuacct, blkio and memory
// trees merged by relative id; cgroup.procs taken from cpuset, then blkio,
// then memory; hybrid hosts treated as v1 unless v2 is forced.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cgroups_provider/scanner.h"
#include "fake_cgroupfs.h"

namespace netipc::cgroups_provider {
namespace {

using testing::FakeHost;
using testing::HostKind;
using testing::item;
using testing::sorted;

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

class ScannerV1 : public ::testing::TestWithParam<HostKind> {
 protected:
  void SetUp() override {
    for (const char* ctl : {"cpu,cpuacct", "cpuset", "blkio", "memory"}) {
      host_.add(host_.base(ctl), "/docker/" + kHex);
    }
    host_.add(acct_, "/system.slice/nginx.service");
    host_.add(mem_, "/system.slice/nginx.service");
    host_.add(acct_, "/only-cpuacct.scope");
    host_.add(blkio_, "/blkio-only.scope");
    host_.add(host_.base("cpuset"), "/cpuset-only.scope");
    host_.add(host_.base("pids"), "/pids-only.scope");
  }
  static std::string procs(const std::string& base, const std::string& id) {
    return base + (id == "/" ? "/" : id) + "/cgroup.procs";
  }
  static uint64_t ino(const std::string& base, const std::string& id) {
    return FakeHost::ino(base + (id == "/" ? "" : id));
  }

  FakeHost host_{GetParam()};
  const std::string acct_ = host_.base("cpu,cpuacct");
  const std::string cpuset_ = host_.base("cpuset");
  const std::string blkio_ = host_.base("blkio");
  const std::string mem_ = host_.base("memory");
};

TEST_P(ScannerV1, TreesMergeByIdAndPathsFollowCpusetBlkioMemory) {
  auto scanner = Scanner::create(host_.config());
  ASSERT_TRUE(scanner.ok()) << scanner.error().message();
  EXPECT_EQ(scanner->layout().version, CgroupVersion::kV1);
  EXPECT_EQ(scanner->layout().hybrid, GetParam() == HostKind::kHybrid);
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok()) << r.error().message();
  const std::string dock = "/docker/" + kHex;
  std::vector<CgroupItem> want = {
      item("cgroup_/", 0, 0, procs(cpuset_, "/"), ino(cpuset_, "/")),
      // "*docker*" renames: the script's fallback; "!/docker" disables it.
      item("cgroup_docker", 0, 0, procs(cpuset_, "/docker"), ino(cpuset_, "/docker")),
      item("cgroup_docker_" + kHex, 0, 1, procs(cpuset_, dock), ino(cpuset_, dock)),
      item("cgroup_system-slice", 0, 0, procs(mem_, "/system.slice"), ino(mem_, "/system.slice")),
      // Only in cpuacct and memory: the memory path, the memory inode.
      item("systemd_nginx", kCgroupOptSystemdService, 1, procs(mem_, "/system.slice/nginx.service"),
           ino(mem_, "/system.slice/nginx.service")),
      // cpuacct is walked but is no path source: no path, the cpuacct inode.
      item("cgroup_only-cpuacct-scope", 0, 0, "", ino(acct_, "/only-cpuacct.scope")),
      item("cgroup_blkio-only-scope", 0, 1, procs(blkio_, "/blkio-only.scope"),
           ino(blkio_, "/blkio-only.scope")),
      // cpuset-only and pids-only directories are not cgroups here.
  };
  EXPECT_EQ(sorted(*r->items), sorted(want));
}

TEST_P(ScannerV1, CpuacctTreeIsDiscoveredFirst) {
  auto scanner = Scanner::create(host_.config());
  ASSERT_TRUE(scanner.ok());
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok());
  const auto& v = *r->items;
  ASSERT_EQ(v.size(), 7u);
  EXPECT_EQ(v.back().name, "cgroup_blkio-only-scope");  // the only id not in cpuacct
}

TEST_P(ScannerV1, ControllerSetChoosesRegisteringTrees) {
  auto cfg = host_.config();
  cfg.v1_controllers = {"memory"};
  auto scanner = Scanner::create(cfg);
  ASSERT_TRUE(scanner.ok());
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok());
  std::vector<std::string> names;
  for (const auto& i : *r->items)
    names.push_back(i.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"cgroup_/", "cgroup_docker", "cgroup_docker_" + kHex,
                                             "cgroup_system-slice", "systemd_nginx"}));
  // cpuset is still consulted for paths.
  const CgroupItem* d = testing::find_item(*r->items, "cgroup_docker_" + kHex);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->path, procs(cpuset_, "/docker/" + kHex));
}

TEST_P(ScannerV1, PathMovesWhenTheCpusetDirectoryAppearsLater) {
  auto scanner = Scanner::create(host_.config());
  ASSERT_TRUE(scanner.ok());
  ASSERT_TRUE(scanner->scan().ok());
  host_.add(cpuset_, "/system.slice/nginx.service");
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->changed);
  const CgroupItem* n = testing::find_item(*r->items, "systemd_nginx");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->path, procs(cpuset_, "/system.slice/nginx.service"));
  EXPECT_EQ(n->cgroup_id, ino(cpuset_, "/system.slice/nginx.service"));
  host_.remove(cpuset_, "/system.slice");
  host_.remove(mem_, "/system.slice");
  r = scanner->scan();
  ASSERT_TRUE(r.ok());
  n = testing::find_item(*r->items, "systemd_nginx");
  ASSERT_NE(n, nullptr);  // still in cpuacct
  EXPECT_EQ(n->path, "");
  EXPECT_EQ(n->enabled, 0u);
  EXPECT_EQ(n->cgroup_id, ino(acct_, "/system.slice/nginx.service"));
}

TEST_P(ScannerV1, UnknownOrRepeatedControllerIsInvalidArgument) {
  auto cfg = host_.config();
  cfg.v1_controllers = {"cpuacct", "freezer"};
  auto s = Scanner::create(cfg);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Errc::kInvalidArgument);
  cfg.v1_controllers = {"memory", "memory"};
  auto t = Scanner::create(cfg);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.code(), Errc::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Hosts, ScannerV1, ::testing::Values(HostKind::kV1, HostKind::kHybrid),
                         [](const ::testing::TestParamInfo<HostKind>& p) {
                           return p.param == HostKind::kV1 ? "V1" : "Hybrid";
                         });

TEST(ScannerHybrid, ForcedV2WalksOnlyTheUnifiedMount) {
  FakeHost host(HostKind::kHybrid);
  host.add(host.base("cpu,cpuacct"), "/v1-only.scope");
  host.add(host.unified(), "/system.slice/unified-only.scope");
  auto scanner = Scanner::create(host.config(CgroupMode::kV2));
  ASSERT_TRUE(scanner.ok());
  EXPECT_EQ(scanner->layout().unified_base, host.base("unified"));
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok());
  const std::string u = host.unified();
  std::vector<CgroupItem> want = {
      item("cgroup_/", kCgroupOptIsUnified, 0, u + "//cgroup.procs", FakeHost::ino(u)),
      item("cgroup_system-slice", kCgroupOptIsUnified, 0, u + "/system.slice/cgroup.procs",
           FakeHost::ino(u + "/system.slice")),
      item("cgroup_system-slice_unified-only-scope", kCgroupOptIsUnified, 1,
           u + "/system.slice/unified-only.scope/cgroup.procs",
           FakeHost::ino(u + "/system.slice/unified-only.scope")),
  };
  EXPECT_EQ(sorted(*r->items), sorted(want));
}

TEST(ScannerHybrid, AutoModeIgnoresTheUnifiedMount) {
  FakeHost host(HostKind::kHybrid);
  host.add(host.unified(), "/unified-only.scope");
  auto scanner = Scanner::create(host.config());
  ASSERT_TRUE(scanner.ok());
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(testing::find_item(*r->items, "cgroup_unified-only-scope"), nullptr);
  for (const auto& i : *r->items)
    EXPECT_EQ(i.options & kCgroupOptIsUnified, 0u) << i.name;
}

}  // namespace
}  // namespace netipc::cgroups_provider
