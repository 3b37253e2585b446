// netipc-cli as a real process: `serve increment` and `call increment`,
// their output, exit codes, error lines and signal handling.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "test_support.h"

namespace netipc {
namespace {

using test::TempDir;

using cli_test::cli;
using cli_test::expect_one_line;
using cli_test::run_cli;
using test::RunResult;

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    v.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return v;
}

std::string last_line(const std::string& s) {
  auto v = lines(s);
  return v.empty() ? std::string() : v.back();
}

bool contains_ci(std::string haystack, std::string needle) {
  auto lower = [](std::string& x) {
    std::transform(x.begin(), x.end(), x.begin(), [](unsigned char c) { return std::tolower(c); });
  };
  lower(haystack);
  lower(needle);
  return haystack.find(needle) != std::string::npos;
}

// `netipc-cli serve increment` running until the test ends.
struct Served {
  TempDir dir;
  std::string service = test::unique_service("cli");
  test::Child child;
  std::string socket() const { return dir.file(service + ".sock"); }
  std::vector<std::string> endpoint() const {
    return {"--run-dir", dir.path(), "--service", service};
  }
};

void serve(Served* s, const std::vector<std::string>& extra = {}) {
  ASSERT_TRUE(exists(cli())) << "netipc-cli not built at " << cli();
  std::vector<std::string> argv = {cli(), "serve", "increment"};
  auto ep = s->endpoint();
  argv.insert(argv.end(), ep.begin(), ep.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  s->child = test::Child::spawn(argv);
  ASSERT_TRUE(s->child.valid());
  ASSERT_TRUE(s->child.wait_for_line("READY")) << "output so far: " << s->child.output();
}

RunResult call(const Served& s, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"call", "increment"};
  auto ep = s.endpoint();
  args.insert(args.end(), ep.begin(), ep.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args);
}

// ---- serve / call ----

TEST(Cli, ServePrintsReadyAndListens) {
  Served s;
  serve(&s);
  EXPECT_TRUE(exists(s.socket()));
}

TEST(Cli, CallIncrement41Prints42AndExits0) {
  Served s;
  serve(&s);
  RunResult r = call(s, {"--value", "41"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(last_line(r.out), "42");
  EXPECT_EQ(r.err, "");
}

TEST(Cli, ChainingAThousandCallsFromZeroPrints1000) {
  Served s;
  serve(&s);
  RunResult r = call(s, {"--value", "0", "--count", "1000"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(last_line(r.out), "1000");
}

TEST(Cli, LargestValueWrapsToZero) {
  Served s;
  serve(&s);
  RunResult r = call(s, {"--value", "18446744073709551615"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(last_line(r.out), "0");
}

TEST(Cli, VerboseReportsTheProfileAndTheLimits) {
  Served s;
  serve(&s);
  RunResult r = call(s, {"--value", "41", "--verbose"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("UDS_SEQPACKET"), std::string::npos) << r.out;
  bool limits = false;
  for (const auto& l : lines(r.out)) {
    if (contains_ci(l, "limit") && contains_ci(l, "request") && contains_ci(l, "response")) {
      limits = true;
    }
  }
  EXPECT_TRUE(limits) << r.out;
  EXPECT_EQ(last_line(r.out), "42");
}

TEST(Cli, RightAuthTokenIsAccepted) {
  Served s;
  serve(&s, {"--auth-token", "0xDEADbeef01"});
  RunResult r = call(s, {"--value", "1", "--auth-token", "0xdeadbeef01"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(last_line(r.out), "2");
}

// ---- failures ----

TEST(Cli, NoServerExitsNonZeroWithOneLineNamingTheEndpoint) {
  TempDir dir;
  RunResult r = run_cli(
      {"call", "increment", "--run-dir", dir.path(), "--service", "nobody", "--value", "1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, -1) << "timed out";
  expect_one_line(r.err);
  EXPECT_NE(r.err.find(dir.file("nobody.sock")), std::string::npos) << r.err;
  EXPECT_TRUE(contains_ci(r.err, "no server")) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(Cli, WrongAuthTokenExitsNonZeroWithOneLineAboutTheAuthRejection) {
  Served s;
  serve(&s, {"--auth-token", "0x1234"});
  RunResult r = call(s, {"--value", "1", "--auth-token", "0x1235"});
  EXPECT_NE(r.status, 0);
  expect_one_line(r.err);
  EXPECT_TRUE(contains_ci(r.err, "auth")) << r.err;
  EXPECT_EQ(r.out, "");
  // The server is unharmed.
  RunResult ok = call(s, {"--value", "1", "--auth-token", "0x1234"});
  EXPECT_EQ(ok.status, 0) << ok.err;
}

TEST(Cli, MissingTokenAgainstAProtectedServerIsAnAuthRejection) {
  Served s;
  serve(&s, {"--auth-token", "0x1"});
  RunResult r = call(s, {"--value", "1"});
  EXPECT_NE(r.status, 0);
  expect_one_line(r.err);
  EXPECT_TRUE(contains_ci(r.err, "auth")) << r.err;
}

TEST(Cli, SecondServeOnALiveEndpointFailsWithOneLineAndTheFirstKeepsServing) {
  Served s;
  serve(&s);
  RunResult r = run_cli({"serve", "increment", "--run-dir", s.dir.path(), "--service", s.service},
                        std::chrono::seconds(10));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.status, -1) << "the second server did not give up";
  expect_one_line(r.err);
  EXPECT_EQ(r.out.find("READY"), std::string::npos);
  RunResult ok = call(s, {"--value", "5"});
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_EQ(last_line(ok.out), "6");
}

// ---- bad arguments: exit 2 with one line ----

TEST(Cli, MissingServiceIsExit2WithOneLine) {
  TempDir dir;
  RunResult r = run_cli({"call", "increment", "--run-dir", dir.path(), "--value", "1"});
  EXPECT_EQ(r.status, 2);
  expect_one_line(r.err);
  EXPECT_NE(r.err.find("--service"), std::string::npos) << r.err;
  RunResult s = run_cli({"serve", "increment", "--run-dir", dir.path()});
  EXPECT_EQ(s.status, 2);
  expect_one_line(s.err);
}

TEST(Cli, MissingValueIsExit2WithOneLine) {
  TempDir dir;
  RunResult r = run_cli({"call", "increment", "--run-dir", dir.path(), "--service", "x"});
  EXPECT_EQ(r.status, 2);
  expect_one_line(r.err);
  EXPECT_NE(r.err.find("--value"), std::string::npos) << r.err;
}

TEST(Cli, CallAuthTokenWithout0xIsExit2WithOneLine) {
  Served s;
  serve(&s, {"--auth-token", "0x1234"});
  RunResult r = call(s, {"--value", "1", "--auth-token", "1234"});
  EXPECT_EQ(r.status, 2);
  expect_one_line(r.err);
  EXPECT_NE(r.err.find("--auth-token"), std::string::npos) << r.err;
}

TEST(Cli, ServeAuthTokenWithout0xIsExit2WithOneLine) {
  TempDir dir;
  RunResult r = run_cli(
      {"serve", "increment", "--run-dir", dir.path(), "--service", "x", "--auth-token", "1234"},
      std::chrono::seconds(10));
  EXPECT_EQ(r.status, 2);
  expect_one_line(r.err);
  EXPECT_NE(r.err.find("--auth-token"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dir.file("x.sock")));
}

TEST(Cli, AuthTokenWithNonHexDigitsOrOver16DigitsIsExit2) {
  TempDir dir;
  for (const char* bad : {"0x", "0xg1", "0x12345678901234567"}) {
    SCOPED_TRACE(bad);
    RunResult r = run_cli({"call", "increment", "--run-dir", dir.path(), "--service", "x",
                           "--value", "1", "--auth-token", bad});
    EXPECT_EQ(r.status, 2);
    expect_one_line(r.err);
  }
}

TEST(Cli, UnknownTransportIsExit2WithOneLine) {
  TempDir dir;
  RunResult r = run_cli({"call", "increment", "--run-dir", dir.path(), "--service", "x", "--value",
                         "1", "--transport", "foo"});
  EXPECT_EQ(r.status, 2);
  expect_one_line(r.err);
  EXPECT_NE(r.err.find("--transport"), std::string::npos) << r.err;
  RunResult s = run_cli(
      {"serve", "increment", "--run-dir", dir.path(), "--service", "x", "--transport", "foo"});
  EXPECT_EQ(s.status, 2);
  expect_one_line(s.err);
}

TEST(Cli, MissingSubcommandIsExit2WithOneLine) {
  RunResult r = run_cli({});
  EXPECT_EQ(r.status, 2);
  expect_one_line(r.err);
  RunResult s = run_cli({"serve"});
  EXPECT_EQ(s.status, 2);
  expect_one_line(s.err);
}

// ---- help ----

TEST(Cli, HelpExits0AndNamesTheCommands) {
  RunResult r = run_cli({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("serve"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("call"), std::string::npos) << r.out;
}

TEST(Cli, CallHelpExits0AndMentionsEveryOption) {
  RunResult r = run_cli({"call", "increment", "--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* opt : {"--run-dir", "--service", "--auth-token", "--transport", "--value",
                          "--count", "--timeout-ms", "--verbose", "--help"}) {
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt << " missing from:\n" << r.out;
  }
}

TEST(Cli, ServeHelpExits0AndMentionsEveryOption) {
  RunResult r = run_cli({"serve", "increment", "--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* opt : {"--run-dir", "--service", "--auth-token", "--transport", "--help"}) {
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt << " missing from:\n" << r.out;
  }
}

// ---- signals ----

void expect_clean_exit_on(int sig) {
  Served s;
  serve(&s);
  ASSERT_TRUE(exists(s.socket()));
  s.child.kill_with(sig);
  EXPECT_EQ(s.child.wait(std::chrono::seconds(10)), 0);
  EXPECT_FALSE(exists(s.socket()));
}

TEST(Cli, SigtermMakesServeExit0AndRemoveItsSocket) {
  expect_clean_exit_on(SIGTERM);
}

TEST(Cli, SigintMakesServeExit0AndRemoveItsSocket) {
  expect_clean_exit_on(SIGINT);
}

TEST(Cli, SigtermWithAClientConnectedStillExits0) {
  Served s;
  serve(&s);
  // A client process mid-way through a long chain of calls.
  std::vector<std::string> argv = {cli(), "call", "increment"};
  auto ep = s.endpoint();
  argv.insert(argv.end(), ep.begin(), ep.end());
  for (const char* a : {"--value", "0", "--count", "100000000", "--verbose"})
    argv.push_back(a);
  test::Child client = test::Child::spawn(argv);
  ASSERT_TRUE(client.wait_for_line("call 1: 0 -> 1"));
  s.child.kill_with(SIGTERM);
  EXPECT_EQ(s.child.wait(std::chrono::seconds(10)), 0);
  EXPECT_FALSE(exists(s.socket()));
  EXPECT_NE(client.wait(std::chrono::seconds(10)), 0);  // its server went away
}

// ---- --transport shm (falls back to the socket profile for now) ----

// `serve increment --transport <serve_with>` answers
// `call increment --value 41 --transport <call_with>` with 42.
void expect_served_across(const char* serve_with, const char* call_with) {
  Served s;
  serve(&s, {"--transport", serve_with});
  RunResult r = call(s, {"--value", "41", "--transport", call_with});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(last_line(r.out), "42");
}

TEST(Cli, ShmTransportIsAcceptedByServeAndCall) {
  expect_served_across("shm", "shm");
}

TEST(Cli, ShmCallerAndUdsServerInteroperate) {
  expect_served_across("uds", "shm");
}

TEST(Cli, UdsCallerAndShmServerInteroperate) {
  expect_served_across("shm", "uds");
}

}  // namespace
}  // namespace netipc
