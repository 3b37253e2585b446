// The daemon-side C ABI end to end: a provider started, fed and stopped
// through netipc_nd.h, fetched by the typed client over a real socket in
// both layouts; the token, argument checks, endpoint errors, peers of
// other users (allowed uids, socket mode) and the log route.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "netdata_glue/netipc_nd.h"
#include "netipc/bytes.h"
#include "netipc/cgroups_snapshot_client.h"
#include "other_user_util.h"
#include "test_support.h"

namespace netipc {
namespace {

constexpr uint64_t kToken = 0x4135654b0cc3d8f2ull;

class GlueProvider : public ::testing::Test {
 protected:
  void SetUp() override {
    netipc_nd_provider_options o{};
    o.run_dir = dir_.path().c_str();
    o.service = service_.c_str();
    o.auth_token = kToken;
    ASSERT_EQ(netipc_nd_provider_start(&o, &p_), NETIPC_ND_OK);
  }
  void TearDown() override { netipc_nd_provider_destroy(p_); }

  Result<CgroupsSnapshotClient> client(uint16_t layout, uint64_t token = kToken) {
    CgroupsSnapshotClientConfig c;
    c.run_dir = dir_.path();
    c.service = service_;
    c.auth_token = token;
    c.layout = layout;
    c.supported_profiles = wire::kProfileUds;
    return CgroupsSnapshotClient::create(c);
  }

