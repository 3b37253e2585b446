// Lifecycle of netipc::uv::Server: create, the handles, stop, closing
// sessions and the periodic sweep. Accept and handshake are in
// server_accept.cc, request serving in server_session.cc.
#include "netipc/uv/server.h"

#include <fcntl.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>

#include "base/bits.h"
#include "server/shm_service.h"
#include "server_impl.h"
#include "sys_linux.h"
#include "transport/shm/cleanup.h"

namespace netipc::uv {

ServerConfig resolve_defaults(ServerConfig c) {
  if (c.supported_profiles == 0) c.supported_profiles = wire::kProfileUds;
  if (c.max_request_payload_bytes == 0) c.max_request_payload_bytes = wire::kMaxPayloadDefault;
  if (c.max_response_payload_bytes == 0) {
    c.max_response_payload_bytes = wire::kServiceResponseDefault;
  }
  if (c.response_growth_ceiling == 0) c.response_growth_ceiling = 1u << 30;
  if (c.response_growth_ceiling < c.max_response_payload_bytes) {
    c.response_growth_ceiling = c.max_response_payload_bytes;
  }
  if (c.max_sessions == 0) c.max_sessions = 1024;
  if (c.handshake_timeout_ms == 0) c.handshake_timeout_ms = 5000;
  if (c.max_pending_handshakes == 0) c.max_pending_handshakes = 128;
  if (!c.shm_threads.start || !c.shm_threads.join) c.shm_threads = std_thread_factory();
  return c;
}

Result<std::unique_ptr<Server>> Server::create(uv_loop_t* loop, ServerConfig config,
                                               Handler handler) {
  if (loop == nullptr || !handler || config.method == 0) {
    return make_error(Errc::kInvalidArgument, "server: loop, method and handler are required");
  }
  std::unique_ptr<detail::ServerImpl> impl;
  try {
    impl = std::make_unique<detail::ServerImpl>(loop, resolve_defaults(std::move(config)),
                                                std::move(handler));
  } catch (const std::bad_alloc&) {
    return make_error(Errc::kNoMemory, "server: allocation");
  }
  Status started = impl->start();
  if (!started.ok()) {
    detail::ServerImpl::abandon(std::move(impl));
    return started.error();
  }
  return std::unique_ptr<Server>(std::move(impl));
}

namespace detail {

namespace {
constexpr uint64_t kSweepPeriodMs = 250;

Status uv_failure(const char* what, int rc) {
  return make_error(rc == UV_ENOMEM || rc == UV_EMFILE || rc == UV_ENFILE ? Errc::kNoMemory
                                                                          : Errc::kSystem,
                    what, -rc);
}
}  // namespace

ServerImpl::ServerImpl(uv_loop_t* loop, ServerConfig config, Handler handler)
    : loop_(loop), config_(std::move(config)), handler_(std::move(handler)) {
  learned_response_.store(config_.max_response_payload_bytes, std::memory_order_relaxed);
}

ServerImpl::~ServerImpl() {
  // stop() must have completed: every handle is closed and no callback can
  // reach this object any more.
  assert(open_handles_ == 0 && sessions_.empty());
}

// Handles are registered in this order; open_handles_ counts how many are,
// so a failed start() knows which ones to close: sweep timer, stop timer,
// reap async, listener poll.
Status ServerImpl::start() {
  // Only POSIX profiles; the socket is always offered (it is the baseline).
  config_.supported_profiles = (config_.supported_profiles & wire::kProfilesPosix) |
                               wire::kProfileUds;
  if ((config_.supported_profiles & wire::kProfileShmMask) != 0) {
    run_dir_fd_.reset(::open(config_.run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!run_dir_fd_) return make_error(Errc::kUnsafeRunDir, "open run dir", errno);
    // Regions left by dead owners go before we listen (docs/shm.md B.12).
    shm::CleanupStats cs;
    Status cleaned = shm::cleanup_stale_regions(run_dir_fd_.get(), config_.service, &cs);
    if (!cleaned.ok()) return cleaned;
    if (cs.reclaimed > 0) {
      NETIPC_LOG(kInfo, "%s: removed %u stale shared-memory region(s)", config_.service.c_str(),
                 cs.reclaimed);
    }
  }
  // Listening first: its failures (ADDR_IN_USE, an unsafe run dir) are the
  // common ones, and before any handle is registered they leave the loop
  // untouched.
  auto l = UdsListener::listen(config_.run_dir, config_.service, config_.listener);
  if (!l.ok()) return l.error();
  listener_ = std::move(*l);
  sweep_timer_.data = this;
  stop_timer_.data = this;
  reap_async_.data = this;
  listener_poll_.data = this;
  int rc = uv_timer_init(loop_, &sweep_timer_);
  if (rc != 0) return uv_failure("uv_timer_init", rc);
  ++open_handles_;
  rc = uv_timer_init(loop_, &stop_timer_);
  if (rc != 0) return uv_failure("uv_timer_init", rc);
  ++open_handles_;
  // Can fail: the loop's first async handle opens an eventfd.
  rc = uv_async_init(loop_, &reap_async_, &ServerImpl::on_reap);
  if (rc != 0) return uv_failure("uv_async_init", rc);
  reap_async_.data = this;
  ++open_handles_;
  rc = uv_poll_init(loop_, &listener_poll_, listener_.fd());
  if (rc != 0) return uv_failure("uv_poll_init (listener)", rc);
  listener_poll_.data = this;
  ++open_handles_;
  listener_open_ = true;
  rc = uv_poll_start(&listener_poll_, UV_READABLE, &ServerImpl::on_listener_event);
  if (rc != 0) return uv_failure("uv_poll_start (listener)", rc);
  rc = uv_timer_start(&sweep_timer_, &ServerImpl::on_sweep, kSweepPeriodMs, kSweepPeriodMs);
  if (rc != 0) return uv_failure("uv_timer_start", rc);
  return ok_status();
}

void ServerImpl::abandon(std::unique_ptr<ServerImpl> impl) {
  ServerImpl* self = impl.release();
  const int n = self->open_handles_;
  // The socket goes now unless its poll handle is registered: libuv must
  // stop polling an fd before it is closed (then the delete closes it).
  if (n < 4) self->listener_ = UdsListener();
  if (n == 0) {
    delete self;
    return;
  }
  self->abandoned_ = true;
  auto closed = [](uv_handle_t* h) {
    auto* me = static_cast<ServerImpl*>(h->data);
    if (--me->open_handles_ == 0) delete me;
  };
  uv_handle_t* handles[] = {reinterpret_cast<uv_handle_t*>(&self->sweep_timer_),
                            reinterpret_cast<uv_handle_t*>(&self->stop_timer_),
                            reinterpret_cast<uv_handle_t*>(&self->reap_async_),
                            reinterpret_cast<uv_handle_t*>(&self->listener_poll_)};
  for (int i = 0; i < n; ++i) uv_close(handles[i], closed);
}

ServerStats ServerImpl::stats() const {
  ServerStats s;
  s.sessions_accepted = st_accepted_.load(std::memory_order_relaxed);
  s.sessions_rejected = st_rejected_.load(std::memory_order_relaxed);
  s.sessions_dropped = st_dropped_.load(std::memory_order_relaxed);
  s.requests = st_requests_.load(std::memory_order_relaxed);
  s.shm_sessions = st_shm_.load(std::memory_order_relaxed);
  s.sessions_active = st_active_.load(std::memory_order_relaxed);
  s.accept_pauses = st_accept_pauses_.load(std::memory_order_relaxed);
  s.internal_failures = st_internal_.load(std::memory_order_relaxed);
  s.handshakes_shed = st_shed_.load(std::memory_order_relaxed);
  return s;
}

void ServerImpl::announce_response_size(uint64_t bytes) {
  const uint64_t with_headroom = bytes + bytes / 8;
  const uint32_t want = with_headroom >= config_.response_growth_ceiling
                            ? config_.response_growth_ceiling
                            : netipc::detail::next_pow2_u32(static_cast<uint32_t>(with_headroom));
  grow_response(want);
}

void ServerImpl::grow_response(uint32_t to) {
  if (to > config_.response_growth_ceiling) to = config_.response_growth_ceiling;
  uint32_t cur = learned_response_.load(std::memory_order_relaxed);
  while (to > cur && !learned_response_.compare_exchange_weak(cur, to, std::memory_order_relaxed)) {
  }
}

bool ServerImpl::peer_message_allowed() {
  uint64_t suppressed = 0;
  bool ok = peer_log_limiter_.allow(&suppressed);
  if (ok && suppressed > 0) {
    NETIPC_LOG(kWarning, "%s: %llu similar messages suppressed", config_.service.c_str(),
               static_cast<unsigned long long>(suppressed));
  }
  return ok;
}

void ServerImpl::internal_failure(Session* s, const char* where, const char* what) noexcept {
  st_internal_.fetch_add(1, std::memory_order_relaxed);
  try {
    if (peer_message_allowed()) {
      NETIPC_LOG(kError, "%s: %s failed (%s)%s", config_.service.c_str(), where, what,
                 s != nullptr ? "; the session is closed" : "");
    }
  } catch (...) {  // NOLINT(bugprone-empty-catch): a log sink that throws loses that line
  }
  if (s != nullptr) close_session(s, false);
}

void ServerImpl::on_sweep(uv_timer_t* timer) {
  auto* self = static_cast<ServerImpl*>(timer->data);
  self->guarded(nullptr, "sweep", [self] {
    if (self->accept_paused_ && !self->stopping_ && self->listener_open_) {
      // Descriptors or memory ran out at the last accept: try again.
      self->accept_paused_ = false;
      const int rc = uv_poll_start(&self->listener_poll_, UV_READABLE,
                                   &ServerImpl::on_listener_event);
      if (rc != 0) self->accept_paused_ = true;
    }
    const int64_t now = netipc::detail::monotonic_ns();
    // close_session() leaves the set alone (the close callback erases), so
    // closing while iterating is safe and needs no allocation.
    for (Session* s : self->sessions_) {
      if (s->state == Session::State::kHandshake && now >= s->handshake_deadline_ns) {
        self->close_session(s, true);
      }
    }
  });
}

void ServerImpl::on_reap(uv_async_t* async) {
  auto* self = static_cast<ServerImpl*>(async->data);
  Session* done = nullptr;
  {
    std::lock_guard<std::mutex> lock(self->reap_mu_);
    done = self->reap_head_;
    self->reap_head_ = nullptr;
  }
  while (done != nullptr) {
    Session* s = done;
    done = s->reap_next;
    self->guarded(nullptr, "joining a shared-memory thread", [self, s] {
      void* t = s->shm->thread;
      s->shm->thread = nullptr;
      self->config_.shm_threads.join(t);
    });
    self->close_session(s, false);
  }
}

void ServerImpl::set_events(Session* s, int events) {
  if (s->events == events) return;
  s->events = events;
  const int rc = uv_poll_start(&s->poll, events, [](uv_poll_t* h, int status, int ev) {
    auto* sess = static_cast<Session*>(h->data);
    ServerImpl* server = sess->server;
    server->guarded(sess, "serving a session",
                    [server, sess, status, ev] { server->on_session_event(sess, status, ev); });
  });
  if (rc != 0) internal_failure(s, "uv_poll_start", uv_strerror(rc));
}

void ServerImpl::close_session(Session* s, bool dropped) {
  if (s->state == Session::State::kClosing) return;
  if (s->shm && s->shm->thread != nullptr) {
    // The waiter thread owns the session until it hands it back; the loop
    // no longer reads the socket meanwhile.
    s->shm->stop.store(true, std::memory_order_release);
    set_events(s, 0);
    return;
  }
  if (s->state == Session::State::kServing) --serving_;
  dequeue_handshake(s);
  s->state = Session::State::kClosing;
  if (dropped) st_dropped_.fetch_add(1, std::memory_order_relaxed);
  // The fd is closed only in the close callback, after libuv stopped polling it.
  uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), [](uv_handle_t* h) {
    auto* sess = static_cast<Session*>(h->data);
    sess->server->on_session_closed(sess);
  });
}

void ServerImpl::on_session_closed(Session* s) {
  sessions_.erase(s);
  st_active_.fetch_sub(1, std::memory_order_relaxed);
  delete s;
  maybe_finish_stop();
}

void ServerImpl::stop(uint32_t deadline_ms, std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  stop_done_ = std::move(done);
  auto closed = [](uv_handle_t* h) {
    auto* self = static_cast<ServerImpl*>(h->data);
    --self->open_handles_;
    self->maybe_finish_stop();
  };
  // Stop accepting: the poll first, then the fd and the socket node.
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_poll_), [](uv_handle_t* h) {
    auto* self = static_cast<ServerImpl*>(h->data);
    self->listener_ = UdsListener();
    self->listener_open_ = false;
    --self->open_handles_;
    self->maybe_finish_stop();
  });
  uv_close(reinterpret_cast<uv_handle_t*>(&sweep_timer_), closed);
  // Sessions that are not in the middle of sending a response go now;
  // shared-memory waiter threads see their stop flag within one wait slice
  // and hand their session back through reap_async_.
  size_t busy = 0;
  for (Session* s : sessions_) {
    if (s->shm && s->shm->thread != nullptr) {
      s->shm->stop.store(true, std::memory_order_release);
      ++busy;
    } else if (s->conn.send_pending()) {
      ++busy;
    } else {
      close_session(s, false);  // the set is changed only by the close callback
    }
  }
  if (busy > 0) {
    uv_timer_start(&stop_timer_, &ServerImpl::on_stop_deadline, deadline_ms, 0);
  } else {
    close_stop_timer();
  }
}

