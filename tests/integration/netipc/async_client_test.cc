// uv::AsyncClient on a real libuv loop against real sockets and a scripted
// server thread: the Level-2 rules of the blocking client, plus the loop
// contract (never blocks, callbacks never re-enter call(), close order,
// uv_loop_close() == 0 afterwards).
#include "netipc/uv/async_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "client_test_server.h"
#include "netipc/client.h"
#include "spec_peer.h"
#include "test_support.h"

namespace netipc::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using uv::AsyncClient;

constexpr uint16_t kInc = static_cast<uint16_t>(wire::Method::kIncrement);

std::vector<uint8_t> u64_bytes(uint64_t v) {
  std::vector<uint8_t> b(8);
  store_u64(b.data(), v);
  return b;
}

// What a done callback saw.
struct Outcome {
  bool called = false;
  Errc code = Errc::kOk;
  std::vector<uint8_t> payload;
  AsyncClient::CallCallback callback() {
    return [this](Result<Message> r) {
      called = true;
      code = r.code();
      if (r.ok()) payload.assign(r->payload.data, r->payload.data + r->payload.size);
    };
  }
  uint64_t value() const { return payload.size() == 8 ? load_u64(payload.data()) : 0; }
};

class AsyncClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    client_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // lets pending close callbacks run
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  ClientConfig config(uint64_t token = 0) const {
    ClientConfig c;
    c.run_dir = dir_.path();
    c.service = service_;
    c.method = kInc;
    c.auth_token = token;
    return c;
  }
  AsyncClient& make(const ClientConfig& c) {
    auto r = AsyncClient::create(&loop_, c);
    EXPECT_TRUE(r.ok()) << r.error().message();
    client_ = std::move(*r);
    return *client_;
  }
  std::unique_ptr<TestServer> serve(ServerPolicy p = basic_policy(),
                                    TestServer::Handler h = nullptr,
                                    TestServer::PolicyHook hook = nullptr) {
    auto s = std::make_unique<TestServer>(dir_.path(), service_, p, std::move(h), std::move(hook));
    EXPECT_TRUE(s->ok()) << s->error();
    return s;
  }

  // Runs the loop until pred() holds (a guard timer keeps uv_run from
  // sleeping past the deadline). Returns pred().
  bool run_until(const std::function<bool()>& pred, milliseconds timeout = milliseconds(10000)) {
    uv_timer_t guard;
    uv_timer_init(&loop_, &guard);
    uv_timer_start(
        &guard, [](uv_timer_t*) {}, 5, 5);
    const auto deadline = Clock::now() + timeout;
    while (!pred() && Clock::now() < deadline)
      uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return pred();
  }

  // One call, run to completion.
  Outcome call_sync(AsyncClient& c, ByteSpan payload, uint32_t items = 1, int timeout_ms = 0) {
    Outcome o;
    Status st = c.call(payload, items, timeout_ms, o.callback());
    EXPECT_TRUE(st.ok()) << st.error().message();
    EXPECT_TRUE(run_until([&] { return o.called; }));
    return o;
  }

  uv_loop_t loop_{};
  TempDir dir_;
  std::string service_ = unique_service("ac");
  std::unique_ptr<AsyncClient> client_;
};

TEST_F(AsyncClientTest, CreateRefusesANullLoopAndAnShmOnlyConfig) {
  EXPECT_EQ(AsyncClient::create(nullptr, config()).code(), Errc::kInvalidArgument);
  ClientConfig c = config();
  c.supported_profiles = wire::kProfileShmHybrid;
  EXPECT_EQ(AsyncClient::create(&loop_, c).code(), Errc::kInvalidArgument);
  c.supported_profiles = wire::kProfileUds | wire::kProfileShmHybrid;
  AsyncClient& ac = make(c);
  EXPECT_EQ(ac.status().supported_profiles, wire::kProfileUds);  // UDS only
  EXPECT_EQ(ac.config().call_timeout_ms, 30000);                 // defaults resolved
  EXPECT_EQ(ac.state(), ClientState::kDisconnected);
}