  test::TempDir dir_;
  std::string service_ = test::unique_service("glue");
  netipc_nd_provider* p_ = nullptr;
};

std::vector<netipc_nd_cgroup> three_cgroups() {
  std::vector<netipc_nd_cgroup> v(3);
  v[0] = {"systemd_nginx",
          "/sys/fs/cgroup/system.slice/nginx.service/cgroup.procs",
          0,
          0x1 | 0x4,
          1,
          0,
          4101};
  v[1] = {"cgroup_web", "/sys/fs/cgroup/system.slice/docker-1.scope/cgroup.procs", 77, 0x4, 7, 0,
          4102};
  v[2] = {"cgroup_idle", nullptr, 0, 0, 0, 0, 0};
  return v;
}

TEST_F(GlueProvider, PublishedCgroupsAreServedInBothLayouts) {
  auto in = three_cgroups();
  ASSERT_EQ(netipc_nd_provider_publish(p_, in.data(), in.size(), 1), NETIPC_ND_OK);
  ASSERT_EQ(netipc_nd_provider_wait_idle(p_, 10000), NETIPC_ND_OK);
  netipc_nd_provider_stats st{};
  ASSERT_EQ(netipc_nd_provider_get_stats(p_, &st), NETIPC_ND_OK);
  EXPECT_EQ(st.items, 3u);
  EXPECT_EQ(st.generations, 1u);
  EXPECT_GT(st.layout1_bytes, 0u);
  EXPECT_GT(st.layout2_bytes, 0u);

  for (uint16_t layout : {uint16_t{1}, uint16_t{2}}) {
    auto c = client(layout);
    ASSERT_TRUE(c.ok());
    auto got = c->fetch();
    ASSERT_TRUE(got.ok()) << got.error().message();
    const auto& v = **got;
    EXPECT_EQ(v.generation, st.generation);
    EXPECT_EQ(v.systemd_enabled, 1u);
    ASSERT_EQ(v.items.size(), 3u);
    EXPECT_EQ(v.items[0].name, "systemd_nginx");
    EXPECT_EQ(v.items[0].hash, fnv1a32("systemd_nginx"));  // 0 -> computed
    EXPECT_EQ(v.items[0].options, 0x5u);
    EXPECT_EQ(v.items[0].enabled, 1u);
    EXPECT_EQ(v.items[0].path, in[0].path);
    EXPECT_EQ(v.items[1].hash, 77u);    // given hashes are kept
    EXPECT_EQ(v.items[1].enabled, 1u);  // any nonzero is enabled
    EXPECT_EQ(v.items[2].path, "");     // NULL path: none found
    EXPECT_EQ(v.items[2].enabled, 0u);
    // Layout 1 has no cgroup ids; layout 2 carries them.
    EXPECT_EQ(v.items[0].cgroup_id, layout == 2 ? 4101u : 0u);
  }
  // The same list again: nothing encoded, same generation.
  ASSERT_EQ(netipc_nd_provider_publish(p_, in.data(), in.size(), 1), NETIPC_ND_OK);
  ASSERT_EQ(netipc_nd_provider_wait_idle(p_, 10000), NETIPC_ND_OK);
  netipc_nd_provider_stats again{};
  ASSERT_EQ(netipc_nd_provider_get_stats(p_, &again), NETIPC_ND_OK);
  EXPECT_EQ(again.generation, st.generation);
  EXPECT_EQ(again.unchanged, 1u);
  EXPECT_GE(again.sessions_accepted, 2u);
}

TEST_F(GlueProvider, AClientWithAnotherTokenIsRefused) {
  auto c = client(2, kToken ^ 1);
  ASSERT_TRUE(c.ok());
  auto got = c->fetch();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.code(), Errc::kAuthFailed);
}

TEST_F(GlueProvider, BadArgumentsAreRejectedWithoutSideEffects) {
  netipc_nd_cgroup bad{};
  EXPECT_EQ(netipc_nd_provider_publish(p_, &bad, 1, 1), NETIPC_ND_EINVAL);  // NULL name
  bad.name = "cgroup_x";
  bad.reserved0 = 1;
  EXPECT_EQ(netipc_nd_provider_publish(p_, &bad, 1, 1), NETIPC_ND_EINVAL);
  EXPECT_EQ(netipc_nd_provider_publish(p_, nullptr, 2, 1), NETIPC_ND_EINVAL);
  EXPECT_EQ(netipc_nd_provider_publish(nullptr, nullptr, 0, 1), NETIPC_ND_EINVAL);
  EXPECT_EQ(netipc_nd_provider_get_stats(p_, nullptr), NETIPC_ND_EINVAL);
  netipc_nd_provider_stats st{};
  ASSERT_EQ(netipc_nd_provider_get_stats(p_, &st), NETIPC_ND_OK);
  EXPECT_EQ(st.generations, 0u);  // nothing was handed over
  // An empty list is a valid list.
  EXPECT_EQ(netipc_nd_provider_publish(p_, nullptr, 0, 0), NETIPC_ND_OK);

  netipc_nd_provider* q = nullptr;
  EXPECT_EQ(netipc_nd_provider_start(nullptr, &q), NETIPC_ND_EINVAL);
  netipc_nd_provider_options o{};
  EXPECT_EQ(netipc_nd_provider_start(&o, &q), NETIPC_ND_EINVAL);  // no run_dir
  o.run_dir = dir_.path().c_str();
  o.reserved0 = 1;
  EXPECT_EQ(netipc_nd_provider_start(&o, &q), NETIPC_ND_EINVAL);
  EXPECT_EQ(netipc_nd_provider_start(&o, nullptr), NETIPC_ND_EINVAL);
  EXPECT_EQ(q, nullptr);
}

TEST_F(GlueProvider, TheSameEndpointTwiceIsInUse) {
  netipc_nd_provider_options o{};
  o.run_dir = dir_.path().c_str();
  o.service = service_.c_str();
  netipc_nd_provider* q = nullptr;
  EXPECT_EQ(netipc_nd_provider_start(&o, &q), NETIPC_ND_EADDRINUSE);
  EXPECT_EQ(q, nullptr);
}

TEST(GlueProviderDir, AWorldWritableRunDirIsUnsafe) {
  test::TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0777), 0);
  netipc_nd_provider_options o{};
  o.run_dir = dir.path().c_str();
  netipc_nd_provider* q = nullptr;
  EXPECT_EQ(netipc_nd_provider_start(&o, &q), NETIPC_ND_EUNSAFE);
  EXPECT_EQ(q, nullptr);
}

