// uv::AsyncCgroupsSnapshotClient on a real libuv loop: the layout fallback
// against the layout-1-only spec server, both layouts against our server,
// a loop that keeps running its timers while a fetch waits on a server that
// never answers, close during a fetch, a malformed snapshot, and the halves
// of a fetch (call, decode, decode off the loop and settle) the uv::Refresher
// runs on.
#include <uv.h>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "client_test_server.h"
#include "netipc/uv/async_cgroups_snapshot_client.h"
#include "snapshot_test_util.h"
#include "spec_peer.h"
#include "test_support.h"

namespace netipc {
namespace {

using namespace snapshot_test;  // NOLINT
using test::TempDir;
namespace sp = spec_peer;
using Clock = std::chrono::steady_clock;
using FetchResult = Result<const codec::CgroupsSnapshotViews*>;

// A loop with an unreferenced guard timer: it never keeps the loop alive,
// but if the loop is still running after `guard_ms` the test fails and
// `on_guard` gets a chance to close what keeps it alive.
struct TestLoop {
  uv_loop_t loop{};
  uv_timer_t guard{};
  std::function<void()> on_guard;

  TestLoop() {
    uv_loop_init(&loop);
    uv_timer_init(&loop, &guard);
    guard.data = this;
  }
  void run(uint64_t guard_ms = 10000) {
    uv_timer_start(
        &guard,
        [](uv_timer_t* t) {
          ADD_FAILURE() << "the loop ran past its guard";
          auto* self = static_cast<TestLoop*>(t->data);
          if (self->on_guard) self->on_guard();
        },
        guard_ms, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&guard));
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  // Closes the guard and the loop; 0 when nothing was left open.
  int close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop);
  }
};

struct Copy {
  Errc code = Errc::kOk;
  uint64_t generation = 0;
  std::vector<CgroupItem> items;
};

// Copies the views inside the callback (they die when it returns).
Copy copy_of(const FetchResult& r) {
  Copy c;
  if (!r.ok()) {
    c.code = r.code();
    return c;
  }
  c.generation = (*r)->generation;
  for (const CgroupItemView& v : (*r)->items)
    c.items.push_back(v.to_owned());
  return c;
}

std::unique_ptr<uv::AsyncCgroupsSnapshotClient> make_client(
    uv_loop_t* loop, const CgroupsSnapshotClientConfig& cfg) {
  auto c = uv::AsyncCgroupsSnapshotClient::create(loop, cfg);
  EXPECT_TRUE(c.ok()) << c.error().message();
  return c.ok() ? std::move(*c) : nullptr;
}

TEST(AsyncCgroupsSnapshotClient, FallsBackToLayout1AgainstALayout1OnlySpecServer) {
  TempDir dir;
  sp::ServerConfig scfg;
  scfg.snapshot.generation = 77;
  scfg.snapshot.items = {{1, 2, 1, "a.scope", "/sys/fs/cgroup/a.scope"}};
  std::string problem;
  auto spec = sp::SpecServer::start(dir.path(), "snap", scfg, &problem);
  ASSERT_TRUE(spec) << problem;

  TestLoop l;
  auto client = make_client(&l.loop, client_config(dir.path(), "snap", 0));  // SHM stripped
  ASSERT_TRUE(client);
  l.on_guard = [&] { client->close(nullptr); };
  std::vector<Copy> got;
  ASSERT_TRUE(client
                  ->fetch(0,
                          [&](FetchResult r) {
                            got.push_back(copy_of(r));
                            // The second fetch starts from inside the first's callback.
                            ASSERT_TRUE(client
                                            ->fetch(0,
                                                    [&](FetchResult r2) {
                                                      got.push_back(copy_of(r2));
                                                      client->close(nullptr);
                                                    })
                                            .ok());
                          })
                  .ok());
  l.run();
  ASSERT_EQ(got.size(), 2u);
  for (const Copy& c : got) {
    EXPECT_EQ(c.code, Errc::kOk);
    EXPECT_EQ(c.generation, 77u);
    ASSERT_EQ(c.items.size(), 1u);
    EXPECT_EQ(c.items[0].name, "a.scope");
    EXPECT_EQ(c.items[0].options, 2u);
  }
  EXPECT_EQ(client->status().layout, codec::kCgroupsLayoutBinary);
  EXPECT_TRUE(client->status().fell_back);
  const auto reqs = spec->log().requests;
  ASSERT_GE(reqs.size(), 3u);
  EXPECT_EQ(sp::rd16(reqs.front().payload.data()), 2u);
  EXPECT_EQ(sp::rd16(reqs[reqs.size() - 2].payload.data()), 1u);
  EXPECT_EQ(sp::rd16(reqs.back().payload.data()), 1u);
  client.reset();
  EXPECT_EQ(l.close(), 0);
}

