// The project's servers as the interop tests drive them: a Level-1 server
// assembled from the project's pieces and the Level-2 uv::ServerThread,
// behind one interface, plus the fixture that runs the spec client against
// either (interop_spec_client_to_server_test.cc, interop_forgery_test.cc,
// interop_shm_test.cc).
#pragma once

#include <poll.h>

#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "base/abort.h"
#include "interop_test_util.h"
#include "netipc/codec/cgroups.h"
#include "netipc/dispatch.h"
#include "netipc/services.h"
#include "netipc/uds.h"
#include "netipc/uds_connection.h"
#include "netipc/uv/server.h"
#include "netipc/uv/server_thread.h"

namespace netipc::interop {

// Two project servers: Level1Server, assembled here from UdsListener +
// server_handshake_blocking + UdsConnection (INCREMENT and CGROUPS_SNAPSHOT
// on one endpoint), and the Level-2 netipc::uv::ServerThread with the
// project's handlers (one method per endpoint). Most tests run on both.

enum class ServerKind { kLevel1, kUv };
inline std::string kind_name(ServerKind k) {
  return k == ServerKind::kLevel1 ? "Level1" : "Uv";
}
inline void PrintTo(ServerKind k, std::ostream* os) {
  *os << kind_name(k);
}

class ProjectEndpoint {
 public:
  virtual ~ProjectEndpoint() = default;
  virtual const std::string& problem() const = 0;
  // Stops the server (joining its thread, so the count is final and read
  // without racing the server), then returns how many sessions it ended
  // because of what the client sent.
  virtual uint64_t stop_and_count_dropped() = 0;
};

inline std::vector<CgroupItem> project_items(const sp::Snapshot& s) {
  std::vector<CgroupItem> items;
  for (const auto& e : s.items)
    items.push_back({e.hash, e.options, e.enabled, e.name, e.path, 0});
  return items;
}

// A server assembled from the project's Level-1 pieces: UdsListener,
// server_handshake_blocking and UdsConnection. Serves INCREMENT (single and
// batch, v + 1) and CGROUPS_SNAPSHOT (layout 1) from a thread, one session
// at a time. Session ids count from 1, one per accepted connection.
class Level1Server : public ProjectEndpoint {
 public:
  Level1Server(const std::string& run_dir, const std::string& service, const ServerPolicy& policy,
               const sp::Snapshot& snapshot)
      : policy_(policy), snapshot_(snapshot) {
    auto l = UdsListener::listen(run_dir, service);
    auto a = AbortHandle::create();
    if (!l.ok() || !a.ok()) {
      problem_ = l.ok() ? a.error().message() : l.error().message();
      return;
    }
    listener_ = std::move(*l);
    stop_ = std::move(*a);
    thread_ = std::thread([this] { run(); });
  }
  ~Level1Server() override { stop(); }
  void stop() {
    stop_.abort();
    if (thread_.joinable()) thread_.join();
  }
  const std::string& problem() const override { return problem_; }
  uint64_t stop_and_count_dropped() override {
    stop();
    return receive_errors().size();
  }
  // Handshake outcome per accepted connection.
  std::vector<Errc> handshakes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return handshakes_;
  }
  // Session-ending receive errors other than the client leaving.
  std::vector<Errc> receive_errors() const {
    std::lock_guard<std::mutex> lock(mu_);
    return receive_errors_;
  }