TEST_F(GlueProvider, StopRemovesTheSocketAndLaterCallsSayStopped) {
  const std::string sock = dir_.file(service_ + ".sock");
  ASSERT_EQ(::access(sock.c_str(), F_OK), 0);
  netipc_nd_provider_stop(p_, 500);
  EXPECT_NE(::access(sock.c_str(), F_OK), 0);
  auto in = three_cgroups();
  EXPECT_EQ(netipc_nd_provider_publish(p_, in.data(), in.size(), 1), NETIPC_ND_ESTOPPED);
  EXPECT_EQ(netipc_nd_provider_wait_idle(p_, 10), NETIPC_ND_ESTOPPED);
  netipc_nd_provider_stop(p_, 500);  // again: nothing
  netipc_nd_provider_stats st{};
  EXPECT_EQ(netipc_nd_provider_get_stats(p_, &st), NETIPC_ND_OK);  // still readable
  EXPECT_EQ(st.items, 0u);
  netipc_nd_provider_destroy(nullptr);
}

TEST_F(GlueProvider, PublishesRacingWithStopGetOkOrStopped) {
  auto in = three_cgroups();
  std::atomic<bool> go{true};
  std::atomic<int> stopped_seen{0};
  std::thread discovery([&] {
    while (go.load()) {
      const int rc = netipc_nd_provider_publish(p_, in.data(), in.size(), 1);
      ASSERT_TRUE(rc == NETIPC_ND_OK || rc == NETIPC_ND_ESTOPPED) << netipc_nd_strerror(rc);
      if (rc == NETIPC_ND_ESTOPPED) {
        stopped_seen.fetch_add(1);
        return;
      }
    }
  });
  ASSERT_TRUE(test::wait_until([&] {
    netipc_nd_provider_stats st{};
    return netipc_nd_provider_get_stats(p_, &st) == NETIPC_ND_OK && st.generations >= 1;
  }));
  netipc_nd_provider_stop(p_, 500);
  ASSERT_TRUE(test::wait_until([&] { return stopped_seen.load() == 1; }));
  go = false;
  discovery.join();
}

struct Captured {
  std::mutex mu;
  std::vector<std::pair<int, std::string>> lines;
};

void capture(void* user, int level, const char* message) {
  auto* c = static_cast<Captured*>(user);
  std::lock_guard<std::mutex> lock(c->mu);
  c->lines.emplace_back(level, message);
}

TEST_F(GlueProvider, LogLinesGoToTheHostsFunctionAtItsLevel) {
  Captured got;
  netipc_nd_set_log(&capture, &got, NETIPC_ND_LOG_INFO);
  auto in = three_cgroups();
  ASSERT_EQ(netipc_nd_provider_publish(p_, in.data(), in.size(), 1), NETIPC_ND_OK);
  ASSERT_EQ(netipc_nd_provider_wait_idle(p_, 10000), NETIPC_ND_OK);
  {
    std::lock_guard<std::mutex> lock(got.mu);
    bool generation_line = false;
    for (const auto& [level, text] : got.lines) {
      if (level == NETIPC_ND_LOG_INFO && text.find("generation") != std::string::npos &&
          text.find("3 cgroups") != std::string::npos) {
        generation_line = true;
      }
    }
    EXPECT_TRUE(generation_line);
    got.lines.clear();
  }
  // Warnings and up only: the next generation's info line is dropped.
  netipc_nd_set_log(&capture, &got, NETIPC_ND_LOG_WARNING);
  in.pop_back();
  ASSERT_EQ(netipc_nd_provider_publish(p_, in.data(), in.size(), 1), NETIPC_ND_OK);
  ASSERT_EQ(netipc_nd_provider_wait_idle(p_, 10000), NETIPC_ND_OK);
  netipc_nd_set_log(nullptr, nullptr, NETIPC_ND_LOG_INFO);  // back to stderr
  std::lock_guard<std::mutex> lock(got.mu);
  EXPECT_TRUE(got.lines.empty());
}

// ---- the host's thread API --------------------------------------------------

struct HostThreads {
  std::mutex mu;
  std::vector<std::string> started;
  int joined = 0;
  bool refuse = false;
};

