// ThreadFactory: how the libuv adapter starts threads (the ServerThread's
// loop thread, a server's shared-memory waiter threads), so a host such as
// Netdata can use its own thread API and names.
#pragma once

#include <functional>

#include "netipc/result.h"

namespace netipc::uv {

struct ThreadFactory {
  // Starts body() on a new thread named `name` (<= 15 chars); returns an
  // opaque handle for join(). A failure is an error, never an exception
  // (one that escapes anyway is caught and treated as a failure).
  std::function<Result<void*>(const char* name, std::function<void()> body)> start;
  std::function<void(void* handle)> join;
};

// A factory on std::thread (the name is applied with pthread_setname_np).
// Thread-creation failure (EAGAIN: RLIMIT_NPROC, threads-max, memory) is
// kNoMemory with its errno.
ThreadFactory std_thread_factory();

}  // namespace netipc::uv
