// Internals of netipc::uv::Server (not public).
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "netipc/dispatch.h"
#include "netipc/handshake.h"
#include "netipc/log.h"
#include "netipc/shm.h"
#include "netipc/uds.h"
#include "netipc/unique_fd.h"
#include "netipc/uds_connection.h"
#include "netipc/uv/server.h"

namespace netipc::uv::detail {

class ServerImpl;

struct Session {
  enum class State : uint8_t { kHandshake, kServing, kClosing };

  Session(ServerImpl* s, uint16_t method, const Handler* handler)
      : server(s), dispatcher(method, handler) {}

  ServerImpl* server;
  uv_poll_t poll{};
  UdsConnection conn;
  State state = State::kHandshake;
  uint64_t id = 0;
  int64_t handshake_deadline_ns = 0;
  wire::HelloAck ack;
  Dispatcher dispatcher;
  SharedBytes keepalive;  // pins a shared response while it is being sent
  bool close_after_send = false;
  int events = 0;

  // Shared-memory sessions: the region (unlinked when the session is
  // destroyed) and the waiter thread that serves it.
  struct Shm {
    ShmRegion region;
    std::atomic<bool> stop{false};
    std::thread thread;
  };
  std::unique_ptr<Shm> shm;
};

class ServerImpl final : public Server {
 public:
  ServerImpl(uv_loop_t* loop, ServerConfig config, Handler handler);
  ~ServerImpl() override;
  Status start();

  void stop(uint32_t deadline_ms, std::function<void()> done) override;
  void announce_response_size(uint64_t bytes) override;
  uint32_t response_ceiling() const override {
    return learned_response_.load(std::memory_order_relaxed);
  }
  ServerStats stats() const override;
  const std::string& socket_path() const override { return listener_.path(); }

  // Session callbacks.
  void on_session_event(Session* s, int status, int events);
  void close_session(Session* s, bool dropped);
  void on_session_closed(Session* s);

 private:
  static void on_listener_event(uv_poll_t* handle, int status, int events);
  static void on_sweep(uv_timer_t* timer);
  static void on_stop_deadline(uv_timer_t* timer);
  static void on_reap(uv_async_t* async);

  // Creates the session's region before the ACK that selects SHM; when it
  // cannot, remakes the decision without the SHM profiles (socket fallback).
  void prepare_shm(Session* s, ServerDecision* d, ServerPolicy* policy);

  void accept_pending();
  void do_handshake(Session* s);
  void serve(Session* s);
  bool send_result(Session* s, const DispatchResult& r);  // false = session closed
  void flush(Session* s);
  void set_events(Session* s, int events);
  void grow_response(uint32_t to);
  void maybe_finish_stop();
  void close_stop_timer();
  bool peer_message_allowed();

  uv_loop_t* loop_;
  ServerConfig config_;
  Handler handler_;
  UdsListener listener_;
  uv_poll_t listener_poll_{};
  uv_timer_t sweep_timer_{};
  uv_timer_t stop_timer_{};
  uv_async_t reap_async_{};  // SHM waiter threads hand finished sessions back
  std::mutex reap_mu_;
  std::vector<Session*> reap_;  // guarded by reap_mu_
  UniqueFd run_dir_fd_;
  bool listener_open_ = false;
  bool stopping_ = false;
  bool stop_timer_closing_ = false;
  bool reap_closing_ = false;
  uint32_t serving_ = 0;  // sessions past the handshake
  int open_handles_ = 0;  // listener poll + timers (sessions counted apart)
  std::function<void()> stop_done_;
  std::unordered_set<Session*> sessions_;
  uint64_t next_session_id_ = 1;

  std::atomic<uint32_t> learned_response_{0};
  std::atomic<uint64_t> st_active_{0};  // sessions_.size(), readable from any thread
  std::atomic<uint64_t> st_accepted_{0}, st_rejected_{0}, st_dropped_{0}, st_requests_{0},
      st_shm_{0};
  RateLimiter peer_log_limiter_;
};

}  // namespace netipc::uv::detail