void* host_start(void* user, const char* name, void (*body)(void*), void* arg) {
  auto* h = static_cast<HostThreads*>(user);
  {
    std::lock_guard<std::mutex> lock(h->mu);
    if (h->refuse) return nullptr;
    h->started.emplace_back(name);
  }
  return new std::thread([body, arg] { body(arg); });
}

void host_join(void* user, void* handle) {
  auto* t = static_cast<std::thread*>(handle);
  t->join();
  delete t;
  auto* h = static_cast<HostThreads*>(user);
  std::lock_guard<std::mutex> lock(h->mu);
  ++h->joined;
}

TEST(GlueProviderThreads, EveryProviderThreadRunsOnTheHostsThreadApi) {
  test::TempDir dir;
  HostThreads h;
  const netipc_nd_thread_ops ops{host_start, host_join, &h};
  netipc_nd_provider_options o{};
  o.run_dir = dir.path().c_str();
  o.threads = &ops;
  netipc_nd_provider* p = nullptr;
  ASSERT_EQ(netipc_nd_provider_start(&o, &p), NETIPC_ND_OK);
  auto in = three_cgroups();
  ASSERT_EQ(netipc_nd_provider_publish(p, in.data(), in.size(), 1), NETIPC_ND_OK);
  ASSERT_EQ(netipc_nd_provider_wait_idle(p, 10000), NETIPC_ND_OK);
  netipc_nd_provider_stats st{};
  ASSERT_EQ(netipc_nd_provider_get_stats(p, &st), NETIPC_ND_OK);
  EXPECT_EQ(st.items, 3u);
  {
    std::lock_guard<std::mutex> lock(h.mu);
    EXPECT_NE(std::find(h.started.begin(), h.started.end(), "netipc-cgroups"), h.started.end());
    EXPECT_NE(std::find(h.started.begin(), h.started.end(), "netipc-encoder"), h.started.end());
    for (const auto& name : h.started) EXPECT_LE(name.size(), 15u) << name;
  }
  netipc_nd_provider_destroy(p);
  std::lock_guard<std::mutex> lock(h.mu);
  EXPECT_EQ(h.joined, static_cast<int>(h.started.size()));
}

TEST(GlueProviderThreads, AHostThatCannotStartAThreadFailsTheStartCleanly) {
  test::TempDir dir;
  HostThreads h;
  h.refuse = true;
  const netipc_nd_thread_ops ops{host_start, host_join, &h};
  netipc_nd_provider_options o{};
  o.run_dir = dir.path().c_str();
  o.service = "refused";
  o.threads = &ops;
  netipc_nd_provider* p = nullptr;
  EXPECT_EQ(netipc_nd_provider_start(&o, &p), NETIPC_ND_ESYSTEM);
  EXPECT_EQ(p, nullptr);
  EXPECT_NE(::access(dir.file("refused.sock").c_str(), F_OK), 0);  // nothing left behind
  EXPECT_EQ(h.joined, 0);
}

TEST(GlueProviderThreads, ThreadOpsWithoutStartOrJoinAreInvalid) {
  test::TempDir dir;
  HostThreads h;
  netipc_nd_provider_options o{};
  o.run_dir = dir.path().c_str();
  netipc_nd_provider* p = nullptr;
  const netipc_nd_thread_ops no_join{host_start, nullptr, &h};
  o.threads = &no_join;
  EXPECT_EQ(netipc_nd_provider_start(&o, &p), NETIPC_ND_EINVAL);
  const netipc_nd_thread_ops no_start{nullptr, host_join, &h};
  o.threads = &no_start;
  EXPECT_EQ(netipc_nd_provider_start(&o, &p), NETIPC_ND_EINVAL);
  EXPECT_EQ(p, nullptr);
  EXPECT_TRUE(h.started.empty());
}

// ---- peers of other users ----

using other_user::kNobody;

