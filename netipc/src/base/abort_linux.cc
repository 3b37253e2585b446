#include "base/abort.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "sys_linux.h"

namespace netipc {

Result<AbortHandle> AbortHandle::create() {
  auto fd = detail::sys_call("eventfd", [] { return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
  if (!fd.ok()) return fd.error();
  AbortHandle h;
  h.fd_.reset(static_cast<int>(*fd));
  return h;
}

void AbortHandle::abort() noexcept {
  flag_.store(true, std::memory_order_release);
  if (fd_.valid()) {
    uint64_t one = 1;
    int err = 0;
    (void)detail::sys_retry([&] { return ::write(fd_.get(), &one, sizeof one); }, &err);
  }
}

void AbortHandle::clear() noexcept {
  flag_.store(false, std::memory_order_release);
  if (fd_.valid()) {
    uint64_t value = 0;
    int err = 0;
    (void)detail::sys_retry([&] { return ::read(fd_.get(), &value, sizeof value); }, &err);
  }
}

}  // namespace netipc
