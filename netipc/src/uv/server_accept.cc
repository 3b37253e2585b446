// Accept and handshake of netipc::uv::Server, and the start of its
// shared-memory sessions (region and waiter thread). Lifecycle is in
// server.cc, request serving in server_session.cc.
#include <poll.h>

#include <cstdio>
#include <memory>

#include "netipc/handshake.h"
#include "netipc/session.h"
#include "server/shm_service.h"
#include "server_impl.h"
#include "sys_linux.h"

namespace netipc::uv::detail {

void ServerImpl::on_listener_event(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<ServerImpl*>(handle->data);
  if (status < 0) {
    NETIPC_LOG(kError, "%s: listener poll failed: %s", self->config_.service.c_str(),
               uv_strerror(status));
    return;
  }
  self->guarded(nullptr, "accepting a connection", [self] { self->accept_pending(); });
}

void ServerImpl::pause_accepting(bool out_of_resources) {
  // The listener is level-triggered: with the connection still pending,
  // polling it again would wake the loop at once, forever (100% CPU). It
  // rests until the next sweep; the connections wait in the backlog.
  if (accept_paused_) return;
  accept_paused_ = true;
  if (out_of_resources) st_accept_pauses_.fetch_add(1, std::memory_order_relaxed);
  uv_poll_stop(&listener_poll_);
}

bool ServerImpl::make_room_for_a_handshake() {
  // Early drop (sshd's MaxStartups idea): the oldest connection that has
  // not said HELLO goes, but only once it has had a grace period to say it.
  // While every one of them is younger, the listener rests instead: new
  // connections wait in the kernel's backlog, so a flood cannot push out a
  // client between its accept and the loop iteration that reads its HELLO.
  if (handshaking_ < config_.max_pending_handshakes) return true;
  // Nobody is waiting to come in: nobody has to go.
  pollfd pending{listener_.fd(), POLLIN, 0};
  if (::poll(&pending, 1, 0) <= 0) return false;
  // deadline = accept time + handshake timeout.
  const int64_t young_if_deadline_after = netipc::detail::monotonic_ns() +
                                          int64_t{config_.handshake_timeout_ms} * 1000000 -
                                          kHandshakeGraceNs;
  while (handshaking_ >= config_.max_pending_handshakes && hs_head_ != nullptr) {
    Session* oldest = hs_head_;
    if (oldest->handshake_deadline_ns > young_if_deadline_after) {
      pause_accepting(false);
      return false;
    }
    st_shed_.fetch_add(1, std::memory_order_relaxed);
    dequeue_handshake(oldest);  // even if a waiter thread still owns it
    close_session(oldest, true);
  }
  return true;
}

void ServerImpl::enqueue_handshake(Session* s) {
  s->in_hs_queue = true;
  s->hs_prev = hs_tail_;
  s->hs_next = nullptr;
  if (hs_tail_ != nullptr) {
    hs_tail_->hs_next = s;
  } else {
    hs_head_ = s;
  }
  hs_tail_ = s;
  ++handshaking_;
}

void ServerImpl::dequeue_handshake(Session* s) {
  if (!s->in_hs_queue) return;
  s->in_hs_queue = false;
  (s->hs_prev != nullptr ? s->hs_prev->hs_next : hs_head_) = s->hs_next;
  (s->hs_next != nullptr ? s->hs_next->hs_prev : hs_tail_) = s->hs_prev;
  s->hs_prev = s->hs_next = nullptr;
  --handshaking_;
}

void ServerImpl::accept_pending() {
  // Bounded per wake-up so a connection flood cannot starve other sessions.
  const int batch = 64;
  for (int i = 0; i < batch && !stopping_ && !accept_paused_; ++i) {
    if (!make_room_for_a_handshake()) return;
    auto fd = listener_.accept();
    if (!fd.ok()) {
      if (fd.code() == Errc::kNotReady) return;
      if (peer_message_allowed()) {
        NETIPC_LOG(kWarning, "%s: accept: %s", config_.service.c_str(),
                   fd.error().message().c_str());
      }
      // Out of descriptors or memory: not the peer's fault and not gone by
      // retrying at once.
      if (fd.code() == Errc::kNoMemory) pause_accepting(true);
      continue;
    }
    // Owned until the poll handle is registered: an exception or a failed
    // init before that frees the session and closes the connection.
    auto owned = std::make_unique<Session>(this, config_.method, &handler_);
    owned->conn = UdsConnection(std::move(*fd));
    owned->handshake_deadline_ns =
        netipc::detail::monotonic_ns() + int64_t{config_.handshake_timeout_ms} * 1000000;
    owned->poll.data = owned.get();
    sessions_.insert(owned.get());
    const int rc = uv_poll_init(loop_, &owned->poll, owned->conn.fd());
    if (rc != 0) {
      sessions_.erase(owned.get());
      internal_failure(nullptr, "uv_poll_init (session)", uv_strerror(rc));
      continue;
    }
    Session* s = owned.release();
    enqueue_handshake(s);
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
  ServerPolicy policy = handshake_policy(s);
  // Session ids are drawn per handshake attempt, so ids of failed ones leave gaps.
  ServerDecision d = server_handshake(policy, *packet, next_session_id_++);
  limit_sessions(&d);
  if (d.outcome == ServerDecision::Outcome::kAccept &&
      (d.ack.selected_profile & wire::kProfileShmMask) != 0) {
    prepare_shm(s, &d, &policy);
    if (s->shm && !start_shm_thread(s, d.ack)) {
      s->shm.reset();  // unlinks the region before the client could attach
      decide_without_shm(&d, &policy);
    }
  }
  if (d.outcome == ServerDecision::Outcome::kCloseSilent) {
    if (peer_message_allowed()) {
      NETIPC_LOG(kWarning, "%s: dropped a connection: %s", config_.service.c_str(), d.reason);
    }
    close_session(s, true);
    return;
  }
  if (!send_handshake_reply(s, d)) return;
  start_serving(s, d.ack);
}

ServerPolicy ServerImpl::handshake_policy(Session* s) {
  ServerPolicy policy;
  policy.supported_profiles = config_.supported_profiles;
  policy.preferred_profiles = config_.preferred_profiles;
  policy.max_request_payload_bytes = config_.max_request_payload_bytes;
  policy.max_response_payload_bytes = learned_response_.load(std::memory_order_relaxed);
  policy.packet_size =
      config_.packet_size != 0 ? config_.packet_size : auto_packet_size(s->conn.fd());
  policy.auth_token = config_.auth_token;
  return policy;
}

void ServerImpl::limit_sessions(ServerDecision* d) {
  if (d->outcome != ServerDecision::Outcome::kAccept || serving_ < config_.max_sessions) return;
  // Over the session limit: a clean rejection the client retries later.
  *d = ServerDecision{};
  d->outcome = ServerDecision::Outcome::kReject;
  d->status = wire::TransportStatus::kLimitExceeded;
  d->reason = "server at its session limit";
  wire::encode_hello_ack_packet(d->ack, d->status, d->packet);
}

bool ServerImpl::send_handshake_reply(Session* s, const ServerDecision& d) {
  // Counted before the ACK: a waiter thread may serve the client the moment
  // it reads the ACK, and stats must not lag behind what a client saw.
  const bool accepting = d.outcome == ServerDecision::Outcome::kAccept;
  if (accepting) {
    st_accepted_.fetch_add(1, std::memory_order_relaxed);
    if (s->shm) st_shm_.fetch_add(1, std::memory_order_relaxed);
  }
  Status sent = send_ack(s->conn.fd(), d);
  if (accepting && sent.ok()) return true;
  if (accepting) {
    st_accepted_.fetch_sub(1, std::memory_order_relaxed);
    if (s->shm) st_shm_.fetch_sub(1, std::memory_order_relaxed);
  }
  st_rejected_.fetch_add(1, std::memory_order_relaxed);
  if (peer_message_allowed()) {
    NETIPC_LOG(kInfo, "%s: handshake rejected (%s): %s", config_.service.c_str(),
               wire::transport_status_name(static_cast<uint16_t>(d.status)), d.reason);
  }
  close_session(s, false);  // with a waiter thread: closed when it is reaped
  return false;
}

void ServerImpl::start_serving(Session* s, const wire::HelloAck& ack) {
  s->conn.configure(ack.agreed_packet_size, server_inbound_limits(ack),
                    server_outbound_limits(ack));
  if (!s->shm && ack.agreed_max_response_payload_bytes > ack.agreed_packet_size) {
    // Responses of several packets (snapshots): keep the copies overlapping.
    allow_packets_in_flight(s->conn.fd(), ack.agreed_packet_size, 4);
  }
  if (!s->shm) {  // a waiter thread was given its ack before it started
    s->ack = ack;
    s->id = ack.session_id;
  }
  dequeue_handshake(s);
  s->state = Session::State::kServing;
  ++serving_;
  if (s->shm) {
    // The waiter thread owns the traffic; the loop no longer polls the
    // socket (the thread watches it for hang-up between wait slices).
    set_events(s, 0);
  }
}

bool ServerImpl::start_shm_thread(Session* s, const wire::HelloAck& ack) {
  // Started before the ACK: the thread only waits on the region (the client
  // publishes its first request after the ACK) and polls the socket for
  // hang-up, so it needs the ACK's terms, not the ACK being sent.
  s->ack = ack;
  s->id = ack.session_id;
  Result<void*> t = make_error(Errc::kNoMemory, "start thread");
  // An Error keeps only a pointer to its text: an exception's what() is
  // copied here, because it dies with the exception.
  char thrown[160] = "";
  try {
    t = config_.shm_threads.start("netipc-shm", [this, s] { shm_thread_body(s); });
  } catch (const std::exception& e) {
    std::snprintf(thrown, sizeof thrown, "start thread: %s", e.what());
    t = make_error(Errc::kNoMemory, "start thread: exception");
  } catch (...) {
    t = make_error(Errc::kNoMemory, "start thread: unknown exception");
  }
  if (!t.ok()) {
    st_internal_.fetch_add(1, std::memory_order_relaxed);
    if (peer_message_allowed()) {
      NETIPC_LOG(kWarning, "%s: no thread for shared-memory session %llu (%s); using the socket",
                 config_.service.c_str(), static_cast<unsigned long long>(ack.session_id),
                 thrown[0] != '\0' ? thrown : t.error().message().c_str());
    }
    return false;
  }
  s->shm->thread = *t;
  return true;
}

void ServerImpl::shm_thread_body(Session* s) {
  Session::Shm* shm = s->shm.get();
  ShmSessionEnd end;
  try {
    end = serve_shm_session(shm->region, s->conn.fd(), s->ack, config_.method, handler_, shm->stop,
                            [this](uint32_t n) { grow_response(n); });
  } catch (const std::exception& e) {
    // A handler that throws ends its session, not the process.
    st_internal_.fetch_add(1, std::memory_order_relaxed);
    end.dropped = false;
    if (peer_message_allowed()) {
      NETIPC_LOG(kError, "%s: shared-memory session %llu failed (%s); the session is closed",
                 config_.service.c_str(), static_cast<unsigned long long>(s->id), e.what());
    }
  } catch (...) {
    st_internal_.fetch_add(1, std::memory_order_relaxed);
  }
  if (shm->region.broken() && peer_message_allowed()) {
    NETIPC_LOG(kWarning, "%s: shared-memory session %llu ended: its region file was truncated",
               config_.service.c_str(), static_cast<unsigned long long>(s->id));
  } else if (end.dropped && peer_message_allowed()) {
    NETIPC_LOG(kWarning, "%s: shared-memory session %llu dropped: %s", config_.service.c_str(),
               static_cast<unsigned long long>(s->id), errc_name(end.reason));
  }
  st_requests_.fetch_add(end.requests, std::memory_order_relaxed);
  if (end.dropped) st_dropped_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(reap_mu_);
    s->reap_next = reap_head_;
    reap_head_ = s;
  }
  uv_async_send(&reap_async_);
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
  decide_without_shm(d, policy);
}

void ServerImpl::decide_without_shm(ServerDecision* d, ServerPolicy* policy) {
  policy->supported_profiles &= ~wire::kProfileShmMask;
  policy->preferred_profiles &= ~wire::kProfileShmMask;
  // Same session id: the decision is remade without the SHM profiles.
  uint8_t hello[wire::kHelloPacketLen];
  wire::encode_hello_packet(d->hello, hello);
  *d = server_handshake(*policy, ByteSpan(hello, sizeof hello), d->ack.session_id);
}

}  // namespace netipc::uv::detail