TEST(AsyncCgroupsSnapshotClient, ReadsOurServerInEveryLayoutMode) {
  TempDir dir;
  const std::vector<CgroupItem> items = make_items(3000);  // several UDS packets
  auto server =
      start_snapshot_server(snapshot_server_config(dir.path(), "cg", kShm), share(items), 2);
  ASSERT_TRUE(server->thread);
  for (uint16_t layout : {0, 1, 2}) {
    SCOPED_TRACE("layout mode " + std::to_string(layout));
    TestLoop l;
    auto client = make_client(&l.loop, client_config(dir.path(), "cg", kShm, layout));
    ASSERT_TRUE(client);
    l.on_guard = [&] { client->close(nullptr); };
    Copy got;
    bool closed = false;
    ASSERT_TRUE(client
                    ->fetch(0,
                            [&](FetchResult r) {
                              got = copy_of(r);
                              client->close([&] { closed = true; });
                            })
                    .ok());
    EXPECT_TRUE(client->fetch_in_flight());
    EXPECT_EQ(client->fetch(0, [](FetchResult) {}).code(), Errc::kInvalidArgument);
    l.run();
    EXPECT_TRUE(closed);
    ASSERT_EQ(got.code, Errc::kOk);
    EXPECT_EQ(got.generation, 3u);
    const uint16_t want = layout == 0 ? 2 : layout;
    codec::CgroupsSnapshotViews views;
    for (const CgroupItem& it : got.items)
      views.items.push_back(
          CgroupItemView{it.hash, it.options, it.enabled, it.name, it.path, it.cgroup_id});
    expect_items_equal(views, items, want);
    EXPECT_EQ(client->status().layout, want);
    EXPECT_EQ(client->status().fetch_count, 1u);
    client.reset();
    EXPECT_EQ(l.close(), 0);
  }
}

TEST(AsyncCgroupsSnapshotClient, LoopKeepsFiringTimersWhileAFetchWaitsOnASilentServer) {
  TempDir dir;
  sp::ServerConfig scfg;
  scfg.misbehaviour = sp::Misbehaviour::kNeverAnswer;
  std::string problem;
  auto spec = sp::SpecServer::start(dir.path(), "silent", scfg, &problem);
  ASSERT_TRUE(spec) << problem;

  TestLoop l;
  auto client = make_client(&l.loop, client_config(dir.path(), "silent", kUds));
  ASSERT_TRUE(client);
  struct Ticker {
    uv_timer_t timer{};
    uv::AsyncCgroupsSnapshotClient* client = nullptr;
    int ticks_in_flight = 0;
  } ticker;
  ticker.client = client.get();
  uv_timer_init(&l.loop, &ticker.timer);
  ticker.timer.data = &ticker;
  uv_timer_start(
      &ticker.timer,
      [](uv_timer_t* t) {
        auto* tk = static_cast<Ticker*>(t->data);
        if (tk->client->fetch_in_flight()) ++tk->ticks_in_flight;
      },
      5, 5);
  l.on_guard = [&] {
    client->close(nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&ticker.timer), nullptr);
  };
  Errc code = Errc::kOk;
  ClientState state_in_done = ClientState::kReady;
  Clock::duration waited{};
  const auto t0 = Clock::now();
  ASSERT_TRUE(client
                  ->fetch(300,
                          [&](FetchResult r) {
                            code = r.code();
                            state_in_done = client->state();
                            waited = Clock::now() - t0;
                            client->close(nullptr);
                            uv_close(reinterpret_cast<uv_handle_t*>(&ticker.timer), nullptr);
                          })
                  .ok());
  l.run();
  EXPECT_EQ(code, Errc::kTimeout);
  EXPECT_GE(waited, std::chrono::milliseconds(290));
  // 300 ms at one tick per 5 ms: the loop was never blocked for long.
  EXPECT_GE(ticker.ticks_in_flight, 20);
  EXPECT_EQ(state_in_done, ClientState::kBroken);
  ASSERT_EQ(spec->log().requests.size(), 1u);  // a timeout is never retried
  client.reset();
  EXPECT_EQ(l.close(), 0);
}