void ServerImpl::on_stop_deadline(uv_timer_t* timer) {
  auto* self = static_cast<ServerImpl*>(timer->data);
  // A waiter thread still running is reaped when it notices its flag
  // (close_session() only asks it to stop).
  for (Session* s : self->sessions_) self->close_session(s, false);
  self->close_stop_timer();
}

void ServerImpl::close_stop_timer() {
  if (stop_timer_closing_) return;
  stop_timer_closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&stop_timer_), [](uv_handle_t* h) {
    auto* me = static_cast<ServerImpl*>(h->data);
    --me->open_handles_;
    me->maybe_finish_stop();
  });
}

void ServerImpl::maybe_finish_stop() {
  if (!stopping_) return;
  // The last session finished its response before the deadline.
  if (sessions_.empty()) {
    close_stop_timer();
    if (!reap_closing_) {
      reap_closing_ = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&reap_async_), [](uv_handle_t* h) {
        auto* me = static_cast<ServerImpl*>(h->data);
        --me->open_handles_;
        me->maybe_finish_stop();
      });
    }
  }
  if (open_handles_ > 0 || !sessions_.empty() || !stop_done_) return;
  auto done = std::move(stop_done_);
  stop_done_ = nullptr;
  done();
}

}  // namespace detail
}  // namespace netipc::uv
