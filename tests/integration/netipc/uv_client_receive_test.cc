// Large responses on a real libuv loop over real sockets:
//  - uv::AsyncClient reads a response in bounded portions, one per readable
//    event, so other handles run between the packets of one response even
//    when the whole response is already waiting in the socket;
//  - uv::Refresher hands a large response's receive buffer to its
//    threadpool work (no copy on the loop) and stays correct when the loop
//    stops it, or a tick or refresh_now() comes, while that work runs;
//  - a connection that drops in the middle of a response fails the attempt
//    and leaves the loop closable.
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/large_buffer.h"
#include "cache_test_util.h"
#include "client_test_server.h"
#include "netipc/handshake.h"
#include "netipc/session.h"
#include "netipc/uds.h"
#include "netipc/uds_connection.h"
#include "netipc/uv/async_client.h"
#include "netipc/uv/refresher.h"
#include "test_support.h"
#include "uv_test_util.h"

namespace netipc::uv {
namespace {

using cache_test::item_of;
using cache_test::items_of;
using cache_test::TestProvider;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kSmallPackets = 4096;

class UvClientReceiveTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  bool run_until(const std::function<bool()>& pred, int ms = 10000) {
    return uv_test::run_loop_until(&loop_, pred, ms);
  }

  std::unique_ptr<Refresher> make_refresher(int interval_ms) {
    return uv_test::make_refresher(&loop_, dir_.path(), service_, interval_ms, 10000, 0, &store_);
  }

  void stop(Refresher* r) {
    bool done = false;
    r->stop([&] { done = true; });
    EXPECT_TRUE(run_until([&] { return done; }));
  }

  // The store's snapshot holds items_of(seed, n), byte for byte.
  void expect_snapshot_of(uint64_t seed, size_t n) {
    std::shared_ptr<const Snapshot> s = store_->acquire();
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->item_count(), n);
    for (size_t i = 0; i < n; ++i) {
      const CgroupItem want = item_of(seed, i);
      const CgroupItemView& got = s->item(i);
      ASSERT_EQ(got.name, want.name) << i;
      ASSERT_EQ(got.path, want.path) << i;
      ASSERT_EQ(got.cgroup_id, want.cgroup_id) << i;
      ASSERT_EQ(got.options, want.options) << i;
    }
  }

  uv_loop_t loop_{};
  test::TempDir dir_;
  std::string service_ = test::unique_service("rcv");
  std::shared_ptr<SnapshotStore> store_;
};

// Bytes this side sent that the peer has not read yet (queued skbs).
size_t unread_by_peer(int fd) {
  int n = 0;
  return ::ioctl(fd, SIOCOUTQ, &n) == 0 && n > 0 ? static_cast<size_t>(n) : 0;
}

