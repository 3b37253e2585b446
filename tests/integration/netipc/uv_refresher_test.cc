// uv::Refresher on a real libuv loop against a real provider: the first
// refresh right away, then periodic; the loop keeps ticking while a refresh
// builds (the build runs on the threadpool); failures keep the snapshot and
// never stop the schedule; a malformed answer drops the session; stop() is
// clean in every phase (no callback after it, uv_loop_close() == 0).
#include "netipc/uv/refresher.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cache_test_util.h"
#include "test_support.h"
#include "uv_test_util.h"

namespace netipc::uv {
namespace {

using cache_test::items_of;
using cache_test::Mode;
using cache_test::TestProvider;
using Clock = std::chrono::steady_clock;

class UvRefresherTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    // Every test stops its refresher; the loop must then close cleanly.
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // Runs the loop until pred() holds or `ms` pass (a 5 ms watchdog keeps
  // the loop waking up to look at the deadline).
  bool run_until(const std::function<bool()>& pred, int ms = 10000) {
    return uv_test::run_loop_until(&loop_, pred, ms);
  }

  std::unique_ptr<Refresher> make(int interval_ms, uint16_t layout = 0) {
    return uv_test::make_refresher(&loop_, dir_.path(), service_, interval_ms, 5000, layout,
                                   &store_);
  }

  // Records every outcome of `r` in seen_, starts it and runs the loop
  // until the first refresh was delivered.
  void start_recorded(Refresher* r) {
    ASSERT_TRUE(r->set_on_refresh([this](const RefreshOutcome& o) { seen_.push_back(o); }).ok());
    ASSERT_TRUE(r->start().ok());
    ASSERT_TRUE(run_until([&] { return seen_.size() == 1; }));
  }
  // refresh_now(), then runs the loop until its outcome was delivered.
  void refresh_recorded(Refresher* r) {
    const size_t n = seen_.size();
    ASSERT_TRUE(r->refresh_now());
    ASSERT_TRUE(run_until([&] { return seen_.size() == n + 1; }));
  }

  void stop(Refresher* r) {
    bool done = false;
    r->stop([&] { done = true; });
    EXPECT_TRUE(run_until([&] { return done; }));
  }

