// The ebpf consumer end to end: a real provider (publisher on a libuv
// server thread, Unix socket) serves items whose paths are real
// cgroup.procs files; Consumer::refresh() (blocking) and Consumer::attach()
// (libuv) rebuild the target table from them. Backends: a directory tree of
// the cgroupfs shape (always), and real cgroups under a v1 controller and
// cgroup2 where the machine allows creating them (skipped loudly
// otherwise). Covers PIDs appearing and leaving, disabled items, the
// systemd flag, the three flags, a set change with the same count, the
// provider going away (the table keeps tracking PIDs) and coming back, an
// empty snapshot.
#include "ebpf_consumer/consumer.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cache_test_util.h"
#include "cgroup_tree_util.h"
#include "test_support.h"

namespace netipc::ebpf {
namespace {

using ::testing::ElementsAre;

using cache_test::TestProvider;
using cgroup_tree::Backend;

CgroupItem item(const Backend& b, const std::string& cg, bool systemd, uint32_t enabled = 1) {
  CgroupItem it;
  it.name = (systemd ? "systemd_" : "cgroup_") + cg;
  it.hash = fnv1a32(it.name);
  it.options = systemd ? kCgroupOptSystemdService : 0;
  it.enabled = enabled;
  it.path = b.procs(cg);
  it.cgroup_id = fnv1a32(cg);
  return it;
}

const Target* find(const Consumer& c, const std::string& name) {
  static thread_local std::shared_ptr<const TargetView> keep;
  keep = c.view();
  return keep->find(fnv1a32(name), name);
}

std::unique_ptr<Consumer> make_consumer(const test::TempDir& dir, const std::string& service) {
  ConsumerConfig cfg;
  cfg.run_dir = dir.path();
  cfg.service = service;
  auto c = Consumer::create(cfg);
  EXPECT_TRUE(c.ok()) << c.error().message();
  return c.ok() ? std::move(*c) : nullptr;
}

void run_scenario(Backend& b) {
  test::TempDir dir;
  const std::string service = test::unique_service("cons");
  auto p = TestProvider::start(dir.path(), service, 10);
  ASSERT_TRUE(p);
  auto c = make_consumer(dir, service);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->integration_active());

  ASSERT_TRUE(b.create("web"));
  ASSERT_TRUE(b.create("db"));
  ASSERT_TRUE(b.create("off"));
  test::Child w1 = cgroup_tree::sleeper(), d1 = cgroup_tree::sleeper();
  ASSERT_TRUE(w1.valid() && d1.valid());
  ASSERT_TRUE(b.enter("web", w1.pid()));
  ASSERT_TRUE(b.enter("db", d1.pid()));
  p->publish({item(b, "web", false), item(b, "db", true), item(b, "off", false, 0)}, 1);

  // First refresh: enabled items only, PIDs from their cgroup.procs.
  ConsumerRefresh r;
  ASSERT_TRUE(c->refresh(0, &r).ok()) << r.refresh.error.message();
  ASSERT_TRUE(r.applied);
  EXPECT_EQ(r.apply.targets, 2u);
  EXPECT_EQ(r.apply.disabled_skipped, 1u);
  EXPECT_TRUE(r.apply.send_cgroup_charts);
  EXPECT_TRUE(c->integration_active());
  EXPECT_TRUE(c->systemd_enabled());
  EXPECT_TRUE(c->send_cgroup_charts());
  ASSERT_NE(find(*c, "cgroup_web"), nullptr);
  EXPECT_FALSE(find(*c, "cgroup_web")->systemd);
  EXPECT_THAT(find(*c, "cgroup_web")->pids, ElementsAre(w1.pid()));
  ASSERT_NE(find(*c, "systemd_db"), nullptr);
  EXPECT_TRUE(find(*c, "systemd_db")->systemd);
  EXPECT_TRUE(find(*c, "systemd_db")->has_pid(d1.pid()));
  EXPECT_EQ(find(*c, "cgroup_off"), nullptr);
  const uint64_t gen = c->status().generation;

  // A PID appears: same snapshot, new PID set; no chart signal.
  test::Child w2 = cgroup_tree::sleeper();
  ASSERT_TRUE(w2.valid());
  ASSERT_TRUE(b.enter("web", w2.pid()));
  ASSERT_TRUE(c->refresh(0, &r).ok());
  EXPECT_EQ(c->status().generation, gen);
  EXPECT_EQ(r.apply.pids_added, 1u);
  EXPECT_FALSE(c->send_cgroup_charts());
  EXPECT_TRUE(find(*c, "cgroup_web")->has_pid(w2.pid()));

  // A PID leaves.
  const pid_t gone = w1.pid();
  cgroup_tree::kill_and_reap(w1);
  b.left("web", gone);
  ASSERT_TRUE(c->refresh(0, &r).ok());
  EXPECT_EQ(r.apply.pids_removed, 1u);
  EXPECT_FALSE(find(*c, "cgroup_web")->has_pid(gone));