// The server half of one session, driven by the test's own thread between
// loop iterations: nothing runs concurrently with the loop, so what the
// socket holds when an iteration starts is exactly what the test queued.
TEST_F(UvClientReceiveTest, AQueuedLargeResponseIsReadOverManyIterationsWithHandlesRunBetween) {
  auto listener = UdsListener::listen(dir_.path(), service_, ListenerOptions{});
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  ClientConfig cc;
  cc.run_dir = dir_.path();
  cc.service = service_;
  cc.method = static_cast<uint16_t>(wire::Method::kIncrement);
  cc.max_response_payload_bytes = 1 << 20;
  cc.call_timeout_ms = 30000;
  auto client = AsyncClient::create(&loop_, cc);
  ASSERT_TRUE(client.ok()) << client.error().message();

  bool called = false;
  Errc code = Errc::kInvalidArgument;
  std::vector<uint8_t> got;
  const uint8_t request[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE((*client)
                  ->call(ByteSpan(request, sizeof request), 1, 0,
                         [&](Result<Message> r) {
                           called = true;
                           code = r.code();
                           if (r.ok())
                             got.assign(r->payload.data, r->payload.data + r->payload.size);
                         })
                  .ok());

  // A check handle runs once per loop iteration, after the I/O callbacks.
  struct Checks {
    uv_check_t h;
    uint64_t n = 0;
  } checks;
  uv_check_init(&loop_, &checks.h);
  checks.h.data = &checks;
  uv_check_start(&checks.h, [](uv_check_t* h) { ++static_cast<Checks*>(h->data)->n; });

  // Accept, handshake (4 KiB packets: a 1 MiB response is 257 packets).
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  Result<UniqueFd> fd = make_error(Errc::kNotReady, "");
  while (!fd.ok() && Clock::now() < deadline) {
    uv_run(&loop_, UV_RUN_NOWAIT);
    fd = listener->accept();
  }
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  uint8_t hello[128];
  Result<ByteSpan> packet = make_error(Errc::kNotReady, "");
  while (Clock::now() < deadline) {
    uv_run(&loop_, UV_RUN_NOWAIT);
    packet = read_hello(fd->get(), hello, sizeof hello);
    if (packet.ok() || packet.code() != Errc::kNotReady) break;
  }
  ASSERT_TRUE(packet.ok()) << packet.error().message();
  ServerPolicy policy;
  policy.max_response_payload_bytes = 1 << 20;
  policy.packet_size = kSmallPackets;
  const ServerDecision d = server_handshake(policy, *packet, 1);
  ASSERT_EQ(d.outcome, ServerDecision::Outcome::kAccept);
  ASSERT_TRUE(send_ack(fd->get(), d).ok());
  ASSERT_EQ(d.ack.agreed_packet_size, kSmallPackets);
  const int server_fd = fd->get();
  const int sndbuf = 1 << 20;  // the kernel caps it; it only has to exceed one budget
  (void)::setsockopt(server_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  UdsConnection conn(std::move(*fd));
  conn.configure(d.ack.agreed_packet_size, server_inbound_limits(d.ack),
                 server_outbound_limits(d.ack));

  Result<Message> req = make_error(Errc::kNotReady, "");
  while (Clock::now() < deadline) {
    uv_run(&loop_, UV_RUN_NOWAIT);
    req = conn.try_receive();
    if (req.ok() || req.code() != Errc::kNotReady) break;
  }
  ASSERT_TRUE(req.ok()) << req.error().message();

  std::vector<uint8_t> body(1 << 20);
  for (size_t i = 0; i < body.size(); ++i)
    body[i] = static_cast<uint8_t>(i * 131 + 7);
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kResponse);
  h.code = req->header.code;
  h.message_id = req->header.message_id;
  h.item_count = 1;
  ASSERT_TRUE(conn.start_send(h, ByteSpan(body)).ok());

  // Each round: top the socket up as far as the kernel takes, then one
  // loop iteration. A client that read until the socket is empty would
  // leave nothing unread after any iteration.
  int rounds_with_unread_left = 0;
  size_t most_queued = 0;
  while (!called && Clock::now() < deadline) {
    auto sent = conn.continue_send();
    ASSERT_TRUE(sent.ok()) << sent.error().message();
    const size_t queued = unread_by_peer(server_fd);
    most_queued = std::max(most_queued, queued);
    const uint64_t checks_before = checks.n;
    uv_run(&loop_, UV_RUN_NOWAIT);
    if (!called && unread_by_peer(server_fd) > 0 && checks.n > checks_before) {
      ++rounds_with_unread_left;
    }
  }
  ASSERT_TRUE(called);
  EXPECT_EQ(code, Errc::kOk);
  EXPECT_EQ(got, body);
  ASSERT_GT(most_queued, 2 * kReceiveBytesPerEvent) << "the socket could not hold two budgets";
  // 1 MiB at 64 KiB per event: about 16 iterations, each leaving the rest
  // of the response unread while the check handle ran.
  EXPECT_GE(rounds_with_unread_left, 8);

  uv_close(reinterpret_cast<uv_handle_t*>(&checks.h), nullptr);
  bool closed = false;
  (*client)->close([&] { closed = true; });
  EXPECT_TRUE(run_until([&] { return closed; }));
}

// provide_receive_buffer() / take_receive_buffer(): a response that fits
// in a provided buffer is received into it in place (before a session
// exists the buffer waits for the next one), and the taken buffer is the
// one the payload lives in, out of the client's reach: the next response
// goes elsewhere.
TEST_F(UvClientReceiveTest, AProvidedBufferReceivesTheResponseInPlaceAndCanBeTakenAway) {
  const std::vector<uint8_t> body(300000, 0xA5);
  ServerPolicy policy;
  policy.max_response_payload_bytes = 1 << 20;
  test::TestServer server(
      dir_.path(), service_, policy,
      [&](const wire::Header&, ByteSpan, const wire::HelloAck&) { return test::Reply::ok(body); });
  ASSERT_TRUE(server.ok()) << server.error();
  ClientConfig cc;
  cc.run_dir = dir_.path();
  cc.service = service_;
  cc.method = static_cast<uint16_t>(wire::Method::kIncrement);
  cc.max_response_payload_bytes = 1 << 20;
  auto client = AsyncClient::create(&loop_, cc);
  ASSERT_TRUE(client.ok()) << client.error().message();
  const uint8_t request[8] = {};

  // One call; `done` records where the payload was and may take the buffer.
  struct Seen {
    bool called = false;
    bool equal = false;
    const uint8_t* at = nullptr;
    ReceiveBuffer taken;
  };
  auto call = [&](bool take) {
    Seen seen;
    EXPECT_TRUE((*client)
                    ->call(ByteSpan(request, sizeof request), 1, 0,
                           [&](Result<Message> r) {
                             seen.called = true;
                             if (!r.ok()) return;
                             seen.at = r->payload.data;
                             seen.equal =
                                 std::vector<uint8_t>(r->payload.data,
                                                      r->payload.data + r->payload.size) == body;
                             if (take) seen.taken = (*client)->take_receive_buffer();
                           })
                    .ok());
    EXPECT_TRUE(run_until([&] { return seen.called; }));
    return seen;
  };

  ReceiveBuffer first = make_receive_buffer(400000);
  ASSERT_TRUE(first);
  const uint8_t* first_at = first->data();
  (*client)->provide_receive_buffer(std::move(first));  // no session yet
  Seen a = call(true);
  EXPECT_TRUE(a.equal);
  EXPECT_EQ(a.at, first_at);
  ASSERT_TRUE(a.taken);
  EXPECT_EQ(a.taken->data(), first_at);
  EXPECT_GE(a.taken->capacity(), 400000u);

  // Over 1 MiB: a mapping of its own, faulted in before the call.
  ReceiveBuffer second = make_receive_buffer(3 << 20);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->backing(), LargeBuffer::Backing::kMapping);
  const uint8_t* second_at = second->data();
  (*client)->provide_receive_buffer(std::move(second));  // to the session
  Seen b = call(true);
  EXPECT_TRUE(b.equal);
  EXPECT_EQ(b.at, second_at);
  ASSERT_TRUE(b.taken);
  EXPECT_EQ(b.taken->data(), second_at);

  // Nothing provided: a buffer of the client's own, neither of the taken.
  Seen c = call(false);
  EXPECT_TRUE(c.equal);
  EXPECT_NE(c.at, first_at);
  EXPECT_NE(c.at, second_at);
  EXPECT_FALSE(c.taken);

  bool closed = false;
  (*client)->close([&] { closed = true; });
  EXPECT_TRUE(run_until([&] { return closed; }));
}

