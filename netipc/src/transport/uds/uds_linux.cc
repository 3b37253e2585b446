#include "netipc/uds.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sys_linux.h"

namespace netipc {

namespace {

constexpr size_t kSunPathMax = sizeof(sockaddr_un{}.sun_path) - 1;  // 107 on Linux

sockaddr_un make_addr(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

Result<UniqueFd> new_seqpacket_socket(int extra_flags = 0) {
  auto fd = detail::sys_call("socket(AF_UNIX, SOCK_SEQPACKET)", [&] {
    return ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | extra_flags, 0);
  });
  if (!fd.ok()) return fd.error();
  return UniqueFd(static_cast<int>(*fd));
}

// A.2: decide whether the node at `path` belongs to a live server, and
// remove it when it does not.
Status recover_stale_node(const std::string& run_dir, const std::string& service,
                          const std::string& path) {
  auto probe = new_seqpacket_socket();
  if (!probe.ok()) return make_error(Errc::kAddrInUse, "liveness probe socket", probe.error().sys_errno);
  sockaddr_un addr = make_addr(path);
  int err = 0;
  int rc = detail::sys_retry(
      [&] { return ::connect(probe->get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr); },
      &err);
  if (rc == 0) return make_error(Errc::kAddrInUse, "a live server owns the endpoint");
  if (err == ENOENT) return ok_status();
  UniqueFd dir(::open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return make_error(Errc::kAddrInUse, "open run dir", errno);
  const std::string name = service + ".sock";
  // Only a dead socket is ours to reclaim (ECONNREFUSED: a socket node with
  // nobody listening). Anything else is someone's file and is left alone,
  // with a clear error (a deliberate deviation from upstream, which unlinks
  // whatever is there; see docs/transport.md).
  struct stat st {};
  if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return ok_status();
    return make_error(Errc::kAddrInUse, "inspect the socket path", errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return make_error(Errc::kAddrInUse,
                      S_ISDIR(st.st_mode)
                          ? "a directory is at the socket path (not removed)"
                          : "a file that is not a socket is at the socket path (not removed)");
  }
  if (err == EPROTOTYPE) {
    return make_error(Errc::kAddrInUse,
                      "another program's stream or datagram socket is at the socket path "
                      "(not removed)",
                      err);
  }
  if (err != ECONNREFUSED) {
    return make_error(Errc::kAddrInUse, "cannot probe the socket at the socket path (not removed)",
                      err);
  }
  if (::unlinkat(dir.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return make_error(Errc::kAddrInUse, "remove stale socket", errno);
  }
  return ok_status();
}

}  // namespace

Status validate_service_name(std::string_view s) {
  if (s.empty() || s == "." || s == "..") {
    return make_error(Errc::kInvalidArgument, "service name");
  }
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return make_error(Errc::kInvalidArgument, "service name");
  }
  return ok_status();
}

Result<std::string> socket_path(std::string_view run_dir, std::string_view service) {
  NETIPC_RETURN_IF_ERROR(validate_service_name(service));
  if (run_dir.empty()) return make_error(Errc::kInvalidArgument, "run dir");
  std::string path(run_dir);
  path += '/';
  path += service;
  path += ".sock";
  if (path.size() > kSunPathMax) return make_error(Errc::kPathTooLong, "socket path");
  return path;
}

Status check_run_dir(const std::string& run_dir) {
  if (run_dir.empty() || run_dir[0] != '/') {
    return make_error(Errc::kUnsafeRunDir, "run dir must be an absolute path");
  }
  // lstat() follows a symlink named with a trailing "/" or "/." ("link/",
  // "link/."): check the last real component, without those suffixes.
  std::string last = run_dir;
  for (;;) {
    if (last.size() > 1 && last.back() == '/') {
      last.pop_back();
    } else if (last.size() > 2 && last.compare(last.size() - 2, 2, "/.") == 0) {
      last.resize(last.size() - 2);
    } else {
      break;
    }
  }
  if (last.empty()) last = "/";
  struct stat st {};
  if (::lstat(last.c_str(), &st) != 0) {
    return make_error(Errc::kUnsafeRunDir, "run dir does not exist", errno);
  }
  if (S_ISLNK(st.st_mode)) return make_error(Errc::kUnsafeRunDir, "run dir is a symlink");
  if (!S_ISDIR(st.st_mode)) return make_error(Errc::kUnsafeRunDir, "run dir is not a directory");
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return make_error(Errc::kUnsafeRunDir, "run dir is owned by another user");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return make_error(Errc::kUnsafeRunDir, "run dir is group- or world-writable");
  }
  return ok_status();
}

uint32_t auto_packet_size(int fd) {
  int sndbuf = 0;
  socklen_t len = sizeof sndbuf;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) != 0 || sndbuf <= 64) {
    return 65536;
  }
  // The kernel rejects a SEQPACKET send above SO_SNDBUF - 32 with EMSGSIZE;
  // advertising the raw value (as upstream does) breaks chunking.
  return static_cast<uint32_t>(sndbuf) - 32;
}

