// AbortHandle: wakes a blocked call from another thread.
//
// abort() is safe from any thread (and from a signal handler: it is one
// write(2) and one atomic store). The flag stays set until clear(). Waits
// poll fd() (an eventfd) alongside their socket, and SHM waits check
// aborted() between futex slices.
#pragma once

#include <atomic>

#include "netipc/result.h"
#include "netipc/unique_fd.h"

namespace netipc {

class AbortHandle {
 public:
  static Result<AbortHandle> create();
  AbortHandle() = default;
  AbortHandle(AbortHandle&& o) noexcept
      : fd_(std::move(o.fd_)), flag_(o.flag_.load(std::memory_order_relaxed)) {}
  AbortHandle& operator=(AbortHandle&& o) noexcept {
    fd_ = std::move(o.fd_);
    flag_.store(o.flag_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }

  void abort() noexcept;
  void clear() noexcept;
  bool aborted() const noexcept { return flag_.load(std::memory_order_acquire); }
  int fd() const noexcept { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::atomic<bool> flag_{false};
};

}  // namespace netipc
