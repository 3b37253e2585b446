// A consumer attached to netipc-cgroups-provider keeps working across a
// provider kill -9 and restart: the new provider recovers the stale socket
// (and, over shared memory, the stale SHM regions), and the consumer's next
// refresh reconnects by itself and sees the new snapshot, over both
// transports.
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>

#include "../../unit/cgroups-provider/fake_cgroupfs.h"
#include "../../unit/cgroups-provider/snapshot_fetcher.h"
#include "test_support.h"

namespace netipc::cgroups_provider {
namespace {

using testing::FakeHost;
using testing::Fetched;
using testing::FetcherOptions;
using testing::HostKind;
using testing::SnapshotFetcher;

std::vector<std::string> run_dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    out.push_back(e.path().filename().string());
  return out;
}

class ProviderRestart : public ::testing::TestWithParam<const char*> {
 protected:
  bool shm() const { return std::string(GetParam()) == "shm"; }

  test::Child start() {
    test::Child c = testing::spawn_provider({"--cgroup-root", host_.root(), "--run-dir",
                                             run_.path(), "--service", "restart", "--rescan", "0.2",
                                             "--transport", GetParam()});
    EXPECT_TRUE(c.wait_for_line("READY", std::chrono::seconds(20))) << c.output();
    return c;
  }

  FakeHost host_{HostKind::kV2};
  test::TempDir run_;
};

TEST_P(ProviderRestart, ConsumerReconnectsAfterKill9AndRestart) {
  host_.add(host_.unified(), "/before.scope");
  test::Child first = start();
  FetcherOptions o;
  o.shm = shm();
  o.timeout_ms = 2000;
  auto consumer = SnapshotFetcher::create(run_.path(), "restart", o);
  ASSERT_TRUE(consumer.ok());
  auto got = consumer->fetch();
  ASSERT_TRUE(got.ok()) << got.error().message();
  Fetched cached = *got;  // what a cache would keep serving
  ASSERT_NE(cached.find("cgroup_before-scope"), nullptr);
  if (shm()) {
    ASSERT_EQ(consumer->client_status().selected_profile, wire::kProfileShmHybrid);
  }

  first.kill_with(SIGKILL);
  ASSERT_EQ(first.wait(std::chrono::seconds(10)), 128 + SIGKILL);
  // Left behind: the socket node, and with SHM the session's region.
  const auto stale = run_dir_entries(run_.path());
  EXPECT_GE(stale.size(), shm() ? 2u : 1u);

  // While the provider is gone, refreshes fail and the consumer keeps its
  // previous snapshot.
  auto down = consumer->fetch();
  EXPECT_FALSE(down.ok());
  EXPECT_NE(cached.find("cgroup_before-scope"), nullptr);

  host_.add(host_.unified(), "/after.scope");
  test::Child second = start();
  ASSERT_TRUE(test::wait_until(
      [&] {
        auto r = consumer->fetch();
        if (!r.ok()) return false;
        cached = std::move(*r);
        return true;
      },
      std::chrono::seconds(15)))
      << second.output();
  EXPECT_NE(cached.find("cgroup_after-scope"), nullptr);
  EXPECT_NE(cached.find("cgroup_before-scope"), nullptr);
  // The restarted provider's generations continue above the old ones.
  EXPECT_GT(cached.generation, got->generation);
  EXPECT_GE(consumer->client_status().reconnect_count + consumer->client_status().connect_count,
            2u);
  if (shm()) {
    EXPECT_EQ(consumer->client_status().selected_profile, wire::kProfileShmHybrid);
    EXPECT_NE(second.output().find("stale shared-memory region"), std::string::npos)
        << second.output();
  }

  second.kill_with(SIGTERM);
  EXPECT_EQ(second.wait(std::chrono::seconds(20)), 0) << second.output();
  // Nothing stale survives the restarted provider's clean stop.
  EXPECT_TRUE(run_dir_entries(run_.path()).empty());
}

INSTANTIATE_TEST_SUITE_P(Transports, ProviderRestart, ::testing::Values("uds", "shm"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string(p.param);
                         });

}  // namespace
}  // namespace netipc::cgroups_provider
