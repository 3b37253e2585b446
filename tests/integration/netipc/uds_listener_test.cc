// UDS endpoints over real sockets (docs/transport.md A.1-A.4):
// naming, run-directory checks, the listener's node (mode, stale recovery,
// unlink on close), peer credentials and the automatic packet size.
#include <fcntl.h>
#include <poll.h>
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
using test::unique_service;

struct stat stat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
  return st;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Accepts one pending connection (waits for it with a deadline).
Result<UniqueFd> accept_within(UdsListener& l, int timeout_ms) {
  pollfd p{l.fd(), POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return make_error(Errc::kTimeout, "accept_within");
  return l.accept();
}

// A SEQPACKET socket bound at `path` and then closed: a dead socket node.
void make_dead_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  ASSERT_TRUE(S_ISSOCK(stat_of(path).st_mode));
}

// ---- naming (A.1) ----

TEST(UdsNaming, SocketPathIsRunDirSlashServiceDotSock) {
  auto p = socket_path("/r", "cgroups-snapshot");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "/r/cgroups-snapshot.sock");
}

TEST(UdsNaming, AcceptsLettersDigitsDotUnderscoreDash) {
  EXPECT_TRUE(validate_service_name("aZ09._-").ok());
  EXPECT_TRUE(validate_service_name("...").ok());
  EXPECT_TRUE(validate_service_name(".hidden").ok());
}

TEST(UdsNaming, RejectsEmptyName) {
  EXPECT_EQ(validate_service_name("").code(), Errc::kInvalidArgument);
  EXPECT_EQ(socket_path("/r", "").code(), Errc::kInvalidArgument);
}

TEST(UdsNaming, RejectsDot) {
  EXPECT_EQ(socket_path("/r", ".").code(), Errc::kInvalidArgument);
}

TEST(UdsNaming, RejectsDotDot) {
  EXPECT_EQ(socket_path("/r", "..").code(), Errc::kInvalidArgument);
}

TEST(UdsNaming, RejectsSlash) {
  EXPECT_EQ(socket_path("/r", "a/b").code(), Errc::kInvalidArgument);
}

TEST(UdsNaming, RejectsSpace) {
  EXPECT_EQ(socket_path("/r", "a b").code(), Errc::kInvalidArgument);
}

TEST(UdsNaming, RejectsNonAsciiAndControlCharacters) {
  EXPECT_EQ(validate_service_name("caf\xC3\xA9").code(), Errc::kInvalidArgument);
  EXPECT_EQ(validate_service_name(std::string("a\0b", 3)).code(), Errc::kInvalidArgument);
  EXPECT_EQ(validate_service_name("a\nb").code(), Errc::kInvalidArgument);
}

TEST(UdsNaming, PathOf107CharactersIsAccepted) {
  const std::string dir = "/" + std::string(99, 'd');  // 100 + "/s.sock" = 107
  auto p = socket_path(dir, "s");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->size(), 107u);
}

TEST(UdsNaming, PathOf108CharactersIsTooLong) {
  const std::string dir = "/" + std::string(100, 'd');
  EXPECT_EQ(socket_path(dir, "s").code(), Errc::kPathTooLong);
}

TEST(UdsNaming, ListenerAndClientWorkAtA107CharacterPath) {
  TempDir tmp;
  // Grow a real directory so that the socket path is exactly 107 characters.
  std::string dir = tmp.path() + "/";
  const size_t want_dir_len = 107 - std::string("/s.sock").size();
  ASSERT_LT(dir.size(), want_dir_len);
  dir += std::string(want_dir_len - dir.size(), 'x');
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  auto l = UdsListener::listen(dir, "s");
  ASSERT_TRUE(l.ok()) << l.error().message();
  EXPECT_EQ(l->path().size(), 107u);
  auto c = uds_connect(dir, "s");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(accept_within(*l, 5000).ok());
}

TEST(UdsNaming, ListenerRefusesA108CharacterPath) {
  TempDir tmp;
  std::string dir = tmp.path() + "/";
  dir += std::string(108 - std::string("/s.sock").size() - dir.size(), 'x');
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  EXPECT_EQ(UdsListener::listen(dir, "s").code(), Errc::kPathTooLong);
  EXPECT_EQ(uds_connect(dir, "s").code(), Errc::kPathTooLong);
}

