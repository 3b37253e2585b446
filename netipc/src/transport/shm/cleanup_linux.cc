// Stale region detection and startup cleanup (docs/shm.md B.12).
//
// Only liveness matters: a region whose owner pid is gone (or whose
// generation is 0) is removed; so is anything at a region name that is not a
// region at all (symlink, directory, short file, wrong magic). Directory
// permissions never gate reclamation.
#include "transport/shm/cleanup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <memory>
#include <string>
#include <vector>

#include "netipc/unique_fd.h"
#include "sys_linux.h"
#include "transport/shm/internal_linux.h"
#include "transport/shm/layout.h"
#include "transport/shm/naming.h"

namespace netipc::shm {

namespace detail {

bool pid_alive(int32_t pid) noexcept {
  if (pid <= 0) return false;
  if (::kill(pid, 0) == 0) return true;
  return errno == EPERM;
}

bool is_plain_file_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > NAME_MAX || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || c == '\0') return false;
  }
  return true;
}

Status remove_entry(int dir_fd, const char* name) noexcept {
  int err = 0;
  int rc = netipc::detail::sys_retry([&] { return ::unlinkat(dir_fd, name, 0); }, &err);
  if (rc == 0 || err == ENOENT) return ok_status();
  if (err == EISDIR) {
    rc = netipc::detail::sys_retry([&] { return ::unlinkat(dir_fd, name, AT_REMOVEDIR); }, &err);
    if (rc == 0 || err == ENOENT) return ok_status();
  }
  return make_error(Errc::kAddrInUse, "shm stale check: cannot remove entry", err);
}

Status remove_entry_if_same(int dir_fd, const char* name, dev_t dev, ino_t ino) noexcept {
  struct stat now {};
  int err = 0;
  const int rc = netipc::detail::sys_retry(
      [&] { return ::fstatat(dir_fd, name, &now, AT_SYMLINK_NOFOLLOW); }, &err);
  if (rc != 0) {
    if (err == ENOENT) return ok_status();
    return make_error(Errc::kAddrInUse, "shm stale check: fstatat", err);
  }
  if (now.st_dev != dev || now.st_ino != ino) {
    return make_error(Errc::kAddrInUse, "shm stale check: entry replaced while inspected");
  }
  return remove_entry(dir_fd, name);
}

}  // namespace detail

namespace {

// Reads the first 64 bytes with pread rather than a mapping: a file that is
// truncated under us yields a short read here, never a SIGBUS.
bool read_header(int fd, uint8_t (&h)[kHeaderLen]) noexcept {
  int err = 0;
  const ssize_t n = netipc::detail::sys_retry([&] { return ::pread(fd, h, sizeof h, 0); }, &err);
  return n == static_cast<ssize_t>(sizeof h);
}

struct DirCloser {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

}  // namespace

Result<StaleOutcome> reclaim_if_stale(int run_dir_fd, std::string_view file_name) {
  if (run_dir_fd < 0 || !detail::is_plain_file_name(file_name)) {
    return make_error(Errc::kInvalidArgument, "shm stale check: bad name");
  }
  const std::string name(file_name);
  int err = 0;
  // O_NONBLOCK: a FIFO at the name must not block us; O_NOFOLLOW: a symlink
  // fails with ELOOP and is removed itself, its target is never touched.
  const int raw = netipc::detail::sys_retry(
      [&] {
        return ::openat(run_dir_fd, name.c_str(),
                        O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
      },
      &err);
  if (raw < 0) {
    if (err == ENOENT) return StaleOutcome::kAbsent;
    if (err == EMFILE || err == ENFILE) {
      return make_error(Errc::kAddrInUse, "shm stale check: out of fds, kept", err);
    }
    // Symlink, unreadable file, ...: junk that could not even be opened.
    NETIPC_RETURN_IF_ERROR(detail::remove_entry(run_dir_fd, name.c_str()));
    return StaleOutcome::kReclaimed;
  }
  UniqueFd fd(raw);

  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error(Errc::kAddrInUse, "shm stale check: fstat failed, kept", errno);
  }
  bool junk = !S_ISREG(st.st_mode) || st.st_size < static_cast<off_t>(kHeaderLen);
  uint8_t h[kHeaderLen] = {};
  if (!junk) junk = !read_header(fd.get(), h) || load_u32(h + kOffMagic) != kMagic;
  if (!junk) {
    // The version is deliberately not checked: any region-shaped file with a
    // live owner is left to that owner.
    const auto pid = static_cast<int32_t>(load_u32(h + kOffOwnerPid));
    const uint32_t generation = load_u32(h + kOffOwnerGeneration);
    if (detail::pid_alive(pid) && generation != 0) {
      return make_error(Errc::kAddrInUse, "shm stale check: region owned by a live process");
    }
  }
  NETIPC_RETURN_IF_ERROR(
      detail::remove_entry_if_same(run_dir_fd, name.c_str(), st.st_dev, st.st_ino));
  return StaleOutcome::kReclaimed;
}

Status cleanup_stale_regions(int run_dir_fd, std::string_view service, CleanupStats* stats) {
  NETIPC_RETURN_IF_ERROR(validate_service_name(service));
  if (run_dir_fd < 0) return make_error(Errc::kInvalidArgument, "shm cleanup: run_dir_fd");
  auto dup = netipc::detail::sys_call("shm cleanup: dup run dir",
                                      [&] { return ::fcntl(run_dir_fd, F_DUPFD_CLOEXEC, 0); });
  if (!dup) return dup.error();
  UniqueFd dup_fd(static_cast<int>(*dup));
  UniqueDir dir(::fdopendir(dup_fd.get()));
  if (!dir) return make_error(Errc::kSystem, "shm cleanup: fdopendir", errno);
  dup_fd.release();  // owned by the DIR now
  // The duplicate shares its offset with the caller's fd: start at the top.
  ::rewinddir(dir.get());

  const std::string prefix = std::string(service) + "-";
  const std::string_view suffix = kFileSuffix;
  std::vector<std::string> candidates;
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(dir.get());
    if (e == nullptr) {
      if (errno != 0) return make_error(Errc::kSystem, "shm cleanup: readdir", errno);
      break;
    }
    const std::string_view n(e->d_name);
    if (n.size() > prefix.size() + suffix.size() && n.compare(0, prefix.size(), prefix) == 0 &&
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
      candidates.emplace_back(n);
    }
  }

  CleanupStats local;
  local.candidates = static_cast<uint32_t>(candidates.size());
  for (const auto& name : candidates) {
    auto r = reclaim_if_stale(run_dir_fd, name);
    if (r && *r == StaleOutcome::kReclaimed) {
      ++local.reclaimed;
    } else if (!r) {
      ++local.kept;
    }
  }
  if (stats != nullptr) *stats = local;
  return ok_status();
}

}  // namespace netipc::shm
