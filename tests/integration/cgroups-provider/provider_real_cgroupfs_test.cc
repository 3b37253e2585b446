// netipc-cgroups-provider on this machine's real cgroup filesystem: 2000
// cgroups created under a uniquely named subtree appear in a snapshot a
// client fetches within a few 1-second rescans, and vanish after removal.
// Without permission to create cgroups the test skips and says why.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "../../unit/cgroups-provider/snapshot_fetcher.h"
#include "cgroups_provider/cgroupfs.h"
#include "netipc/bytes.h"
#include "test_support.h"

namespace netipc::cgroups_provider {
namespace {

using testing::Fetched;
using testing::SnapshotFetcher;

constexpr int kCount = 2000;
using Clock = std::chrono::steady_clock;

class ProviderRealCgroupfs : public ::testing::Test {
 protected:
  void TearDown() override {
    // Even after a failure: children first, then the subtree.
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      if (!it->empty()) ::rmdir(it->c_str());
    }
  }

  // "" on success, else why the test cannot run here.
  std::string make(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) == 0) {
      created_.push_back(path);
      return "";
    }
    const int e = errno;
    std::string why = "cannot create cgroup " + path + ": " + std::strerror(e);
    if (e == EPERM || e == EACCES || e == EROFS) return why + " (needs root, writable cgroupfs)";
    ADD_FAILURE() << why;
    return why;
  }

  static uint64_t ino(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
  }

  std::string unique_ = "netipc-prov-" + std::to_string(::getpid());
  std::vector<std::string> created_;
};

TEST_F(ProviderRealCgroupfs, TwoThousandCgroupsAppearAndVanishWithinAFewRescans) {
  CgroupfsConfig fs;  // this machine, as Netdata sees it
  auto layout = detect_cgroupfs(fs);
  ASSERT_TRUE(layout.ok());
  const bool v2 = layout->version == CgroupVersion::kV2;
  // v2 walks the unified hierarchy; v1 (and hybrid) walks cpuacct, blkio
  // and memory, and the item path is the first of cpuset, blkio, memory.
  const std::string base = v2 ? layout->unified_base : layout->memory_base;
  struct stat st {};
  if (::stat(base.c_str(), &st) != 0) GTEST_SKIP() << base << " does not exist here";
  const std::string top = base + "/" + unique_;
  if (auto why = make(top); !why.empty()) GTEST_SKIP() << why;

  test::TempDir run;
  test::Child p = testing::spawn_provider({"--cgroup-root", "/sys/fs/cgroup", "--run-dir",
                                           run.path(), "--service", "real", "--rescan", "1"});
  ASSERT_TRUE(p.wait_for_line("READY", std::chrono::seconds(30))) << p.output();
  auto f = SnapshotFetcher::create(run.path(), "real");
  ASSERT_TRUE(f.ok());
  auto before = f->fetch();
  ASSERT_TRUE(before.ok()) << before.error().message();

  char leaf[16];
  const auto t_create = Clock::now();
  for (int i = 0; i < kCount; ++i) {
    std::snprintf(leaf, sizeof leaf, "/c%04d", i);
    if (auto why = make(top + leaf); !why.empty()) GTEST_SKIP() << why;
  }
  const auto created_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t_create).count();

  // Every one, with its exact item, within a few rescans.
  const uint32_t opts = v2 ? kCgroupOptIsUnified : 0;
  // Items of the leaves (not of `top` itself).
  auto leaves_in = [&](const Fetched& s) {
    size_t n = 0;
    for (const auto& it : s.items) {
      if (it.path.compare(0, top.size() + 1, top + "/") == 0 && it.path != top + "/cgroup.procs")
        ++n;
    }
    return n;
  };
  Fetched seen;
  const auto t0 = Clock::now();
  ASSERT_TRUE(test::wait_until(
      [&] {
        auto r = f->fetch();
        if (!r.ok()) return false;
        seen = std::move(*r);
        return leaves_in(seen) == kCount;
      },
      std::chrono::seconds(10)))
      << "created in " << created_ms << " ms\n"
      << p.output();
  const auto appear_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  for (int i = 0; i < kCount; ++i) {
    std::snprintf(leaf, sizeof leaf, "/c%04d", i);
    const std::string dir = top + leaf;
    const std::string name = "cgroup_" + unique_ + "_" + std::string(leaf + 1);
    const CgroupItem* it = seen.find_path(dir + "/cgroup.procs");
    ASSERT_NE(it, nullptr) << dir;
    EXPECT_EQ(*it, (CgroupItem{fnv1a32(name), opts, 1, name, dir + "/cgroup.procs", ino(dir)}));
  }
  EXPECT_GT(seen.generation, before->generation);

  for (int i = kCount - 1; i >= 0; --i) {
    std::snprintf(leaf, sizeof leaf, "/c%04d", i);
    ASSERT_EQ(::rmdir((top + leaf).c_str()), 0) << std::strerror(errno);
    created_[static_cast<size_t>(i) + 1].clear();
  }
  const auto t1 = Clock::now();
  ASSERT_TRUE(test::wait_until(
      [&] {
        auto r = f->fetch();
        return r.ok() && leaves_in(*r) == 0;
      },
      std::chrono::seconds(10)))
      << p.output();
  const auto vanish_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t1).count();
  std::printf(
      "[ info ] %s: created %d cgroups in %lld ms; all in a snapshot after %lld ms; "
      "all gone %lld ms after removal (rescan every 1 s)\n",
      v2 ? "cgroup v2" : "cgroup v1", kCount, static_cast<long long>(created_ms),
      static_cast<long long>(appear_ms), static_cast<long long>(vanish_ms));
}

}  // namespace
}  // namespace netipc::cgroups_provider
