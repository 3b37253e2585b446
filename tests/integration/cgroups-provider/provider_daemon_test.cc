// netipc-cgroups-provider as a real process against directory trees shaped
// like v2 and v1 hosts: READY, cgroups appearing and disappearing with
// rescans, clean stops on SIGTERM/SIGINT, argument errors (exit 2), runtime
// errors (exit 1), the auth token and the SHM transport.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "../../unit/cgroups-provider/fake_cgroupfs.h"
#include "../../unit/cgroups-provider/snapshot_fetcher.h"
#include "netipc/bytes.h"
#include "netipc/codec/cgroups.h"
#include "netipc/session.h"
#include "test_support.h"

namespace netipc::cgroups_provider {
namespace {

using testing::count_lines_with;
using testing::FakeHost;
using testing::Fetched;
using testing::FetcherOptions;
using testing::HostKind;
using testing::SnapshotFetcher;
using testing::spawn_provider;

constexpr uint32_t kU = kCgroupOptIsUnified;

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

class ProviderDaemon : public ::testing::Test {
 protected:
  std::vector<std::string> args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {"--cgroup-root", host_.root(), "--run-dir", run_.path(),
                                  "--service",     service_,     "--rescan",  "0.1"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Starts the provider and waits for READY.
  test::Child start(std::vector<std::string> extra = {}) {
    test::Child c = spawn_provider(args(std::move(extra)));
    EXPECT_TRUE(c.valid());
    EXPECT_TRUE(c.wait_for_line("READY", std::chrono::seconds(20))) << c.output();
    return c;
  }

  // Fetches until pred holds for a snapshot (a fresh fetch each time).
  bool fetch_until(SnapshotFetcher* f, const std::function<bool(const Fetched&)>& pred,
                   Fetched* last = nullptr) {
    return test::wait_until(
        [&] {
          auto r = f->fetch();
          if (!r.ok()) return false;
          if (last != nullptr) *last = *r;
          return pred(*r);
        },
        std::chrono::seconds(15));
  }

  std::string cgroup(const std::string& id) const { return host_.unified() + id; }
  std::string procs(const std::string& id) const { return cgroup(id) + "/cgroup.procs"; }

  FakeHost host_{HostKind::kV2};
  test::TempDir run_;
  std::string service_ = test::unique_service("pd");
};

TEST_F(ProviderDaemon, ServesTheTreeOnceReady) {
  host_.add(host_.unified(), "/system.slice/nginx.service");
  host_.add(host_.unified(), "/system.slice/docker-abc.scope");
  test::Child p = start();
  auto f = SnapshotFetcher::create(run_.path(), service_);
  ASSERT_TRUE(f.ok());
  auto got = f->fetch();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->layout, 2);
  const CgroupItem* nginx = got->find("systemd_nginx");
  ASSERT_NE(nginx, nullptr);
  const std::string nid = "/system.slice/nginx.service";
  EXPECT_EQ(*nginx, testing::item("systemd_nginx", kU | kCgroupOptSystemdService, 1, procs(nid),
                                  FakeHost::ino(cgroup(nid))));
  const std::string did = "/system.slice/docker-abc.scope";
  const CgroupItem* docker = got->find("cgroup_system-slice_docker-abc-scope");
  ASSERT_NE(docker, nullptr);
  EXPECT_EQ(*docker, testing::item("cgroup_system-slice_docker-abc-scope", kU, 1, procs(did),
                                   FakeHost::ino(cgroup(did))));
  EXPECT_EQ(count_lines_with(p.output(), "generation "), 1u) << p.output();
}

TEST_F(ProviderDaemon, AddedCgroupAppearsAndRemovedOneDisappearsAfterARescan) {
  test::Child p = start();
  auto f = SnapshotFetcher::create(run_.path(), service_);
  ASSERT_TRUE(f.ok());
  auto first = f->fetch();
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->find_path(procs("/app.scope")), nullptr);

  host_.add(host_.unified(), "/app.scope");
  Fetched seen;
  ASSERT_TRUE(fetch_until(
      &*f, [&](const Fetched& s) { return s.find_path(procs("/app.scope")) != nullptr; }, &seen))
      << p.output();
  EXPECT_GT(seen.generation, first->generation);
  const CgroupItem* app = seen.find_path(procs("/app.scope"));
  EXPECT_EQ(app->name, "cgroup_app-scope");
  EXPECT_EQ(app->cgroup_id, FakeHost::ino(cgroup("/app.scope")));

