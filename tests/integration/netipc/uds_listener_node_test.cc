// What the listener finds at its socket path (docs/transport.md A.2,
// with our deviation): a live server is ADDR_IN_USE, a dead socket is
// reclaimed, and anything else (a regular file, a FIFO, a directory,
// another program's stream or datagram socket) is left alone and refused
// with a clear error. Also: connecting without permission says so.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "netipc/uds.h"
#include "netipc/unique_fd.h"
#include "test_support.h"

namespace netipc {
namespace {

using test::TempDir;

bool is_socket(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// A socket of `type` bound at `path`; with `listening`, it also listens.
UniqueFd bound_socket(const std::string& path, int type, bool listening) {
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  if (listening) {
    EXPECT_EQ(::listen(fd.get(), 4), 0);
  }
  return fd;
}

void expect_refused_and_kept(const TempDir& tmp, const char* what) {
  auto l = UdsListener::listen(tmp.path(), "svc");
  EXPECT_EQ(l.code(), Errc::kAddrInUse) << what;
  if (!l.ok()) {
    EXPECT_NE(l.error().message().find("not removed"), std::string::npos)
        << what << ": " << l.error().message();
  }
  struct stat st {};
  EXPECT_EQ(::lstat(tmp.file("svc.sock").c_str(), &st), 0) << what << " was removed";
}

TEST(UdsListenerNode, DeadSeqpacketSocketIsReclaimed) {
  TempDir tmp;
  { UniqueFd dead = bound_socket(tmp.file("svc.sock"), SOCK_SEQPACKET, false); }
  auto l = UdsListener::listen(tmp.path(), "svc");
  ASSERT_TRUE(l.ok()) << l.error().message();
  EXPECT_TRUE(is_socket(tmp.file("svc.sock")));
}

TEST(UdsListenerNode, RegularFileIsRefusedAndKept) {
  TempDir tmp;
  UniqueFd f(::open(tmp.file("svc.sock").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  ASSERT_TRUE(f.valid());
  expect_refused_and_kept(tmp, "a regular file");
}

TEST(UdsListenerNode, FifoIsRefusedAndKept) {
  TempDir tmp;
  ASSERT_EQ(::mkfifo(tmp.file("svc.sock").c_str(), 0600), 0);
  expect_refused_and_kept(tmp, "a FIFO");
}

TEST(UdsListenerNode, DirectoryIsRefusedAndKept) {
  TempDir tmp;
  ASSERT_EQ(::mkdir(tmp.file("svc.sock").c_str(), 0700), 0);
  expect_refused_and_kept(tmp, "a directory");
}

TEST(UdsListenerNode, AnotherProgramsStreamSocketIsRefusedAndKept) {
  TempDir tmp;
  UniqueFd other = bound_socket(tmp.file("svc.sock"), SOCK_STREAM, true);
  expect_refused_and_kept(tmp, "a listening stream socket");
}

TEST(UdsListenerNode, AnotherProgramsDatagramSocketIsRefusedAndKept) {
  TempDir tmp;
  UniqueFd other = bound_socket(tmp.file("svc.sock"), SOCK_DGRAM, false);
  expect_refused_and_kept(tmp, "a bound datagram socket");
}

TEST(UdsConnectPermission, ConnectWithoutPermissionIsPermissionNotNotFound) {
  TempDir tmp;  // 0700, owned by us: another user cannot reach the socket
  auto l = UdsListener::listen(tmp.path(), "svc");
  ASSERT_TRUE(l.ok()) << l.error().message();
  // A real EACCES needs another uid: a child drops to "nobody" (root only).
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  test::Child child = test::Child::fork_fn([&]() -> int {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 10;
    auto c = uds_connect(tmp.path(), "svc");
    if (c.ok()) return 11;
    if (c.error().sys_errno != EACCES) return 12;
    if (c.code() != Errc::kPermission) return 13;
    if (c.error().message().find("permission denied") == std::string::npos) return 14;
    return 0;
  });
  ASSERT_TRUE(child.valid());
  EXPECT_EQ(child.wait(), 0);
}

}  // namespace
}  // namespace netipc