TEST_F(AsyncClientTest, MissingServerFailsThroughTheCallbackOnALaterIteration) {
  AsyncClient& c = make(config());
  Outcome o;
  auto b = u64_bytes(1);
  const auto t0 = Clock::now();
  ASSERT_TRUE(c.call(ByteSpan(b), 1, 0, o.callback()).ok());
  EXPECT_FALSE(o.called);  // never from inside call()
  EXPECT_TRUE(c.call_in_flight());
  EXPECT_TRUE(run_until([&] { return o.called; }));
  EXPECT_LT(Clock::now() - t0, milliseconds(1000));
  EXPECT_EQ(o.code, Errc::kNotFound);
  EXPECT_EQ(c.state(), ClientState::kNotFound);
  EXPECT_FALSE(c.call_in_flight());
  EXPECT_EQ(c.status().error_count, 1u);
}

TEST_F(AsyncClientTest, CallsChainedFromTheCallbackShareOneSession) {
  auto server = serve();
  AsyncClient& c = make(config());
  int done = 0;
  uint64_t value = 0;
  std::vector<uint8_t> buf = u64_bytes(0);
  std::function<void(Result<Message>)> next = [&](Result<Message> r) {
    ASSERT_TRUE(r.ok()) << r.error().message();
    value = load_u64(r->payload.data);
    if (++done == 50) return;
    buf = u64_bytes(value);
    EXPECT_TRUE(c.call(ByteSpan(buf), 1, 0, next).ok());  // re-entry from done is allowed
  };
  ASSERT_TRUE(c.call(ByteSpan(buf), 1, 0, next).ok());
  EXPECT_TRUE(run_until([&] { return done == 50; }));
  EXPECT_EQ(value, 50u);
  const ClientStatus s = c.status();
  EXPECT_EQ(s.connect_count, 1u);
  EXPECT_EQ(s.call_count, 50u);
  EXPECT_EQ(s.state, ClientState::kReady);
  EXPECT_EQ(server->connections(), 1);
  auto seen = server->seen();
  ASSERT_EQ(seen.size(), 50u);
  EXPECT_EQ(seen[49].header.message_id, 50u);
}

TEST_F(AsyncClientTest, OneCallAtATimeAndNoCallAfterClose) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan, const wire::HelloAck&) {
    return Reply::never();
  });
  AsyncClient& c = make(config());
  Outcome first, second;
  auto b = u64_bytes(1);
  ASSERT_TRUE(c.call(ByteSpan(b), 1, 0, first.callback()).ok());
  EXPECT_EQ(c.call(ByteSpan(b), 1, 0, second.callback()).code(), Errc::kInvalidArgument);
  EXPECT_EQ(c.call(ByteSpan(b), 1, 0, nullptr).code(), Errc::kInvalidArgument);
  bool closed = false;
  c.close([&] { closed = true; });
  EXPECT_EQ(c.call(ByteSpan(b), 1, 0, second.callback()).code(), Errc::kNotReady);
  EXPECT_TRUE(run_until([&] { return closed; }));
  EXPECT_TRUE(first.called);
  EXPECT_FALSE(second.called);
}

TEST_F(AsyncClientTest, TheLoopKeepsTickingWhileACallWaitsAndTheCallTimesOut) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan, const wire::HelloAck&) {
    return Reply::never();
  });
  AsyncClient& c = make(config());
  uv_timer_t ticker;
  int ticks = 0;
  uv_timer_init(&loop_, &ticker);
  ticker.data = &ticks;
  uv_timer_start(
      &ticker, [](uv_timer_t* t) { ++*static_cast<int*>(t->data); }, 1, 1);
  Outcome o;
  auto b = u64_bytes(1);
  const auto t0 = Clock::now();
  ASSERT_TRUE(c.call(ByteSpan(b), 1, 300, o.callback()).ok());
  EXPECT_TRUE(run_until([&] { return o.called; }));
  const auto elapsed = Clock::now() - t0;
  uv_close(reinterpret_cast<uv_handle_t*>(&ticker), nullptr);
  uv_run(&loop_, UV_RUN_NOWAIT);  // the handle lives on this stack frame
  EXPECT_EQ(o.code, Errc::kTimeout);
  EXPECT_GE(elapsed, milliseconds(300));
  EXPECT_LT(elapsed, milliseconds(3000));
  // A blocked loop would have ticked a handful of times at most.
  EXPECT_GE(ticks, 50);
  EXPECT_EQ(c.state(), ClientState::kBroken);
  EXPECT_EQ(server->requests(), 1);  // no retry after a timeout
}

