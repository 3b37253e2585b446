// Shared helpers for tests: private run directories, waiting on conditions
// with deadlines (never sleeping as synchronization), child processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace netipc::test {

// A private directory under /tmp (short, so socket paths fit sun_path),
// mode 0700, removed recursively on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A service name unique within this machine (pid + counter).
std::string unique_service(const char* prefix = "t");

// Polls pred every millisecond until it is true or the timeout passes.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A child process with its stdout captured through a pipe.
class Child {
 public:
  // argv[0] is the program path. Returns an invalid Child on failure.
  static Child spawn(const std::vector<std::string>& argv);
  // Runs fn in a forked child which _exit()s with fn's return value.
  static Child fork_fn(const std::function<int()>& fn);
  Child() = default;
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  ~Child();  // kills (SIGKILL) and reaps if still running

  bool valid() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Reads stdout lines until one equals `line` or the timeout passes.
  bool wait_for_line(const std::string& line,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Reads the rest of stdout until EOF (after the child exits).
  std::string read_all(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  void kill_with(int sig);
  // Waits for exit; returns the exit status (or 128+signal), -1 on timeout.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  const std::string& output() const { return out_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string out_;
  bool reaped_ = false;
  int status_ = 0;
};

// What a finished process left behind.
struct RunResult {
  int status = -1;  // exit code, 128 + signal, -1 when killed at the timeout
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs argv (argv[0] is the program path) to completion, capturing stdout
// and stderr; kills it (status -1) if it has not closed both by `timeout`.
RunResult run_to_completion(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Path of a binary built by this tree (e.g. "tools/netipc-cli").
std::string built_binary(const std::string& relative);

// Raises this process's soft RLIMIT_NOFILE to at least `need` descriptors
// (never past the hard limit). Returns "" when `need` are available, else
// why not: a test that needs them skips loudly with that text.
std::string raise_fd_limit(uint64_t need);

}  // namespace netipc::test
