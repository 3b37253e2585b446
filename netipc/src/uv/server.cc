// Lifecycle, accept and handshake of netipc::uv::Server. Request serving is
// in server_session.cc.
#include "netipc/uv/server.h"

#include <fcntl.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>

#include "../sys_linux.h"
#include "netipc/handshake.h"
#include "netipc/session.h"
#include "netipc/shm_service.h"
#include "server_impl.h"

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
  return c;
}

Result<std::unique_ptr<Server>> Server::create(uv_loop_t* loop, ServerConfig config,
                                               Handler handler) {
  if (loop == nullptr || !handler || config.method == 0) {
    return make_error(Errc::kInvalidArgument, "server: loop, method and handler are required");
  }
  auto impl = std::make_unique<detail::ServerImpl>(loop, resolve_defaults(std::move(config)),
                                                   std::move(handler));
  NETIPC_RETURN_IF_ERROR(impl->start());
  return std::unique_ptr<Server>(std::move(impl));
}

namespace detail {

namespace {
constexpr uint64_t kSweepPeriodMs = 250;
}

ServerImpl::ServerImpl(uv_loop_t* loop, ServerConfig config, Handler handler)
    : loop_(loop), config_(std::move(config)), handler_(std::move(handler)) {
  learned_response_.store(config_.max_response_payload_bytes, std::memory_order_relaxed);
}

ServerImpl::~ServerImpl() {
  // stop() must have completed: every handle is closed and no callback can
  // reach this object any more.
  assert(open_handles_ == 0 && sessions_.empty());
}

Status ServerImpl::start() {
  // Only POSIX profiles; the socket is always offered (it is the baseline).
  config_.supported_profiles = (config_.supported_profiles & wire::kProfilesPosix) |
                               wire::kProfileUds;
  if ((config_.supported_profiles & wire::kProfileShmMask) != 0) {
    run_dir_fd_.reset(::open(config_.run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!run_dir_fd_) return make_error(Errc::kUnsafeRunDir, "open run dir", errno);
    // Regions left by dead owners go before we listen (transports B.12).
    shm::CleanupStats cs;
    Status cleaned = shm::cleanup_stale_regions(run_dir_fd_.get(), config_.service, &cs);
    if (!cleaned.ok()) return cleaned;
    if (cs.reclaimed > 0) {
      NETIPC_LOG(kInfo, "%s: removed %u stale shared-memory region(s)", config_.service.c_str(),
                 cs.reclaimed);
    }
  }
  auto l = UdsListener::listen(config_.run_dir, config_.service, config_.listener);
  if (!l.ok()) return l.error();
  listener_ = std::move(*l);
  uv_poll_init(loop_, &listener_poll_, listener_.fd());
  listener_poll_.data = this;
  uv_poll_start(&listener_poll_, UV_READABLE, &ServerImpl::on_listener_event);
  listener_open_ = true;
  uv_timer_init(loop_, &sweep_timer_);
  sweep_timer_.data = this;
  uv_timer_start(&sweep_timer_, &ServerImpl::on_sweep, kSweepPeriodMs, kSweepPeriodMs);
  uv_timer_init(loop_, &stop_timer_);
  stop_timer_.data = this;
  uv_async_init(loop_, &reap_async_, &ServerImpl::on_reap);
  reap_async_.data = this;
  open_handles_ = 4;
  return ok_status();
}

ServerStats ServerImpl::stats() const {
  ServerStats s;
  s.sessions_accepted = st_accepted_.load(std::memory_order_relaxed);
  s.sessions_rejected = st_rejected_.load(std::memory_order_relaxed);
  s.sessions_dropped = st_dropped_.load(std::memory_order_relaxed);
  s.requests = st_requests_.load(std::memory_order_relaxed);
  s.shm_sessions = st_shm_.load(std::memory_order_relaxed);
  s.sessions_active = st_active_.load(std::memory_order_relaxed);
  return s;
}

void ServerImpl::announce_response_size(uint64_t bytes) {
  const uint64_t with_headroom = bytes + bytes / 8;
  const uint32_t want = with_headroom >= config_.response_growth_ceiling
                            ? config_.response_growth_ceiling
                            : next_pow2_u32(static_cast<uint32_t>(with_headroom));
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

void ServerImpl::on_listener_event(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<ServerImpl*>(handle->data);
  if (status < 0) {
    NETIPC_LOG(kError, "%s: listener poll failed: %s", self->config_.service.c_str(),
               uv_strerror(status));
    return;
  }
  self->accept_pending();
}

void ServerImpl::accept_pending() {
  // Bounded per wake-up so a connection flood cannot starve other sessions.
  for (int i = 0; i < 64 && !stopping_; ++i) {
    auto fd = listener_.accept();
    if (!fd.ok()) {
      if (fd.code() == Errc::kNotReady) return;
      if (peer_message_allowed()) {
        NETIPC_LOG(kWarning, "%s: accept: %s", config_.service.c_str(),
                   fd.error().message().c_str());
      }
      if (fd.code() == Errc::kNoMemory) return;  // fd exhaustion: try on the next wake-up
      continue;
    }
    // Hard cap on connections held open (sessions plus handshakes): beyond
    // it the connection is closed at once, before it costs anything.
    if (sessions_.size() >= uint64_t{config_.max_sessions} + 64) {
      st_rejected_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    auto* s = new Session(this, config_.method, &handler_);
    s->conn = UdsConnection(std::move(*fd));
    s->handshake_deadline_ns =
        netipc::detail::monotonic_ns() + int64_t{config_.handshake_timeout_ms} * 1000000;
    uv_poll_init(loop_, &s->poll, s->conn.fd());
    s->poll.data = s;
    sessions_.insert(s);
    st_active_.fetch_add(1, std::memory_order_relaxed);
    set_events(s, UV_READABLE | UV_DISCONNECT);
  }
}

void ServerImpl::do_handshake(Session* s) {
  uint8_t buf[128];
  auto packet = read_hello(s->conn.fd(), buf, sizeof buf);
  if (!packet.ok()) {
    if (packet.code() != Errc::kNotReady) close_session(s, true);
    return;
  }
  ServerPolicy policy;
  policy.supported_profiles = config_.supported_profiles;
  policy.preferred_profiles = config_.preferred_profiles;
  policy.max_request_payload_bytes = config_.max_request_payload_bytes;
  policy.max_response_payload_bytes = learned_response_.load(std::memory_order_relaxed);
  policy.packet_size =
      config_.packet_size != 0 ? config_.packet_size : auto_packet_size(s->conn.fd());
  policy.auth_token = config_.auth_token;
  // Session ids are drawn per handshake attempt, so ids of failed ones leave gaps.
  ServerDecision d = server_handshake(policy, *packet, next_session_id_++);
  if (d.outcome == ServerDecision::Outcome::kAccept && serving_ >= config_.max_sessions) {
    // Over the session limit: a clean rejection the client retries later.
    d = ServerDecision{};
    d.outcome = ServerDecision::Outcome::kReject;
    d.status = wire::TransportStatus::kLimitExceeded;
    d.reason = "server at its session limit";
    wire::encode_hello_ack_packet(d.ack, d.status, d.packet);
  }
  if (d.outcome == ServerDecision::Outcome::kAccept &&
      (d.ack.selected_profile & wire::kProfileShmMask) != 0) {
    prepare_shm(s, &d, &policy);
  }
  if (d.outcome == ServerDecision::Outcome::kCloseSilent) {
    if (peer_message_allowed()) {
      NETIPC_LOG(kWarning, "%s: dropped a connection: %s", config_.service.c_str(), d.reason);
    }
    close_session(s, true);
    return;
  }
  Status sent = send_ack(s->conn.fd(), d);
  if (d.outcome == ServerDecision::Outcome::kReject || !sent.ok()) {
    st_rejected_.fetch_add(1, std::memory_order_relaxed);
    if (peer_message_allowed()) {
      NETIPC_LOG(kInfo, "%s: handshake rejected (%s): %s", config_.service.c_str(),
                 wire::transport_status_name(static_cast<uint16_t>(d.status)), d.reason);
    }
    close_session(s, false);
    return;
  }
  s->ack = d.ack;
  s->id = d.ack.session_id;
  s->conn.configure(d.ack.agreed_packet_size, server_inbound_limits(d.ack),
                    server_outbound_limits(d.ack));
  if (!s->shm && d.ack.agreed_max_response_payload_bytes > d.ack.agreed_packet_size) {
    // Responses of several packets (snapshots): keep the copies overlapping.
    allow_packets_in_flight(s->conn.fd(), d.ack.agreed_packet_size, 4);
  }
  s->state = Session::State::kServing;
  ++serving_;
  st_accepted_.fetch_add(1, std::memory_order_relaxed);
  if (s->shm) {
    // The waiter thread owns the traffic now; the loop no longer polls the
    // socket (the thread watches it for hang-up between wait slices).
    st_shm_.fetch_add(1, std::memory_order_relaxed);
    set_events(s, 0);
    Session::Shm* shm = s->shm.get();
    shm->thread = std::thread([this, s, shm] {
      ShmSessionEnd end = serve_shm_session(shm->region, s->conn.fd(), s->ack, config_.method,
                                            handler_, shm->stop,
                                            [this](uint32_t n) { grow_response(n); });
      if (end.dropped && peer_message_allowed()) {
        NETIPC_LOG(kWarning, "%s: shared-memory session %llu dropped: %s",
                   config_.service.c_str(), static_cast<unsigned long long>(s->id),
                   errc_name(end.reason));
      }
      st_requests_.fetch_add(end.requests, std::memory_order_relaxed);
      if (end.dropped) st_dropped_.fetch_add(1, std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(reap_mu_);
        reap_.push_back(s);
      }
      uv_async_send(&reap_async_);
    });
  }
}

void ServerImpl::prepare_shm(Session* s, ServerDecision* d, ServerPolicy* policy) {
  // The region is sized from this session's agreed limits and complete
  // before the ACK that selects it is sent.
  auto region = ShmRegion::create(
      run_dir_fd_.get(), config_.service, d->ack.session_id,
      static_cast<uint32_t>(wire::kHeaderLen) + d->ack.agreed_max_request_payload_bytes,
      static_cast<uint32_t>(wire::kHeaderLen) + d->ack.agreed_max_response_payload_bytes);
  if (region.ok()) {
    s->shm = std::make_unique<Session::Shm>();
    s->shm->region = std::move(*region);
    return;
  }
  if (peer_message_allowed()) {
    NETIPC_LOG(kWarning, "%s: shared memory unavailable for session %llu (%s); using the socket",
               config_.service.c_str(), static_cast<unsigned long long>(d->ack.session_id),
               region.error().message().c_str());
  }
  policy->supported_profiles &= ~wire::kProfileShmMask;
  policy->preferred_profiles &= ~wire::kProfileShmMask;
  // Same session id: the decision is remade without the SHM profiles.
  ServerDecision fallback;
  uint8_t hello[wire::kHelloPacketLen];
  wire::encode_hello_packet(d->hello, hello);
  fallback = server_handshake(*policy, ByteSpan(hello, sizeof hello), d->ack.session_id);
  *d = fallback;
}

void ServerImpl::on_reap(uv_async_t* async) {
  auto* self = static_cast<ServerImpl*>(async->data);
  std::vector<Session*> done;
  {
    std::lock_guard<std::mutex> lock(self->reap_mu_);
    done.swap(self->reap_);
  }
  for (Session* s : done) {
    if (s->shm->thread.joinable()) s->shm->thread.join();
    self->close_session(s, false);
  }
}

void ServerImpl::on_sweep(uv_timer_t* timer) {
  auto* self = static_cast<ServerImpl*>(timer->data);
  const int64_t now = netipc::detail::monotonic_ns();
  std::vector<Session*> expired;
  for (Session* s : self->sessions_) {
    if (s->state == Session::State::kHandshake && now >= s->handshake_deadline_ns) {
      expired.push_back(s);
    }
  }
  for (Session* s : expired) self->close_session(s, true);
}

void ServerImpl::set_events(Session* s, int events) {
  if (s->events == events) return;
  s->events = events;
  uv_poll_start(&s->poll, events, [](uv_poll_t* h, int status, int ev) {
    auto* sess = static_cast<Session*>(h->data);
    sess->server->on_session_event(sess, status, ev);
  });
}

void ServerImpl::close_session(Session* s, bool dropped) {
  if (s->state == Session::State::kClosing) return;
  if (s->state == Session::State::kServing) --serving_;
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
    --self->open_handles_;
    self->maybe_finish_stop();
  });
  uv_close(reinterpret_cast<uv_handle_t*>(&sweep_timer_), closed);
  // Sessions that are not in the middle of sending a response go now;
  // shared-memory waiter threads see their stop flag within one wait slice
  // and hand their session back through reap_async_.
  std::vector<Session*> idle;
  size_t busy = 0;
  for (Session* s : sessions_) {
    if (s->shm && s->shm->thread.joinable()) {
      s->shm->stop.store(true, std::memory_order_release);
      ++busy;
    } else if (!s->conn.send_pending()) {
      idle.push_back(s);
    } else {
      ++busy;
    }
  }
  for (Session* s : idle) close_session(s, false);
  if (busy > 0) {
    uv_timer_start(&stop_timer_, &ServerImpl::on_stop_deadline, deadline_ms, 0);
  } else {
    close_stop_timer();
  }
}

void ServerImpl::on_stop_deadline(uv_timer_t* timer) {
  auto* self = static_cast<ServerImpl*>(timer->data);
  std::vector<Session*> all;
  for (Session* s : self->sessions_) {
    // A waiter thread still running is reaped when it notices its flag.
    if (!(s->shm && s->shm->thread.joinable())) all.push_back(s);
  }
  for (Session* s : all) self->close_session(s, false);
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
