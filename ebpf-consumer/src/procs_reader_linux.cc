// ProcsReader: reads a cgroup.procs file with one open() and a read() loop
// into a reusable buffer (one read() for a file of less than a page), then
// parses the decimal PIDs.
#include "ebpf_consumer/target_table.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "netipc/unique_fd.h"
#include "sys_linux.h"

namespace netipc::ebpf {
namespace {

constexpr size_t kInitialBuffer = size_t{16} * 1024;

// A first read() shorter than this returned the whole file, so the read
// that would return 0 is skipped (one syscall of the three per file saved).
// cgroup.procs is a seq_file: one read() returns records until the caller's
// buffer or the kernel's (a page, >= 4 KiB, grown only for a record that
// does not fit one) is full, a show() fails (never, for cgroup.procs), or
// the records end. A read that stopped because a page was full returned
// more than a page minus the longest record ("2147483647\n", 11 bytes).
// A regular file (tests, benchmarks on tmpfs) returns less than asked only
// at its end.
constexpr size_t kSurelyComplete = 4096 - 11;
static_assert(kSurelyComplete < kInitialBuffer, "a first read asks for more than a page");

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

// cgroupfs reports a removed cgroup through these: ENOENT/ENOTDIR before
// open, ENODEV from read() on a file whose cgroup was removed after open.
bool is_vanished(int err) {
  return err == ENOENT || err == ENODEV || err == ENOTDIR || err == ESRCH;
}

}  // namespace

size_t ProcsReader::parse(std::string_view text, std::vector<pid_t>* pids) {
  size_t invalid = 0;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    while (i < n && is_space(text[i]))
      ++i;
    if (i == n) break;
    uint64_t value = 0;
    bool ok = true;
    size_t digits = 0;
    for (; i < n && !is_space(text[i]); ++i) {
      const char c = text[i];
      if (c < '0' || c > '9' || ++digits > 10) {
        ok = false;
        continue;
      }
      value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    if (ok && value >= 1 && value <= INT32_MAX) {
      pids->push_back(static_cast<pid_t>(value));
    } else {
      ++invalid;
    }
  }
  return invalid;
}

netipc::Status ProcsReader::read(std::string_view path, std::vector<pid_t>* pids) {
  pids->clear();
  return append(path, pids);
}

netipc::Status ProcsReader::append(std::string_view path, std::vector<pid_t>* pids) {
  invalid_tokens_ = 0;
  const size_t first = pids->size();
  size_t used = 0;
  netipc::Status st = read_file(path, &used);
  if (!st.ok()) return st;
  try {
    invalid_tokens_ = parse(std::string_view(buf_.data(), used), pids);
  } catch (const std::bad_alloc&) {
    pids->resize(first);
    return netipc::make_error(netipc::Errc::kNoMemory, "cgroup.procs: pids");
  }
  // cgroup v1 lists PIDs sorted; v2 does not. Sort only when needed.
  const auto begin = pids->begin() + static_cast<std::ptrdiff_t>(first);
  if (!std::is_sorted(begin, pids->end())) std::sort(begin, pids->end());
  pids->erase(std::unique(begin, pids->end()), pids->end());
  return netipc::ok_status();
}

netipc::Status ProcsReader::read_file(std::string_view path, size_t* used_out) {
  if (path.empty() || path.find('\0') != std::string_view::npos) {
    return netipc::make_error(netipc::Errc::kInvalidArgument, "cgroup.procs: bad path");
  }
  try {
    path_.assign(path.data(), path.size());
    if (buf_.empty()) buf_.resize(kInitialBuffer);
  } catch (const std::bad_alloc&) {
    return netipc::make_error(netipc::Errc::kNoMemory, "cgroup.procs: buffer");
  }

  int err = 0;
  netipc::UniqueFd fd(netipc::detail::sys_retry(
      [&] { return ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY); }, &err));
  if (!fd.valid()) {
    return netipc::make_error(is_vanished(err) ? netipc::Errc::kNotFound : netipc::Errc::kSystem,
                              "cgroup.procs: open", err);
  }

  size_t used = 0;
  for (;;) {
    if (used == buf_.size()) {
      if (buf_.size() >= kMaxFileBytes) {
        return netipc::make_error(netipc::Errc::kLimitExceeded, "cgroup.procs: file too large");
      }
      try {
        buf_.resize(std::min(buf_.size() * 2, kMaxFileBytes));
      } catch (const std::bad_alloc&) {
        return netipc::make_error(netipc::Errc::kNoMemory, "cgroup.procs: buffer");
      }
    }
    const ssize_t got = netipc::detail::sys_retry(
        [&] { return ::read(fd.get(), buf_.data() + used, buf_.size() - used); }, &err);
    if (got < 0) {
      return netipc::make_error(is_vanished(err) ? netipc::Errc::kNotFound : netipc::Errc::kSystem,
                                "cgroup.procs: read", err);
    }
    if (got == 0) break;
    const bool short_first = used == 0 && static_cast<size_t>(got) < kSurelyComplete;
    used += static_cast<size_t>(got);
    if (short_first) break;
  }
  *used_out = used;
  return netipc::ok_status();
}

}  // namespace netipc::ebpf