 private:
  void run() {
    uint64_t next_session = 1;
    for (;;) {
      pollfd fds[2] = {{listener_.fd(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) return;
      auto fd = listener_.accept();
      if (!fd.ok()) continue;
      auto s = server_handshake_blocking(std::move(*fd), policy_, next_session++, in_ms(5000));
      {
        std::lock_guard<std::mutex> lock(mu_);
        handshakes_.push_back(s.code());
      }
      if (s.ok()) serve(s->conn);
    }
  }

  void serve(UdsConnection& conn) {
    std::vector<uint8_t> out;
    for (;;) {
      auto m = conn.receive(0, stop_.fd());
      if (!m.ok()) {
        if (m.code() == Errc::kLimitExceeded) (void)reply_status(conn, conn.last_header(), 5);
        if (m.code() != Errc::kPeerGone && m.code() != Errc::kAborted) {
          std::lock_guard<std::mutex> lock(mu_);
          receive_errors_.push_back(m.code());
        }
        return;  // the session ends (docs/wire.md §7.2, §7.6)
      }
      if (m->header.kind != static_cast<uint16_t>(wire::Kind::kRequest)) return;  // docs/wire.md §6.1
      wire::Header h;
      h.kind = static_cast<uint16_t>(wire::Kind::kResponse);
      h.code = m->header.code;
      h.message_id = m->header.message_id;
      const uint16_t status = handle(*m, &h, &out);
      if (status != 0) {
        if (!reply_status(conn, m->header, status).ok()) return;
        continue;
      }
      Status sent = conn.send(h, ByteSpan(out), 0, stop_.fd());
      if (sent.code() == Errc::kLimitExceeded) sent = reply_status(conn, m->header, 5);
      if (!sent.ok()) return;
    }
  }

  // Error responses: empty payload, item_count 1, flags 0 (docs/wire.md §6.2).
  Status reply_status(UdsConnection& conn, const wire::Header& req, uint16_t status) {
    wire::Header h;
    h.kind = static_cast<uint16_t>(wire::Kind::kResponse);
    h.code = req.code;
    h.message_id = req.message_id;
    h.transport_status = status;
    return conn.send(h, ByteSpan(), 0, stop_.fd());
  }

  uint16_t handle(const Message& m, wire::Header* h, std::vector<uint8_t>* out) {
    if (m.header.code == 1 && m.header.is_batch()) {
      auto view = wire::BatchView::parse(m.payload, m.header.item_count);
      if (!view.ok()) return 1;
      wire::BatchWriter w(out, view->size());
      for (uint32_t i = 0; i < view->size(); ++i) {
        if (view->item(i).size < 8) return 1;
        store_u64(w.add_uninitialized(8), load_u64(view->item(i).data) + 1);
      }
      w.finish();
      h->flags = wire::kFlagBatch;
      h->item_count = m.header.item_count;
      return 0;
    }
    if (m.header.code == 1) {
      if (m.payload.size < 8) return 1;
      out->resize(8);
      store_u64(out->data(), load_u64(m.payload.data) + 1);
      return 0;
    }
    if (m.header.code == 2) {
      if (!codec::decode_cgroups_request(m.payload, codec::kCgroupsLayoutsUpstream).ok()) return 1;
      Status st = codec::encode_cgroups_snapshot_v1(
          project_items(snapshot_), snapshot_.systemd_enabled, snapshot_.generation, out);
      return st.ok() ? 0 : 5;
    }
    return 4;  // UNSUPPORTED
  }

  ServerPolicy policy_;
  sp::Snapshot snapshot_;
  std::string problem_;
  UdsListener listener_;
  AbortHandle stop_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Errc> handshakes_;
  std::vector<Errc> receive_errors_;
};

inline Handler snapshot_handler(const sp::Snapshot& s) {
  auto items = std::make_shared<const std::vector<CgroupItem>>(project_items(s));
  return [items, systemd = s.systemd_enabled, gen = s.generation](ByteSpan req,
                                                                  ResponseWriter& out) -> Status {
    auto layout = codec::decode_cgroups_request(req, codec::kCgroupsLayoutsUpstream);
    if (!layout.ok()) return layout.error();
    return codec::encode_cgroups_snapshot_v1(*items, systemd, gen, &out.bytes());
  };
}

class UvEndpoint : public ProjectEndpoint {
 public:
  UvEndpoint(const std::string& run_dir, const std::string& service, const ServerPolicy& policy,
             uint16_t method, const sp::Snapshot& snapshot) {
    uv::ServerConfig c;
    c.run_dir = run_dir;
    c.service = service;
    c.method = method;
    c.supported_profiles = policy.supported_profiles;
    c.preferred_profiles = policy.preferred_profiles;
    c.max_request_payload_bytes = policy.max_request_payload_bytes;
    c.max_response_payload_bytes = policy.max_response_payload_bytes;
    c.auth_token = policy.auth_token;
    c.packet_size = policy.packet_size;
    auto t =
        uv::ServerThread::start(c, method == sp::kMethodCgroupsSnapshot ? snapshot_handler(snapshot)
                                                                        : make_increment_handler());
    if (t.ok()) {
      thread_ = std::move(*t);
    } else {
      problem_ = t.error().message();
    }
  }
  const std::string& problem() const override { return problem_; }
  uint64_t stop_and_count_dropped() override {
    thread_->stop();
    return thread_->server().stats().sessions_dropped;
  }
  // Documented as safe from any thread (uv/server_thread.h).
  uv::ServerStats stats() const { return thread_->server().stats(); }

 private:
  std::string problem_;
  std::unique_ptr<uv::ServerThread> thread_;
};

inline std::unique_ptr<ProjectEndpoint> start_project_server(
    ServerKind kind, const std::string& run_dir, const std::string& service,
    const ServerPolicy& policy, uint16_t method, const sp::Snapshot& snapshot) {
  if (kind == ServerKind::kLevel1) {
    return std::make_unique<Level1Server>(run_dir, service, policy, snapshot);
  }
  return std::make_unique<UvEndpoint>(run_dir, service, policy, method, snapshot);
}

inline std::unique_ptr<sp::SpecClient> spec_connect(const TempDir& dir,
                                                    const std::string& service) {
  std::string problem;
  auto c = sp::SpecClient::connect(dir.path(), service, &problem);
  EXPECT_NE(c, nullptr) << problem;
  return c;
}

inline ServerPolicy project_policy() {
  ServerPolicy p;
  p.supported_profiles = wire::kProfileUds;
  p.max_request_payload_bytes = 300000;
  p.max_response_payload_bytes = 300000;
  p.packet_size = 0;  // auto: SO_SNDBUF - 32 of the accepted socket
  p.auth_token = kToken;
  return p;
}

// Base of the fixtures that run a project server; kind() picks which.
class ProjectServerFixture : public ::testing::Test {
 protected:
  virtual ServerKind kind() const = 0;
  void start(const ServerPolicy& policy, uint16_t method = sp::kMethodIncrement,
             const sp::Snapshot& snapshot = sample_snapshot()) {
    server_ = start_project_server(kind(), dir_.path(), service_, policy, method, snapshot);
    ASSERT_EQ(server_->problem(), "");
  }
  std::unique_ptr<sp::SpecClient> client() { return spec_connect(dir_, service_); }
  sp::Hello hello(const sp::SpecClient& c, uint32_t max_request = 1024, uint32_t items = 1) {
    sp::Hello h = c.default_hello();  // packet size = raw SO_SNDBUF, as upstream
    h.auth_token = kToken;
    h.max_request_payload = max_request;
    h.max_request_items = items;
    h.max_response_items = items;
    h.max_response_payload = 300000;
    return h;
  }

  TempDir dir_;
  std::string service_ = test::unique_service("interop");
  std::unique_ptr<ProjectEndpoint> server_;
};

class ProjectServerTest : public ProjectServerFixture,
                          public ::testing::WithParamInterface<ServerKind> {
 protected:
  ServerKind kind() const override { return GetParam(); }
};

}  // namespace netipc::interop
