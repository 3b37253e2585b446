#include "test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <utility>

namespace netipc::test {

TempDir::TempDir() {
  char tmpl[] = "/tmp/nipcXXXXXX";
  char* p = mkdtemp(tmpl);
  if (p == nullptr) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string unique_service(const char* prefix) {
  static std::atomic<unsigned> counter{0};
  return std::string(prefix) + "-" + std::to_string(getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// In a forked child: runs argv[0] with argv, or exits 127.
[[noreturn]] static void exec_or_exit(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

Child Child::spawn(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Child();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return Child();
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    exec_or_exit(argv);
  }
  close(fds[1]);
  Child c;
  c.pid_ = pid;
  c.out_fd_ = fds[0];
  return c;
}

Child Child::fork_fn(const std::function<int()>& fn) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Child();
  pid_t pid = fork();
  if (pid < 0) return Child();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    _exit(fn());
  }
  close(fds[1]);
  Child c;
  c.pid_ = pid;
  c.out_fd_ = fds[0];
  return c;
}

Child::Child(Child&& other) noexcept {
  *this = std::move(other);
}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    this->~Child();
    pid_ = std::exchange(other.pid_, -1);
    out_fd_ = std::exchange(other.out_fd_, -1);
    out_ = std::move(other.out_);
    reaped_ = other.reaped_;
    status_ = other.status_;
  }
  return *this;
}

Child::~Child() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
  pid_ = -1;
  out_fd_ = -1;
}

static bool read_some(int fd, std::string* out, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int rc = poll(&p, 1, timeout_ms);
  if (rc <= 0) return rc == 0 ? true : errno == EINTR;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n <= 0) return false;
  out->append(buf, static_cast<size_t>(n));
  return true;
}

bool Child::wait_for_line(const std::string& line, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t scanned = 0;
  for (;;) {
    size_t pos;
    while ((pos = out_.find('\n', scanned)) != std::string::npos) {
      if (out_.compare(scanned, pos - scanned, line) == 0) return true;
      scanned = pos + 1;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_fd_ < 0) return false;
    if (!read_some(out_fd_, &out_, static_cast<int>(std::min<long>(left.count(), 50)))) {
      return false;
    }
  }
}

std::string Child::read_all(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out_fd_ >= 0 && std::chrono::steady_clock::now() < deadline) {
    if (!read_some(out_fd_, &out_, 50)) break;
  }
  return out_;
}

void Child::kill_with(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

int Child::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return status_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      if (out_fd_ >= 0) read_all(std::chrono::milliseconds(200));
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    if (out_fd_ >= 0) {
      read_some(out_fd_, &out_, 5);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

std::string built_binary(const std::string& relative) {
#ifdef NETIPC_BINARY_DIR
  return std::string(NETIPC_BINARY_DIR) + "/" + relative;
#else
  return relative;
#endif
}

RunResult run_to_completion(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout) {
  RunResult r;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return r;
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return r;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out[0], out[1], err[0], err[1]})
      close(fd);
    return r;
  }
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    exec_or_exit(argv);
  }
  close(out[1]);
  close(err[1]);
  // Both pipes until EOF (the process exited or closed them), or the timeout.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (poll(fds, 2, 50) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[8192];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  if (open_fds > 0) ::kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  if (open_fds == 0) r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string raise_fd_limit(uint64_t need) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return "getrlimit(RLIMIT_NOFILE) failed";
  if (rl.rlim_cur >= need) return "";
  rlimit raised = rl;
  raised.rlim_cur = std::min<rlim_t>(rl.rlim_max, need);
  ::setrlimit(RLIMIT_NOFILE, &raised);
  ::getrlimit(RLIMIT_NOFILE, &raised);
  if (raised.rlim_cur >= need) return "";
  return "SKIPPED LOUDLY: RLIMIT_NOFILE hard limit " + std::to_string(rl.rlim_max) +
         " is below the " + std::to_string(need) + " descriptors this test needs";
}

}  // namespace netipc::test
