// resolve_cgroup_root(): --cgroup-root onto the scanner's filesystem config,
// for real cgroup filesystems and for directory trees of the same shape.
#include "cgroups_provider/cgroup_root.h"

#include <sys/statfs.h>

#include <gtest/gtest.h>

#include "fake_cgroupfs.h"

namespace netipc::cgroups_provider {
namespace {

using testing::FakeHost;
using testing::HostKind;

TEST(CgroupRoot, RelativePathIsAnInvalidArgument) {
  EXPECT_EQ(resolve_cgroup_root("sys/fs/cgroup").code(), Errc::kInvalidArgument);
  EXPECT_EQ(resolve_cgroup_root("").code(), Errc::kInvalidArgument);
}

TEST(CgroupRoot, PathNotEndingInSysFsCgroupIsAnInvalidArgument) {
  EXPECT_EQ(resolve_cgroup_root("/tmp").code(), Errc::kInvalidArgument);
  EXPECT_EQ(resolve_cgroup_root("/sys/fs/cgroup/unified").code(), Errc::kInvalidArgument);
  EXPECT_EQ(resolve_cgroup_root("/x/mysys/fs/cgroupz").code(), Errc::kInvalidArgument);
}

TEST(CgroupRoot, MissingDirectoryIsNotFound) {
  auto r = resolve_cgroup_root("/nonexistent-netipc/sys/fs/cgroup");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::kNotFound);
  EXPECT_EQ(r.error().sys_errno, ENOENT);
}

TEST(CgroupRoot, TreeWithCgroupProcsAtTheRootIsV2) {
  FakeHost host(HostKind::kV2);
  auto r = resolve_cgroup_root(host.root() + "//");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->directory_tree);
  EXPECT_EQ(r->path, host.root());
  EXPECT_EQ(r->fs.host_prefix, host.prefix());
  EXPECT_EQ(r->fs.mode, CgroupMode::kV2);
  EXPECT_EQ(r->fs.mountinfo_path, "");  // a tree has no mount table
  auto layout = detect_cgroupfs(r->fs);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->unified_base, host.root());
}

TEST(CgroupRoot, TreeWithoutCgroupProcsIsAV1HostWithControllersBelow) {
  FakeHost host(HostKind::kV1);
  auto r = resolve_cgroup_root(host.root());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->directory_tree);
  EXPECT_EQ(r->fs.mode, CgroupMode::kV1);
  auto layout = detect_cgroupfs(r->fs);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->version, CgroupVersion::kV1);
  EXPECT_EQ(layout->memory_base, host.root() + "/memory");
  EXPECT_EQ(layout->cpuacct_base, host.root() + "/cpuacct");
}

TEST(CgroupRoot, RealCgroupFilesystemKeepsNetdatasRules) {
  struct statfs s {};
  if (::statfs("/sys/fs/cgroup", &s) != 0) GTEST_SKIP() << "no /sys/fs/cgroup on this machine";
  auto r = resolve_cgroup_root("/sys/fs/cgroup", "/proc/self/mountinfo");
  ASSERT_TRUE(r.ok()) << r.error().message();
  if (r->directory_tree) GTEST_SKIP() << "/sys/fs/cgroup holds no cgroup filesystem here";
  EXPECT_EQ(r->fs.host_prefix, "");
  EXPECT_EQ(r->fs.mountinfo_path, "/proc/self/mountinfo");
  EXPECT_EQ(r->fs.mode, CgroupMode::kAuto);
}

}  // namespace
}  // namespace netipc::cgroups_provider