  // The provider goes away: the refresh fails, the table is still rebuilt
  // from the cached snapshot, so PIDs keep being tracked.
  p->stop();
  test::Child w3 = cgroup_tree::sleeper();
  ASSERT_TRUE(w3.valid());
  ASSERT_TRUE(b.enter("web", w3.pid()));
  EXPECT_FALSE(c->refresh(0, &r).ok());
  EXPECT_TRUE(r.applied);
  EXPECT_TRUE(find(*c, "cgroup_web")->has_pid(w3.pid()));
  EXPECT_TRUE(c->integration_active());
  EXPECT_EQ(c->status().refresh_failure_count, 1u);

  // It comes back with another set of the same size: "cache" replaces
  // "db". The set changed, so the chart signal fires (legacy: count only).
  ASSERT_TRUE(b.create("cache"));
  p = TestProvider::start(dir.path(), service, 100);
  p->publish({item(b, "web", false), item(b, "cache", false)}, 1);
  ASSERT_TRUE(c->refresh(0, &r).ok()) << r.refresh.error.message();
  EXPECT_EQ(r.apply.targets, 2u);
  EXPECT_EQ(r.apply.targets_added, 1u);
  EXPECT_EQ(r.apply.targets_removed, 1u);
  EXPECT_TRUE(c->send_cgroup_charts());
  EXPECT_EQ(find(*c, "systemd_db"), nullptr);
  ASSERT_EQ(c->view()->removed().size(), 1u);
  EXPECT_EQ(c->view()->removed()[0]->name, "systemd_db");
  EXPECT_TRUE(find(*c, "cgroup_cache")->pids.empty());

  // An empty snapshot: targets kept, integration inactive; the next
  // non-empty one raises the chart signal again.
  p->publish({}, 0);
  ASSERT_TRUE(c->refresh(0, &r).ok());
  EXPECT_FALSE(c->integration_active());
  EXPECT_FALSE(c->systemd_enabled());
  EXPECT_EQ(c->view()->size(), 2u);
  p->publish({item(b, "web", false), item(b, "cache", false)}, 1);
  ASSERT_TRUE(c->refresh(0, &r).ok());
  EXPECT_TRUE(c->integration_active());
  EXPECT_TRUE(c->send_cgroup_charts());

