// A scriptable NetIPC server for the Level-2 client tests, built from the
// project's Level-1 pieces (UdsListener, server_handshake, UdsConnection)
// and run on its own thread. Each test decides per HELLO what the server
// offers and per request how it answers (respond, respond and close, close
// without answering, never answer), and reads back what the server saw:
// connections, handshakes, requests (with ids and flags), ACK ceilings.
#pragma once

#include <poll.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "netipc/batch.h"
#include "netipc/handshake.h"
#include "netipc/session.h"
#include "netipc/uds.h"
#include "netipc/uds_connection.h"
#include "netipc/wire.h"

namespace netipc::test {

struct SeenRequest {
  wire::Header header;
  std::vector<uint8_t> payload;
  uint64_t connection = 0;  // 1-based accept index
};

struct Reply {
  enum class Kind : uint8_t { kRespond, kRespondThenClose, kClose, kNeverAnswer };
  Kind kind = Kind::kRespond;
  uint16_t status = 0;
  std::vector<uint8_t> payload;

  static Reply ok(std::vector<uint8_t> p) { return Reply{Kind::kRespond, 0, std::move(p)}; }
  static Reply status_then_close(wire::TransportStatus s) {
    return Reply{Kind::kRespondThenClose, static_cast<uint16_t>(s), {}};
  }
  static Reply close() { return Reply{Kind::kClose, 0, {}}; }
  static Reply never() { return Reply{Kind::kNeverAnswer, 0, {}}; }
};

// INCREMENT semantics for single u64 requests and batches of u64 items.
inline Reply increment_reply(const wire::Header& h, ByteSpan payload) {
  auto inc = [](ByteSpan in, std::vector<uint8_t>* out) {
    uint64_t v = 0;
    if (in.size == 8) v = load_u64(in.data) + 1;
    out->resize(8);
    store_u64(out->data(), v);
  };
  std::vector<uint8_t> out;
  if (!h.is_batch()) {
    inc(payload, &out);
    return Reply::ok(std::move(out));
  }
  auto view = wire::BatchView::parse(payload, h.item_count);
  if (!view.ok()) return Reply::status_then_close(wire::TransportStatus::kBadEnvelope);
  std::vector<uint8_t> item;
  wire::BatchWriter w(&out, h.item_count);
  for (uint32_t i = 0; i < h.item_count; ++i) {
    inc(view->item(i), &item);
    w.add(ByteSpan(item));
  }
  w.finish();
  return Reply::ok(std::move(out));
}

class TestServer {
 public:
  using Handler =
      std::function<Reply(const wire::Header&, ByteSpan payload, const wire::HelloAck& ack)>;
  // Called with each decoded HELLO before the decision; may change the offer.
  using PolicyHook = std::function<void(const wire::Hello&, ServerPolicy*)>;

  TestServer(const std::string& run_dir, const std::string& service, ServerPolicy policy,
             Handler handler = nullptr, PolicyHook hook = nullptr)
      : policy_(policy), handler_(std::move(handler)), hook_(std::move(hook)) {
    if (!handler_)
      handler_ = [](const wire::Header& h, ByteSpan p, const wire::HelloAck&) {
        return increment_reply(h, p);
      };
    ListenerOptions opts;
    auto l = UdsListener::listen(run_dir, service, opts);
    if (!l.ok()) {
      error_ = l.error().message();
      return;
    }
    listener_ = std::move(*l);
    thread_ = std::thread([this] { loop(); });
  }
  ~TestServer() { stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  // Stops the thread, closes every session and removes the socket.
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    conns_.clear();
    listener_ = UdsListener();
  }

  int connections() const { return connections_.load(); }
  int handshakes() const { return handshakes_.load(); }
  int requests() const { return requests_.load(); }
  std::vector<SeenRequest> seen() const {
    std::lock_guard<std::mutex> g(mu_);
    return seen_;
  }
  std::vector<uint32_t> ack_response_ceilings() const {
    std::lock_guard<std::mutex> g(mu_);
    return ack_ceilings_;
  }

 private:
  struct Conn {
    UdsConnection conn;
    bool ready = false;
    uint64_t index = 0;
    wire::HelloAck ack;
  };

  void loop() {
    while (!stop_) {
      std::vector<pollfd> fds;
      fds.push_back({listener_.fd(), POLLIN, 0});
      for (auto& c : conns_)
        fds.push_back({c->conn.fd(), POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents != 0) accept_one();
      std::vector<Conn*> dead;
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents != 0 && !serve(conns_[i - 1].get())) dead.push_back(conns_[i - 1].get());
      }
      for (Conn* d : dead) {
        for (auto it = conns_.begin(); it != conns_.end(); ++it) {
          if (it->get() == d) {
            conns_.erase(it);
            break;
          }
        }
      }
    }
  }