  host_.remove(host_.unified(), "/app.scope");
  Fetched gone;
  ASSERT_TRUE(fetch_until(
      &*f, [&](const Fetched& s) { return s.find_path(procs("/app.scope")) == nullptr; }, &gone));
  EXPECT_GT(gone.generation, seen.generation);
  // The same client session all along: rescans never disturb consumers.
  EXPECT_EQ(f->client_status().connect_count, 1u);
}

TEST_F(ProviderDaemon, SigtermStopsCleanlyAndRemovesTheSocket) {
  test::Child p = start();
  const std::string sock = run_.file(service_ + ".sock");
  ASSERT_TRUE(exists(sock));
  p.kill_with(SIGTERM);
  EXPECT_EQ(p.wait(std::chrono::seconds(20)), 0) << p.output();
  EXPECT_FALSE(exists(sock));
  EXPECT_EQ(count_lines_with(p.output(), "SIGTERM: stopping"), 1u) << p.output();
}

TEST(ProviderDaemonStop, SecondSignalDuringTheStopDoesNotKillIt) {
  // Ctrl-C in a terminal, then a supervisor's SIGTERM while the provider is
  // still stopping: here it waits (up to its 1 s deadline) for a response a
  // client is not reading.
  FakeHost host(HostKind::kV2, "/dev/shm");
  std::vector<std::string> leaves;
  for (int i = 0; i < 20000; ++i)
    leaves.push_back("container-" + std::to_string(i) + ".scope");
  host.add_leaves(host.unified(), leaves);
  test::TempDir run;
  test::Child p =
      spawn_provider({"--cgroup-root", host.root(), "--run-dir", run.path(), "--service", "stop"});
  ASSERT_TRUE(p.wait_for_line("READY", std::chrono::seconds(30))) << p.output();
  ClientProposal proposal;
  proposal.max_response_payload_bytes = 1u << 26;
  auto stalled = ClientSession::connect(run.path(), "stop", proposal);
  ASSERT_TRUE(stalled.ok()) << stalled.error().message();
  uint8_t req[codec::kCgroupsRequestLen];
  codec::encode_cgroups_request(1, req);
  ASSERT_TRUE(stalled
                  ->send_request(static_cast<uint16_t>(wire::Method::kCgroupsSnapshot), 1,
                                 ByteSpan(req, sizeof req))
                  .ok());
  p.kill_with(SIGINT);
  ASSERT_TRUE(testing::wait_for_output(&p, "SIGINT: stopping")) << p.output();
  EXPECT_EQ(p.output().find("endpoint removed"), std::string::npos) << "the stop was too quick";
  p.kill_with(SIGTERM);
  EXPECT_EQ(p.wait(std::chrono::seconds(20)), 0) << p.output();
  EXPECT_EQ(count_lines_with(p.output(), "stopped: endpoint removed"), 1u) << p.output();
  EXPECT_FALSE(exists(run.file("stop.sock")));
}

TEST_F(ProviderDaemon, SigintStopsCleanlyWithSharedMemorySessions) {
  test::Child p = start({"--transport", "shm"});
  FetcherOptions o;
  o.shm = true;
  auto f = SnapshotFetcher::create(run_.path(), service_, o);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->fetch().ok());
  EXPECT_EQ(f->client_status().selected_profile, wire::kProfileShmHybrid);
  p.kill_with(SIGINT);
  EXPECT_EQ(p.wait(std::chrono::seconds(20)), 0) << p.output();
  // Socket and every SHM region are gone from the run directory.
  EXPECT_TRUE(std::filesystem::is_empty(run_.path())) << p.output();
}

TEST_F(ProviderDaemon, AuthTokenIsRequiredFromClients) {
  test::Child p = start({"--auth-token", "0xC0FFEE"});
  FetcherOptions bad;
  bad.auth_token = 0xBAD;
  auto wrong = SnapshotFetcher::create(run_.path(), service_, bad);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->fetch().code(), Errc::kAuthFailed);
  FetcherOptions good;
  good.auth_token = 0xC0FFEE;
  auto right = SnapshotFetcher::create(run_.path(), service_, good);
  ASSERT_TRUE(right.ok());
  EXPECT_TRUE(right->fetch().ok());
}

TEST_F(ProviderDaemon, MaxCgroupsBoundsThePublishedSet) {
  for (int i = 0; i < 10; ++i)
    host_.add(host_.unified(), "/s" + std::to_string(i) + ".scope");
  test::Child p = start({"--max-cgroups", "4"});
  auto f = SnapshotFetcher::create(run_.path(), service_);
  ASSERT_TRUE(f.ok());
  auto got = f->fetch();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->items.size(), 4u);
}