TEST_F(AsyncClientTest, HandshakeTimeoutWhenTheServerNeverAnswersHello) {
  // A listener that never accepts: connect() succeeds into the backlog and
  // HELLO_ACK never comes.
  auto listener = UdsListener::listen(dir_.path(), service_);
  ASSERT_TRUE(listener.ok());
  ClientConfig cfg = config();
  cfg.connect_timeout_ms = 200;
  AsyncClient& c = make(cfg);
  auto b = u64_bytes(1);
  const auto t0 = Clock::now();
  Outcome o = call_sync(c, ByteSpan(b));
  EXPECT_EQ(o.code, Errc::kTimeout);
  EXPECT_GE(Clock::now() - t0, milliseconds(200));
  EXPECT_EQ(c.state(), ClientState::kDisconnected);
}

TEST_F(AsyncClientTest, AbortDuringTheHandshakeFailsTheCallWithAborted) {
  auto listener = UdsListener::listen(dir_.path(), service_);  // never accepts
  ASSERT_TRUE(listener.ok());
  AsyncClient& c = make(config());
  Outcome o;
  auto b = u64_bytes(1);
  ASSERT_TRUE(c.call(ByteSpan(b), 1, 0, o.callback()).ok());
  uv_run(&loop_, UV_RUN_NOWAIT);  // HELLO is out, HELLO_ACK never comes
  c.abort();
  EXPECT_TRUE(run_until([&] { return o.called; }, milliseconds(2000)));
  EXPECT_EQ(o.code, Errc::kAborted);
  EXPECT_NE(c.state(), ClientState::kReady);
}

TEST_F(AsyncClientTest, CloseWithACallInFlightAbortsItThenClosesTheLoopCleanly) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan, const wire::HelloAck&) {
    return Reply::never();
  });
  AsyncClient& c = make(config());
  std::vector<std::string> order;
  auto b = u64_bytes(1);
  ASSERT_TRUE(c.call(ByteSpan(b), 1, 0, [&](Result<Message> r) {
                 order.push_back(std::string("done:") + errc_name(r.code()));
               }).ok());
  ASSERT_TRUE(run_until([&] { return server->requests() >= 1; }));
  c.close([&] { order.push_back("closed"); });
  EXPECT_TRUE(order.empty());      // nothing runs from inside close()
  uv_run(&loop_, UV_RUN_DEFAULT);  // returns once every handle is closed
  EXPECT_EQ(order, (std::vector<std::string>{"done:ABORTED", "closed"}));
  client_.reset();
  EXPECT_EQ(uv_loop_close(&loop_), 0);
  ASSERT_EQ(uv_loop_init(&loop_), 0);  // for TearDown
}

TEST_F(AsyncClientTest, DestroyingWithoutCloseCancelsEveryCallback) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan, const wire::HelloAck&) {
    return Reply::never();
  });
  AsyncClient& c = make(config());
  Outcome o;
  auto b = u64_bytes(1);
  ASSERT_TRUE(c.call(ByteSpan(b), 1, 0, o.callback()).ok());
  ASSERT_TRUE(run_until([&] { return server->requests() >= 1; }));
  client_.reset();
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_FALSE(o.called);
}

TEST_F(AsyncClientTest, DestroyingFromInsideTheDoneCallbackIsSafe) {
  auto server = serve();
  AsyncClient& c = make(config());
  bool done = false;
  auto b = u64_bytes(1);
  ASSERT_TRUE(c.call(ByteSpan(b), 1, 0, [&](Result<Message> r) {
                 EXPECT_TRUE(r.ok());
                 done = true;
                 client_.reset();
               }).ok());
  EXPECT_TRUE(run_until([&] { return done; }));
  EXPECT_EQ(client_, nullptr);
}

TEST_F(AsyncClientTest, AbortFailsTheCallInFlightAndStaysUntilCleared) {
  std::atomic<bool> answer{false};
  auto server =
      serve(basic_policy(), [&](const wire::Header& h, ByteSpan p, const wire::HelloAck&) {
        return answer ? increment_reply(h, p) : Reply::never();
      });
  AsyncClient& c = make(config());
  Outcome o;
  auto b = u64_bytes(1);
  ASSERT_TRUE(c.call(ByteSpan(b), 1, 0, o.callback()).ok());
  ASSERT_TRUE(run_until([&] { return server->requests() >= 1; }));
  c.abort();
  EXPECT_TRUE(c.abort_pending());
  EXPECT_FALSE(o.called);  // delivered on a later iteration
  EXPECT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.code, Errc::kAborted);
  EXPECT_EQ(c.state(), ClientState::kBroken);
  answer = true;
  EXPECT_EQ(call_sync(c, ByteSpan(b)).code, Errc::kAborted);
  EXPECT_EQ(server->requests(), 1);
  c.clear_abort();
  Outcome ok = call_sync(c, ByteSpan(b));
  EXPECT_EQ(ok.code, Errc::kOk);
  EXPECT_EQ(ok.value(), 2u);
  EXPECT_EQ(c.status().reconnect_count, 1u);
}