  cgroup_tree::kill_and_reap(w2);
  cgroup_tree::kill_and_reap(w3);
  cgroup_tree::kill_and_reap(d1);
}

TEST(EbpfConsumer, DirectoryTreeScenario) {
  cgroup_tree::DirectoryTree tree;
  run_scenario(tree);
}

class EbpfConsumerRealCgroups : public ::testing::TestWithParam<const char*> {};

TEST_P(EbpfConsumerRealCgroups, Scenario) {
  cgroup_tree::RealCgroupfs cg(GetParam());
  const std::string why = cg.probe();
  if (!why.empty()) {
    GTEST_SKIP() << "SKIPPED LOUDLY: cannot create cgroups under " << GetParam() << " (" << why
                 << "); DirectoryTreeScenario covers the same behaviour";
  }
  run_scenario(cg);
}

INSTANTIATE_TEST_SUITE_P(Hierarchies, EbpfConsumerRealCgroups,
                         ::testing::Values("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string(p.param).find("unified") != std::string::npos
                                      ? std::string("CgroupV2")
                                      : std::string("CgroupV1Pids");
                         });

TEST(EbpfConsumer, AttachedToALoopRebuildsTheTableOnEveryRefresh) {
  cgroup_tree::DirectoryTree b;
  test::TempDir dir;
  const std::string service = test::unique_service("consuv");
  auto p = TestProvider::start(dir.path(), service, 10);
  ASSERT_TRUE(p);
  ASSERT_TRUE(b.create("api"));
  test::Child a1 = cgroup_tree::sleeper();
  ASSERT_TRUE(a1.valid());
  ASSERT_TRUE(b.enter("api", a1.pid()));
  p->publish({item(b, "api", true)}, 1);
  auto c = make_consumer(dir, service);
  ASSERT_TRUE(c);

  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  std::vector<ConsumerRefresh> seen;
  ASSERT_TRUE(c->attach(&loop, 20, [&](const ConsumerRefresh& r) { seen.push_back(r); }).ok());
  EXPECT_TRUE(c->attached());
  EXPECT_EQ(c->attach(&loop, 20, nullptr).code(), Errc::kInvalidArgument);
  EXPECT_EQ(c->refresh().code(), Errc::kInvalidArgument);  // one mode at a time

  auto run_until = [&](const std::function<bool()>& pred) {
    uv_timer_t wd;
    uv_timer_init(&loop, &wd);
    uv_timer_start(
        &wd, [](uv_timer_t*) {}, 5, 5);
    bool ok = test::wait_until([&] {
      uv_run(&loop, UV_RUN_ONCE);
      return pred();
    });
    uv_close(reinterpret_cast<uv_handle_t*>(&wd), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
    return ok;
  };
  ASSERT_TRUE(run_until([&] { return !seen.empty(); }));
  ASSERT_TRUE(seen[0].refresh.ok()) << seen[0].refresh.error.message();
  EXPECT_TRUE(seen[0].applied);
  EXPECT_EQ(seen[0].apply.targets, 1u);
  EXPECT_TRUE(find(*c, "systemd_api")->has_pid(a1.pid()));
  EXPECT_EQ(c->client_status().connect_count, 1u);

  // A new PID shows up in a later periodic refresh.
  test::Child a2 = cgroup_tree::sleeper();
  ASSERT_TRUE(a2.valid());
  ASSERT_TRUE(b.enter("api", a2.pid()));
  ASSERT_TRUE(run_until([&] {
    const Target* t = find(*c, "systemd_api");
    return t != nullptr && t->has_pid(a2.pid());
  }));

  bool detached = false;
  ASSERT_TRUE(c->detach([&] { detached = true; }).ok());
  EXPECT_EQ(c->detach(nullptr).code(), Errc::kInvalidArgument);
  ASSERT_TRUE(run_until([&] { return detached; }));
  EXPECT_FALSE(c->attached());
  const size_t n = seen.size();
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(seen.size(), n);  // nothing after detach
  EXPECT_EQ(uv_loop_close(&loop), 0);
  // Blocking refreshes work again after detach.
  EXPECT_TRUE(c->refresh().ok());
  cgroup_tree::kill_and_reap(a1);
  cgroup_tree::kill_and_reap(a2);
}

// The table rebuild of an attached consumer reads cgroup.procs off the
// loop's thread. Here the only item's "cgroup.procs" is a FIFO: the
// rebuild's open() waits until a writer comes, and the only writer with
// the PIDs is a timer on the consumer's own loop. The target can only get
// those PIDs if the loop kept running timers while the rebuild was reading.
// (Were the rebuild on the loop, nothing would ever write: a watchdog
// thread then opens the FIFO empty, so the test fails instead of hanging.)
TEST(EbpfConsumer, AttachedRebuildReadsOffTheLoopWhichKeepsRunningTimers) {
  test::TempDir dir;
  const std::string service = test::unique_service("consfifo");
  const std::string fifo = dir.path() + "/cgroup.procs";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << errno;
  auto p = TestProvider::start(dir.path(), service, 10);
  ASSERT_TRUE(p);
  CgroupItem it;
  it.name = "cgroup_fifo";
  it.hash = fnv1a32(it.name);
  it.enabled = 1;
  it.path = fifo;
  p->publish({it}, 1);
  auto c = make_consumer(dir, service);
  ASSERT_TRUE(c);

  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  struct Writer {
    uv_timer_t timer;
    std::string path;
    int writes = 0;
  } writer;
  writer.path = fifo;
  uv_timer_init(&loop, &writer.timer);
  writer.timer.data = &writer;
  // Opening a FIFO for writing without blocking fails (ENXIO) until a
  // reader has it open: the timer keeps trying until the rebuild does.
  uv_timer_start(
      &writer.timer,
      [](uv_timer_t* t) {
        auto* w = static_cast<Writer*>(t->data);
        const int fd = ::open(w->path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) return;
        const char pids[] = "4242\n4243\n";
        if (::write(fd, pids, sizeof pids - 1) == static_cast<ssize_t>(sizeof pids - 1)) {
          ++w->writes;
        }
        ::close(fd);
        uv_timer_stop(t);
      },
      1, 1);

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::atomic<bool> watchdog_fired{false};
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (cv.wait_for(lock, std::chrono::seconds(20), [&] { return finished; })) return;
    watchdog_fired = true;
    while (!finished) {
      const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) ::close(fd);  // EOF for the reader: no PIDs
      cv.wait_for(lock, std::chrono::milliseconds(10), [&] { return finished; });
    }
  });

  std::vector<ConsumerRefresh> seen;
  ASSERT_TRUE(c->attach(&loop, 60000, [&](const ConsumerRefresh& r) { seen.push_back(r); }).ok());
  while (seen.empty() && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();

  EXPECT_FALSE(watchdog_fired.load());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].applied);
  EXPECT_EQ(seen[0].apply.files_read, 1u);
  EXPECT_EQ(writer.writes, 1);
  const Target* t = find(*c, "cgroup_fifo");
  ASSERT_NE(t, nullptr);
  EXPECT_THAT(std::vector<pid_t>(t->pids.begin(), t->pids.end()), ElementsAre(4242, 4243));

  bool detached = false;
  ASSERT_TRUE(c->detach([&] { detached = true; }).ok());
  uv_close(reinterpret_cast<uv_handle_t*>(&writer.timer), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_TRUE(detached);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(EbpfConsumer, DestroyedFromInsideItsLoopCallback) {
  test::TempDir dir;
  const std::string service = test::unique_service("consd");
  auto p = TestProvider::start(dir.path(), service, 10);
  ASSERT_TRUE(p);
  auto c = make_consumer(dir, service);
  ASSERT_TRUE(c);
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  int calls = 0;
  ASSERT_TRUE(c->attach(&loop, 10, [&](const ConsumerRefresh&) {
                 ++calls;
                 c.reset();  // the consumer, its refresher and this callback's owner
               }).ok());
  while (calls == 0 && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(c, nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace netipc::ebpf