void allow_packets_in_flight(int fd, uint32_t packet_size, uint32_t packets) {
  // The kernel caps the value at wmem_max, then doubles it (for its skb
  // bookkeeping); one packet of slack covers the skb overhead.
  const uint64_t want = uint64_t{packet_size} * packets / 2 + uint64_t{packet_size} / 2;
  int current = 0;
  socklen_t len = sizeof current;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &current, &len) == 0 &&
      uint64_t{static_cast<uint32_t>(current)} >= want * 2) {
    return;
  }
  const int value = want > INT32_MAX / 2 ? INT32_MAX / 2 : static_cast<int>(want);
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &value, sizeof value);
}

Result<uid_t> peer_uid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return make_error(Errc::kSystem, "SO_PEERCRED", errno);
  }
  return cred.uid;
}

Result<UdsListener> UdsListener::listen(const std::string& run_dir, const std::string& service,
                                        const ListenerOptions& options) {
  auto path = socket_path(run_dir, service);
  if (!path.ok()) return path.error();
  if (!options.skip_run_dir_check) NETIPC_RETURN_IF_ERROR(check_run_dir(run_dir));
  NETIPC_RETURN_IF_ERROR(recover_stale_node(run_dir, service, *path));

  auto fd = new_seqpacket_socket(SOCK_NONBLOCK);
  if (!fd.ok()) return fd.error();
  // Linux creates the socket node with the socket inode's mode masked by the
  // umask, so setting the mode on the fd before bind() leaves no window in
  // which the node is more permissive (and needs no process-wide umask).
  if (::fchmod(fd->get(), options.socket_mode) != 0) {
    return make_error(Errc::kSystem, "fchmod socket", errno);
  }
  sockaddr_un addr = make_addr(*path);
  if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    return make_error(e == EADDRINUSE ? Errc::kAddrInUse : Errc::kSystem, "bind", e);
  }
  // bind() applied the umask on top; a mode wider than 0600 (a group that
  // may connect) is restored exactly. This only ever widens a node that was
  // stricter than asked, in a directory nobody else can write.
  struct stat created {};
  if (::stat(path->c_str(), &created) == 0 &&
      (created.st_mode & 07777) != (options.socket_mode & 07777) &&
      ::chmod(path->c_str(), options.socket_mode) != 0) {
    const int e = errno;
    ::unlink(path->c_str());
    return make_error(Errc::kSystem, "chmod socket", e);
  }
  UdsListener l;
  l.fd_ = std::move(*fd);
  l.path_ = *path;
  struct stat st {};
  if (::stat(l.path_.c_str(), &st) == 0) {
    l.dev_ = st.st_dev;
    l.ino_ = st.st_ino;
  }
  if (::listen(l.fd_.get(), options.backlog > 0 ? options.backlog : 16) != 0) {
    return make_error(Errc::kSystem, "listen", errno);
  }
  l.allowed_ = options.allowed_uids;
  if (l.allowed_.empty()) {
    l.allowed_.push_back(::geteuid());
    l.allowed_.push_back(0);
  }
  return l;
}

UdsListener& UdsListener::operator=(UdsListener&& other) noexcept {
  if (this != &other) {
    close_and_unlink();
    fd_ = std::move(other.fd_);
    path_ = std::move(other.path_);
    dev_ = other.dev_;
    ino_ = other.ino_;
    allowed_ = std::move(other.allowed_);
    other.path_.clear();
  }
  return *this;
}

UdsListener::~UdsListener() { close_and_unlink(); }

void UdsListener::close_and_unlink() {
  if (!fd_.valid()) return;
  fd_.reset();
  // Unlink only our own node: a successor may already have replaced it.
  struct stat st {};
  if (!path_.empty() && ::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ &&
      st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
  path_.clear();
}

Result<UniqueFd> UdsListener::accept() {
  int err = 0;
  int fd = detail::sys_retry(
      [&] { return ::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC); }, &err);
  if (fd < 0) {
    if (err == EAGAIN || err == EWOULDBLOCK) return make_error(Errc::kNotReady, "accept");
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      return make_error(Errc::kNoMemory, "accept", err);
    }
    return make_error(Errc::kSystem, "accept", err);
  }
  UniqueFd conn(fd);
  auto uid = peer_uid(conn.get());
  if (!uid.ok()) return uid.error();
  if (std::find(allowed_.begin(), allowed_.end(), *uid) == allowed_.end()) {
    return make_error(Errc::kPermission, "peer uid not allowed");
  }
  return conn;
}

Result<UniqueFd> uds_connect(const std::string& run_dir, const std::string& service) {
  auto path = socket_path(run_dir, service);
  if (!path.ok()) return path.error();
  // Non-blocking: a server whose backlog is full must not hang the caller
  // (AF_UNIX connect either completes at once or fails with EAGAIN).
  auto fd = new_seqpacket_socket(SOCK_NONBLOCK);
  if (!fd.ok()) return fd.error();
  sockaddr_un addr = make_addr(*path);
  int err = 0;
  int rc = detail::sys_retry(
      [&] { return ::connect(fd->get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr); }, &err);
  if (rc != 0) {
    if (err == EAGAIN) return make_error(Errc::kNotReady, "connect: server backlog full", err);
    if (err == EACCES || err == EPERM) {
      return make_error(Errc::kPermission, "connect: permission denied", err);
    }
    return make_error(Errc::kNotFound, "connect", err);
  }
  return std::move(*fd);
}

}  // namespace netipc
