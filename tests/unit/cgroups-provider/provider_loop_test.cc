// CgroupsProvider on a loop the host owns: serving while the host runs the
// loop, stop() with `done` on the loop thread, and a stop that has to wait
// for a source still running on the encoder thread.
#include <gtest/gtest.h>
#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "cgroups_provider/provider.h"
#include "snapshot_fetcher.h"
#include "test_support.h"

namespace netipc::cgroups_provider {
namespace {

using Items = CgroupsProvider::Items;

std::vector<CgroupItem> items_of(int n) {
  std::vector<CgroupItem> v;
  for (int i = 0; i < n; ++i) {
    CgroupItem it;
    it.name = "cgroup_h" + std::to_string(i);
    it.path = "/x/h" + std::to_string(i) + "/cgroup.procs";
    it.hash = fnv1a32(it.name);
    it.enabled = 1;
    it.cgroup_id = 7 + static_cast<uint64_t>(i);
    v.push_back(it);
  }
  return v;
}

// A host loop on its own thread, with a way to run code on it.
class HostLoop : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    ASSERT_EQ(uv_async_init(&loop_, &call_,
                            [](uv_async_t* a) {
                              auto* self = static_cast<HostLoop*>(a->data);
                              std::function<void()> fn;
                              {
                                std::lock_guard<std::mutex> lock(self->m_);
                                fn = std::move(self->fn_);
                              }
                              if (fn) fn();
                            }),
              0);
    call_.data = this;
    ProviderConfig c;
    c.run_dir = dir_.path();
    c.service = service_;
    // Created on this thread before the loop runs: the loop thread's role.
    auto p = CgroupsProvider::create(&loop_, c);
    ASSERT_TRUE(p.ok()) << p.error().message();
    provider_ = std::move(*p);
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }

  void TearDown() override {
    if (thread_.joinable()) {
      stop_on_loop(nullptr);
      thread_.join();
    }
    provider_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  void run_on_loop(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(m_);
      fn_ = std::move(fn);
    }
    uv_async_send(&call_);
  }

  // provider->stop() on the loop thread; the call handle closes with it, so
  // the loop ends once the provider's handles are closed.
  void stop_on_loop(std::atomic<bool>* done) {
    run_on_loop([this, done] {
      uv_close(reinterpret_cast<uv_handle_t*>(&call_), nullptr);
      provider_->stop(1000, [done] {
        if (done != nullptr) done->store(true);
      });
    });
  }

  test::TempDir dir_;
  std::string service_ = test::unique_service("loop");
  uv_loop_t loop_{};
  uv_async_t call_{};
  std::mutex m_;
  std::function<void()> fn_;
  std::unique_ptr<CgroupsProvider> provider_;
  std::thread thread_;
};

TEST_F(HostLoop, ServesWhatAnotherThreadPublishesAndStopsWithDone) {
  provider_->publish(items_of(12));
  ASSERT_TRUE(provider_->wait_idle(std::chrono::seconds(10)));
  auto f = testing::SnapshotFetcher::create(dir_.path(), service_);
  ASSERT_TRUE(f.ok());
  auto got = f->fetch();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->items, items_of(12));
  EXPECT_EQ(got->generation, provider_->current()->generation);

  const std::string sock = provider_->socket_path();
  std::atomic<bool> done{false};
  stop_on_loop(&done);
  thread_.join();  // the loop ends: nothing of the provider keeps it alive
  EXPECT_TRUE(done.load());
  EXPECT_NE(::access(sock.c_str(), F_OK), 0);
}

TEST_F(HostLoop, StopWaitsForTheSourceRunningOnTheEncoder) {
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<bool> running{false};
  provider_->refresh_from([&]() -> Result<Items> {
    running = true;
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return release; });
    return std::make_shared<const std::vector<CgroupItem>>(items_of(2));
  });
  ASSERT_TRUE(test::wait_until([&] { return running.load(); }));
  std::atomic<bool> done{false};
  const std::string sock = provider_->socket_path();
  stop_on_loop(&done);
  // The server stops at once (socket gone); `done` waits for the encoder.
  ASSERT_TRUE(test::wait_until([&] { return ::access(sock.c_str(), F_OK) != 0; }));
  EXPECT_FALSE(done.load());
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
  }
  cv.notify_all();
  thread_.join();
  EXPECT_TRUE(done.load());
}

TEST(HostLoopCreate, FailedCreateLeavesTheLoopClean) {
  test::TempDir dir;
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ProviderConfig c;
  c.run_dir = dir.path() + "/missing";
  c.service = "x";
  auto p = CgroupsProvider::create(&loop, c);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace netipc::cgroups_provider