TEST(UdsNaming, ListenerRefusesInvalidServiceName) {
  TempDir tmp;
  EXPECT_EQ(UdsListener::listen(tmp.path(), "a/b").code(), Errc::kInvalidArgument);
}

// ---- run directory checks ----

TEST(UdsRunDir, PrivateDirectoryIsAccepted) {
  TempDir tmp;
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0700), 0);
  EXPECT_TRUE(check_run_dir(tmp.path()).ok());
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0755), 0);
  EXPECT_TRUE(check_run_dir(tmp.path()).ok());
}

TEST(UdsRunDir, RelativePathIsUnsafe) {
  EXPECT_EQ(check_run_dir("tmp").code(), Errc::kUnsafeRunDir);
  EXPECT_EQ(check_run_dir("").code(), Errc::kUnsafeRunDir);
}

TEST(UdsRunDir, MissingDirectoryIsUnsafe) {
  TempDir tmp;
  EXPECT_EQ(check_run_dir(tmp.file("missing")).code(), Errc::kUnsafeRunDir);
}

TEST(UdsRunDir, SymlinkToADirectoryIsUnsafe) {
  TempDir tmp;
  ASSERT_EQ(::mkdir(tmp.file("real").c_str(), 0700), 0);
  ASSERT_EQ(::symlink(tmp.file("real").c_str(), tmp.file("link").c_str()), 0);
  EXPECT_EQ(check_run_dir(tmp.file("link")).code(), Errc::kUnsafeRunDir);
}

TEST(UdsRunDir, SymlinkNamedWithATrailingSlashOrDotIsUnsafe) {
  TempDir tmp;
  ASSERT_EQ(::mkdir(tmp.file("real").c_str(), 0700), 0);
  ASSERT_EQ(::symlink(tmp.file("real").c_str(), tmp.file("link").c_str()), 0);
  for (const char* suffix : {"/", "/.", "//", "/./", "/./."}) {
    EXPECT_EQ(check_run_dir(tmp.file("link") + suffix).code(), Errc::kUnsafeRunDir) << suffix;
    EXPECT_TRUE(check_run_dir(tmp.file("real") + suffix).ok()) << suffix;
  }
}

TEST(UdsRunDir, RegularFileIsUnsafe) {
  TempDir tmp;
  UniqueFd f(::open(tmp.file("file").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  ASSERT_TRUE(f.valid());
  EXPECT_EQ(check_run_dir(tmp.file("file")).code(), Errc::kUnsafeRunDir);
}

TEST(UdsRunDir, GroupWritableDirectoryIsUnsafe) {
  TempDir tmp;
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0770), 0);
  EXPECT_EQ(check_run_dir(tmp.path()).code(), Errc::kUnsafeRunDir);
}

TEST(UdsRunDir, WorldWritableDirectoryIsUnsafe) {
  TempDir tmp;
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0707), 0);
  EXPECT_EQ(check_run_dir(tmp.path()).code(), Errc::kUnsafeRunDir);
  ASSERT_EQ(::chmod(tmp.path().c_str(), 01777), 0);  // sticky does not make /tmp-like dirs safe
  EXPECT_EQ(check_run_dir(tmp.path()).code(), Errc::kUnsafeRunDir);
}

TEST(UdsRunDir, DirectoryOwnedByAnotherUserIsUnsafe) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a directory away";
  TempDir tmp;
  ASSERT_EQ(::mkdir(tmp.file("theirs").c_str(), 0700), 0);
  ASSERT_EQ(::chown(tmp.file("theirs").c_str(), 4242, 4242), 0);
  EXPECT_EQ(check_run_dir(tmp.file("theirs")).code(), Errc::kUnsafeRunDir);
}

TEST(UdsRunDir, ListenerRefusesAnUnsafeRunDir) {
  TempDir tmp;
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0777), 0);
  const std::string svc = unique_service();
  EXPECT_EQ(UdsListener::listen(tmp.path(), svc).code(), Errc::kUnsafeRunDir);
  EXPECT_FALSE(exists(tmp.file(svc + ".sock")));
}

