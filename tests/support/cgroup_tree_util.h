// Cgroup trees for consumer tests: real cgroups (a v1 controller or
// cgroup2, where the machine lets us create them: root and a writable
// cgroupfs) and a directory tree of the same shape whose cgroup.procs files
// the test writes itself. Processes are real (forked sleepers) in both.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "test_support.h"

namespace netipc::cgroup_tree {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string procs(const std::string& cg) const = 0;
  virtual bool create(const std::string& cg) = 0;
  virtual bool enter(const std::string& cg, pid_t pid) = 0;
  // Called after `pid` died and was reaped.
  virtual void left(const std::string& cg, pid_t pid) = 0;
  virtual bool remove(const std::string& cg) = 0;
};

class DirectoryTree : public Backend {
 public:
  const std::string& root() const { return dir_.path(); }
  std::string procs(const std::string& cg) const override {
    return dir_.path() + "/" + cg + "/cgroup.procs";
  }
  bool create(const std::string& cg) override {
    std::filesystem::create_directories(dir_.path() + "/" + cg);
    pids_[cg].clear();
    return rewrite(cg);
  }
  bool enter(const std::string& cg, pid_t pid) override {
    pids_[cg].push_back(pid);
    return rewrite(cg);
  }
  void left(const std::string& cg, pid_t pid) override {
    auto& v = pids_[cg];
    v.erase(std::remove(v.begin(), v.end(), pid), v.end());
    rewrite(cg);
  }
  bool remove(const std::string& cg) override {
    std::error_code ec;
    std::filesystem::remove_all(dir_.path() + "/" + cg, ec);
    return !ec;
  }

 private:
  // Written to a temporary name and renamed, as a reader may open the file
  // at any moment (the consumer reads while tests change PIDs).
  bool rewrite(const std::string& cg) {
    const std::string tmp = procs(cg) + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      for (pid_t p : pids_[cg])
        f << p << "\n";
      if (!f) return false;
    }
    return ::rename(tmp.c_str(), procs(cg).c_str()) == 0;
  }
  test::TempDir dir_;
  std::map<std::string, std::vector<pid_t>> pids_;
};

class RealCgroupfs : public Backend {
 public:
  explicit RealCgroupfs(std::string base)
      : base_(std::move(base)),
        root_(base_ + "/netipc_cons_" + std::to_string(getpid()) + "_" +
              test::unique_service("c")) {}
  // Removes every cgroup this test created, even after a failure: processes
  // still inside are moved back to the parent first.
  ~RealCgroupfs() override {
    for (auto it = created_.rbegin(); it != created_.rend(); ++it)
      evacuate_and_rmdir(*it);
    if (root_made_) evacuate_and_rmdir(root_);
  }
  // Empty if cgroups can be created under base, else why not.
  std::string probe() {
    struct stat st {};
    if (::stat((base_ + "/cgroup.procs").c_str(), &st) != 0) {
      return "no cgroup hierarchy at " + base_;
    }
    if (::mkdir(root_.c_str(), 0755) != 0) return "mkdir " + root_ + ": " + std::strerror(errno);
    root_made_ = true;
    return {};
  }
  std::string procs(const std::string& cg) const override { return dir(cg) + "/cgroup.procs"; }
  bool create(const std::string& cg) override {
    if (::mkdir(dir(cg).c_str(), 0755) != 0) return false;
    created_.push_back(dir(cg));
    return true;
  }
  bool enter(const std::string& cg, pid_t pid) override { return write_pid(procs(cg), pid); }
  void left(const std::string&, pid_t) override {}  // the kernel drops dead tasks
  bool remove(const std::string& cg) override { return ::rmdir(dir(cg).c_str()) == 0; }

 private:
  std::string dir(const std::string& cg) const { return root_ + "/" + cg; }
  static bool write_pid(const std::string& file, pid_t pid) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const std::string line = std::to_string(pid) + "\n";
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    return ok;
  }
  void evacuate_and_rmdir(const std::string& d) {
    std::ifstream f(d + "/cgroup.procs");
    pid_t p;
    while (f >> p)
      write_pid(base_ + "/cgroup.procs", p);
    ::rmdir(d.c_str());
  }

  std::string base_;
  std::string root_;
  bool root_made_ = false;
  std::vector<std::string> created_;
};

// A process that only waits to be killed. It first closes every descriptor
// it inherited (a test's server and client sockets among them: a copy held
// by a child would keep a session alive after the test closed it), then
// says so; sleeper() returns after that.
inline test::Child sleeper() {
  test::Child c = test::Child::fork_fn([] {
    ::close_range(3, ~0U, 0);
    if (::write(STDOUT_FILENO, "R\n", 2) != 2) return 1;
    for (;;)
      pause();
    return 0;
  });
  if (c.valid()) {
    EXPECT_TRUE(c.wait_for_line("R"));
  }
  return c;
}

inline void kill_and_reap(test::Child& c) {
  c.kill_with(SIGKILL);
  EXPECT_NE(c.wait(), -1);
}

}  // namespace netipc::cgroup_tree
