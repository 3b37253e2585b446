// netipc-cli as real processes: `serve cgroups-snapshot` read by
// `snapshot` in both layouts over both transports, the JSON output parsed
// back (and served again), malformed and missing items files, no server.
#include <signal.h>

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "netipc/bytes.h"
#include "test_support.h"

namespace netipc {
namespace {

using json = nlohmann::json;
using test::TempDir;

using cli_test::cli;
using cli_test::expect_one_line;
using cli_test::run_cli;
using test::RunResult;

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

const char* kItems = R"([
  {"name": "system.slice/ssh.service", "path": "/sys/fs/cgroup/system.slice/ssh.service",
   "options": 2, "enabled": 1, "hash": 12345, "cgroup_id": 4242},
  {"name": "docker-abc.scope", "path": "/sys/fs/cgroup/system.slice/docker-abc.scope",
   "options": 4, "enabled": false},
  {"name": "", "path": "", "options": 0, "enabled": 1}
])";

// `serve cgroups-snapshot` running until the test ends.
struct Served {
  TempDir dir;
  std::string service = test::unique_service("snapcli");
  test::Child child;
  std::vector<std::string> endpoint() const {
    return {"--run-dir", dir.path(), "--service", service};
  }
  ~Served() {
    if (child.valid()) {
      child.kill_with(SIGTERM);
      EXPECT_EQ(child.wait(), 0);  // a clean stop
    }
  }
};

void serve(Served* s, const std::string& items_text, const std::vector<std::string>& extra) {
  write_file(s->dir.file("items.json"), items_text);
  std::vector<std::string> argv = {cli(), "serve", "cgroups-snapshot", "--items",
                                   s->dir.file("items.json")};
  auto ep = s->endpoint();
  argv.insert(argv.end(), ep.begin(), ep.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  s->child = test::Child::spawn(argv);
  ASSERT_TRUE(s->child.valid());
  ASSERT_TRUE(s->child.wait_for_line("READY")) << "server did not print READY";
}

RunResult snapshot(const Served& s, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"snapshot"};
  auto ep = s.endpoint();
  args.insert(args.end(), ep.begin(), ep.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args);
}

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(CliSnapshot, TableInBothLayoutsOverBothTransports) {
  Served s;
  ASSERT_NO_FATAL_FAILURE(
      serve(&s, kItems, {"--generation", "42", "--systemd-enabled", "0", "--transport", "shm"}));
  for (const char* transport : {"uds", "shm"}) {
    for (const char* layout : {"1", "2"}) {
      SCOPED_TRACE(std::string(transport) + " layout " + layout);
      RunResult r = snapshot(s, {"--layout", layout, "--transport", transport});
      ASSERT_EQ(r.status, 0) << r.err;
      EXPECT_TRUE(has(r.out, "generation: 42\n")) << r.out;
      EXPECT_TRUE(has(r.out, "items: 3\n")) << r.out;
      EXPECT_TRUE(has(r.out, "systemd_enabled: 0\n")) << r.out;
      EXPECT_TRUE(has(r.out, std::string("layout: ") + layout + "\n")) << r.out;
      EXPECT_TRUE(has(r.out, std::string("transport: ") + transport + "\n")) << r.out;
      EXPECT_TRUE(has(r.out, "0x00003039  0x00000002  1")) << r.out;  // hash 12345, options 2
      EXPECT_TRUE(has(r.out, "system.slice/ssh.service")) << r.out;
      EXPECT_TRUE(has(r.out, "/sys/fs/cgroup/system.slice/docker-abc.scope")) << r.out;
      char hash[16];
      std::snprintf(hash, sizeof hash, "0x%08x", fnv1a32("docker-abc.scope"));
      EXPECT_TRUE(has(r.out, hash)) << "hash defaults to FNV-1a of the name\n" << r.out;
      EXPECT_EQ(has(r.out, "CGROUP_ID"), std::string(layout) == "2") << r.out;
      EXPECT_EQ(has(r.out, "  4242\n"), std::string(layout) == "2") << r.out;
      EXPECT_TRUE(r.err.empty()) << r.err;
    }
  }
  // No --layout: layout 2 (our server accepts it).
  RunResult r = snapshot(s, {});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "layout: 2\n")) << r.out;
}

