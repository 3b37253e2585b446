#include "netipc/session.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "netipc/uds.h"
#include "sys_linux.h"
#include "transport/shm/channel.h"

namespace netipc {

Limits client_inbound_limits(const wire::HelloAck& a) {
  return Limits{a.agreed_max_response_payload_bytes, a.agreed_max_response_batch_items};
}
Limits client_outbound_limits(const wire::HelloAck& a) {
  return Limits{a.agreed_max_request_payload_bytes, a.agreed_max_request_batch_items};
}
Limits server_inbound_limits(const wire::HelloAck& a) { return client_outbound_limits(a); }
Limits server_outbound_limits(const wire::HelloAck& a) { return client_inbound_limits(a); }

namespace {

// Waits for fd to be readable (or hung up) with deadline and abort fd.
Status wait_readable(int fd, int64_t deadline_ns, int abort_fd) {
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {abort_fd, POLLIN, 0}};
    const nfds_t n = abort_fd >= 0 ? 2 : 1;
    const int rc = ::poll(fds, n, detail::remaining_poll_ms(deadline_ns));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return make_error(Errc::kSystem, "poll", errno);
    }
    if (n == 2 && fds[1].revents != 0) return make_error(Errc::kAborted, "handshake");
    if (rc > 0) return ok_status();
    if (deadline_ns != 0 && detail::monotonic_ns() >= deadline_ns) {
      return make_error(Errc::kTimeout, "handshake");
    }
  }
}

// Reads one packet (<= len bytes) without blocking; kNotReady if none.
Result<size_t> recv_packet(int fd, uint8_t* buf, size_t len) {
  int err = 0;
  const ssize_t n = detail::sys_retry([&] { return ::recv(fd, buf, len, MSG_DONTWAIT); }, &err);
  if (n < 0) {
    if (err == EAGAIN || err == EWOULDBLOCK) return make_error(Errc::kNotReady, "recv");
    return make_error(err == ECONNRESET ? Errc::kPeerGone : Errc::kSystem, "recv", err);
  }
  if (n == 0) return make_error(Errc::kPeerGone, "peer closed during the handshake");
  return static_cast<size_t>(n);
}

}  // namespace


Result<ClientSession> ClientSession::connect(const std::string& run_dir,
                                             const std::string& service,
                                             const ClientProposal& proposal, int64_t deadline_ns,
                                             int abort_fd) {
  auto fd = uds_connect(run_dir, service);
  if (!fd.ok()) return fd.error();
  ClientProposal p = proposal;
  if (p.packet_size == 0) p.packet_size = auto_packet_size(fd->get());
  uint8_t hello[wire::kHelloPacketLen];
  wire::encode_hello_packet(make_hello(p), hello);
  int err = 0;
  const ssize_t sent = detail::sys_retry(
      [&] { return ::send(fd->get(), hello, sizeof hello, MSG_NOSIGNAL | MSG_DONTWAIT); }, &err);
  if (sent != static_cast<ssize_t>(sizeof hello)) {
    return make_error(Errc::kPeerGone, "send HELLO", err);
  }
  uint8_t ack_buf[128];
  size_t n = 0;
  for (;;) {
    NETIPC_RETURN_IF_ERROR(wait_readable(fd->get(), deadline_ns, abort_fd));
    auto r = recv_packet(fd->get(), ack_buf, sizeof ack_buf);
    if (r.ok()) {
      n = *r;
      break;
    }
    if (r.code() != Errc::kNotReady) {
      // The server closes without an ACK for malformed HELLOs.
      return make_error(r.code() == Errc::kPeerGone ? Errc::kBadEnvelope : r.code(),
                        "handshake: server closed without HELLO_ACK", r.error().sys_errno);
    }
  }
  auto ack = client_read_ack(ByteSpan(ack_buf, n));
  if (!ack.ok()) return ack.error();
  const uint32_t offered = make_hello(p).supported_profiles;
  if ((ack->selected_profile & offered) == 0) {
    return make_error(Errc::kProtocol, "HELLO_ACK selected a profile we did not offer");
  }
  ClientSession s;
  s.ack_ = *ack;
  s.conn_ = UdsConnection(std::move(*fd));
  s.conn_.configure(ack->agreed_packet_size, client_inbound_limits(*ack),
                    client_outbound_limits(*ack));
  if (s.uses_shm()) {
    NETIPC_RETURN_IF_ERROR(s.attach_shm(run_dir, service, deadline_ns, abort_fd));
  } else {
    // Calls without an abort fd then cost one recvmsg instead of poll + recvmsg.
    NETIPC_RETURN_IF_ERROR(s.conn_.enable_blocking_receive());
  }
  return s;
}

