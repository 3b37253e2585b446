// Stale region detection (docs/shm.md B.12): what is reclaimed, what is kept, and
// the startup scan's choice of candidates.
#include "transport/shm/shm.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "test_support.h"

namespace netipc {
namespace {

class RunDir {
 public:
  RunDir() : fd_(::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}
  int fd() const { return fd_.get(); }
  std::string file(const std::string& name) const { return dir_.file(name); }
  bool exists(const std::string& name) const {
    struct stat st;
    return ::fstatat(fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  }
  void write(const std::string& name, const std::vector<uint8_t>& bytes) const {
    FILE* f = std::fopen(file(name).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    if (!bytes.empty()) {
      ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    }
    std::fclose(f);
  }

 private:
  test::TempDir dir_;
  UniqueFd fd_;
};

// A pid that certainly belonged to a process that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

std::vector<uint8_t> region(int32_t pid, uint32_t generation, uint32_t magic = shm::kMagic) {
  std::vector<uint8_t> b(448, 0);
  store_u32(&b[shm::kOffMagic], magic);
  store_u16(&b[shm::kOffVersion], shm::kVersion);
  store_u16(&b[shm::kOffHeaderLen], shm::kHeaderLen);
  store_u32(&b[shm::kOffOwnerPid], static_cast<uint32_t>(pid));
  store_u32(&b[shm::kOffOwnerGeneration], generation);
  store_u32(&b[shm::kOffRequestOffset], 64);
  store_u32(&b[shm::kOffRequestCapacity], 128);
  store_u32(&b[shm::kOffResponseOffset], 192);
  store_u32(&b[shm::kOffResponseCapacity], 256);
  return b;
}

const std::string kName = "svc-0000000000000001.ipcshm";

void expect_reclaimed(const RunDir& dir, const std::string& name, const char* what) {
  auto r = shm::reclaim_if_stale(dir.fd(), name);
  ASSERT_TRUE(r.ok()) << what << ": " << r.error().message();
  EXPECT_EQ(*r, shm::StaleOutcome::kReclaimed) << what;
  EXPECT_FALSE(dir.exists(name)) << what;
}

TEST(ShmStaleCheck, RegionOfADeadOwnerIsReclaimed) {
  RunDir dir;
  dir.write(kName, region(dead_pid(), 1));
  expect_reclaimed(dir, kName, "dead pid");
}

TEST(ShmStaleCheck, ZeroGenerationIsReclaimedEvenWithALivePid) {
  RunDir dir;
  dir.write(kName, region(getpid(), 0));
  expect_reclaimed(dir, kName, "zero generation");
}

TEST(ShmStaleCheck, NonPositivePidIsNeverAlive) {
  // kill(0, 0) and kill(-1, 0) succeed (process groups); they must not keep junk.
  RunDir dir;
  dir.write(kName, region(0, 1));
  expect_reclaimed(dir, kName, "pid 0");
  dir.write(kName, region(-1, 1));
  expect_reclaimed(dir, kName, "pid -1");
}

TEST(ShmStaleCheck, JunkAtTheNameIsReclaimed) {
  RunDir dir;
  dir.write(kName, region(getpid(), 1, 0x12345678));
  expect_reclaimed(dir, kName, "bad magic");

  dir.write(kName, std::vector<uint8_t>(63, 0));
  expect_reclaimed(dir, kName, "size < 64");

  dir.write(kName, {});
  expect_reclaimed(dir, kName, "empty file");

  ASSERT_EQ(::mkdirat(dir.fd(), kName.c_str(), 0700), 0);
  expect_reclaimed(dir, kName, "empty directory");

  ASSERT_EQ(::mkfifoat(dir.fd(), kName.c_str(), 0600), 0);
  expect_reclaimed(dir, kName, "fifo");
}

TEST(ShmStaleCheck, SymlinkIsRemovedAndItsTargetUntouched) {
  RunDir dir;
  dir.write("live-target", region(getpid(), 1));
  ASSERT_EQ(::symlinkat("live-target", dir.fd(), kName.c_str()), 0);
  expect_reclaimed(dir, kName, "symlink to a live region");
  EXPECT_TRUE(dir.exists("live-target"));

  ASSERT_EQ(::symlinkat("/nonexistent/x", dir.fd(), kName.c_str()), 0);
  expect_reclaimed(dir, kName, "dangling symlink");
}

TEST(ShmStaleCheck, LiveRegionIsAddrInUseAndKept) {
  RunDir dir;
  dir.write(kName, region(getpid(), 1));
  auto r = shm::reclaim_if_stale(dir.fd(), kName);
  EXPECT_EQ(r.code(), Errc::kAddrInUse);
  EXPECT_TRUE(dir.exists(kName));
  // pid 1 exists in every pid namespace: also live (kill returns 0 or EPERM).
  dir.write(kName, region(1, 5));
  EXPECT_EQ(shm::reclaim_if_stale(dir.fd(), kName).code(), Errc::kAddrInUse);
  EXPECT_TRUE(dir.exists(kName));
}

TEST(ShmStaleCheck, VersionIsNotChecked) {
  RunDir dir;
  auto img = region(getpid(), 1);
  store_u16(&img[shm::kOffVersion], 99);
  dir.write(kName, img);
  EXPECT_EQ(shm::reclaim_if_stale(dir.fd(), kName).code(), Errc::kAddrInUse);
}

TEST(ShmStaleCheck, NonEmptyDirectoryCannotBeReclaimedAndIsKept) {
  RunDir dir;
  ASSERT_EQ(::mkdirat(dir.fd(), kName.c_str(), 0700), 0);
  dir.write(kName + "/inside", {1});
  EXPECT_EQ(shm::reclaim_if_stale(dir.fd(), kName).code(), Errc::kAddrInUse);
  EXPECT_TRUE(dir.exists(kName + "/inside"));
}

TEST(ShmStaleCheck, AbsentNameAndBadArguments) {
  RunDir dir;
  auto r = shm::reclaim_if_stale(dir.fd(), kName);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, shm::StaleOutcome::kAbsent);
  EXPECT_EQ(shm::reclaim_if_stale(dir.fd(), "a/b").code(), Errc::kInvalidArgument);
  EXPECT_EQ(shm::reclaim_if_stale(dir.fd(), "..").code(), Errc::kInvalidArgument);
  EXPECT_EQ(shm::reclaim_if_stale(dir.fd(), "").code(), Errc::kInvalidArgument);
  EXPECT_EQ(shm::reclaim_if_stale(-1, kName).code(), Errc::kInvalidArgument);
}

TEST(ShmStaleCheck, CreateReclaimsAStaleRegionAtItsName) {
  RunDir dir;
  dir.write(kName, region(dead_pid(), 1));
  auto r = ShmRegion::create(dir.fd(), "svc", 1, 64, 64);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->owner_pid(), getpid());
  EXPECT_EQ(load_u32(r->base() + shm::kOffOwnerPid), static_cast<uint32_t>(getpid()));
}

TEST(ShmStaleCheck, CreateKeepsALiveForeignRegion) {
  RunDir dir;
  dir.write(kName, region(1, 1));
  EXPECT_EQ(ShmRegion::create(dir.fd(), "svc", 1, 64, 64).code(), Errc::kAddrInUse);
  EXPECT_TRUE(dir.exists(kName));
}

TEST(ShmStartupCleanup, RemovesStaleEntriesOfTheServiceOnly) {
  RunDir dir;
  const pid_t dead = dead_pid();
  dir.write("svc-0000000000000001.ipcshm", region(dead, 1));      // stale
  dir.write("svc-0000000000000002.ipcshm", region(getpid(), 1));  // live
  dir.write("svc-junk.ipcshm", region(getpid(), 1, 0));           // bad magic
  ASSERT_EQ(::mkdirat(dir.fd(), "svc-dir.ipcshm", 0700), 0);      // directory
  dir.write("other-0000000000000001.ipcshm", region(dead, 1));    // other service
  dir.write("svc-.ipcshm", region(dead, 1));                      // not longer than both
  dir.write("svc-0000000000000003.ipcshm.tmp", region(dead, 1));  // wrong suffix
  dir.write("svc.sock", {});                                      // the listener's file
  shm::CleanupStats stats;
  ASSERT_TRUE(shm::cleanup_stale_regions(dir.fd(), "svc", &stats).ok());
  EXPECT_EQ(stats.candidates, 4u);
  EXPECT_EQ(stats.reclaimed, 3u);
  EXPECT_EQ(stats.kept, 1u);
  EXPECT_FALSE(dir.exists("svc-0000000000000001.ipcshm"));
  EXPECT_TRUE(dir.exists("svc-0000000000000002.ipcshm"));
  EXPECT_FALSE(dir.exists("svc-junk.ipcshm"));
  EXPECT_FALSE(dir.exists("svc-dir.ipcshm"));
  EXPECT_TRUE(dir.exists("other-0000000000000001.ipcshm"));
  EXPECT_TRUE(dir.exists("svc-.ipcshm"));
  EXPECT_TRUE(dir.exists("svc-0000000000000003.ipcshm.tmp"));
  EXPECT_TRUE(dir.exists("svc.sock"));
}

TEST(ShmStartupCleanup, ScanWorksWhateverTheCallersDirectoryOffset) {
  RunDir dir;
  dir.write("svc-0000000000000001.ipcshm", region(dead_pid(), 1));
  ASSERT_TRUE(shm::cleanup_stale_regions(dir.fd(), "svc").ok());
  dir.write("svc-0000000000000002.ipcshm", region(dead_pid(), 1));
  // A second scan through the same fd still sees everything.
  shm::CleanupStats stats;
  ASSERT_TRUE(shm::cleanup_stale_regions(dir.fd(), "svc", &stats).ok());
  EXPECT_EQ(stats.reclaimed, 1u);
  EXPECT_FALSE(dir.exists("svc-0000000000000002.ipcshm"));
}

TEST(ShmStartupCleanup, RejectsBadServiceAndBadDirectory) {
  RunDir dir;
  EXPECT_EQ(shm::cleanup_stale_regions(dir.fd(), "a/b").code(), Errc::kInvalidArgument);
  EXPECT_EQ(shm::cleanup_stale_regions(-1, "svc").code(), Errc::kInvalidArgument);
  dir.write("plain", {1});
  UniqueFd file(::open(dir.file("plain").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(shm::cleanup_stale_regions(file.get(), "svc").code(), Errc::kSystem);
}

TEST(ShmFileGuard, UnlinksOnlyTheInodeItCreated) {
  RunDir dir;
  dir.write("mine", {1});
  struct stat st;
  ASSERT_EQ(::fstatat(dir.fd(), "mine", &st, 0), 0);
  { shm::ShmFile f(UniqueFd(::dup(dir.fd())), "mine", st.st_dev, st.st_ino); }
  EXPECT_FALSE(dir.exists("mine"));

  dir.write("mine", {1});
  ASSERT_EQ(::fstatat(dir.fd(), "mine", &st, 0), 0);
  {
    shm::ShmFile f(UniqueFd(::dup(dir.fd())), "mine", st.st_dev, st.st_ino);
    dir.write("theirs", {2});
    ASSERT_EQ(::renameat(dir.fd(), "theirs", dir.fd(), "mine"), 0);
  }
  EXPECT_TRUE(dir.exists("mine"));
}

}  // namespace
}  // namespace netipc