  void accept_one() {
    auto fd = listener_.accept();
    if (!fd.ok()) return;
    auto c = std::make_unique<Conn>();
    c->index = static_cast<uint64_t>(++connections_);
    c->conn = UdsConnection(std::move(*fd));
    conns_.push_back(std::move(c));
  }

  // false = close this connection.
  bool serve(Conn* c) {
    if (!c->ready) return handshake(c);
    for (;;) {
      auto m = c->conn.try_receive();
      if (!m.ok()) return m.code() == Errc::kNotReady;
      ++requests_;
      {
        std::lock_guard<std::mutex> g(mu_);
        seen_.push_back(SeenRequest{
            m->header, std::vector<uint8_t>(m->payload.data, m->payload.data + m->payload.size),
            c->index});
      }
      Reply r = handler_(m->header, m->payload, c->ack);
      if (r.kind == Reply::Kind::kClose) return false;
      if (r.kind == Reply::Kind::kNeverAnswer) continue;
      wire::Header h;
      h.kind = static_cast<uint16_t>(wire::Kind::kResponse);
      h.code = m->header.code;
      h.message_id = m->header.message_id;
      h.transport_status = r.status;
      const bool batch = r.status == 0 && m->header.is_batch();
      h.flags = batch ? wire::kFlagBatch : 0;
      h.item_count = batch ? m->header.item_count : 1;
      if (!c->conn.send(h, ByteSpan(r.payload)).ok()) return false;
      if (r.kind == Reply::Kind::kRespondThenClose) return false;
    }
  }

  bool handshake(Conn* c) {
    uint8_t buf[128];
    auto packet = read_hello(c->conn.fd(), buf, sizeof buf);
    if (!packet.ok()) return packet.code() == Errc::kNotReady;
    ServerPolicy p = policy_;
    p.packet_size = auto_packet_size(c->conn.fd());
    if (hook_ && packet->size >= wire::kHelloPacketLen) {
      auto hello = wire::decode_hello(packet->subspan(wire::kHeaderLen));
      if (hello.ok()) hook_(*hello, &p);
    }
    ServerDecision d = server_handshake(p, *packet, ++session_id_);
    if (d.outcome != ServerDecision::Outcome::kCloseSilent) (void)send_ack(c->conn.fd(), d);
    if (d.outcome != ServerDecision::Outcome::kAccept) return false;
    ++handshakes_;
    {
      std::lock_guard<std::mutex> g(mu_);
      ack_ceilings_.push_back(d.ack.agreed_max_response_payload_bytes);
    }
    c->ack = d.ack;
    c->conn.configure(d.ack.agreed_packet_size, server_inbound_limits(d.ack),
                      server_outbound_limits(d.ack));
    c->ready = true;
    return true;
  }

  ServerPolicy policy_;
  Handler handler_;
  PolicyHook hook_;
  UdsListener listener_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::string error_;
  uint64_t session_id_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<int> handshakes_{0};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::vector<SeenRequest> seen_;
  std::vector<uint32_t> ack_ceilings_;
};

// The ServerPolicy of a plain increment server with this token.
inline ServerPolicy basic_policy(uint64_t token = 0) {
  ServerPolicy p;
  p.auth_token = token;
  p.max_request_payload_bytes = 65536;
  p.max_response_payload_bytes = 65536;
  return p;
}

// Answers every request OK with 9 bytes that are no cgroups snapshot in
// either layout: for the malformed-snapshot tests of the typed clients.
inline TestServer::Handler undecodable_snapshot_handler() {
  return [](const wire::Header&, ByteSpan, const wire::HelloAck&) {
    return Reply::ok(std::vector<uint8_t>(9, 0xFF));
  };
}

// A server that grows only as far as the client asks: it offers the
// client's own response hint as its ceiling (hook) and answers
// LIMIT_EXCEEDED, closing, until that ceiling reaches `need`; then `bytes`
// bytes of `fill` (handler). For the response-growth tests of both clients.
inline TestServer::PolicyHook ceiling_from_client_hint() {
  return [](const wire::Hello& h, ServerPolicy* p) {
    p->max_response_payload_bytes = h.max_response_payload_bytes;
  };
}
inline TestServer::Handler limit_exceeded_until_ceiling(uint32_t need, size_t bytes, uint8_t fill) {
  return [need, bytes, fill](const wire::Header&, ByteSpan, const wire::HelloAck& ack) {
    if (ack.agreed_max_response_payload_bytes < need) {
      return Reply::status_then_close(wire::TransportStatus::kLimitExceeded);
    }
    return Reply::ok(std::vector<uint8_t>(bytes, fill));
  };
}

}  // namespace netipc::test
