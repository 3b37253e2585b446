// The non-blocking I/O of uv::AsyncClient: connect, HELLO/HELLO_ACK and
// the request/response, all driven by the one uv_poll_t of the session.
#include <sys/socket.h>

#include <cerrno>
#include <new>

#include "async_client_impl.h"
#include "netipc/handshake.h"
#include "netipc/session.h"
#include "netipc/uds.h"
#include "sys_linux.h"

namespace netipc::uv {

void AsyncClient::Impl::set_events(int events) {
  if (slot == nullptr || slot->events == events) return;
  slot->events = events;
  if (events == 0) {
    uv_poll_stop(&slot->poll);
  } else {
    uv_poll_start(&slot->poll, events, &Impl::on_poll);
  }
}

// The loop's clock is cached and counts whole milliseconds: refresh it and
// add one so that a deadline never fires before `ms` have really passed.
void AsyncClient::Impl::start_deadline(int ms) {
  uv_update_time(loop);
  uv_timer_start(&timer, &Impl::on_timer, static_cast<uint64_t>(ms) + 1, 0);
}

// Returns true when waiting for the loop; else *next is the next step.
bool AsyncClient::Impl::start_connect(Step* next) {
  drop_slot();
  const ClientConfig& c = policy.config();
  auto fd = uds_connect(c.run_dir, c.service);
  if (!fd.ok()) {
    *next = policy.on_connect_failed(fd.error());
    return false;
  }
  auto* s = new Slot();
  s->owner = this;
  const int fd_num = fd->get();
  s->conn = UdsConnection(std::move(*fd));
  if (spare_rx) {
    (void)s->conn.swap_receive_buffer(&spare_rx);
    spare_rx.reset();
  }
  const int rc = uv_poll_init(loop, &s->poll, fd_num);
  if (rc != 0) {
    delete s;
    *next = policy.on_connect_failed(make_error(Errc::kSystem, "uv_poll_init", -rc));
    return false;
  }
  s->poll.data = s;
  ++open_handles;
  slot = s;
  ClientProposal p = policy.proposal();
  p.packet_size = auto_packet_size(fd_num);
  wire::encode_hello_packet(make_hello(p), s->packet);
  start_deadline(c.connect_timeout_ms);
  return send_hello(next);
}

bool AsyncClient::Impl::send_hello(Step* next) {
  int err = 0;
  const ssize_t n = detail::sys_retry(
      [&] {
        return ::send(slot->conn.fd(), slot->packet, wire::kHelloPacketLen,
                      MSG_NOSIGNAL | MSG_DONTWAIT);
      },
      &err);
  if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
    phase = Phase::kHelloSend;
    set_events(UV_WRITABLE);
    return true;
  }
  if (n != static_cast<ssize_t>(wire::kHelloPacketLen)) {
    uv_timer_stop(&timer);
    *next = policy.on_connect_failed(make_error(Errc::kPeerGone, "send HELLO", err));
    return false;
  }
  phase = Phase::kAckWait;
  set_events(UV_READABLE);
  return true;
}

// Reads HELLO_ACK if it is there. Returns true while still waiting.
bool AsyncClient::Impl::read_ack(Step* next) {
  int err = 0;
  const ssize_t n = detail::sys_retry(
      [&] { return ::recv(slot->conn.fd(), slot->packet, sizeof slot->packet, MSG_DONTWAIT); },
      &err);
  if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) return true;
  uv_timer_stop(&timer);
  if (n <= 0) {
    // Servers close without an ACK for malformed HELLOs (docs/wire.md §5.7).
    *next = policy.on_connect_failed(
        make_error(Errc::kBadEnvelope, "handshake: server closed without HELLO_ACK", err));
    return false;
  }
  auto ack = client_read_ack(ByteSpan(slot->packet, static_cast<size_t>(n)));
  if (!ack.ok()) {
    *next = policy.on_connect_failed(ack.error());
    return false;
  }
  if ((ack->selected_profile & make_hello(policy.proposal()).supported_profiles) == 0) {
    *next = policy.on_connect_failed(
        make_error(Errc::kProtocol, "HELLO_ACK selected a profile we did not offer"));
    return false;
  }
  slot->conn.configure(ack->agreed_packet_size, client_inbound_limits(*ack),
                       client_outbound_limits(*ack));
  set_events(0);
  phase = Phase::kIdle;
  *next = policy.on_connected(*ack);
  return false;
}

bool AsyncClient::Impl::start_attempt(Step* next) {
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kRequest);
  h.code = policy.config().method;
  h.item_count = items;
  h.flags = items >= 2 ? wire::kFlagBatch : 0;
  h.message_id = policy.message_id();
  Status st = slot->conn.start_send(h, ByteSpan(request));
  if (!st.ok()) {
    *next = policy.on_attempt_error(st.error());
    return false;
  }
  phase = Phase::kAttempt;
  start_deadline(timeout_ms);
  return pump_send(next);
}

bool AsyncClient::Impl::pump_send(Step* next) {
  auto sent = slot->conn.continue_send();
  if (!sent.ok()) {
    uv_timer_stop(&timer);
    *next = policy.on_attempt_error(sent.error());
    return false;
  }
  set_events(UV_READABLE | (slot->conn.send_pending() ? UV_WRITABLE : 0));
  return true;
}

// Reads at most kReceiveBytesPerEvent of the response, then yields to the
// loop. Returns true while the response is incomplete.
bool AsyncClient::Impl::pump_receive(Step* next) {
  Result<Message> m = make_error(Errc::kNoMemory, "receive buffer");
  try {
    m = slot->conn.try_receive(kReceiveBytesPerEvent);
  } catch (const std::bad_alloc&) {
    // The receive buffer could not grow: the message is lost and the
    // session with it (no exception leaves a libuv callback).
  }
  if (!m.ok() && m.code() == Errc::kNotReady) return true;
  uv_timer_stop(&timer);
  if (!m.ok()) {
    *next = policy.on_attempt_error(m.error());
    return false;
  }
  response = *m;
  *next = policy.on_response(response);
  return false;
}

}  // namespace netipc::uv
