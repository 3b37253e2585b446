// Process pairs for netipc-bench: the server side runs in a forked child,
// the client in this process, each pinned to its own CPU when there are two.
#pragma once

#include <sys/types.h>

#include <functional>

#include "bench_common.h"

struct uv_loop_s;
namespace netipc::uv {
class Server;
}  // namespace netipc::uv

namespace netipc::bench {

// The end of a ChildProcess body that serves with a libuv server: stops
// `server` on SIGTERM, writes the ready byte to `ready_fd`, then runs
// `loop` until it has nothing left. False when the ready byte cannot be
// written (the loop is not run).
bool serve_until_sigterm(uv_loop_s* loop, uv::Server* server, int ready_fd);

class ChildProcess {
 public:
  // Forks; the child runs body(ready_fd) and must write one byte to
  // ready_fd once it serves, then run until SIGTERM. Returns when the child
  // is ready (or failed: valid() false).
  static ChildProcess start(const std::function<int(int ready_fd)>& body, int cpu);
  ChildProcess() = default;
  ChildProcess(ChildProcess&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  ~ChildProcess();  // SIGTERM, then reap
  bool valid() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  double cpu_seconds() const { return child_cpu_seconds(pid_); }
  int stop();  // SIGTERM + wait; returns the exit status

 private:
  pid_t pid_ = -1;
};

// CPUs for the two sides: (0, 1) when at least two are online, else (-1, -1).
int client_cpu();
int server_cpu();

// Measures elapsed time and CPU of the client thread and the child.
class Window {
 public:
  explicit Window(const ChildProcess* child);
  double elapsed_s() const;
  void finish(RunResult* r, uint64_t ops);  // fills throughput and cpu fields

 private:
  const ChildProcess* child_;
  uint64_t t0_;
  double client0_, server0_;
};

// Sleeps until the i-th paced send time when rate > 0.
void pace(uint64_t start_ns, uint64_t i, double rate);

}  // namespace netipc::bench