TEST_F(AsyncClientTest, WrongTokenIsAuthFailedAndSticky) {
  auto server = serve(basic_policy(7));
  AsyncClient& c = make(config(8));
  auto b = u64_bytes(1);
  EXPECT_EQ(call_sync(c, ByteSpan(b)).code, Errc::kAuthFailed);
  EXPECT_EQ(call_sync(c, ByteSpan(b)).code, Errc::kAuthFailed);
  EXPECT_EQ(c.state(), ClientState::kAuthFailed);
  auto probe = Client::create(config(7));
  ASSERT_TRUE(probe.ok());
  EXPECT_TRUE(probe->call(ByteSpan(b)).ok());
  EXPECT_EQ(server->connections(), 2);  // the sticky client did not reconnect
  ASSERT_TRUE(c.reset().ok());
  EXPECT_EQ(call_sync(c, ByteSpan(b)).code, Errc::kAuthFailed);
}

TEST_F(AsyncClientTest, RestartedServerCostsOneReconnectInsideTheNextCall) {
  auto server = serve();
  AsyncClient& c = make(config());
  auto b = u64_bytes(1);
  EXPECT_EQ(call_sync(c, ByteSpan(b)).value(), 2u);
  server->stop();
  server = serve();
  Outcome o = call_sync(c, ByteSpan(b));
  EXPECT_EQ(o.code, Errc::kOk);
  EXPECT_EQ(o.value(), 2u);
  EXPECT_EQ(c.status().reconnect_count, 1u);
  EXPECT_EQ(c.status().connect_count, 1u);
}

TEST_F(AsyncClientTest, ServerThatAlwaysClosesSeesExactlyTwoCopies) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan, const wire::HelloAck&) {
    return Reply::close();
  });
  AsyncClient& c = make(config());
  auto b = u64_bytes(1);
  EXPECT_EQ(call_sync(c, ByteSpan(b)).code, Errc::kPeerGone);
  EXPECT_EQ(server->requests(), 2);
  EXPECT_EQ(c.state(), ClientState::kBroken);
}

TEST_F(AsyncClientTest, ResponseGrowthIsInvisible) {
  constexpr uint32_t kNeed = 262144;
  auto server = serve(basic_policy(), limit_exceeded_until_ceiling(kNeed, 100000, 3),
                      ceiling_from_client_hint());
  AsyncClient& c = make(config());
  auto b = u64_bytes(1);
  Outcome o = call_sync(c, ByteSpan(b));
  EXPECT_EQ(o.code, Errc::kOk);
  EXPECT_EQ(o.payload.size(), 100000u);
  EXPECT_EQ(server->ack_response_ceilings(), (std::vector<uint32_t>{65536, 131072, 262144}));
  EXPECT_EQ(c.status().learned_response_payload_bytes, kNeed);
}

TEST_F(AsyncClientTest, ChunkedRequestAndResponseNeverBlockTheLoop) {
  ServerPolicy p = basic_policy();
  p.max_request_payload_bytes = 1u << 20;
  p.max_response_payload_bytes = 1u << 20;
  auto server = serve(p, [](const wire::Header&, ByteSpan in, const wire::HelloAck&) {
    return Reply::ok(std::vector<uint8_t>(in.data, in.data + in.size));
  });
  ClientConfig cfg = config();
  cfg.max_request_payload_bytes = 1u << 20;
  cfg.max_response_payload_bytes = 1u << 20;
  AsyncClient& c = make(cfg);
  std::vector<uint8_t> big(900000);
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<uint8_t>(i * 7);
  Outcome o = call_sync(c, ByteSpan(big));
  ASSERT_EQ(o.code, Errc::kOk);
  EXPECT_EQ(o.payload, big);
}