TEST(UdsRunDir, ListenerSkipsTheCheckWhenAskedTo) {
  TempDir tmp;
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0777), 0);
  ListenerOptions o;
  o.skip_run_dir_check = true;
  auto l = UdsListener::listen(tmp.path(), unique_service(), o);
  EXPECT_TRUE(l.ok()) << l.error().message();
}

// ---- listener node (A.2) ----

TEST(UdsListener, SocketNodeIsMode0600EvenWithUmask0) {
  TempDir tmp;
  const mode_t old = ::umask(0);
  auto l = UdsListener::listen(tmp.path(), "svc");
  ::umask(old);
  ASSERT_TRUE(l.ok()) << l.error().message();
  EXPECT_EQ(l->path(), tmp.file("svc.sock"));
  struct stat st = stat_of(l->path());
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(UdsListener, SocketModeOptionIsHonouredWithUmask0) {
  TempDir tmp;
  ListenerOptions o;
  o.socket_mode = 0660;
  const mode_t old = ::umask(0);
  auto l = UdsListener::listen(tmp.path(), "svc", o);
  ::umask(old);
  ASSERT_TRUE(l.ok()) << l.error().message();
  EXPECT_EQ(stat_of(l->path()).st_mode & 07777, 0660u);
}

TEST(UdsListener, SocketModeOptionLetsTheGroupInUnderTheUsualUmask022) {
  // ListenerOptions: "0660 lets a group in". Connecting needs write
  // permission, so the group must keep its w bit under a daemon's umask.
  TempDir tmp;
  ListenerOptions o;
  o.socket_mode = 0660;
  const mode_t old = ::umask(022);
  auto l = UdsListener::listen(tmp.path(), "svc", o);
  ::umask(old);
  ASSERT_TRUE(l.ok()) << l.error().message();
  EXPECT_EQ(stat_of(l->path()).st_mode & 07777, 0660u);
}

TEST(UdsListener, DefaultModeStays0600UnderAPermissiveUmask) {
  TempDir tmp;
  const mode_t old = ::umask(002);
  auto l = UdsListener::listen(tmp.path(), "svc");
  ::umask(old);
  ASSERT_TRUE(l.ok()) << l.error().message();
  EXPECT_EQ(stat_of(l->path()).st_mode & 07777, 0600u);
}

TEST(UdsListener, LiveServerMakesSecondListenerFailWithAddrInUse) {
  TempDir tmp;
  auto first = UdsListener::listen(tmp.path(), "svc");
  ASSERT_TRUE(first.ok());
  const struct stat before = stat_of(first->path());
  auto second = UdsListener::listen(tmp.path(), "svc");
  EXPECT_EQ(second.code(), Errc::kAddrInUse);
  // The live server's node survives and still reaches it.
  const struct stat after = stat_of(first->path());
  EXPECT_EQ(after.st_ino, before.st_ino);
  auto c = uds_connect(tmp.path(), "svc");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(accept_within(*first, 5000).ok());
}

TEST(UdsListener, DeadSocketFileIsReclaimed) {
  TempDir tmp;
  make_dead_socket(tmp.file("svc.sock"));
  ASSERT_EQ(uds_connect(tmp.path(), "svc").code(), Errc::kNotFound);  // refused: dead
  auto l = UdsListener::listen(tmp.path(), "svc");
  ASSERT_TRUE(l.ok()) << l.error().message();
  auto c = uds_connect(tmp.path(), "svc");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(accept_within(*l, 5000).ok());
}

TEST(UdsListener, ClosingTheListenerUnlinksTheNode) {
  TempDir tmp;
  {
    auto l = UdsListener::listen(tmp.path(), "svc");
    ASSERT_TRUE(l.ok());
    EXPECT_TRUE(exists(tmp.file("svc.sock")));
  }
  EXPECT_FALSE(exists(tmp.file("svc.sock")));
  EXPECT_EQ(uds_connect(tmp.path(), "svc").code(), Errc::kNotFound);
}

TEST(UdsListener, MoveAssigningOverAListenerClosesAndUnlinksTheOldOne) {
  TempDir tmp;
  auto a = UdsListener::listen(tmp.path(), "a");
  auto b = UdsListener::listen(tmp.path(), "b");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  UdsListener l = std::move(*a);
  l = std::move(*b);
  EXPECT_FALSE(exists(tmp.file("a.sock")));
  EXPECT_TRUE(exists(tmp.file("b.sock")));
  EXPECT_EQ(l.path(), tmp.file("b.sock"));
}

TEST(UdsListener, ClosingDoesNotUnlinkANodeASuccessorReplaced) {
  TempDir tmp;
  auto old_listener = UdsListener::listen(tmp.path(), "svc");
  ASSERT_TRUE(old_listener.ok());
  // Someone removed our node and a successor now serves the endpoint.
  ASSERT_EQ(::unlink(tmp.file("svc.sock").c_str()), 0);
  auto successor = UdsListener::listen(tmp.path(), "svc");
  ASSERT_TRUE(successor.ok()) << successor.error().message();
  const ino_t successor_ino = stat_of(tmp.file("svc.sock")).st_ino;
  { UdsListener gone = std::move(*old_listener); }
  ASSERT_TRUE(exists(tmp.file("svc.sock")));
  EXPECT_EQ(stat_of(tmp.file("svc.sock")).st_ino, successor_ino);
  auto c = uds_connect(tmp.path(), "svc");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(accept_within(*successor, 5000).ok());
}

TEST(UdsListener, ClosingTheListenerKeepsEstablishedConnections) {
  TempDir tmp;
  auto l = UdsListener::listen(tmp.path(), "svc");
  ASSERT_TRUE(l.ok());
  auto c = uds_connect(tmp.path(), "svc");
  ASSERT_TRUE(c.ok());
  auto s = accept_within(*l, 5000);
  ASSERT_TRUE(s.ok());
  { UdsListener gone = std::move(*l); }
  const char msg[] = "still here";
  ASSERT_EQ(::send(c->get(), msg, sizeof msg, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof msg));
  pollfd p{s->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char buf[32];
  EXPECT_EQ(::recv(s->get(), buf, sizeof buf, 0), static_cast<ssize_t>(sizeof msg));
}

TEST(UdsListener, AcceptWithNothingPendingIsNotReady) {
  TempDir tmp;
  auto l = UdsListener::listen(tmp.path(), "svc");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->accept().code(), Errc::kNotReady);
}

TEST(UdsListener, AcceptedFdIsNonBlockingAndCloseOnExec) {
  TempDir tmp;
  auto l = UdsListener::listen(tmp.path(), "svc");
  ASSERT_TRUE(l.ok());
  auto c = uds_connect(tmp.path(), "svc");
  ASSERT_TRUE(c.ok());
  auto s = accept_within(*l, 5000);
  ASSERT_TRUE(s.ok());
  EXPECT_NE(::fcntl(s->get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(s->get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(c->get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(c->get(), F_GETFD) & FD_CLOEXEC, 0);
  int type = 0;
  socklen_t len = sizeof type;
  ASSERT_EQ(::getsockopt(c->get(), SOL_SOCKET, SO_TYPE, &type, &len), 0);
  EXPECT_EQ(type, SOCK_SEQPACKET);
}

// ---- peer credentials ----

TEST(UdsListener, PeerWhoseUidIsNotAllowedIsRefusedWithPermission) {
  TempDir tmp;
  ListenerOptions o;
  o.allowed_uids = {::geteuid() + 4242};
  auto l = UdsListener::listen(tmp.path(), "svc", o);
  ASSERT_TRUE(l.ok());
  auto c = uds_connect(tmp.path(), "svc");
  ASSERT_TRUE(c.ok());
  auto s = accept_within(*l, 5000);
  EXPECT_EQ(s.code(), Errc::kPermission);
  // The refused connection is closed: the client reads end-of-file.
  pollfd p{c->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char buf[8];
  EXPECT_EQ(::recv(c->get(), buf, sizeof buf, 0), 0);
}

TEST(UdsListener, PeerWhoseUidIsAllowedIsAccepted) {
  TempDir tmp;
  ListenerOptions o;
  o.allowed_uids = {::geteuid() + 4242, ::geteuid()};
  auto l = UdsListener::listen(tmp.path(), "svc", o);
  ASSERT_TRUE(l.ok());
  auto c = uds_connect(tmp.path(), "svc");
  ASSERT_TRUE(c.ok());
  auto s = accept_within(*l, 5000);
  ASSERT_TRUE(s.ok()) << s.error().message();
  auto uid = peer_uid(s->get());
  ASSERT_TRUE(uid.ok());
  EXPECT_EQ(*uid, ::geteuid());
}

TEST(UdsListener, PeerUidOfANonSocketIsASystemError) {
  TempDir tmp;
  UniqueFd f(::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(f.valid());
  auto uid = peer_uid(f.get());
  EXPECT_EQ(uid.code(), Errc::kSystem);
  EXPECT_EQ(uid.error().sys_errno, ENOTSOCK);
}

// ---- connect ----

TEST(UdsConnect, NoServerIsNotFound) {
  TempDir tmp;
  auto c = uds_connect(tmp.path(), "nobody");
  EXPECT_EQ(c.code(), Errc::kNotFound);
  EXPECT_EQ(c.error().sys_errno, ENOENT);
}

TEST(UdsConnect, DeadSocketIsNotFound) {
  TempDir tmp;
  make_dead_socket(tmp.file("svc.sock"));
  auto c = uds_connect(tmp.path(), "svc");
  EXPECT_EQ(c.code(), Errc::kNotFound);
  EXPECT_EQ(c.error().sys_errno, ECONNREFUSED);
}

TEST(UdsConnect, FullBacklogIsNotReady) {
  TempDir tmp;
  ListenerOptions o;
  o.backlog = 1;
  auto l = UdsListener::listen(tmp.path(), "svc", o);
  ASSERT_TRUE(l.ok());
  std::vector<UniqueFd> held;
  Errc last = Errc::kOk;
  for (int i = 0; i < 64 && last == Errc::kOk; ++i) {
    auto c = uds_connect(tmp.path(), "svc");
    last = c.code();
    if (c.ok()) held.push_back(std::move(*c));
  }
  EXPECT_EQ(last, Errc::kNotReady);
  EXPECT_GE(held.size(), 1u);
}

// ---- packet size (A.4) ----

TEST(UdsPacketSize, AutoValueIsSndbufMinus32) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  int sndbuf = 0;
  socklen_t len = sizeof sndbuf;
  ASSERT_EQ(::getsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &len), 0);
  EXPECT_EQ(auto_packet_size(a.get()), static_cast<uint32_t>(sndbuf) - 32);
}

TEST(UdsPacketSize, AutoValueFollowsAConfiguredSndbuf) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  int want = 50000;
  ASSERT_EQ(::setsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &want, sizeof want), 0);
  int sndbuf = 0;
  socklen_t len = sizeof sndbuf;
  ASSERT_EQ(::getsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &len), 0);
  EXPECT_EQ(auto_packet_size(a.get()), static_cast<uint32_t>(sndbuf) - 32);
}

TEST(UdsPacketSize, AutoValueIsWhatTheKernelAcceptsInOneSend) {
  // The reason for the clamp (A.4 rule 3): one byte more is EMSGSIZE.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  const uint32_t p = auto_packet_size(a.get());
  std::vector<uint8_t> buf(p + 1, 0x5A);
  ASSERT_EQ(::send(a.get(), buf.data(), p, MSG_NOSIGNAL), static_cast<ssize_t>(p));
  std::vector<uint8_t> in(p + 1);
  ASSERT_EQ(::recv(b.get(), in.data(), in.size(), 0), static_cast<ssize_t>(p));
  EXPECT_EQ(::send(a.get(), buf.data(), p + 1, MSG_NOSIGNAL | MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EMSGSIZE);
}

TEST(UdsPacketSize, UnreadableSndbufFallsBackTo65536) {
  EXPECT_EQ(auto_packet_size(-1), 65536u);
  TempDir tmp;
  UniqueFd f(::open(tmp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_EQ(auto_packet_size(f.get()), 65536u);
}

}  // namespace
}  // namespace netipc