TEST(AsyncCgroupsSnapshotClient, CloseDuringAFetchDeliversAbortedThenClosed) {
  TempDir dir;
  sp::ServerConfig scfg;
  scfg.misbehaviour = sp::Misbehaviour::kNeverAnswer;
  std::string problem;
  auto spec = sp::SpecServer::start(dir.path(), "silent2", scfg, &problem);
  ASSERT_TRUE(spec) << problem;

  TestLoop l;
  auto client = make_client(&l.loop, client_config(dir.path(), "silent2", kUds));
  ASSERT_TRUE(client);
  std::vector<std::string> events;
  ASSERT_TRUE(client
                  ->fetch(10000,
                          [&](FetchResult r) {
                            events.push_back(std::string("done:") + errc_name(r.code()));
                          })
                  .ok());
  // Close once the request has reached the server.
  uv_timer_t poll_server{};
  uv_timer_init(&l.loop, &poll_server);
  struct Ctx {
    sp::SpecServer* spec;
    uv::AsyncCgroupsSnapshotClient* client;
    std::vector<std::string>* events;
  } ctx{spec.get(), client.get(), &events};
  poll_server.data = &ctx;
  uv_timer_start(
      &poll_server,
      [](uv_timer_t* t) {
        auto* c = static_cast<Ctx*>(t->data);
        if (c->spec->log().requests.empty()) return;
        uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
        c->client->close([c] { c->events->push_back("closed"); });
      },
      1, 1);
  l.on_guard = [&] { client->close(nullptr); };
  l.run();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], std::string("done:") + errc_name(Errc::kAborted));
  EXPECT_EQ(events[1], "closed");
  EXPECT_EQ(client->fetch(0, [](FetchResult) {}).code(), Errc::kNotReady);
  client.reset();
  EXPECT_EQ(l.close(), 0);
}

TEST(AsyncCgroupsSnapshotClient, MalformedSnapshotFailsTheFetchAndDropsTheSession) {
  TempDir dir;
  test::TestServer server(dir.path(), "bad", test::basic_policy(),
                          test::undecodable_snapshot_handler());
  ASSERT_TRUE(server.ok()) << server.error();
  TestLoop l;
  auto client = make_client(&l.loop, client_config(dir.path(), "bad", kUds));
  ASSERT_TRUE(client);
  l.on_guard = [&] { client->close(nullptr); };
  Errc code = Errc::kOk;
  ClientState state_in_done = ClientState::kReady;
  ASSERT_TRUE(client
                  ->fetch(0,
                          [&](FetchResult r) {
                            code = r.code();
                            state_in_done = client->state();
                            client->close(nullptr);
                          })
                  .ok());
  l.run();
  EXPECT_NE(code, Errc::kOk);
  EXPECT_EQ(state_in_done, ClientState::kDisconnected);
  EXPECT_EQ(client->status().malformed_count, 1u);
  EXPECT_EQ(client->status().layout, codec::kCgroupsLayoutProtobuf);
  client.reset();
  EXPECT_EQ(l.close(), 0);
}

