// `netipc-cli cache` as a process: against `netipc-cli serve
// cgroups-snapshot` (another process) it shows the status line and every
// enabled item with its PID count; without a provider --once fails with the
// error in the status line; the live view prints one block per refresh,
// keeps going through provider failures, and exits 0 on SIGINT.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "cli_test_util.h"
#include "netipc/bytes.h"
#include "test_support.h"

namespace netipc {
namespace {

class CliCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cli_ = cli_test::cli();
    ASSERT_EQ(::access(cli_.c_str(), X_OK), 0) << cli_;
    // Two cgroups with real cgroup.procs files, one disabled item.
    ::mkdir(dir_.file("web").c_str(), 0755);
    ::mkdir(dir_.file("db").c_str(), 0755);
    std::ofstream(dir_.file("web/cgroup.procs")) << getpid() << "\n" << getppid() << "\n";
    std::ofstream(dir_.file("db/cgroup.procs")) << getpid() << "\n";
    std::ofstream(dir_.file("items.json"))
        << "[{\"name\": \"cgroup_web\", \"path\": \"" << dir_.file("web/cgroup.procs")
        << "\", \"options\": 0, \"enabled\": 1, \"cgroup_id\": 4242},"
        << " {\"name\": \"systemd_db.service\", \"path\": \"" << dir_.file("db/cgroup.procs")
        << "\", \"options\": 2, \"enabled\": 1, \"cgroup_id\": 77},"
        << " {\"name\": \"cgroup_off\", \"path\": \"\", \"options\": 0, \"enabled\": 0}]";
  }
  test::Child serve() {
    test::Child s = test::Child::spawn({cli_, "serve", "cgroups-snapshot", "--run-dir", dir_.path(),
                                        "--service", service_, "--items", dir_.file("items.json"),
                                        "--generation", "31", "--auth-token", "0x5"});
    EXPECT_TRUE(s.valid());
    EXPECT_TRUE(s.wait_for_line("READY"));
    return s;
  }
  test::Child cache(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {cli_,        "cache",  "--run-dir",    dir_.path(),
                                     "--service", service_, "--auth-token", "0x5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::Child::spawn(argv);
  }

  test::TempDir dir_;
  std::string service_ = test::unique_service("clic");
  std::string cli_;
};

TEST_F(CliCacheTest, OnceShowsTheItemsTheServerHolds) {
  test::Child server = serve();
  test::Child c = cache({"--once"});
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(c.wait(), 0);
  const std::string out = c.read_all();
  EXPECT_NE(out.find("state READY"), std::string::npos) << out;
  EXPECT_NE(out.find("generation 31"), std::string::npos) << out;
  EXPECT_NE(out.find("items 3"), std::string::npos) << out;
  EXPECT_NE(out.find("targets 2"), std::string::npos) << out;
  EXPECT_NE(out.find("refreshes 1 ok / 0 failed"), std::string::npos) << out;
  EXPECT_NE(out.find("layout 2"), std::string::npos) << out;
  // name, systemd flag, PID count, cgroup id
  EXPECT_NE(out.find("cgroup_web          no            2  4242"), std::string::npos) << out;
  EXPECT_NE(out.find("systemd_db.service  yes           1  77"), std::string::npos) << out;
  EXPECT_EQ(out.find("cgroup_off"), std::string::npos) << out;  // disabled
  server.kill_with(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
}

TEST_F(CliCacheTest, OnceWithoutAProviderFailsWithTheErrorInTheStatusLine) {
  test::Child c = cache({"--once"});
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(c.wait(), 1);
  const std::string out = c.read_all();
  EXPECT_NE(out.find("state NOT_FOUND"), std::string::npos) << out;
  EXPECT_NE(out.find("refreshes 0 ok / 1 failed"), std::string::npos) << out;
  EXPECT_NE(out.find("last ok never"), std::string::npos) << out;
  EXPECT_NE(out.find("error: "), std::string::npos) << out;
  EXPECT_NE(out.find("NOT_FOUND"), std::string::npos) << out;
}

TEST_F(CliCacheTest, BadArgumentsExitWithUsageStatus) {
  test::Child c = cache({"--every", "0"});
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(c.wait(), 2);
  test::Child d = test::Child::spawn({cli_, "cache", "--service", "x"});
  ASSERT_TRUE(d.valid());
  EXPECT_EQ(d.wait(), 2);  // --run-dir is required
}

TEST_F(CliCacheTest, LiveViewRefreshesThroughFailuresUntilSigint) {
  test::Child c = cache({"--every", "0.05"});
  ASSERT_TRUE(c.valid());
  // Not a terminal: blocks separated by blank lines. First without a
  // provider (failures shown, not fatal), then with one.
  auto output_has = [&](const char* text) {
    return test::wait_until([&] {
      c.wait_for_line("\x01", std::chrono::milliseconds(20));  // reads what is there
      return c.output().find(text) != std::string::npos;
    });
  };
  ASSERT_TRUE(output_has("state NOT_FOUND")) << c.output();
  ASSERT_TRUE(output_has("\n\n")) << c.output();  // a second block followed
  test::Child server = serve();
  EXPECT_TRUE(output_has("state READY")) << c.output();
  EXPECT_TRUE(output_has("systemd_db.service")) << c.output();
  c.kill_with(SIGINT);
  EXPECT_EQ(c.wait(), 0);
  server.kill_with(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
}

TEST_F(CliCacheTest, OnATerminalEachViewRedrawsTheScreenInPlace) {
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl(cli_.c_str(), cli_.c_str(), "cache", "--run-dir", dir_.path().c_str(), "--service",
            service_.c_str(), "--every", "0.05", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Two views, each starting with "cursor home, clear screen".
  const std::string clear = "\033[H\033[2J";
  std::string out;
  auto views = [&] {
    size_t n = 0;
    for (size_t p = out.find(clear); p != std::string::npos; p = out.find(clear, p + 1))
      ++n;
    return n;
  };
  EXPECT_TRUE(test::wait_until([&] {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 10) > 0) {
      char buf[4096];
      const ssize_t got = ::read(master, buf, sizeof buf);
      if (got > 0) out.append(buf, static_cast<size_t>(got));
    }
    return views() >= 2;
  })) << out;
  EXPECT_NE(out.find("state NOT_FOUND"), std::string::npos) << out;
  EXPECT_EQ(out.find("\r\n\r\n"), std::string::npos) << "no blank-line separators on a terminal";
  ::kill(pid, SIGINT);
  int status = 0;
  EXPECT_TRUE(test::wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ::close(master);
}

}  // namespace
}  // namespace netipc
