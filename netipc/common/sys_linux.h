// The one helper every system call goes through: retries EINTR and captures
// errno into an Error. Callers always pass CLOEXEC flags themselves.
#pragma once

#include <cerrno>
#include <cstdint>
#include <ctime>

#include "netipc/result.h"

namespace netipc::detail {

// Runs fn() until it does not fail with EINTR. Returns its result; on
// failure (-1) *err is set from errno.
template <typename Fn>
auto sys_retry(Fn&& fn, int* err) -> decltype(fn()) {
  for (;;) {
    auto rc = fn();
    if (rc != -1) {
      *err = 0;
      return rc;
    }
    if (errno != EINTR) {
      *err = errno;
      return rc;
    }
  }
}

// Wraps sys_retry into a Result<long>: the syscall's value or an Error with
// `code` and the captured errno.
template <typename Fn>
Result<long> sys_call(const char* what, Fn&& fn, Errc code = Errc::kSystem) {
  int err = 0;
  long rc = static_cast<long>(sys_retry(fn, &err));
  if (rc == -1) return make_error(code, what, err);
  return rc;
}

// Monotonic clock in milliseconds / nanoseconds.
inline int64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
inline int64_t monotonic_ms() { return monotonic_ns() / 1000000; }

// Milliseconds left until deadline_ns (0 = no deadline -> -1 for poll()).
inline int remaining_poll_ms(int64_t deadline_ns) {
  if (deadline_ns == 0) return -1;
  int64_t left = deadline_ns - monotonic_ns();
  if (left <= 0) return 0;
  int64_t ms = (left + 999999) / 1000000;
  return ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
}

}  // namespace netipc::detail
