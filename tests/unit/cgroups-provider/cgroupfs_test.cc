#include "cgroups_provider/cgroupfs.h"

#include <gtest/gtest.h>

#include <fstream>

#include "fake_cgroupfs.h"

namespace netipc::cgroups_provider {
namespace {

using testing::FakeHost;
using testing::HostKind;

TEST(Mountinfo, ParsesFieldsAroundOptionalTagsAndDecodesEscapes) {
  auto m = parse_mountinfo(
      "31 23 0:28 / /sys/fs/cgroup rw,relatime shared:9 master:2 - tmpfs tmpfs rw,mode=755\n"
      "garbage line\n"
      "40 31 0:37 / /mnt/with\\040space rw - cgroup my\\134src rw,name=x\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].mount_point, "/sys/fs/cgroup");
  EXPECT_EQ(m[0].fstype, "tmpfs");
  EXPECT_EQ(m[0].source, "tmpfs");
  EXPECT_EQ(m[0].super_options, "rw,mode=755");
  EXPECT_EQ(m[1].mount_point, "/mnt/with space");
  EXPECT_EQ(m[1].source, "my\\src");
  EXPECT_EQ(m[2].fstype, "cgroup2");
  EXPECT_EQ(m[2].super_options, "rw");
}

TEST(Mountinfo, OptionMatchIsByWholeToken) {
  EXPECT_TRUE(mount_option_present("rw,cpu,cpuacct", "cpu"));
  EXPECT_TRUE(mount_option_present("rw,cpu,cpuacct", "cpuacct"));
  EXPECT_FALSE(mount_option_present("rw,cpuacct", "cpu"));
  EXPECT_FALSE(mount_option_present("", "rw"));
}

TEST(BasePaths, ComeFromMountTableByControllerOption) {
  auto m = parse_mountinfo(
      "1 0 0:1 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      "2 0 0:2 / /cg/mem rw - cgroup cgroup rw,memory\n"
      "3 0 0:3 / /cg/v2 rw - cgroup2 cgroup2 rw,nsdelegate\n");
  CgroupfsLayout l;
  fill_base_paths(m, "", &l);
  EXPECT_EQ(l.cpuacct_base, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(l.memory_base, "/cg/mem");
  EXPECT_EQ(l.unified_base, "/cg/v2");
}

TEST(BasePaths, FallBackToMountSourceThenToDefaults) {
  auto m = parse_mountinfo(
      "1 0 0:1 / /custom/blk rw - cgroup blkio rw,xattr\n"
      "2 0 0:2 / /custom/v2 rw - cgroup2 cgroup ro\n");
  CgroupfsLayout l;
  fill_base_paths(m, "", &l);
  EXPECT_EQ(l.blkio_base, "/custom/blk");
  EXPECT_EQ(l.unified_base, "/custom/v2");
  EXPECT_EQ(l.cpuset_base, "/sys/fs/cgroup/cpuset");
  EXPECT_EQ(l.pids_base, "/sys/fs/cgroup/pids");
  CgroupfsLayout none;
  fill_base_paths({}, "", &none);
  EXPECT_EQ(none.unified_base, "/sys/fs/cgroup");
  EXPECT_EQ(none.memory_base, "/sys/fs/cgroup/memory");
}

TEST(BasePaths, HostPrefixIsPrependedUnlessPresent) {
  auto m = parse_mountinfo(
      "1 0 0:1 / /host/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "2 0 0:2 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n");
  CgroupfsLayout l;
  fill_base_paths(m, "/host", &l);
  EXPECT_EQ(l.memory_base, "/host/sys/fs/cgroup/memory");
  EXPECT_EQ(l.cpuset_base, "/host/sys/fs/cgroup/cpuset");
  EXPECT_EQ(l.blkio_base, "/host/sys/fs/cgroup/blkio");
  EXPECT_EQ(l.unified_base, "/host/sys/fs/cgroup");
  auto other = parse_mountinfo("1 0 0:1 / /hostile/memory rw - cgroup cgroup rw,memory\n");
  fill_base_paths(other, "/host", &l);
  EXPECT_EQ(l.memory_base, "/host/hostile/memory");
}

TEST(Detect, V2HostIsV2WhenStatfsIsInconclusive) {
  FakeHost host(HostKind::kV2);  // a plain directory: statfs says neither tmpfs nor cgroup2
  auto l = detect_cgroupfs(host.config().fs);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->version, CgroupVersion::kV2);
  EXPECT_EQ(l->decided_by, VersionSource::kMountinfo);
  EXPECT_FALSE(l->hybrid);
  EXPECT_EQ(l->root, host.root());
  EXPECT_EQ(l->unified_base, host.root());
}

TEST(Detect, V1HostIsV1WithControllerBases) {
  FakeHost host(HostKind::kV1);
  auto l = detect_cgroupfs(host.config().fs);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->version, CgroupVersion::kV1);
  EXPECT_FALSE(l->hybrid);
  EXPECT_EQ(l->cpuacct_base, host.base("cpu,cpuacct"));
  EXPECT_EQ(l->cpuset_base, host.base("cpuset"));
  EXPECT_EQ(l->blkio_base, host.base("blkio"));
  EXPECT_EQ(l->memory_base, host.base("memory"));
}

TEST(Detect, HybridHostIsTreatedAsV1) {
  FakeHost host(HostKind::kHybrid);
  auto l = detect_cgroupfs(host.config().fs);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->version, CgroupVersion::kV1);
  EXPECT_TRUE(l->hybrid);
  EXPECT_EQ(l->unified_base, host.base("unified"));
}

TEST(Detect, ModeOverrideWins) {
  FakeHost host(HostKind::kHybrid);
  auto l = detect_cgroupfs(host.config(CgroupMode::kV2).fs);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->version, CgroupVersion::kV2);
  EXPECT_EQ(l->decided_by, VersionSource::kConfig);
  EXPECT_FALSE(l->hybrid);
}

TEST(Detect, TmpfsRootIsV1ByStatfs) {
  // /dev/shm is a tmpfs on Linux: a stand-in root on it decides like a v1 host.
  struct stat st;
  if (::stat("/dev/shm", &st) != 0) GTEST_SKIP() << "no /dev/shm on this machine";
  char tmpl[] = "/dev/shm/nipc-cgXXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string prefix = tmpl;
  std::filesystem::create_directories(prefix + "/sys/fs/cgroup");
  CgroupfsConfig c;
  c.host_prefix = prefix;
  c.mountinfo_path = "";
  auto l = detect_cgroupfs(c);
  std::filesystem::remove_all(prefix);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->version, CgroupVersion::kV1);
  EXPECT_EQ(l->decided_by, VersionSource::kStatfs);
}

TEST(Detect, MissingMountTableMeansDefaultBases) {
  CgroupfsConfig c;
  c.host_prefix = "/nonexistent-prefix";
  c.mountinfo_path = "/nonexistent-prefix/mountinfo";
  auto l = detect_cgroupfs(c);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->version, CgroupVersion::kV2);
  EXPECT_EQ(l->unified_base, "/nonexistent-prefix/sys/fs/cgroup");
  EXPECT_EQ(l->cpuacct_base, "/nonexistent-prefix/sys/fs/cgroup/cpuacct");
}

TEST(Detect, RelativeHostPrefixIsInvalidArgument) {
  CgroupfsConfig c;
  c.host_prefix = "relative/dir";
  auto l = detect_cgroupfs(c);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.code(), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace netipc::cgroups_provider