TEST(CliSnapshot, JsonCarriesEveryFieldAndServesAgainAsAnItemsFile) {
  Served s;
  ASSERT_NO_FATAL_FAILURE(serve(&s, kItems, {"--generation", "7"}));
  RunResult r = snapshot(s, {"--json", "--layout", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  json doc = json::parse(r.out);
  EXPECT_EQ(doc["generation"], 7);
  EXPECT_EQ(doc["systemd_enabled"], 1);
  EXPECT_EQ(doc["layout"], 2);
  EXPECT_EQ(doc["transport"], "uds");
  EXPECT_EQ(doc["item_count"], 3);
  const json& items = doc["items"];
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0]["hash"], 12345);
  EXPECT_EQ(items[0]["options"], 2);
  EXPECT_EQ(items[0]["enabled"], 1);
  EXPECT_EQ(items[0]["name"], "system.slice/ssh.service");
  EXPECT_EQ(items[0]["path"], "/sys/fs/cgroup/system.slice/ssh.service");
  EXPECT_EQ(items[0]["cgroup_id"], 4242);
  EXPECT_EQ(items[1]["hash"], fnv1a32("docker-abc.scope"));
  EXPECT_EQ(items[1]["enabled"], 0);
  EXPECT_EQ(items[1]["cgroup_id"], 0);
  EXPECT_EQ(items[2]["name"], "");

  RunResult r1 = snapshot(s, {"--json", "--layout", "1"});
  ASSERT_EQ(r1.status, 0) << r1.err;
  json doc1 = json::parse(r1.out);
  EXPECT_EQ(doc1["layout"], 1);
  EXPECT_FALSE(doc1["items"][0].contains("cgroup_id"));  // layout 1 has no cgroup ids

  // The items array is an items file: serving it again gives the same data.
  Served again;
  ASSERT_NO_FATAL_FAILURE(serve(&again, items.dump(), {"--generation", "7"}));
  RunResult r2 = snapshot(again, {"--json", "--layout", "2"});
  ASSERT_EQ(r2.status, 0) << r2.err;
  EXPECT_EQ(json::parse(r2.out)["items"], items);
}

struct Malformed {
  const char* text;
  const char* position;  // what the error line must name
};

TEST(CliSnapshot, MalformedItemsFileExits2WithOneLineNamingThePosition) {
  const Malformed cases[] = {
      {R"([{"name": "a", "path": /a}])", "at byte 24"},  // 1-based, like line and column
      {"[{\"name\": \"a\", \"path\": \"/a\", \"options\": 1, \"enabled\": 1},\n {\"name\": ",
       "at byte 69"},  // end of input
      {R"([{"name":"a","path":"/a","options":1,"enabled":1},{"name":"b","path":"/b","options":"x","enabled":1}])",
       "items[1].options"},
      {R"([{"path":"/a","options":1,"enabled":1}])", "items[0].name"},
      {R"([{"name":"a","path":"/a","options":1,"enabled":1,"hash":4294967296}])", "items[0].hash"},
      {R"([{"name":"a","path":"/a","options":-1,"enabled":1}])", "items[0].options"},
      {R"([{"name":"a","path":"/a","options":1,"enabled":1,"nmae":"typo"}])", "items[0].nmae"},
      {R"([1])", "items[0]"},
      {R"({"name":"a"})", "top level"},
  };
  for (const Malformed& c : cases) {
    SCOPED_TRACE(c.text);
    TempDir dir;
    write_file(dir.file("items.json"), c.text);
    RunResult r = run_cli({"serve", "cgroups-snapshot", "--items", dir.file("items.json"),
                           "--run-dir", dir.path(), "--service", "bad"});
    EXPECT_EQ(r.status, 2);
    expect_one_line(r.err);
    EXPECT_TRUE(has(r.err, c.position)) << r.err;
    EXPECT_TRUE(has(r.err, dir.file("items.json"))) << r.err;
    EXPECT_TRUE(r.out.empty()) << "no READY for a bad file: " << r.out;
  }
}