// 20000 items are ~2 MB: over kKeepReceiveBufferBytes, so the receive
// buffer itself goes to the work. The loop stops the Refresher (its client
// closes, its socket and session go) while the work is still running; the
// snapshot built from the handed-over buffer is still exact.
TEST_F(UvClientReceiveTest, StopWhileTheWorkRunsOnAHandedOverResponseKeepsItExact) {
  auto p = TestProvider::start(dir_.path(), service_, 1);
  const uint64_t gen = p->publish(items_of(1, 20000));
  auto r = make_refresher(3600 * 1000);
  std::atomic<bool> in_hook{false}, may_return{false};
  std::atomic<uint64_t> payload_bytes{0};
  int calls = 0;
  ASSERT_TRUE(r->set_on_refresh([&](const RefreshOutcome&) { ++calls; }).ok());
  ASSERT_TRUE(
      r->set_work_hook([&](const RefreshOutcome& o, const std::shared_ptr<const Snapshot>&) {
         payload_bytes = o.payload_bytes;
         in_hook = true;
         test::wait_until([&] { return may_return.load(); });
       }).ok());
  ASSERT_TRUE(r->start().ok());
  ASSERT_TRUE(run_until([&] { return in_hook.load(); }));
  EXPECT_GT(payload_bytes.load(), kKeepReceiveBufferBytes);
  bool done = false;
  r->stop([&] { done = true; });
  // The client's handles close while the work is held.
  for (int i = 0; i < 20; ++i)
    uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_FALSE(done);
  may_return = true;
  ASSERT_TRUE(run_until([&] { return done; }));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(store_->status().generation, gen);
  expect_snapshot_of(1, 20000);
}

// While the work of one refresh runs, no second one starts (ticks are
// skipped, refresh_now() refuses); the next one, after it, receives into
// a new buffer and builds the next generation exactly.
TEST_F(UvClientReceiveTest, NoRefreshStartsWhileTheWorkRunsAndTheNextOneIsExact) {
  auto p = TestProvider::start(dir_.path(), service_, 1);
  const uint64_t gen1 = p->publish(items_of(1, 20000));
  auto r = make_refresher(2);
  std::atomic<int> hooks{0};
  std::atomic<bool> may_return{false};
  std::vector<RefreshOutcome> seen;
  ASSERT_TRUE(r->set_on_refresh([&](const RefreshOutcome& o) { seen.push_back(o); }).ok());
  ASSERT_TRUE(r->set_work_hook([&](const RefreshOutcome&, const std::shared_ptr<const Snapshot>&) {
                 if (hooks.fetch_add(1) == 0) test::wait_until([&] { return may_return.load(); });
               }).ok());
  ASSERT_TRUE(r->start().ok());
  ASSERT_TRUE(run_until([&] { return hooks.load() == 1; }));
  EXPECT_FALSE(r->refresh_now());
  const uint64_t skipped = r->skipped_ticks();
  ASSERT_TRUE(run_until([&] { return r->skipped_ticks() >= skipped + 3; }));
  EXPECT_EQ(p->requests(), 1u);
  EXPECT_EQ(r->attempts(), 1u);
  EXPECT_EQ(store_->status().generation, gen1);
  expect_snapshot_of(1, 20000);

  const uint64_t gen2 = p->publish(items_of(2, 20000));
  may_return = true;
  ASSERT_TRUE(run_until([&] { return store_->status().generation == gen2; }));
  ASSERT_TRUE(run_until([&] { return seen.size() >= 2; }));
  EXPECT_TRUE(seen[0].ok()) << seen[0].error.message();
  EXPECT_TRUE(seen[1].ok()) << seen[1].error.message();
  expect_snapshot_of(2, 20000);
  EXPECT_EQ(r->client_status().connect_count, 1u);
  stop(r.get());
}

