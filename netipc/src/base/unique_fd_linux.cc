#include "netipc/unique_fd.h"

#include <unistd.h>

namespace netipc {

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) {
    // close() must not be retried on EINTR on Linux: the fd is released
    // whatever it returns.
    ::close(fd_);
  }
  fd_ = fd;
}

}  // namespace netipc
