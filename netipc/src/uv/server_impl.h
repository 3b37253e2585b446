// Internals of netipc::uv::Server (not public).
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "netipc/dispatch.h"
#include "netipc/handshake.h"
#include "netipc/log.h"
#include "netipc/uds.h"
#include "netipc/uds_connection.h"
#include "netipc/unique_fd.h"
#include "netipc/uv/server.h"
#include "transport/shm/region.h"

namespace netipc::uv::detail {

class ServerImpl;

// How long a connection may wait for its HELLO before a newer one can push
// it out of a full handshake budget.
inline constexpr int64_t kHandshakeGraceNs = 250 * 1000000LL;

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
  Session* reap_next = nullptr;  // the reap list (guarded by ServerImpl::reap_mu_)
  // The handshake queue, oldest first (while state == kHandshake).
  Session* hs_prev = nullptr;
  Session* hs_next = nullptr;
  bool in_hs_queue = false;

  // Shared-memory sessions: the region (unlinked when the session is
  // destroyed) and the waiter thread that serves it. While the thread runs
  // it owns the session: closing only asks it to stop, and the session is
  // closed when the thread hands it back (on_reap).
  struct Shm {
    ShmRegion region;
    std::atomic<bool> stop{false};
    void* thread = nullptr;  // ThreadFactory handle; null once joined
  };
  std::unique_ptr<Shm> shm;
};

class ServerImpl final : public Server {
 public:
  ServerImpl(uv_loop_t* loop, ServerConfig config, Handler handler);
  ~ServerImpl() override;
  Status start();
  // After a failed start(): closes the handles start() registered and
  // deletes the server from the last close callback (at once if none).
  static void abandon(std::unique_ptr<ServerImpl> impl);

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

  // Runs fn; an exception is contained here: counted, logged (rate
  // limited), and the session concerned (if any) closed. Every libuv
  // callback of the server goes through it: nothing may unwind into libuv.
  template <typename Fn>
  void guarded(Session* s, const char* where, Fn&& fn) noexcept {
    try {
      fn();
    } catch (const std::exception& e) {
      internal_failure(s, where, e.what());
    } catch (...) {
      internal_failure(s, where, "unknown exception");
    }
  }
  void internal_failure(Session* s, const char* where, const char* what) noexcept;

 private:
  static void on_listener_event(uv_poll_t* handle, int status, int events);
  static void on_sweep(uv_timer_t* timer);
  static void on_stop_deadline(uv_timer_t* timer);
  static void on_reap(uv_async_t* async);

  // Creates the session's region before the ACK that selects SHM; when it
  // cannot, remakes the decision without the SHM profiles (socket fallback).
  void prepare_shm(Session* s, ServerDecision* d, ServerPolicy* policy);
  // Starts the session's waiter thread (before the ACK, so a failure can
  // still fall back to the socket); false when it could not be started.
  bool start_shm_thread(Session* s, const wire::HelloAck& ack);
  void shm_thread_body(Session* s);
  // Remakes an accepted decision without the SHM profiles (socket fallback).
  void decide_without_shm(ServerDecision* d, ServerPolicy* policy);
  // Stops polling the listener until the next sweep.
  void pause_accepting(bool out_of_resources);
  // Sheds the oldest handshaking connections past their grace period until
  // the budget has room for a pending connection; false when nothing is
  // pending, or (and the listener rests) when no one is past its grace.
  bool make_room_for_a_handshake();
  void enqueue_handshake(Session* s);
  void dequeue_handshake(Session* s);

  void accept_pending();
  // Reads the HELLO, decides (session limit and SHM region included),
  // replies and, when accepted, starts serving the session.
  void do_handshake(Session* s);
  ServerPolicy handshake_policy(Session* s);
  // Turns an accept into a kLimitExceeded rejection when the server already
  // serves max_sessions sessions.
  void limit_sessions(ServerDecision* d);
  // Sends the ACK; false (and the session closed) unless it was an accepting
  // ACK sent in full.
  bool send_handshake_reply(Session* s, const ServerDecision& d);
  // Applies the agreed limits and moves the session from handshaking to serving.
  void start_serving(Session* s, const wire::HelloAck& ack);
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
  Session* reap_head_ = nullptr;  // guarded by reap_mu_; linked, so no allocation
  UniqueFd run_dir_fd_;
  bool listener_open_ = false;
  bool accept_paused_ = false;  // listener poll stopped after EMFILE & co.
  bool stopping_ = false;
  bool stop_timer_closing_ = false;
  bool reap_closing_ = false;
  uint32_t serving_ = 0;  // sessions past the handshake
  int open_handles_ = 0;  // listener poll + timers (sessions counted apart)
  bool abandoned_ = false;  // start() failed: delete when the handles are closed
  std::function<void()> stop_done_;
  std::unordered_set<Session*> sessions_;
  Session* hs_head_ = nullptr;  // oldest handshaking session
  Session* hs_tail_ = nullptr;
  uint32_t handshaking_ = 0;
  uint64_t next_session_id_ = 1;

  std::atomic<uint32_t> learned_response_{0};
  std::atomic<uint64_t> st_active_{0};  // sessions_.size(), readable from any thread
  std::atomic<uint64_t> st_accepted_{0}, st_rejected_{0}, st_dropped_{0}, st_requests_{0},
      st_shm_{0}, st_accept_pauses_{0}, st_internal_{0}, st_shed_{0};
  RateLimiter peer_log_limiter_;
};

}  // namespace netipc::uv::detail