// Options for a provider with a 0660 socket in `dir` (chmod 0710: its
// group, root's, may traverse), accepting `uids` besides its own user and
// root.
netipc_nd_provider_options peer_options(const test::TempDir& dir,
                                        const std::vector<uint32_t>& uids) {
  EXPECT_EQ(::chmod(dir.path().c_str(), 0710), 0);
  netipc_nd_provider_options o{};
  o.run_dir = dir.path().c_str();
  o.service = "peers";
  o.auth_token = kToken;
  o.allowed_uids = uids.empty() ? nullptr : uids.data();
  o.allowed_uid_count = static_cast<uint32_t>(uids.size());
  o.socket_mode = 0660;
  return o;
}

// The provider runs in a child process (started before this process has
// any thread, so the clients can be forked from it safely); returns
// whether a client running as `uid` was served (0) or not (3), per uid.
std::vector<int> served_as(const std::vector<uint32_t>& allowed, const std::vector<uid_t>& uids) {
  test::TempDir dir;
  const netipc_nd_provider_options o = peer_options(dir, allowed);
  test::Child provider = test::Child::fork_fn([&]() -> int {
    netipc_nd_provider* p = nullptr;
    if (netipc_nd_provider_start(&o, &p) != NETIPC_ND_OK) return 1;
    if (::write(STDOUT_FILENO, "READY\n", 6) != 6) return 2;
    for (;;)
      ::pause();
  });
  EXPECT_TRUE(provider.wait_for_line("READY"));
  std::vector<int> out;
  for (uid_t uid : uids)
    out.push_back(other_user::fetch_snapshot_as(uid, dir.path(), "peers", kToken));
  return out;
}

TEST(GlueProviderPeers, AnotherUsersClientIsServedOnlyWhenItsUidIsAllowed) {
  if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to run a client as another user";
  // By default: refused; the same socket serves root.
  EXPECT_EQ(served_as({}, {kNobody, 0}), (std::vector<int>{3, 0}));
  // A set naming other uids only: refused; one of them is served.
  EXPECT_EQ(served_as({4242, 4343}, {kNobody, 4343}), (std::vector<int>{3, 0}));
  // Its uid in the set: served.
  EXPECT_EQ(served_as({4242, kNobody}, {kNobody}), (std::vector<int>{0}));
}

TEST(GlueProviderPeers, ASetOfOtherUsersStillServesThisUserAndTheSocketHasItsMode) {
  test::TempDir dir;
  const std::vector<uint32_t> others = {static_cast<uint32_t>(::geteuid()) + 4242};
  const netipc_nd_provider_options o = peer_options(dir, others);
  netipc_nd_provider* p = nullptr;
  ASSERT_EQ(netipc_nd_provider_start(&o, &p), NETIPC_ND_OK);
  struct stat st {};
  EXPECT_EQ(::stat(dir.file("peers.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  CgroupsSnapshotClientConfig c;
  c.run_dir = dir.path();
  c.service = "peers";
  c.auth_token = kToken;
  c.supported_profiles = wire::kProfileUds;
  auto client = CgroupsSnapshotClient::create(c);
  EXPECT_TRUE(client.ok());
  if (client.ok()) {
    auto got = client->fetch();
    EXPECT_TRUE(got.ok()) << got.error().message();
  }
  netipc_nd_provider_destroy(p);
}

TEST(GlueProviderPeers, AllowedUidsWithoutAnArrayOrAnotherSocketModeAreInvalid) {
  test::TempDir dir;
  netipc_nd_provider_options o{};
  o.run_dir = dir.path().c_str();
  netipc_nd_provider* p = nullptr;
  o.allowed_uid_count = 1;
  EXPECT_EQ(netipc_nd_provider_start(&o, &p), NETIPC_ND_EINVAL);
  o.allowed_uid_count = 0;
  for (uint32_t mode : {0644u, 0666u, 0700u, 0777u}) {
    o.socket_mode = mode;
    EXPECT_EQ(netipc_nd_provider_start(&o, &p), NETIPC_ND_EINVAL) << std::oct << mode;
  }
  EXPECT_EQ(p, nullptr);
  EXPECT_NE(::access(dir.file("cgroups-snapshot.sock").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace netipc