TEST_F(AsyncClientTest, BatchCallsCarryTheirItemCount) {
  auto server = serve();
  ClientConfig cfg = config();
  cfg.max_request_batch_items = 1000;
  AsyncClient& c = make(cfg);
  for (uint32_t n : {2u, 1000u}) {
    std::vector<uint8_t> payload;
    wire::BatchWriter w(&payload, n);
    for (uint32_t i = 0; i < n; ++i)
      w.add(ByteSpan(u64_bytes(i)));
    w.finish();
    Outcome o = call_sync(c, ByteSpan(payload), n);
    ASSERT_EQ(o.code, Errc::kOk);
    auto view = wire::BatchView::parse(ByteSpan(o.payload), n);
    ASSERT_TRUE(view.ok());
    for (uint32_t i = 0; i < n; ++i)
      EXPECT_EQ(load_u64(view->item(i).data), i + 1u);
  }
}

TEST_F(AsyncClientTest, SpecPeerFindsNoViolationInChunkedCallsAndStallsTimeOut) {
  spec_peer::ServerConfig sc;
  sc.policy.max_request_payload = 1u << 20;
  sc.policy.max_response_payload = 1u << 20;
  // Small packets: ~100 per message, more than the socket queues, so the
  // request goes out across many UV_WRITABLE wake-ups.
  sc.policy.packet_size = 4096;
  std::string problem;
  auto server = spec_peer::SpecServer::start(dir_.path(), service_, sc, &problem);
  ASSERT_NE(server, nullptr) << problem;
  ClientConfig cfg = config();
  cfg.method = static_cast<uint16_t>(wire::Method::kStringReverse);
  AsyncClient& c = make(cfg);
  std::string text(400000, 'q');  // ~100 packets of 4096 bytes each way
  for (size_t i = 0; i < text.size(); ++i)
    text[i] = static_cast<char>('A' + i % 23);
  const spec_peer::Bytes req = spec_peer::reverse_payload(text);
  Outcome o = call_sync(c, ByteSpan(req.data(), req.size()));
  ASSERT_EQ(o.code, Errc::kOk);
  std::string back;
  EXPECT_EQ(spec_peer::read_reverse(o.payload, &back), "");
  EXPECT_EQ(back, std::string(text.rbegin(), text.rend()));
  ASSERT_TRUE(c.reset().ok());
  spec_peer::ServerLog log = server->log();
  EXPECT_TRUE(log.violations.empty()) << log.violations.front();
  EXPECT_GT(log.request_packets.back(), 1u);  // chunked at the agreed packet size
  server.reset();

  // The peer sends the first packet of a chunked answer and goes quiet.
  service_ = unique_service("ac");
  sc.misbehaviour = spec_peer::Misbehaviour::kStallAfterFirstChunk;
  sc.policy.packet_size = 4096;
  server = spec_peer::SpecServer::start(dir_.path(), service_, sc, &problem);
  ASSERT_NE(server, nullptr) << problem;
  cfg.service = service_;
  cfg.max_request_payload_bytes = 16384;
  AsyncClient& stalled = make(cfg);
  const spec_peer::Bytes small = spec_peer::reverse_payload(std::string(10000, 'z'));
  EXPECT_EQ(call_sync(stalled, ByteSpan(small.data(), small.size()), 1, 200).code, Errc::kTimeout);
  log = server->log();
  EXPECT_EQ(log.requests.size(), 1u);
  EXPECT_TRUE(log.violations.empty()) << log.violations.front();
}

TEST_F(AsyncClientTest, HandshakeFailuresLeaveTheClientDisconnected) {
  struct Case {
    spec_peer::Misbehaviour misbehaviour;
    bool forge_shm_selection;
    Errc expected;
  };
  const Case cases[] = {
      {spec_peer::Misbehaviour::kCloseBeforeAck, false, Errc::kBadEnvelope},
      {spec_peer::Misbehaviour::kNone, true, Errc::kProtocol},  // a profile we never offered
  };
  for (const Case& k : cases) {
    service_ = unique_service("hs");
    spec_peer::ServerConfig sc;
    sc.misbehaviour = k.misbehaviour;
    if (k.forge_shm_selection) {
      sc.mutate_ack = [](spec_peer::Bytes* ack) {
        spec_peer::wr32(ack->data() + spec_peer::kHeaderSize + 12, 0x02);  // selected_profile
      };
    }
    std::string problem;
    auto server = spec_peer::SpecServer::start(dir_.path(), service_, sc, &problem);
    ASSERT_NE(server, nullptr) << problem;
    AsyncClient& c = make(config());
    auto b = u64_bytes(1);
    EXPECT_EQ(call_sync(c, ByteSpan(b)).code, k.expected);
    EXPECT_EQ(c.state(), ClientState::kDisconnected);
    EXPECT_EQ(c.status().connect_count, 0u);
  }
}

}  // namespace
}  // namespace netipc::test