// A server that answers every request with the start of a 2 MiB response
// (what the socket takes without blocking, in 4 KiB packets) and then
// closes the session.
class DroppingServer {
 public:
  DroppingServer(const std::string& dir, const std::string& service) {
    auto l = UdsListener::listen(dir, service, ListenerOptions{});
    EXPECT_TRUE(l.ok()) << l.error().message();
    if (!l.ok()) return;
    listener_ = std::move(*l);
    thread_ = std::thread([this] { run(); });
  }
  ~DroppingServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int dropped() const { return dropped_.load(); }

 private:
  void run() {
    while (!stop_) {
      pollfd pfd{listener_.fd(), POLLIN, 0};
      if (::poll(&pfd, 1, 10) <= 0) continue;
      auto fd = listener_.accept();
      if (fd.ok()) serve(std::move(*fd));
    }
  }
  void serve(UniqueFd fd) {
    uint8_t hello[128];
    const int64_t deadline = uv_test::deadline_in_ms(5000);
    pollfd pfd{fd.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 5000) <= 0) return;
    auto packet = read_hello(fd.get(), hello, sizeof hello);
    if (!packet.ok()) return;
    ServerPolicy policy;
    policy.max_response_payload_bytes = 4 << 20;
    policy.packet_size = kSmallPackets;
    const ServerDecision d = server_handshake(policy, *packet, 1);
    if (d.outcome != ServerDecision::Outcome::kAccept || !send_ack(fd.get(), d).ok()) return;
    UdsConnection conn(std::move(fd));
    conn.configure(d.ack.agreed_packet_size, server_inbound_limits(d.ack),
                   server_outbound_limits(d.ack));
    auto req = conn.receive(deadline);
    if (!req.ok()) return;
    wire::Header h;
    h.kind = static_cast<uint16_t>(wire::Kind::kResponse);
    h.code = req->header.code;
    h.message_id = req->header.message_id;
    h.item_count = 1;
    if (!conn.start_send(h, ByteSpan(body_)).ok()) return;
    auto sent = conn.continue_send();
    if (sent.ok() && !*sent) ++dropped_;  // part of it queued; closing now
  }

  UdsListener listener_;
  std::vector<uint8_t> body_ = std::vector<uint8_t>(2 << 20, 0x5A);
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> dropped_{0};
};

TEST_F(UvClientReceiveTest, ASessionDroppedMidResponseFailsTheAttemptAndTheLoopClosesCleanly) {
  DroppingServer server(dir_.path(), service_);
  auto r = make_refresher(3600 * 1000);
  std::vector<RefreshOutcome> seen;
  std::atomic<int> hooks{0};
  ASSERT_TRUE(r->set_on_refresh([&](const RefreshOutcome& o) { seen.push_back(o); }).ok());
  ASSERT_TRUE(r->set_work_hook([&](const RefreshOutcome&, const std::shared_ptr<const Snapshot>&) {
                 ++hooks;
               }).ok());
  ASSERT_TRUE(r->start().ok());
  ASSERT_TRUE(run_until([&] { return !seen.empty(); }));
  EXPECT_FALSE(seen[0].ok());
  EXPECT_EQ(seen[0].error.code, Errc::kPeerGone) << seen[0].error.message();
  EXPECT_FALSE(seen[0].malformed);
  EXPECT_EQ(hooks.load(), 1);  // the work ran for the failure, with nothing to decode
  EXPECT_FALSE(store_->ready());
  // The broken session was retried once, on a new connection.
  EXPECT_EQ(server.dropped(), 2);
  EXPECT_EQ(r->client_status().state, ClientState::kBroken);
  stop(r.get());
}

}  // namespace
}  // namespace netipc::uv