Status ClientSession::send_request(uint16_t method, uint64_t message_id, ByteSpan payload,
                                   uint32_t item_count, int64_t deadline_ns, int abort_fd) {
  if (std::find(in_flight_.begin(), in_flight_.end(), message_id) != in_flight_.end()) {
    return make_error(Errc::kInvalidArgument, "message id already in flight");
  }
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kRequest);
  h.code = method;
  h.item_count = item_count == 0 ? 1 : item_count;
  h.flags = h.item_count >= 2 ? wire::kFlagBatch : 0;
  h.message_id = message_id;
  if (shm_ && !in_flight_.empty()) {
    return make_error(Errc::kInvalidArgument, "shared memory carries one request at a time");
  }
  in_flight_.push_back(message_id);
  Status st = shm_ ? shm_send(h, payload) : conn_.send(h, payload, deadline_ns, abort_fd);
  if (!st.ok()) {
    if (st.code() == Errc::kLimitExceeded) {
      in_flight_.pop_back();  // nothing was sent
    } else {
      in_flight_.clear();  // the session is broken: every pending call fails
    }
  }
  return st;
}

Result<Message> ClientSession::receive_response(int64_t deadline_ns, int abort_fd) {
  auto m = shm_ ? shm_receive(deadline_ns, abort_fd) : conn_.receive(deadline_ns, abort_fd);
  if (!m.ok()) {
    if (m.code() != Errc::kTimeout && m.code() != Errc::kAborted) in_flight_.clear();
    return m;
  }
  if (m->header.kind != static_cast<uint16_t>(wire::Kind::kResponse)) {
    in_flight_.clear();
    return make_error(Errc::kProtocol, "expected a RESPONSE");
  }
  auto it = std::find(in_flight_.begin(), in_flight_.end(), m->header.message_id);
  if (it == in_flight_.end()) {
    in_flight_.clear();
    return make_error(Errc::kProtocol, "response to a message id not in flight");
  }
  *it = in_flight_.back();
  in_flight_.pop_back();
  return m;
}

Result<ByteSpan> read_hello(int fd, uint8_t* buf, size_t buf_len) {
  auto n = recv_packet(fd, buf, buf_len);
  if (!n.ok()) return n.error();
  return ByteSpan(buf, *n);
}

Status send_ack(int fd, const ServerDecision& decision) {
  int err = 0;
  const ssize_t n = detail::sys_retry(
      [&] {
        return ::send(fd, decision.packet, sizeof decision.packet, MSG_NOSIGNAL | MSG_DONTWAIT);
      },
      &err);
  if (n != static_cast<ssize_t>(sizeof decision.packet)) {
    return make_error(Errc::kPeerGone, "send HELLO_ACK", err);
  }
  return ok_status();
}

Result<ServerSession> server_handshake_blocking(UniqueFd fd, const ServerPolicy& policy,
                                                uint64_t session_id, int64_t deadline_ns) {
  uint8_t buf[128];
  ByteSpan packet;
  for (;;) {
    NETIPC_RETURN_IF_ERROR(wait_readable(fd.get(), deadline_ns, -1));
    auto r = read_hello(fd.get(), buf, sizeof buf);
    if (r.ok()) {
      packet = *r;
      break;
    }
    if (r.code() != Errc::kNotReady) return r.error();
  }
  ServerPolicy p = policy;
  if (p.packet_size == 0) p.packet_size = auto_packet_size(fd.get());
  ServerDecision d = server_handshake(p, packet, session_id);
  if (d.outcome != ServerDecision::Outcome::kCloseSilent) (void)send_ack(fd.get(), d);
  if (d.outcome != ServerDecision::Outcome::kAccept) {
    return make_error(d.outcome == ServerDecision::Outcome::kReject
                          ? wire::errc_from_status(static_cast<uint16_t>(d.status))
                          : Errc::kProtocol,
                      d.reason);
  }
  ServerSession s;
  s.ack = d.ack;
  s.hello = d.hello;
  s.conn = UdsConnection(std::move(fd));
  s.conn.configure(d.ack.agreed_packet_size, server_inbound_limits(d.ack),
                   server_outbound_limits(d.ack));
  return s;
}

}  // namespace netipc
