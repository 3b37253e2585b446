// Shared helpers of the libuv tests (uv_*_test.cc): running a loop until a
// condition holds, server configs, a ServerThread starter and a fixture around them, a well-behaved
// ClientSession caller and a raw client that does the handshake by hand and
// then breaks the rules.
#pragma once

#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "netipc/codec/increment.h"
#include "netipc/services.h"
#include "netipc/session.h"
#include "netipc/uds.h"
#include "netipc/uv/refresher.h"
#include "netipc/uv/server.h"
#include "netipc/uv/server_thread.h"
#include "netipc/wire.h"
#include "test_support.h"

namespace netipc::uv_test {

using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;
using test::TempDir;

inline constexpr uint16_t kIncrement = static_cast<uint16_t>(wire::Method::kIncrement);

inline int64_t deadline_in_ms(int64_t ms) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec + ms * 1000000;
}

// Runs `loop` until pred() holds or `ms` pass (a 5 ms watchdog timer keeps
// uv_run from sleeping past the deadline). Returns pred().
// A Refresher on `loop` for the service `service` in `dir`, publishing into
// a new store (returned in *store); null (and a test failure) if it cannot
// be made.
inline std::unique_ptr<uv::Refresher> make_refresher(uv_loop_t* loop, const std::string& dir,
                                                     const std::string& service, int interval_ms,
                                                     int call_timeout_ms, uint16_t layout,
                                                     std::shared_ptr<SnapshotStore>* store) {
  ClientConfig c;
  c.run_dir = dir;
  c.service = service;
  c.call_timeout_ms = call_timeout_ms;
  uv::RefresherConfig rc;
  rc.interval_ms = interval_ms;
  rc.layout = layout;
  *store = std::make_shared<SnapshotStore>();
  auto r = uv::Refresher::create(loop, c, *store, rc);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? std::move(*r) : nullptr;
}

inline bool run_loop_until(uv_loop_t* loop, const std::function<bool()>& pred, int ms = 10000) {
  uv_timer_t wd;
  uv_timer_init(loop, &wd);
  uv_timer_start(
      &wd, [](uv_timer_t*) {}, 5, 5);
  const auto deadline = Clock::now() + std::chrono::milliseconds(ms);
  bool ok = pred();
  while (!ok && Clock::now() < deadline) {
    uv_run(loop, UV_RUN_ONCE);
    ok = pred();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&wd), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return ok;
}

inline bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

inline uv::ServerConfig base_config(const TempDir& dir, const std::string& service) {
  uv::ServerConfig c;
  c.run_dir = dir.path();
  c.service = service;
  c.method = kIncrement;
  return c;
}

inline std::unique_ptr<uv::ServerThread> start(uv::ServerConfig cfg,
                                               Handler h = make_increment_handler()) {
  auto st = uv::ServerThread::start(std::move(cfg), std::move(h));
  EXPECT_TRUE(st.ok()) << st.error().message();
  return st.ok() ? std::move(*st) : nullptr;
}

inline Result<ClientSession> connect(const uv::ServerConfig& cfg, ClientProposal p = {}) {
  return ClientSession::connect(cfg.run_dir, cfg.service, p, deadline_in_ms(5000));
}

// One INCREMENT call; a non-OK status comes back as its Errc.
inline Result<uint64_t> increment(ClientSession& c, uint64_t id, uint64_t v) {
  uint8_t p[8];
  codec::encode_increment(v, p);
  Status st = c.send_request(kIncrement, id, ByteSpan(p, 8), 1, deadline_in_ms(5000));
  if (!st.ok()) return st.error();
  auto r = c.receive_response(deadline_in_ms(5000));
  if (!r.ok()) return r.error();
  if (r->header.transport_status != 0) {
    return make_error(wire::errc_from_status(r->header.transport_status), "response status");
  }
  return codec::decode_increment(r->payload);
}

// A private run directory with an INCREMENT server config in it: a test
// adjusts cfg_, then start_server() runs a ServerThread on it.
class UvServerTest : public ::testing::Test {
 protected:
  // False (with a test failure) if the server cannot start.
  bool start_server(Handler h = make_increment_handler()) {
    srv_ = start(cfg_, std::move(h));
    return srv_ != nullptr;
  }
  uv::Server& server() { return srv_->server(); }

  TempDir dir_;
  uv::ServerConfig cfg_ = base_config(dir_, "uv");
  std::unique_ptr<uv::ServerThread> srv_;
};

// A well-behaved client still gets answers. Like every production client it
// tries again while the listen backlog is full (NOT_READY, a transient state
// while the server drains a burst of connects); any other failure, or a
// backlog that never drains, fails the test.
inline void expect_served(const uv::ServerConfig& cfg) {
  Result<ClientSession> c = make_error(Errc::kNotReady);
  ASSERT_TRUE(test::wait_until([&] {
    c = connect(cfg);
    return c.code() != Errc::kNotReady;
  })) << "the listen backlog never drained";
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto v = increment(*c, 1, 41);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 42u);
}

// Waits until the peer closes `fd` (true) or the timeout passes (false).
// Fails the test if anything other than end-of-file arrives.
inline bool closed_by_peer(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return false;
  uint8_t buf[256];
  const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  EXPECT_LE(n, 0) << "expected the server to close, got " << n << " bytes";
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// A client that does the handshake by hand and then lets the test send
// whatever it likes (e.g. ignoring the agreed request ceiling).
struct RawClient {
  UdsConnection conn;
  wire::HelloAck ack;
};
// The handshake by hand on an already connected socket.
inline Result<RawClient> raw_handshake(Result<UniqueFd> fd, ClientProposal p = {},
                                       Limits outbound = {1 << 24, 1 << 16}) {
  if (!fd.ok()) return fd.error();
  if (p.packet_size == 0) p.packet_size = 65536;
  uint8_t hello[wire::kHelloPacketLen];
  wire::encode_hello_packet(make_hello(p), hello);
  if (::send(fd->get(), hello, sizeof hello, MSG_NOSIGNAL) != sizeof hello) {
    return make_error(Errc::kPeerGone, "send HELLO", errno);
  }
  pollfd pf{fd->get(), POLLIN, 0};
  if (::poll(&pf, 1, 5000) != 1) return make_error(Errc::kTimeout, "HELLO_ACK");
  uint8_t buf[128];
  const ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
  if (n <= 0) return make_error(Errc::kPeerGone, "HELLO_ACK");
  auto ack = client_read_ack(ByteSpan(buf, static_cast<size_t>(n)));
  if (!ack.ok()) return ack.error();
  RawClient c;
  c.ack = *ack;
  c.conn = UdsConnection(std::move(*fd));
  c.conn.configure(ack->agreed_packet_size, client_inbound_limits(*ack), outbound);
  return c;
}
inline Result<RawClient> raw_client(const uv::ServerConfig& cfg, ClientProposal p = {},
                                    Limits outbound = {1 << 24, 1 << 16}) {
  return raw_handshake(uds_connect(cfg.run_dir, cfg.service), p, outbound);
}

inline wire::Header request(uint64_t id, uint16_t code = kIncrement, uint32_t items = 1) {
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kRequest);
  h.code = code;
  h.message_id = id;
  h.item_count = items;
  h.flags = items >= 2 ? wire::kFlagBatch : 0;
  return h;
}

}  // namespace netipc::uv_test
