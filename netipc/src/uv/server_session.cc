// Serving requests on Unix-socket sessions of netipc::uv::Server.
#include "netipc/log.h"
#include "server_impl.h"

namespace netipc::uv::detail {

namespace {
// Requests served per wake-up. One: polling is level-triggered, so a
// session with more requests queued is reported again on the next loop
// iteration. Draining instead would cost a failed recvmsg (EAGAIN) after
// every request in request/response traffic, and would let one pipelining
// client hold the loop while others wait.
constexpr int kMaxRequestsPerWakeup = 1;
}  // namespace

void ServerImpl::on_session_event(Session* s, int status, int events) {
  if (s->state == Session::State::kClosing) return;
  if (status < 0) {
    close_session(s, false);
    return;
  }
  if (s->state == Session::State::kHandshake) {
    if ((events & (UV_READABLE | UV_DISCONNECT)) != 0) do_handshake(s);
    return;
  }
  if ((events & UV_WRITABLE) != 0 && s->conn.send_pending()) {
    flush(s);
    if (s->state == Session::State::kClosing || s->conn.send_pending()) return;
  }
  if ((events & (UV_READABLE | UV_DISCONNECT)) != 0) serve(s);
}

void ServerImpl::serve(Session* s) {
  for (int i = 0; i < kMaxRequestsPerWakeup; ++i) {
    if (s->conn.send_pending() || s->state != Session::State::kServing) return;
    auto m = s->conn.try_receive();
    if (!m.ok()) {
      if (m.code() == Errc::kNotReady) return;
      if (m.code() == Errc::kPeerGone) {
        close_session(s, false);
        return;
      }
      if (m.code() == Errc::kLimitExceeded &&
          s->conn.last_header().kind == static_cast<uint16_t>(wire::Kind::kRequest)) {
        // Over the agreed request ceiling: say so, then end the session.
        send_result(s, Dispatcher::status_only(s->conn.last_header(),
                                               wire::TransportStatus::kLimitExceeded, true));
        return;
      }
      if (peer_message_allowed()) {
        NETIPC_LOG(kWarning, "%s: session %llu dropped: %s", config_.service.c_str(),
                   static_cast<unsigned long long>(s->id), m.error().message().c_str());
      }
      close_session(s, true);
      return;
    }
    if (m->header.kind != static_cast<uint16_t>(wire::Kind::kRequest)) {
      if (peer_message_allowed()) {
        NETIPC_LOG(kWarning, "%s: session %llu dropped: a client sent a non-REQUEST message",
                   config_.service.c_str(), static_cast<unsigned long long>(s->id));
      }
      close_session(s, true);
      return;
    }
    st_requests_.fetch_add(1, std::memory_order_relaxed);
    DispatchResult r = s->dispatcher.dispatch(*m, s->ack.agreed_max_response_payload_bytes);
    if (r.grow_response_to != 0) grow_response(r.grow_response_to);
    if (!send_result(s, r)) return;
  }
}

bool ServerImpl::send_result(Session* s, const DispatchResult& r) {
  // A status-only reply never exceeds limits; bypass outbound checks for it
  // by construction (payload empty, item_count 1).
  Status st = s->conn.start_send(r.header, r.payload);
  if (!st.ok()) {
    close_session(s, true);
    return false;
  }
  s->keepalive = r.keepalive;
  s->close_after_send = r.close_after_send;
  flush(s);
  return s->state != Session::State::kClosing;
}

void ServerImpl::flush(Session* s) {
  auto done = s->conn.continue_send();
  if (!done.ok()) {
    close_session(s, false);
    return;
  }
  if (!*done) {
    // Socket full: wait for room, and stop reading until this one is out.
    set_events(s, UV_WRITABLE | UV_DISCONNECT);
    return;
  }
  s->keepalive.reset();
  if (s->close_after_send || stopping_) {
    close_session(s, false);
    return;
  }
  set_events(s, UV_READABLE | UV_DISCONNECT);
}

}  // namespace netipc::uv::detail
