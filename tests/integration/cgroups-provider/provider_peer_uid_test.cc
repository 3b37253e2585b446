// netipc-cgroups-provider --allow-uid / --socket-mode as a real process. A
// client of another user that can reach the socket (0660, its group) is
// refused at accept unless its uid is in the set; the client is a forked
// child switched to "nobody" (needs root; skipped, saying so, otherwise). Without privilege: a set that names other users still
// serves this process's own user, and the socket gets the mode asked for.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "../../unit/cgroups-provider/fake_cgroupfs.h"
#include "../../unit/cgroups-provider/snapshot_fetcher.h"
#include "other_user_util.h"
#include "test_support.h"

namespace netipc::cgroups_provider {
namespace {

using testing::FakeHost;
using testing::HostKind;
using testing::SnapshotFetcher;

using other_user::kNobody;

class ProviderAllowUid : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.add(host_.unified(), "/system.slice/nginx.service");
    ASSERT_EQ(::chmod(run_.path().c_str(), 0710), 0);  // the group may traverse
  }

  // Starts the provider with a 0660 socket and `extra`, waits for READY.
  test::Child start(std::vector<std::string> extra) {
    std::vector<std::string> a = {"--cgroup-root", host_.root(), "--run-dir", run_.path(),
                                  "--service",     service_,     "--socket-mode", "0660"};
    a.insert(a.end(), extra.begin(), extra.end());
    test::Child c = testing::spawn_provider(a);
    EXPECT_TRUE(c.valid());
    EXPECT_TRUE(c.wait_for_line("READY", std::chrono::seconds(20))) << c.output();
    return c;
  }

  // 0 when a client running as `uid` is served, 3 when it is not.
  int snapshot_as(uid_t uid) { return other_user::fetch_snapshot_as(uid, run_.path(), service_); }

  FakeHost host_{HostKind::kV2};
  test::TempDir run_;
  std::string service_ = test::unique_service("pau");
};

TEST_F(ProviderAllowUid, AnotherUsersClientIsRefusedByDefault) {
  if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to run a client as another user";
  test::Child p = start({});
  EXPECT_EQ(snapshot_as(kNobody), 3);
  EXPECT_EQ(snapshot_as(0), 0);  // the same socket serves an allowed user
}

TEST_F(ProviderAllowUid, AnotherUsersClientIsRefusedWhenTheSetNamesOthersOnly) {
  if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to run a client as another user";
  test::Child p = start({"--allow-uid", "4242", "--allow-uid", "4343"});
  EXPECT_EQ(snapshot_as(kNobody), 3);
  EXPECT_EQ(snapshot_as(4242), 0);
}

TEST_F(ProviderAllowUid, AnotherUsersClientIsServedWhenItsUidIsInTheSet) {
  if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to run a client as another user";
  test::Child p = start({"--allow-uid", "4242", "--allow-uid", std::to_string(kNobody)});
  EXPECT_EQ(snapshot_as(kNobody), 0) << p.output();
}

TEST_F(ProviderAllowUid, ASetOfOtherUsersStillServesThisUserAndTheSocketHasItsMode) {
  const std::string other = std::to_string(::geteuid() + 4242);
  test::Child p = start({"--allow-uid", other});
  struct stat st {};
  ASSERT_EQ(::stat(run_.file(service_ + ".sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  auto f = SnapshotFetcher::create(run_.path(), service_);
  ASSERT_TRUE(f.ok());
  auto got = f->fetch();
  ASSERT_TRUE(got.ok()) << got.error().message() << "\n" << p.output();
  EXPECT_NE(got->find("systemd_nginx"), nullptr);
}

}  // namespace
}  // namespace netipc::cgroups_provider