TEST(CliSnapshot, MissingItemsFileExits2WithOneLine) {
  TempDir dir;
  RunResult r = run_cli({"serve", "cgroups-snapshot", "--items", dir.file("nope.json"), "--run-dir",
                         dir.path(), "--service", "missing"});
  EXPECT_EQ(r.status, 2);
  expect_one_line(r.err);
  EXPECT_TRUE(has(r.err, dir.file("nope.json"))) << r.err;
  EXPECT_TRUE(has(r.err, "No such file")) << r.err;
}

TEST(CliSnapshot, SnapshotWithoutAServerFailsWithOneLineNamingTheEndpoint) {
  TempDir dir;
  RunResult r = run_cli({"snapshot", "--run-dir", dir.path(), "--service", "absent"});
  EXPECT_EQ(r.status, 1);
  expect_one_line(r.err);
  EXPECT_TRUE(has(r.err, "no server at " + dir.file("absent.sock"))) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(CliSnapshot, BadArgumentsExit2) {
  TempDir dir;
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"snapshot", "--run-dir", dir.path(), "--service", "x", "--layout", "3"},
           {"snapshot", "--run-dir", dir.path()},
           {"serve", "cgroups-snapshot", "--run-dir", dir.path(), "--service", "x"},
           {"serve", "cgroups-snapshot", "--items", "x", "--run-dir", dir.path(), "--service", "x",
            "--systemd-enabled", "2"}}) {
    RunResult r = run_cli(args);
    EXPECT_EQ(r.status, 2) << r.err;
    expect_one_line(r.err);
  }
}

// 0x8355e3a6f61770db is XXH3-64 of the bytes 00..0f, the token Netdata's
// daemon presents for that invocation id (pinned in the glue's tests).
TEST(CliSnapshot, InvocationIdDerivesTheTokenTheDaemonDoes) {
  Served s;
  ASSERT_NO_FATAL_FAILURE(serve(&s, kItems, {"--auth-token", "0x8355e3a6f61770db"}));

  RunResult ok = snapshot(s, {"--invocation-id", "00010203-0405-0607-0809-0a0b0c0d0e0f"});
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_TRUE(has(ok.out, "items: 3")) << ok.out;

  ::setenv("NETDATA_INVOCATION_ID", "000102030405060708090A0B0C0D0E0F", 1);
  RunResult env = snapshot(s, {"--invocation-id", "env"});
  ::unsetenv("NETDATA_INVOCATION_ID");
  EXPECT_EQ(env.status, 0) << env.err;

  RunResult other = snapshot(s, {"--invocation-id", "ffffffffffffffffffffffffffffffff"});
  EXPECT_EQ(other.status, 1);
  EXPECT_TRUE(has(other.err, "rejected the auth token")) << other.err;
  expect_one_line(other.err);

  ::unsetenv("NETDATA_INVOCATION_ID");
  RunResult unset = snapshot(s, {"--invocation-id", "env"});
  EXPECT_EQ(unset.status, 1);
  EXPECT_TRUE(has(unset.err, "NETDATA_INVOCATION_ID is not set")) << unset.err;

  EXPECT_EQ(snapshot(s, {"--invocation-id", "0001"}).status, 2);
  EXPECT_EQ(snapshot(s, {"--invocation-id", "env", "--auth-token", "0x1"}).status, 2);
}

TEST(CliSnapshot, HelpDescribesTheOptions) {
  RunResult r = run_cli({"snapshot", "--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* opt : {"--layout", "--json", "--transport", "--auth-token", "--timeout-ms"}) {
    EXPECT_TRUE(has(r.out, opt)) << opt << "\n" << r.out;
  }
  r = run_cli({"serve", "cgroups-snapshot", "--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* opt : {"--items", "--generation", "--systemd-enabled", "--transport"}) {
    EXPECT_TRUE(has(r.out, opt)) << opt << "\n" << r.out;
  }
}

}  // namespace
}  // namespace netipc
