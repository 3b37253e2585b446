// netipc-cli --netdata against a stand-in daemon: a real process under
// another name (NETIPC_CLI_NETDATA_NAME tells the CLI which), serving a
// cgroups snapshot with the token of the invocation id in its environment,
// as the patched Netdata daemon does. The CLI finds it in /proc, reads its
// environment and derives the token; each failure (no daemon, environment
// not readable, token refused) is one clear line.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "test_support.h"

namespace netipc {
namespace {

using cli_test::cli;
using cli_test::expect_one_line;
using test::RunResult;
using test::TempDir;

constexpr const char* kId = "0123456789abcdef0123456789abcdef";
constexpr const char* kOtherId = "fedcba98-7654-3210-fedc-ba9876543210";

const char* kItems = R"([
  {"name": "systemd_ssh", "path": "/sys/fs/cgroup/system.slice/ssh.service/cgroup.procs",
   "options": 2, "enabled": 1, "cgroup_id": 77},
  {"name": "cgroup_docker_abc", "path": "/sys/fs/cgroup/docker/abc/cgroup.procs",
   "options": 4, "enabled": 1},
  {"name": "cgroup_gone", "path": "", "options": 0, "enabled": 0}
])";

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// A stand-in daemon: netipc-cli `serve cgroups-snapshot` exec'd through a
// link whose name becomes the process name, with the environment given.
struct FakeDaemon {
  TempDir dir;
  std::string name = "nd" + std::to_string(::getpid());  // < 16 characters
  test::Child child;

  FakeDaemon() {
    std::ofstream(dir.file("items.json")) << kItems;
    EXPECT_EQ(::symlink(cli().c_str(), dir.file(name).c_str()), 0);
  }
  // env: NAME=VALUE entries; serve_id: the id the daemon serves with.
  void start(const std::vector<std::string>& env, const std::string& serve_id) {
    std::vector<std::string> argv = {"/usr/bin/env", "-i"};
    argv.insert(argv.end(), env.begin(), env.end());
    const std::vector<std::string> rest = {
        dir.file(name), "serve",   "cgroups-snapshot",  "--items",
        dir.file("items.json"),    "--run-dir",         dir.path(),
        "--service",    "cgroups-snapshot", "--invocation-id", serve_id};
    argv.insert(argv.end(), rest.begin(), rest.end());
    child = test::Child::spawn(argv);
    ASSERT_TRUE(child.valid());
    ASSERT_TRUE(child.wait_for_line("READY")) << "stand-in daemon did not print READY";
  }
  ~FakeDaemon() {
    if (child.valid()) {
      child.kill_with(SIGTERM);
      EXPECT_EQ(child.wait(), 0);
    }
  }
  // netipc-cli told to look for this daemon's name.
  RunResult run(const std::vector<std::string>& args, const std::string& program = cli()) const {
    std::vector<std::string> argv = {"/usr/bin/env", "NETIPC_CLI_NETDATA_NAME=" + name, program};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_to_completion(argv);
  }
};

