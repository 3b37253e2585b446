#include "pair.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>

#include "netipc/uv/server.h"

namespace netipc::bench {

bool serve_until_sigterm(uv_loop_t* loop, uv::Server* server, int ready_fd) {
  uv_signal_t sig;
  uv_signal_init(loop, &sig);
  sig.data = server;
  uv_signal_start_oneshot(
      &sig,
      [](uv_signal_t* h, int) {
        static_cast<uv::Server*>(h->data)->stop(100, [] {});
        uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
      },
      SIGTERM);
  const char c = 1;
  if (write(ready_fd, &c, 1) != 1) return false;
  uv_run(loop, UV_RUN_DEFAULT);
  return true;
}

ChildProcess ChildProcess::start(const std::function<int(int)>& body, int cpu) {
  int fds[2];
  if (pipe(fds) != 0) return ChildProcess();
  pid_t pid = fork();
  if (pid < 0) return ChildProcess();
  if (pid == 0) {
    close(fds[0]);
    pin_to_cpu(cpu);
    _exit(body(fds[1]));
  }
  close(fds[1]);
  char c = 0;
  ChildProcess p;
  p.pid_ = pid;
  if (read(fds[0], &c, 1) != 1) p.stop();
  close(fds[0]);
  return p;
}

int ChildProcess::stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int st = 0;
  waitpid(pid_, &st, 0);
  pid_ = -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

ChildProcess::~ChildProcess() { stop(); }

int client_cpu() { return sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 0 : -1; }
int server_cpu() { return sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 1 : -1; }

Window::Window(const ChildProcess* child)
    : child_(child),
      t0_(now_ns()),
      client0_(thread_cpu_seconds()),
      server0_(child != nullptr ? child->cpu_seconds() : 0) {}

double Window::elapsed_s() const { return static_cast<double>(now_ns() - t0_) / 1e9; }

void Window::finish(RunResult* r, uint64_t ops) {
  const double el = elapsed_s();
  r->throughput = el > 0 ? static_cast<double>(ops) / el : 0;
  r->client_cpu_pct = el > 0 ? 100.0 * (thread_cpu_seconds() - client0_) / el : 0;
  if (child_ != nullptr) r->server_cpu_pct = el > 0 ? 100.0 * (child_->cpu_seconds() - server0_) / el : 0;
}

void pace(uint64_t start_ns, uint64_t i, double rate) {
  if (rate <= 0) return;
  const uint64_t at = start_ns + static_cast<uint64_t>(static_cast<double>(i) * 1e9 / rate);
  timespec ts{static_cast<time_t>(at / 1000000000ull), static_cast<long>(at % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace netipc::bench
