// Shared helpers of the UDS integration tests (uds_*_test.cc): socket
// pairs, exact packet I/O and forged packets, and a blocking Level-1 server
// on its own thread. Header-only; every test file includes it once.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "netipc/session.h"
#include "netipc/uds.h"
#include "netipc/uds_connection.h"
#include "netipc/wire.h"
#include "test_support.h"

namespace netipc::uds_test {

using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

inline int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}
inline int64_t deadline_in_ms(int64_t ms) {
  return now_ns() + ms * 1000000;
}

struct SocketPair {
  UniqueFd a, b;
};
inline SocketPair socket_pair() {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  return SocketPair{UniqueFd(sv[0]), UniqueFd(sv[1])};
}

inline Bytes pattern(size_t n, uint8_t seed = 1) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i)
    b[i] = static_cast<uint8_t>(i * 131 + seed + (i >> 8));
  return b;
}

inline wire::Header request_header(uint64_t id, uint32_t items = 1) {
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kRequest);
  h.code = static_cast<uint16_t>(wire::Method::kIncrement);
  h.item_count = items;
  h.flags = items >= 2 ? wire::kFlagBatch : 0;
  h.message_id = id;
  return h;
}

// One packet exactly as received; empty on timeout or end-of-file.
inline Bytes recv_packet(int fd, int timeout_ms = 5000) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return {};
  const ssize_t len = ::recv(fd, nullptr, 0, MSG_PEEK | MSG_TRUNC);
  if (len <= 0) return {};
  Bytes b(static_cast<size_t>(len));
  EXPECT_EQ(::recv(fd, b.data(), b.size(), 0), len);
  return b;
}

inline void send_packet(int fd, const Bytes& b) {
  ASSERT_EQ(::send(fd, b.data(), b.size(), MSG_NOSIGNAL), static_cast<ssize_t>(b.size()));
}

inline bool nothing_pending(int fd) {
  uint8_t buf[1];
  return ::recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_PEEK) == -1 && errno == EAGAIN;
}

// Forged packets for a message of `payload_len` at packet size P.
inline Bytes first_packet(uint64_t id, uint32_t payload_len, size_t carried, uint32_t items = 1) {
  Bytes p(wire::kHeaderLen + carried, 0xA5);
  wire::Header h = request_header(id, items);
  h.payload_len = payload_len;
  wire::encode_header(h, p.data());
  return p;
}
inline Bytes chunk_packet(uint64_t id, uint32_t total_len, uint32_t index, uint32_t count,
                          uint32_t declared_len, size_t carried) {
  Bytes p(wire::kHeaderLen + carried, 0x5A);
  wire::ChunkHeader c;
  c.message_id = id;
  c.total_message_len = total_len;
  c.chunk_index = index;
  c.chunk_count = count;
  c.chunk_payload_len = declared_len;
  wire::encode_chunk_header(c, p.data());
  return p;
}

inline constexpr uint32_t kP = 256;  // small packet size: B = 224
inline constexpr uint32_t kB = kP - 32;

inline UdsConnection receiver(UniqueFd fd, uint32_t max_payload = 1 << 20,
                              uint32_t max_items = 16) {
  UdsConnection c(std::move(fd));
  c.configure(kP, Limits{max_payload, max_items}, Limits{max_payload, max_items});
  return c;
}

inline constexpr uint32_t kL = 1000;
inline constexpr uint32_t kTotal = 32 + kL;

struct Forged {
  SocketPair sp = socket_pair();
  UdsConnection rx = receiver(std::move(sp.a));
  int raw() const { return sp.b.get(); }
  Result<Message> receive() { return rx.receive(deadline_in_ms(5000)); }
};

inline constexpr uint16_t kIncrement = static_cast<uint16_t>(wire::Method::kIncrement);

inline wire::Header response_to(const wire::Header& req) {
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kResponse);
  h.code = req.code;
  h.message_id = req.message_id;
  h.flags = req.flags;
  h.item_count = req.item_count;
  return h;
}

// A server on its own thread: listens at construction (so clients can
// connect at once), accepts `sessions` connections one after the other,
// runs the blocking handshake and then `body` on each.
class BlockingServer {
 public:
  using Body = std::function<void(ServerSession&)>;
  BlockingServer(ServerPolicy policy, Body body, int sessions = 1)
      : service_(test::unique_service("s")) {
    auto l = UdsListener::listen(dir_.path(), service_);
    EXPECT_TRUE(l.ok()) << l.error().message();
    if (!l.ok()) return;
    listener_ = std::move(*l);
    thread_ = std::thread([this, policy, body, sessions] {
      for (int i = 0; i < sessions; ++i) {
        pollfd p{listener_.fd(), POLLIN, 0};
        if (::poll(&p, 1, 20000) != 1) return;
        auto fd = listener_.accept();
        if (!fd.ok()) return;
        auto s =
            server_handshake_blocking(std::move(*fd), policy, next_id_++, deadline_in_ms(10000));
        {
          std::lock_guard<std::mutex> lock(mu_);
          handshake_codes_.push_back(s.code());
        }
        if (s.ok()) body(*s);
      }
    });
  }
  ~BlockingServer() {
    if (thread_.joinable()) thread_.join();
  }
  const std::string& dir() const { return dir_.path(); }
  const std::string& service() const { return service_; }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  std::vector<Errc> handshake_codes() {
    std::lock_guard<std::mutex> lock(mu_);
    return handshake_codes_;
  }

 private:
  test::TempDir dir_;
  std::string service_;
  UdsListener listener_;
  std::thread thread_;
  uint64_t next_id_ = 1;
  std::mutex mu_;
  std::vector<Errc> handshake_codes_;
};

// Answers every request with its own payload until the client leaves.
inline void echo(ServerSession& s) {
  for (;;) {
    auto m = s.conn.receive(deadline_in_ms(20000));
    if (!m.ok()) return;
    if (!s.conn.send(response_to(m->header), m->payload, deadline_in_ms(20000)).ok()) return;
  }
}

inline ServerPolicy big_policy(uint32_t packet_size) {
  ServerPolicy p;
  p.max_request_payload_bytes = 4 << 20;
  p.max_response_payload_bytes = 4 << 20;
  p.packet_size = packet_size;  // 0 = auto
  return p;
}

inline ClientProposal big_proposal(uint32_t packet_size) {
  ClientProposal p;
  p.max_request_payload_bytes = 4 << 20;
  p.max_response_payload_bytes = 4 << 20;
  p.packet_size = packet_size;  // 0 = auto
  return p;
}

inline Result<ClientSession> connect_to(const BlockingServer& srv, const ClientProposal& p) {
  return ClientSession::connect(srv.dir(), srv.service(), p, deadline_in_ms(10000));
}

inline void call_echo(ClientSession& c, uint64_t id, size_t len) {
  SCOPED_TRACE(len);
  const Bytes payload = pattern(len, static_cast<uint8_t>(id));
  ASSERT_TRUE(c.send_request(kIncrement, id, ByteSpan(payload), 1, deadline_in_ms(20000)).ok());
  auto r = c.receive_response(deadline_in_ms(20000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.message_id, id);
  ASSERT_EQ(r->payload.size, len);
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), r->payload.data));
}

}  // namespace netipc::uds_test