TEST(AsyncCgroupsSnapshotClient, CallHandsTheRawPayloadWhichDecodesOnAnyThread) {
  TempDir dir;
  const std::vector<CgroupItem> items = make_items(50);
  auto server =
      start_snapshot_server(snapshot_server_config(dir.path(), "raw", kUds), share(items), 4);
  ASSERT_TRUE(server->thread);
  TestLoop l;
  auto client = make_client(&l.loop, client_config(dir.path(), "raw", kUds));
  ASSERT_TRUE(client);
  l.on_guard = [&] { client->close(nullptr); };
  EXPECT_EQ(client->call(0, nullptr).code(), Errc::kInvalidArgument);
  std::vector<uint8_t> raw;
  Copy decoded_in_done;
  ASSERT_TRUE(client
                  ->call(0,
                         [&](Result<ByteSpan> r) {
                           ASSERT_TRUE(r.ok()) << r.error().message();
                           raw.assign(r->data, r->data + r->size);
                           codec::CgroupsSnapshotViews views;
                           Status st = client->decode(*r, &views);
                           decoded_in_done = copy_of(st.ok() ? FetchResult(&views) : st.error());
                         })
                  .ok());
  EXPECT_TRUE(client->fetch_in_flight());
  EXPECT_EQ(client->fetch(0, [](FetchResult) {}).code(), Errc::kInvalidArgument);
  EXPECT_EQ(client->call(0, [](Result<ByteSpan>) {}).code(), Errc::kInvalidArgument);
  l.run();  // an idle client keeps nothing alive
  ASSERT_EQ(decoded_in_done.code, Errc::kOk);
  EXPECT_EQ(decoded_in_done.generation, 5u);
  EXPECT_EQ(decoded_in_done.items.size(), items.size());
  EXPECT_EQ(client->status().fetch_count, 1u);

  // The copy decodes on another thread with the layout of the call (2).
  codec::CgroupsSnapshotViews views;
  Status off_loop = make_error(Errc::kInternalError, "not run");
  std::thread([&] { off_loop = client->decode_only(ByteSpan(raw), &views); }).join();
  ASSERT_TRUE(off_loop.ok()) << off_loop.error().message();
  EXPECT_EQ(views.generation, 5u);
  expect_items_equal(views, items, codec::kCgroupsLayoutProtobuf);
  EXPECT_TRUE(client->settle_decode(off_loop).ok());
  EXPECT_EQ(client->status().fetch_count, 2u);
  EXPECT_EQ(client->state(), ClientState::kReady);
  client.reset();
  EXPECT_EQ(l.close(), 0);
}

TEST(AsyncCgroupsSnapshotClient, SettlingAMalformedDecodeCountsItAndDropsTheSession) {
  TempDir dir;
  test::TestServer server(dir.path(), "bad2", test::basic_policy(),
                          test::undecodable_snapshot_handler());
  ASSERT_TRUE(server.ok()) << server.error();
  TestLoop l;
  auto client = make_client(&l.loop, client_config(dir.path(), "bad2", kUds));
  ASSERT_TRUE(client);
  l.on_guard = [&] { client->close(nullptr); };
  std::vector<uint8_t> raw;
  ASSERT_TRUE(client
                  ->call(0,
                         [&](Result<ByteSpan> r) {
                           ASSERT_TRUE(r.ok()) << r.error().message();
                           raw.assign(r->data, r->data + r->size);
                         })
                  .ok());
  l.run();
  ASSERT_EQ(raw.size(), 9u);
  codec::CgroupsSnapshotViews views;
  const Status decoded = client->decode_only(ByteSpan(raw), &views);
  EXPECT_FALSE(decoded.ok());
  // Decoding alone touches neither the session nor the counters.
  EXPECT_EQ(client->state(), ClientState::kReady);
  EXPECT_EQ(client->status().malformed_count, 0u);
  EXPECT_EQ(client->settle_decode(decoded).code(), decoded.code());
  EXPECT_EQ(client->state(), ClientState::kDisconnected);
  EXPECT_EQ(client->status().malformed_count, 1u);
  EXPECT_EQ(client->status().fetch_count, 0u);
  client.reset();
  EXPECT_EQ(l.close(), 0);
}

}  // namespace
}  // namespace netipc
