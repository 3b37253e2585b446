// netipc::uv::Server lifetime: graceful stop on a host loop (responses in
// progress, the deadline, no callback after `done`, a closable loop) and
// ServerThread (start/stop across threads, destructor, a host thread
// factory, start failures).
#include <gtest/gtest.h>

#include <pthread.h>
#include <uv.h>

#include "uv_test_util.h"

namespace netipc {
namespace {

using namespace uv_test;  // NOLINT: test helpers

// ---- graceful stop on a host loop ----

// A uv::Server on a loop that runs in its own thread; the test stops it
// through a uv_async_t, the only thread-safe way into the loop.
struct HostLoop {
  uv_loop_t loop{};
  uv_async_t stop_async{};
  std::unique_ptr<uv::Server> server;
  std::thread thread;
  std::atomic<int> done_calls{0};
  std::atomic<bool> node_gone_at_done{false};
  std::atomic<int> handler_calls{0};
  std::atomic<int> handler_calls_at_done{-1};
  uint32_t stop_deadline_ms = 1000;
  int run_rc = -1;

  Status start(uv::ServerConfig cfg, Handler inner) {
    EXPECT_EQ(uv_loop_init(&loop), 0);
    Handler counted = [this, inner](ByteSpan req, ResponseWriter& out) {
      handler_calls.fetch_add(1);
      return inner(req, out);
    };
    auto s = uv::Server::create(&loop, std::move(cfg), std::move(counted));
    if (!s.ok()) return s.error();
    server = std::move(*s);
    stop_async.data = this;
    uv_async_init(&loop, &stop_async, [](uv_async_t* a) {
      auto* self = static_cast<HostLoop*>(a->data);
      self->server->stop(self->stop_deadline_ms, [self] {
        self->done_calls.fetch_add(1);
        self->node_gone_at_done = !exists(self->path);
        self->handler_calls_at_done = self->handler_calls.load();
      });
      uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_async), nullptr);
    });
    path = server->socket_path();
    thread = std::thread([this] { run_rc = uv_run(&loop, UV_RUN_DEFAULT); });
    return ok_status();
  }
  void request_stop() { uv_async_send(&stop_async); }
  void join() {
    if (thread.joinable()) thread.join();
  }
  std::string path;
};

TEST(UvServerStop, StopCompletesRemovesTheNodeAndLeavesTheLoopClosable) {
  TempDir dir;
  auto cfg = base_config(dir, "stop");
  HostLoop host;
  ASSERT_TRUE(host.start(cfg, make_increment_handler()).ok());
  ASSERT_TRUE(exists(host.path));
  auto idle = connect(cfg);  // a session that is connected while the server stops
  ASSERT_TRUE(idle.ok());
  expect_served(cfg);
  host.request_stop();
  host.join();  // uv_run returns only once every handle of the server is closed
  EXPECT_EQ(host.run_rc, 0);
  EXPECT_EQ(host.done_calls.load(), 1);
  EXPECT_TRUE(host.node_gone_at_done.load());
  EXPECT_FALSE(exists(host.path));
  // Nothing is left on the loop, and it closes cleanly.
  EXPECT_EQ(uv_run(&host.loop, UV_RUN_NOWAIT), 0);
  EXPECT_EQ(uv_loop_close(&host.loop), 0);
  // The idle session was closed; new clients find nobody.
  EXPECT_TRUE(closed_by_peer(idle->fd(), 5000));
  EXPECT_EQ(connect(cfg).code(), Errc::kNotFound);
  // No handler ran after `done`.
  EXPECT_EQ(host.handler_calls.load(), host.handler_calls_at_done.load());
  host.server.reset();
}

TEST(UvServerStop, ResponseInProgressIsCompletedBeforeTheSessionCloses) {
  TempDir dir;
  auto cfg = base_config(dir, "drain");
  cfg.max_response_payload_bytes = 8 << 20;
  HostLoop host;
  host.stop_deadline_ms = 10000;
  ASSERT_TRUE(host.start(cfg,
                         [](ByteSpan, ResponseWriter& out) -> Status {
                           out.bytes().assign(4 << 20, 0x3C);  // far bigger than a socket buffer
                           return ok_status();
                         })
                  .ok());
  auto c = connect(cfg);
  ASSERT_TRUE(c.ok());
  uint8_t v[8] = {};
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(v, 8)).ok());
  // The server is now blocked on our full socket, mid-response.
  ASSERT_TRUE(test::wait_until([&] { return host.handler_calls.load() == 1; }));
  host.request_stop();
  auto r = c->receive_response(deadline_in_ms(10000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status, 0);
  EXPECT_EQ(r->payload.size, 4u << 20);
  host.join();
  EXPECT_EQ(host.done_calls.load(), 1);
  EXPECT_TRUE(closed_by_peer(c->fd(), 5000));
  EXPECT_EQ(uv_loop_close(&host.loop), 0);
  host.server.reset();
}

TEST(UvServerStop, ResponseStillInProgressAtTheDeadlineIsCutOff) {
  TempDir dir;
  auto cfg = base_config(dir, "cut");
  cfg.max_response_payload_bytes = 8 << 20;
  HostLoop host;
  host.stop_deadline_ms = 100;
  ASSERT_TRUE(host.start(cfg,
                         [](ByteSpan, ResponseWriter& out) -> Status {
                           out.bytes().assign(4 << 20, 0x3C);
                           return ok_status();
                         })
                  .ok());
  auto c = connect(cfg);
  ASSERT_TRUE(c.ok());
  uint8_t v[8] = {};
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(v, 8)).ok());
  ASSERT_TRUE(test::wait_until([&] { return host.handler_calls.load() == 1; }));
  const auto t0 = Clock::now();
  host.request_stop();
  host.join();  // we never read, so only the deadline ends the session
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(95));
  EXPECT_EQ(host.done_calls.load(), 1);
  EXPECT_EQ(c->receive_response(deadline_in_ms(10000)).code(), Errc::kPeerGone);
  EXPECT_EQ(uv_loop_close(&host.loop), 0);
  host.server.reset();
}