TEST_F(ProviderDaemon, SecondProviderOnTheSameEndpointFailsWithExit1) {
  test::Child first = start();
  test::Child second = spawn_provider(args());
  EXPECT_EQ(second.wait(std::chrono::seconds(20)), 1) << second.output();
  EXPECT_NE(second.output().find("cannot serve"), std::string::npos) << second.output();
  EXPECT_EQ(second.output().find("READY"), std::string::npos);
}

TEST(ProviderDaemonV1, CgroupsOfAV1TreeCarryTheFirstRankedPath) {
  FakeHost host(HostKind::kV1);
  // A directory tree names v1 bases after the controller (no mount table).
  ASSERT_EQ(::symlink("cpu,cpuacct", (host.root() + "/cpuacct").c_str()), 0);
  test::TempDir run;
  for (const char* ctl : {"cpu,cpuacct", "memory", "blkio"})
    host.add(host.base(ctl), "/web.scope");
  test::Child p = spawn_provider({"--cgroup-root", host.root(), "--run-dir", run.path(),
                                  "--service", "v1", "--rescan", "0.1"});
  ASSERT_TRUE(p.wait_for_line("READY", std::chrono::seconds(20))) << p.output();
  auto f = SnapshotFetcher::create(run.path(), "v1");
  ASSERT_TRUE(f.ok());
  auto got = f->fetch();
  ASSERT_TRUE(got.ok()) << got.error().message();
  const std::string dir = host.base("blkio") + "/web.scope";
  const CgroupItem* web = got->find("cgroup_web-scope");
  ASSERT_NE(web, nullptr);
  // v1 path ranking: cpuset, then blkio, then memory.
  EXPECT_EQ(*web,
            testing::item("cgroup_web-scope", 0, 1, dir + "/cgroup.procs", FakeHost::ino(dir)));
  host.add(host.base("memory"), "/late.scope");
  ASSERT_TRUE(test::wait_until(
      [&] {
        auto r = f->fetch();
        return r.ok() && r->find("cgroup_late-scope") != nullptr;
      },
      std::chrono::seconds(15)));
}

// Bad arguments: one line on stderr naming the problem, exit 2, no READY.
TEST(ProviderDaemonArgs, BadArgumentsExitWith2AndOneLine) {
  FakeHost host(HostKind::kV2);
  test::TempDir run;
  const std::string root = host.root();
  const std::string dir = run.path();
  const std::vector<std::vector<std::string>> cases = {
      {"--run-dir", dir},
      {"--cgroup-root", root},
      {"--cgroup-root", "sys/fs/cgroup", "--run-dir", dir},
      {"--cgroup-root", run.path(), "--run-dir", dir},
      {"--cgroup-root", host.prefix() + "/nope/sys/fs/cgroup", "--run-dir", dir},
      {"--cgroup-root", root, "--run-dir", dir + "/missing"},
      {"--cgroup-root", root, "--run-dir", dir, "--rescan", "0"},
      {"--cgroup-root", root, "--run-dir", dir, "--rescan", "soon"},
      {"--cgroup-root", root, "--run-dir", dir, "--max-cgroups", "0"},
      {"--cgroup-root", root, "--run-dir", dir, "--auth-token", "0xZZ"},
      {"--cgroup-root", root, "--run-dir", dir, "--auth-token", "0x12345678901234567"},
      {"--cgroup-root", root, "--run-dir", dir, "--transport", "tcp"},
      {"--cgroup-root", root, "--run-dir", dir, "--service", "a/b"},
      {"--cgroup-root", root, "--run-dir", dir, "--bogus"},
  };
  for (const auto& c : cases) {
    std::string joined;
    for (const auto& a : c)
      joined += a + " ";
    test::Child p = spawn_provider(c);
    EXPECT_EQ(p.wait(std::chrono::seconds(20)), 2) << joined << "\n" << p.output();
    EXPECT_EQ(count_lines_with(p.output(), ""), 1u) << joined << "\n" << p.output();
    EXPECT_EQ(p.output().rfind("netipc-cgroups-provider: ", 0), 0u) << p.output();
  }
  EXPECT_TRUE(std::filesystem::is_empty(run.path()));
}

TEST(ProviderDaemonArgs, HelpDescribesEveryOption) {
  test::Child p = spawn_provider({"--help"});
  EXPECT_EQ(p.wait(std::chrono::seconds(20)), 0);
  for (const char* opt : {"--cgroup-root", "--run-dir", "--service", "--rescan", "--max-cgroups",
                          "--auth-token", "--transport", "--verbose", "READY", "SIGTERM"}) {
    EXPECT_NE(p.output().find(opt), std::string::npos) << opt;
  }
}

}  // namespace
}  // namespace netipc::cgroups_provider