  uv_loop_t loop_{};
  test::TempDir dir_;
  std::string service_ = test::unique_service("refr");
  std::shared_ptr<SnapshotStore> store_;
  std::vector<RefreshOutcome> seen_;  // by start_recorded()
};

TEST_F(UvRefresherTest, CreateValidates) {
  ClientConfig c;
  c.run_dir = dir_.path();
  c.service = service_;
  auto store = std::make_shared<SnapshotStore>();
  EXPECT_EQ(Refresher::create(nullptr, c, store).code(), Errc::kInvalidArgument);
  EXPECT_EQ(Refresher::create(&loop_, c, nullptr).code(), Errc::kInvalidArgument);
  RefresherConfig rc;
  rc.layout = 3;
  EXPECT_EQ(Refresher::create(&loop_, c, store, rc).code(), Errc::kInvalidArgument);
  c.method = static_cast<uint16_t>(wire::Method::kIncrement);
  EXPECT_EQ(Refresher::create(&loop_, c, store).code(), Errc::kInvalidArgument);
}

TEST_F(UvRefresherTest, FirstRefreshRightAwayThenEveryInterval) {
  auto p = TestProvider::start(dir_.path(), service_, 10);
  const uint64_t gen = p->publish(items_of(1, 40));
  // A long interval: only the immediate first refresh can happen.
  auto r = make(3600 * 1000);
  std::vector<RefreshOutcome> seen;
  ASSERT_TRUE(r->set_on_refresh([&](const RefreshOutcome& o) { seen.push_back(o); }).ok());
  ASSERT_TRUE(r->start().ok());
  EXPECT_TRUE(seen.empty());  // never from inside start()
  ASSERT_TRUE(run_until([&] { return !seen.empty(); }));
  EXPECT_TRUE(seen[0].ok()) << seen[0].error.message();
  EXPECT_EQ(seen[0].generation, gen);
  EXPECT_EQ(store_->status().generation, gen);
  EXPECT_EQ(store_->status().connection_state, ClientState::kReady);
  EXPECT_EQ(r->attempts(), 1u);
  EXPECT_EQ(r->set_on_refresh(nullptr).code(), Errc::kInvalidArgument);  // after start
  EXPECT_EQ(r->start().code(), Errc::kInvalidArgument);
  // refresh_now() runs another one, asynchronously.
  ASSERT_TRUE(r->refresh_now());
  EXPECT_FALSE(r->refresh_now());  // one at a time
  EXPECT_EQ(seen.size(), 1u);
  ASSERT_TRUE(run_until([&] { return seen.size() == 2; }));
  stop(r.get());

  // Periodic: a 20 ms interval gives more refreshes over one session.
  seen.clear();
  auto q = make(20);
  ASSERT_TRUE(q->set_on_refresh([&](const RefreshOutcome& o) { seen.push_back(o); }).ok());
  ASSERT_TRUE(q->start().ok());
  ASSERT_TRUE(run_until([&] { return seen.size() >= 4; }));
  for (const auto& o : seen)
    EXPECT_TRUE(o.ok());
  EXPECT_EQ(q->client_status().connect_count, 1u);
  EXPECT_GE(store_->status().refresh_success_count, 4u);
  stop(q.get());
  EXPECT_FALSE(q->refresh_now());
}

TEST_F(UvRefresherTest, BuildRunsOffTheLoopWhichKeepsTicking) {
  auto p = TestProvider::start(dir_.path(), service_, 1);
  const uint64_t gen = p->publish(items_of(2, 20000));
  auto r = make(3600 * 1000);
  const pthread_t loop_thread = pthread_self();

  // A 1 ms timer on the same loop.
  struct Ticker {
    uv_timer_t t;
    std::atomic<uint64_t> ticks{0};
  } ticker;
  uv_timer_init(&loop_, &ticker.t);
  ticker.t.data = &ticker;
  uv_timer_start(
      &ticker.t, [](uv_timer_t* t) { static_cast<Ticker*>(t->data)->ticks.fetch_add(1); }, 1, 1);

  // The hook runs after the build and publish, on the threadpool. It waits
  // for the loop to tick several times: if the build (or the hook) ran on
  // the loop, the ticks could not advance and the wait would time out.
  std::atomic<bool> off_loop{false}, loop_ticked{false}, reader_saw_it{false};
  ASSERT_TRUE(r->set_work_hook([&](const RefreshOutcome& o,
                                   const std::shared_ptr<const Snapshot>& current) {
                 off_loop = !pthread_equal(pthread_self(), loop_thread);
                 const uint64_t t0 = ticker.ticks.load();
                 loop_ticked = test::wait_until([&] { return ticker.ticks.load() >= t0 + 5; },
                                                std::chrono::seconds(5));
                 // Another thread sees the published snapshot.
                 ReadGuard g(*store_);
                 reader_saw_it = o.ok() && current && g.generation() == current->generation();
               }).ok());
  bool delivered = false;
  ASSERT_TRUE(r->set_on_refresh([&](const RefreshOutcome& o) {
                 EXPECT_TRUE(o.ok()) << o.error.message();
                 EXPECT_EQ(o.item_count, 20000u);
                 delivered = true;
               }).ok());
  ASSERT_TRUE(r->start().ok());
  ASSERT_TRUE(run_until([&] { return delivered; }, 20000));
  EXPECT_TRUE(off_loop.load());
  EXPECT_TRUE(loop_ticked.load());
  EXPECT_TRUE(reader_saw_it.load());
  EXPECT_EQ(store_->status().generation, gen);
  uv_close(reinterpret_cast<uv_handle_t*>(&ticker.t), nullptr);
  stop(r.get());
}

TEST_F(UvRefresherTest, FailuresKeepTheScheduleAndTheSnapshotUntilTheProviderIsBack) {
  auto r = make(20);
  std::vector<RefreshOutcome> seen;
  ASSERT_TRUE(r->set_on_refresh([&](const RefreshOutcome& o) { seen.push_back(o); }).ok());
  ASSERT_TRUE(r->start().ok());
  ASSERT_TRUE(run_until([&] { return seen.size() >= 3; }));
  for (const auto& o : seen)
    EXPECT_EQ(o.error.code, Errc::kNotFound);
  EXPECT_FALSE(store_->ready());
  EXPECT_EQ(store_->status().connection_state, ClientState::kNotFound);
  EXPECT_GE(store_->status().refresh_failure_count, 3u);

  auto p = TestProvider::start(dir_.path(), service_, 70);
  const uint64_t gen = p->publish(items_of(3, 10));
  ASSERT_TRUE(run_until([&] { return store_->ready(); }));
  EXPECT_EQ(store_->status().generation, gen);

  // Provider gone again: failures, snapshot kept; back: new generation.
  p->stop();
  const uint64_t failures = store_->status().refresh_failure_count;
  ASSERT_TRUE(run_until([&] { return store_->status().refresh_failure_count > failures; }));
  EXPECT_EQ(store_->status().generation, gen);
  EXPECT_TRUE(store_->ready());
  p = TestProvider::start(dir_.path(), service_, 700);
  const uint64_t gen2 = p->publish(items_of(4, 12));
  ASSERT_TRUE(run_until([&] { return store_->status().generation == gen2; }));
  EXPECT_EQ(store_->status().item_count, 12u);
  stop(r.get());
}

TEST_F(UvRefresherTest, MalformedAnswerDropsTheSession) {
  auto p = TestProvider::start(dir_.path(), service_, 5);
  const uint64_t gen = p->publish(items_of(5, 8));
  auto r = make(3600 * 1000);
  ASSERT_NO_FATAL_FAILURE(start_recorded(r.get()));
  ASSERT_TRUE(seen_[0].ok());

  p->set_mode(Mode::kGarbage);
  ASSERT_NO_FATAL_FAILURE(refresh_recorded(r.get()));
  EXPECT_TRUE(seen_[1].malformed);
  EXPECT_EQ(r->malformed_count(), 1u);
  EXPECT_EQ(r->client_status().state, ClientState::kDisconnected);
  EXPECT_EQ(store_->status().connection_state, ClientState::kDisconnected);
  EXPECT_EQ(store_->status().generation, gen);  // kept

  p->set_mode(Mode::kServe);
  ASSERT_NO_FATAL_FAILURE(refresh_recorded(r.get()));
  EXPECT_TRUE(seen_[2].ok());
  EXPECT_EQ(r->client_status().connect_count, 2u);
  stop(r.get());
}

TEST_F(UvRefresherTest, StopAbandonsACallInFlightWithoutCallbacks) {
  auto p = TestProvider::start(dir_.path(), service_, 5);
  p->publish(items_of(6, 8));
  p->set_mode(Mode::kStall);
  auto r = make(3600 * 1000);
  int calls = 0;
  ASSERT_TRUE(r->set_on_refresh([&](const RefreshOutcome&) { ++calls; }).ok());
  ASSERT_TRUE(r->start().ok());
  ASSERT_TRUE(run_until([&] { return p->requests() == 1; }));
  EXPECT_TRUE(r->refresh_in_flight());
  stop(r.get());
  EXPECT_EQ(calls, 0);
  p->release();
}

TEST_F(UvRefresherTest, StopWaitsForABuildInFlight) {
  auto p = TestProvider::start(dir_.path(), service_, 5);
  p->publish(items_of(7, 8));
  auto r = make(3600 * 1000);
  std::atomic<bool> in_hook{false}, may_return{false}, hook_returned{false};
  int calls = 0;
  ASSERT_TRUE(r->set_on_refresh([&](const RefreshOutcome&) { ++calls; }).ok());
  ASSERT_TRUE(r->set_work_hook([&](const RefreshOutcome&, const std::shared_ptr<const Snapshot>&) {
                 in_hook = true;
                 test::wait_until([&] { return may_return.load(); });
                 hook_returned = true;
               }).ok());
  ASSERT_TRUE(r->start().ok());
  ASSERT_TRUE(run_until([&] { return in_hook.load(); }));
  bool done = false;
  r->stop([&] {
    EXPECT_TRUE(hook_returned.load());
    done = true;
  });
  r->stop([&] { ADD_FAILURE() << "second stop callback"; });
  may_return = true;
  ASSERT_TRUE(run_until([&] { return done; }));
  EXPECT_EQ(calls, 0);
}

TEST_F(UvRefresherTest, DestroyingWithoutStopCancelsSilently) {
  auto p = TestProvider::start(dir_.path(), service_, 5);
  p->publish(items_of(8, 8));
  auto r = make(3600 * 1000);
  std::atomic<bool> in_hook{false}, may_return{false}, hook_returned{false};
  int calls = 0;
  ASSERT_TRUE(r->set_on_refresh([&](const RefreshOutcome&) { ++calls; }).ok());
  ASSERT_TRUE(r->set_work_hook([&](const RefreshOutcome&, const std::shared_ptr<const Snapshot>&) {
                 in_hook = true;
                 test::wait_until([&] { return may_return.load(); });
                 hook_returned = true;
               }).ok());
  ASSERT_TRUE(r->start().ok());
  // The hook is running and held: the attempt cannot complete on the loop.
  ASSERT_TRUE(run_until([&] { return in_hook.load(); }));
  // Released from another thread, maybe before and maybe while the
  // destructor runs: either way the destructor returns only after it.
  std::thread releaser([&] { may_return = true; });
  r.reset();
  EXPECT_TRUE(hook_returned.load());
  releaser.join();
  uv_run(&loop_, UV_RUN_DEFAULT);  // the handles close; no callback runs
  EXPECT_EQ(calls, 0);
}

// Every refresh's work (decode, build, hook) runs on the Refresher's own
// "netipc-refresh" thread, the same one each time (one malloc arena), never
// on the loop; a factory from the host starts it, and without a thread the
// work still runs (on the threadpool worker).
TEST_F(UvRefresherTest, WorkRunsOnTheRefreshersOwnThreadEveryTime) {
  auto p = TestProvider::start(dir_.path(), service_, 5);
  p->publish(items_of(10, 4));
  const pthread_t loop_thread = pthread_self();
  for (const bool thread_fails : {false, true}) {
    SCOPED_TRACE(thread_fails ? "the factory cannot start threads" : "a host factory");
    int started = 0;
    const ThreadFactory std_factory = std_thread_factory();
    ThreadFactory factory;
    factory.start = [&](const char* name, std::function<void()> body) -> Result<void*> {
      ++started;
      EXPECT_STREQ(name, "netipc-refresh");
      if (thread_fails) return make_error(Errc::kNoMemory, "no threads in this test");
      return std_factory.start(name, std::move(body));
    };
    factory.join = std_factory.join;
    ClientConfig c;
    c.run_dir = dir_.path();
    c.service = service_;
    RefresherConfig rc;
    rc.interval_ms = 10;
    rc.threads = factory;
    store_ = std::make_shared<SnapshotStore>();
    auto made = Refresher::create(&loop_, c, store_, rc);
    ASSERT_TRUE(made.ok()) << made.error().message();
    std::unique_ptr<Refresher> r = std::move(*made);
    EXPECT_EQ(started, 1);
    std::mutex mu;
    std::vector<pthread_t> threads;
    std::vector<std::string> names;
    ASSERT_TRUE(r->set_work_hook([&](const RefreshOutcome&, const std::shared_ptr<const Snapshot>&) {
                   char name[16] = {};
                   pthread_getname_np(pthread_self(), name, sizeof name);
                   std::lock_guard<std::mutex> lock(mu);
                   threads.push_back(pthread_self());
                   names.emplace_back(name);
                 }).ok());
    int delivered = 0;
    ASSERT_TRUE(r->set_on_refresh([&](const RefreshOutcome& o) {
                   EXPECT_TRUE(o.ok()) << o.error.message();
                   ++delivered;
                 }).ok());
    ASSERT_TRUE(r->start().ok());
    ASSERT_TRUE(run_until([&] { return delivered >= 4; }));
    stop(r.get());
    r.reset();
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_GE(threads.size(), 4u);
    for (size_t i = 0; i < threads.size(); ++i) {
      EXPECT_FALSE(pthread_equal(threads[i], loop_thread));
      if (!thread_fails) {
        EXPECT_TRUE(pthread_equal(threads[i], threads[0])) << "refresh " << i;
        EXPECT_EQ(names[i], "netipc-refresh");
      } else {
        EXPECT_NE(names[i], "netipc-refresh");
      }
    }
  }
}

TEST_F(UvRefresherTest, DestroyingFromInsideTheCallbackIsSafe) {
  auto p = TestProvider::start(dir_.path(), service_, 5);
  p->publish(items_of(10, 4));
  auto r = make(3600 * 1000);
  int calls = 0;
  ASSERT_TRUE(r->set_on_refresh([&](const RefreshOutcome& o) {
                 EXPECT_TRUE(o.ok());
                 ++calls;
                 r.reset();  // the callback's own Refresher
               }).ok());
  ASSERT_TRUE(r->start().ok());
  ASSERT_TRUE(run_until([&] { return calls == 1; }));
  EXPECT_EQ(r, nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(calls, 1);
}

TEST_F(UvRefresherTest, LayoutOnePeerAndTimeouts) {
  auto p = TestProvider::start(dir_.path(), service_, 5);
  const uint64_t gen = p->publish(items_of(9, 6));
  p->set_mode(Mode::kLayout1Only);
  ClientConfig c;
  c.run_dir = dir_.path();
  c.service = service_;
  RefresherConfig rc;
  rc.interval_ms = 3600 * 1000;
  rc.timeout_ms = 100;
  store_ = std::make_shared<SnapshotStore>();
  auto made = Refresher::create(&loop_, c, store_, rc);
  ASSERT_TRUE(made.ok());
  auto& r = *made;
  ASSERT_NO_FATAL_FAILURE(start_recorded(r.get()));
  ASSERT_TRUE(seen_[0].ok()) << seen_[0].error.message();
  EXPECT_EQ(seen_[0].layout, codec::kCgroupsLayoutBinary);
  EXPECT_EQ(r->layout(), codec::kCgroupsLayoutBinary);
  EXPECT_EQ(store_->status().generation, gen);

  // A provider that stalls past the timeout: kTimeout, snapshot kept,
  // session BROKEN; the next refresh reconnects.
  p->set_mode(Mode::kStall);
  ASSERT_NO_FATAL_FAILURE(refresh_recorded(r.get()));
  EXPECT_EQ(seen_[1].error.code, Errc::kTimeout);
  EXPECT_EQ(store_->status().connection_state, ClientState::kBroken);
  EXPECT_EQ(store_->status().generation, gen);
  p->set_mode(Mode::kServe);
  p->release();
  const uint64_t reconnects = r->client_status().reconnect_count;
  ASSERT_NO_FATAL_FAILURE(refresh_recorded(r.get()));
  EXPECT_TRUE(seen_[2].ok()) << seen_[2].error.message();
  EXPECT_EQ(r->client_status().reconnect_count, reconnects + 1);
  stop(r.get());
}

TEST_F(UvRefresherTest, AgainstALayout1OnlyPeerFallsBackOnceAndStaysOnLayout1) {
  auto p = TestProvider::start(dir_.path(), service_, 5);
  const uint64_t gen = p->publish(items_of(11, 6));
  p->set_mode(Mode::kLayout1Only);
  auto r = make(3600 * 1000);
  EXPECT_EQ(r->layout(), codec::kCgroupsLayoutProtobuf);
  ASSERT_NO_FATAL_FAILURE(start_recorded(r.get()));
  // The rejection stays inside the first refresh: it succeeds in layout 1.
  ASSERT_TRUE(seen_[0].ok()) << seen_[0].error.message();
  EXPECT_EQ(seen_[0].layout, codec::kCgroupsLayoutBinary);
  EXPECT_EQ(store_->status().generation, gen);
  const uint64_t asked_layout2 = p->requests_for_layout(codec::kCgroupsLayoutProtobuf);
  EXPECT_GE(asked_layout2, 1u);
  EXPECT_EQ(p->requests_for_layout(codec::kCgroupsLayoutBinary), 1u);
  const ClientStatus after_fallback = r->client_status();

  // Every later refresh asks for layout 1 at once, on the same session.
  for (int later = 0; later < 3; ++later) {
    ASSERT_NO_FATAL_FAILURE(refresh_recorded(r.get()));
    EXPECT_TRUE(seen_.back().ok()) << seen_.back().error.message();
    EXPECT_EQ(seen_.back().layout, codec::kCgroupsLayoutBinary);
  }
  EXPECT_EQ(p->requests_for_layout(codec::kCgroupsLayoutProtobuf), asked_layout2);
  EXPECT_EQ(p->requests_for_layout(codec::kCgroupsLayoutBinary), 4u);
  EXPECT_EQ(r->layout(), codec::kCgroupsLayoutBinary);
  EXPECT_EQ(r->client_status().connect_count, after_fallback.connect_count);
  EXPECT_EQ(r->client_status().reconnect_count, after_fallback.reconnect_count);
  stop(r.get());
}

TEST_F(UvRefresherTest, ForcedToLayout2AgainstALayout1OnlyPeerNeverFallsBack) {
  auto p = TestProvider::start(dir_.path(), service_, 5);
  p->publish(items_of(12, 6));
  p->set_mode(Mode::kLayout1Only);
  auto r = make(3600 * 1000, codec::kCgroupsLayoutProtobuf);
  ASSERT_NO_FATAL_FAILURE(start_recorded(r.get()));
  ASSERT_NO_FATAL_FAILURE(refresh_recorded(r.get()));
  for (const RefreshOutcome& o : seen_) {
    EXPECT_EQ(o.error.code, Errc::kBadEnvelope) << o.error.message();
    EXPECT_EQ(o.layout, codec::kCgroupsLayoutProtobuf);
    EXPECT_FALSE(o.malformed);
  }
  EXPECT_EQ(r->layout(), codec::kCgroupsLayoutProtobuf);
  EXPECT_GE(p->requests_for_layout(codec::kCgroupsLayoutProtobuf), 2u);
  EXPECT_EQ(p->requests_for_layout(codec::kCgroupsLayoutBinary), 0u);
  EXPECT_FALSE(store_->ready());
  EXPECT_EQ(store_->status().refresh_failure_count, 2u);
  stop(r.get());
}

TEST_F(UvRefresherTest, ReadersOnOtherThreadsSeeWholeGenerationsAsTheLoopPublishes) {
  auto p = TestProvider::start(dir_.path(), service_, 0);
  p->publish(items_of(1, 32));
  auto r = make(2);  // refresh as fast as the loop can
  ASSERT_TRUE(r->start().ok());
  const std::vector<CgroupItem> keys = items_of(0, 32);
  std::atomic<bool> stop_readers{false};
  std::atomic<uint64_t> bad{0}, lookups{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop_readers.load(std::memory_order_relaxed)) {
        ReadGuard g(*store_);
        if (!g.populated()) continue;
        const uint64_t gen = g.generation();
        for (const CgroupItem& k : keys) {
          const CgroupItemView* v = g.find(k.hash, k.name);
          lookups.fetch_add(1, std::memory_order_relaxed);
          if (v == nullptr || v->cgroup_id / 1000000 != gen ||
              v->path != cache_test::item_of(gen, v->cgroup_id % 1000000).path) {
            bad.fetch_add(1);
          }
        }
      }
    });
  }
  // The provider moves through generations while the loop refreshes.
  std::atomic<bool> stop_writer{false};
  std::thread writer([&] {
    for (uint64_t g = 2; g <= 30 && !stop_writer; ++g) {
      const uint64_t published = p->publish(items_of(g, 32));
      if (published != g) bad.fetch_add(1);
      test::wait_until([&] { return store_->status().generation >= g || stop_writer; });
    }
  });
  EXPECT_TRUE(run_until([&] { return store_->status().generation == 30; }, 20000));
  stop_writer = true;
  writer.join();
  stop_readers = true;
  for (auto& t : readers)
    t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(lookups.load(), 0u);
  stop(r.get());
}

}  // namespace
}  // namespace netipc::uv