TEST(UvServerStop, CreateRequiresAMethodAndAHandler) {
  TempDir dir;
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  auto cfg = base_config(dir, "args");
  cfg.method = 0;
  EXPECT_EQ(uv::Server::create(&loop, cfg, make_increment_handler()).code(),
            Errc::kInvalidArgument);
  cfg.method = kIncrement;
  EXPECT_EQ(uv::Server::create(&loop, cfg, Handler()).code(), Errc::kInvalidArgument);
  EXPECT_EQ(uv::Server::create(nullptr, cfg, make_increment_handler()).code(),
            Errc::kInvalidArgument);
  EXPECT_FALSE(exists(dir.file("args.sock")));
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

// ---- ServerThread ----

// Runs in a child process: a failed ServerThread::start() must return its
// error, not crash (known library bug: the half-built ServerThread's
// destructor calls stop() on a never-initialised uv_async_t; see
// netipc/src/uv/server_thread.cc, Server::create failure path).
TEST(UvServerThreadDeathTest, SecondServerOnALiveEndpointIsAddrInUse) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int code = 3;
        {
          TempDir dir;
          auto cfg = base_config(dir, "twice");
          auto first = uv::ServerThread::start(cfg, make_increment_handler());
          if (first.ok()) {
            auto second = uv::ServerThread::start(cfg, make_increment_handler());
            code = second.code() == Errc::kAddrInUse ? 0 : 1;
            auto c = connect(cfg);  // the first server still serves
            if (!c.ok() || !increment(*c, 1, 41).ok()) code = 4;
          }
        }
        std::_Exit(code);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(UvServerThread, StartsOnOneThreadAndStopsFromAnother) {
  TempDir dir;
  auto cfg = base_config(dir, "threads");
  std::unique_ptr<uv::ServerThread> srv;
  std::thread starter([&] { srv = start(cfg); });
  starter.join();
  ASSERT_TRUE(srv);
  expect_served(cfg);
  const std::string path = srv->server().socket_path();
  std::thread stopper([&] { srv->stop(); });
  stopper.join();
  EXPECT_FALSE(exists(path));
  EXPECT_EQ(connect(cfg).code(), Errc::kNotFound);
  srv->stop();  // a second stop is harmless
  srv.reset();
}

TEST(UvServerThread, DestructorStopsARunningServer) {
  TempDir dir;
  auto cfg = base_config(dir, "dtor");
  std::string path;
  {
    auto srv = start(cfg);
    ASSERT_TRUE(srv);
    path = srv->server().socket_path();
    expect_served(cfg);
  }
  EXPECT_FALSE(exists(path));
}

TEST(UvServerThread, UsesTheHostThreadFactoryOnceAndJoinsOnce) {
  TempDir dir;
  auto cfg = base_config(dir, "factory");
  std::atomic<int> starts{0}, joins{0};
  std::string started_name;
  const uv::ThreadFactory base = uv::std_thread_factory();
  uv::ThreadFactory f;
  f.start = [&](const char* name, std::function<void()> body) {
    ++starts;
    started_name = name;
    return base.start(name, std::move(body));
  };
  f.join = [&](void* handle) {
    ++joins;
    base.join(handle);
  };
  std::mutex mu;
  std::string handler_thread_name;
  auto h = [&](ByteSpan req, ResponseWriter& out) {
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    {
      std::lock_guard<std::mutex> lock(mu);
      handler_thread_name = name;
    }
    return make_increment_handler()(req, out);
  };
  auto srv = uv::ServerThread::start(cfg, h, f, "nipc-test-srv");
  ASSERT_TRUE(srv.ok()) << srv.error().message();
  EXPECT_EQ(starts.load(), 1);
  EXPECT_EQ(started_name, "nipc-test-srv");
  expect_served(cfg);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(handler_thread_name, "nipc-test-srv");  // the handler ran on that thread
  }
  EXPECT_EQ(joins.load(), 0);
  (*srv)->stop();
  EXPECT_EQ(joins.load(), 1);
  srv->reset();
  EXPECT_EQ(starts.load(), 1);
  EXPECT_EQ(joins.load(), 1);
}

TEST(UvServerThread, FactoryFailureIsReportedAndFreesTheEndpoint) {
  TempDir dir;
  auto cfg = base_config(dir, "nothread");
  std::atomic<int> joins{0};
  uv::ThreadFactory f;
  f.start = [](const char*, std::function<void()>) -> Result<void*> {
    return make_error(Errc::kNoMemory, "no threads today");
  };
  f.join = [&](void*) { ++joins; };
  auto srv = uv::ServerThread::start(cfg, make_increment_handler(), f);
  EXPECT_EQ(srv.code(), Errc::kNoMemory);
  EXPECT_EQ(joins.load(), 0);
  EXPECT_FALSE(exists(dir.file("nothread.sock")));
  auto again = start(cfg);  // the endpoint is free for a working server
  ASSERT_TRUE(again);
  expect_served(cfg);
}

}  // namespace
}  // namespace netipc