TEST(CliNetdata, SnapshotStatusAndCacheFindTheDaemonAndDeriveItsToken) {
  FakeDaemon d;
  d.start({std::string("NETDATA_INVOCATION_ID=") + kId, "NETDATA_RUN_DIR=" + d.dir.path()}, "env");

  RunResult r = d.run({"snapshot", "--netdata", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["item_count"], 3);
  EXPECT_EQ(doc["items"][0]["name"], "systemd_ssh");

  r = d.run({"status", "--netdata"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "endpoint: " + d.dir.path() + "/cgroups-snapshot.sock")) << r.out;
  EXPECT_TRUE(has(r.out, "daemon: pid " + std::to_string(d.child.pid()))) << r.out;
  EXPECT_TRUE(has(r.out, "token from NETDATA_INVOCATION_ID of " + d.name)) << r.out;
  EXPECT_TRUE(has(r.out, "run directory from NETDATA_RUN_DIR of " + d.name)) << r.out;
  EXPECT_TRUE(has(r.out, "items: 3 (2 enabled, 1 systemd services)")) << r.out;
  EXPECT_TRUE(has(r.out, "provider stats: not served")) << r.out;

  r = d.run({"status", "--netdata", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto st = nlohmann::json::parse(r.out);
  EXPECT_EQ(st["item_count"], 3);
  EXPECT_EQ(st["daemon_pid"], d.child.pid());
  // Layout 1: 24-byte header, 8-byte directory entries, 32 bytes per item
  // plus its strings (NUL-terminated), so more than 3 * 40 bytes.
  EXPECT_GT(st["layout1_bytes"].get<uint64_t>(), 24u + 3u * 40u);
  EXPECT_GT(st["layout2_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(st["layout"], 2);

  r = d.run({"cache", "--netdata", "--once"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_TRUE(has(r.out, "items 3")) << r.out;
}

TEST(CliNetdata, SystemdInvocationIdAndAnExplicitRunDir) {
  // Under systemd the daemon's environment holds INVOCATION_ID only.
  FakeDaemon d;
  d.start({std::string("INVOCATION_ID=") + kId}, kId);
  RunResult r = d.run({"status", "--netdata", "--run-dir", d.dir.path()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "token from INVOCATION_ID of " + d.name)) << r.out;
  EXPECT_TRUE(has(r.out, "run directory from --run-dir")) << r.out;
}

TEST(CliNetdata, InvocationIdAndRunDirFromAPluginWhenTheDaemonMadeThemUp) {
  // A daemon started without an id makes one up and exports it only to the
  // plugins it spawns: here a shell under the daemon's name whose child
  // (the "plugin", serving the endpoint) has the variables.
  FakeDaemon d;
  ASSERT_EQ(::unlink(d.dir.file(d.name).c_str()), 0);
  {
    std::ofstream script(d.dir.file(d.name));
    script << "#!/bin/sh\n"
              "trap 'kill $c; wait $c; exit 0' TERM\n"
              "NETDATA_INVOCATION_ID=$1 NETDATA_RUN_DIR=$2 \"$3\" serve cgroups-snapshot "
              "--items \"$2/items.json\" --run-dir \"$2\" --service cgroups-snapshot "
              "--invocation-id env &\n"
              "c=$!\n"
              "wait $c\n";
  }
  ASSERT_EQ(::chmod(d.dir.file(d.name).c_str(), 0755), 0);
  d.child = test::Child::spawn({"/usr/bin/env", "-i", d.dir.file(d.name), kId, d.dir.path(), cli()});
  ASSERT_TRUE(d.child.valid());
  ASSERT_TRUE(d.child.wait_for_line("READY"));
  RunResult r = d.run({"status", "--netdata"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "token from NETDATA_INVOCATION_ID of its child pid")) << r.out;
  EXPECT_TRUE(has(r.out, "run directory from NETDATA_RUN_DIR of its child pid")) << r.out;
  EXPECT_TRUE(has(r.out, "items: 3")) << r.out;
}

TEST(CliNetdata, NoDaemonIsOneLineAndExitOne) {
  FakeDaemon d;  // not started
  for (const char* cmd : {"snapshot", "status", "cache"}) {
    RunResult r = d.run({cmd, "--netdata", "--once"});
    if (std::string(cmd) != "cache") r = d.run({cmd, "--netdata"});
    EXPECT_EQ(r.status, 1) << cmd;
    expect_one_line(r.err);
    EXPECT_TRUE(has(r.err, "no running " + d.name + " daemon")) << r.err;
  }
}

TEST(CliNetdata, RefusedTokenNamesWhereItCameFrom) {
  FakeDaemon d;
  // The environment says one id, the endpoint expects the token of another.
  d.start({std::string("NETDATA_INVOCATION_ID=") + kId, "NETDATA_RUN_DIR=" + d.dir.path()},
          kOtherId);
  RunResult r = d.run({"snapshot", "--netdata"});
  EXPECT_EQ(r.status, 1);
  expect_one_line(r.err);
  EXPECT_TRUE(has(r.err, "refused the token derived from NETDATA_INVOCATION_ID of " + d.name))
      << r.err;
}

TEST(CliNetdata, NoInvocationIdAnywhereSaysSo) {
  FakeDaemon d;
  d.start({"NETDATA_RUN_DIR=" + d.dir.path(), std::string("UNRELATED=") + kId}, kId);
  RunResult r = d.run({"status", "--netdata"});
  EXPECT_EQ(r.status, 1);
  expect_one_line(r.err);
  EXPECT_TRUE(has(r.err, "has no invocation id in its environment")) << r.err;
}

TEST(CliNetdata, EnvironmentNotReadableByAnotherUser) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root: the stand-in daemon must belong to another user than the CLI";
  }
  FakeDaemon d;
  d.start({std::string("NETDATA_INVOCATION_ID=") + kId, "NETDATA_RUN_DIR=" + d.dir.path()}, "env");
  // The CLI as nobody, from a copy nobody may execute; a coverage build's
  // profile data goes below the same folder, which nobody may write.
  TempDir bin;
  ASSERT_EQ(::chmod(bin.path().c_str(), 0777), 0);
  {
    std::ifstream in(cli(), std::ios::binary);
    std::ofstream out(bin.file("netipc-cli"), std::ios::binary);
    out << in.rdbuf();
  }
  ASSERT_EQ(::chmod(bin.file("netipc-cli").c_str(), 0755), 0);
  std::vector<std::string> argv = {"/usr/bin/env",
                                    "NETIPC_CLI_NETDATA_NAME=" + d.name,
                                    "GCOV_PREFIX=" + bin.file("gcov"),
                                    "/usr/bin/setpriv",
                                    "--reuid=65534",
                                    "--regid=65534",
                                    "--clear-groups",
                                    bin.file("netipc-cli"),
                                    "snapshot",
                                    "--netdata"};
  RunResult r = test::run_to_completion(argv);
  EXPECT_EQ(r.status, 1) << r.err;
  expect_one_line(r.err);
  EXPECT_TRUE(has(r.err, "cannot read the environment of " + d.name)) << r.err;
  EXPECT_TRUE(has(r.err, "Permission denied")) << r.err;
}

TEST(CliNetdata, NetdataExcludesExplicitTokensAndOtherwiseEndpointIsRequired) {
  FakeDaemon d;
  RunResult r = d.run({"snapshot", "--netdata", "--auth-token", "0x1"});
  EXPECT_EQ(r.status, 2);
  expect_one_line(r.err);
  r = d.run({"status"});
  EXPECT_EQ(r.status, 2);
  expect_one_line(r.err);
  EXPECT_TRUE(has(r.err, "--run-dir and --service are required without --netdata")) << r.err;
}

}  // namespace
}  // namespace netipc
