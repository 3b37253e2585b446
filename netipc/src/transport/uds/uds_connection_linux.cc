#include "netipc/uds_connection.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <new>

#include "base/large_buffer.h"
#include "sys_linux.h"

namespace netipc {

namespace {

Error io_error(const char* what, int err) {
  if (err == EPIPE || err == ECONNRESET || err == ENOTCONN) {
    return make_error(Errc::kPeerGone, what, err);
  }
  return make_error(Errc::kSystem, what, err);
}

}  // namespace

void LargeBufferDelete::operator()(LargeBuffer* b) const noexcept {
  delete b;
}

ReceiveBuffer make_receive_buffer(size_t bytes) noexcept {
  ReceiveBuffer buf(new (std::nothrow) LargeBuffer());
  if (!buf || !buf->reserve(bytes).ok()) return nullptr;
  return buf;
}

size_t UdsConnection::receive_buffer_bytes() const noexcept {
  return rx_buf_ ? rx_buf_->capacity() : 0;
}

Status UdsConnection::reserve_receive(size_t bytes, size_t preserve) {
  if (!rx_buf_) {
    rx_buf_.reset(new (std::nothrow) LargeBuffer());
    if (!rx_buf_) return make_error(Errc::kNoMemory, "receive buffer");
  }
  return rx_buf_->reserve(bytes, preserve);
}

void UdsConnection::configure(uint32_t packet_size, Limits inbound, Limits outbound) {
  packet_size_ = packet_size > wire::kHeaderLen ? packet_size : wire::kPacketSizeFallback;
  inbound_ = inbound;
  outbound_ = outbound;
  if (inbound_.max_items == 0) inbound_.max_items = 1;
  if (outbound_.max_items == 0) outbound_.max_items = 1;
}

Status UdsConnection::wait(short events, int64_t deadline_ns, int abort_fd) {
  for (;;) {
    pollfd fds[2] = {{fd_.get(), events, 0}, {abort_fd, POLLIN, 0}};
    const nfds_t n = abort_fd >= 0 ? 2 : 1;
    const int timeout = detail::remaining_poll_ms(deadline_ns);
    const int rc = ::poll(fds, n, timeout);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return make_error(Errc::kSystem, "poll", errno);
    }
    if (n == 2 && fds[1].revents != 0) return make_error(Errc::kAborted, "wait");
    if (rc == 0) {
      if (deadline_ns != 0 && detail::monotonic_ns() >= deadline_ns) {
        return make_error(Errc::kTimeout, "wait");
      }
      continue;
    }
    // Readable, writable, hang-up or error: the next I/O call reports which.
    return ok_status();
  }
}

// ---- send ----

Status UdsConnection::start_send(const wire::Header& header, ByteSpan payload) {
  if (tx_active_) return make_error(Errc::kInvalidArgument, "send already in progress");
  if (payload.size > outbound_.max_payload || header.item_count > outbound_.max_items) {
    return make_error(Errc::kLimitExceeded, "outbound message over the negotiated ceiling");
  }
  if (payload.size > UINT32_MAX - wire::kHeaderLen) {
    return make_error(Errc::kLimitExceeded, "message length overflows u32");
  }
  wire::Header h = header;
  h.payload_len = static_cast<uint32_t>(payload.size);
  wire::encode_header(h, tx_hdr_);
  tx_payload_ = payload;
  tx_message_id_ = h.message_id;
  tx_offset_ = 0;
  tx_index_ = 0;
  tx_count_ = wire::chunk_count_for(h.payload_len, packet_size_);
  tx_active_ = true;
  return ok_status();
}

Result<bool> UdsConnection::send_one_packet() {
  const uint32_t body = packet_size_ - static_cast<uint32_t>(wire::kHeaderLen);
  const uint32_t left = static_cast<uint32_t>(tx_payload_.size) - tx_offset_;
  const uint32_t take = std::min(left, body);
  iovec iov[2];
  if (tx_index_ == 0) {
    iov[0] = {tx_hdr_, wire::kHeaderLen};
  } else {
    wire::ChunkHeader c;
    c.message_id = tx_message_id_;
    c.total_message_len = static_cast<uint32_t>(wire::kHeaderLen + tx_payload_.size);
    c.chunk_index = tx_index_;
    c.chunk_count = tx_count_;
    c.chunk_payload_len = take;
    wire::encode_chunk_header(c, tx_chunk_hdr_);
    iov[0] = {tx_chunk_hdr_, wire::kHeaderLen};
  }
  iov[1] = {const_cast<uint8_t*>(tx_payload_.data) + tx_offset_, take};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = take > 0 ? 2 : 1;
  int err = 0;
  const ssize_t n = detail::sys_retry(
      [&] { return ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT); }, &err);
  if (n < 0) {
    if (err == EAGAIN || err == EWOULDBLOCK) return false;
    tx_active_ = false;  // a failed send mid-message breaks the session
    return io_error("sendmsg", err);
  }
  tx_offset_ += take;
  ++tx_index_;
  if (tx_index_ >= tx_count_) tx_active_ = false;
  return true;
}

Result<bool> UdsConnection::continue_send() {
  while (tx_active_) {
    auto sent = send_one_packet();
    if (!sent.ok()) return sent.error();
    if (!*sent) return false;
  }
  return true;
}

Status UdsConnection::send(const wire::Header& header, ByteSpan payload, int64_t deadline_ns,
                           int abort_fd) {
  NETIPC_RETURN_IF_ERROR(start_send(header, payload));
  for (;;) {
    auto done = continue_send();
    if (!done.ok()) return done.error();
    if (*done) return ok_status();
    Status w = wait(POLLOUT, deadline_ns, abort_fd);
    if (!w.ok()) {
      tx_active_ = false;
      return w;
    }
  }
}

// ---- receive ----

Result<UdsConnection::Rx> UdsConnection::read_first_packet(int flags) {
  // The payload part of the first packet can be at most min(P - 32, limit);
  // a longer packet is truncated (MSG_TRUNC) and rejected after the header
  // has been checked against the limits.
  const uint32_t body = packet_size_ - static_cast<uint32_t>(wire::kHeaderLen);
  const size_t first_cap = std::min<size_t>(body, inbound_.max_payload);
  NETIPC_RETURN_IF_ERROR(reserve_receive(first_cap, 0));
  iovec iov[2] = {{rx_hdr_, wire::kHeaderLen}, {rx_buf_->data(), first_cap}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  int err = 0;
  const ssize_t n =
      detail::sys_retry([&] { return ::recvmsg(fd_.get(), &msg, flags); }, &err);
  if (n < 0) {
    if (err == EAGAIN || err == EWOULDBLOCK) return Rx::kWouldBlock;
    return io_error("recvmsg", err);
  }
  if (n == 0) return make_error(Errc::kPeerGone, "peer closed the connection");
  auto h = wire::decode_header(ByteSpan(rx_hdr_, static_cast<size_t>(n) < wire::kHeaderLen
                                                     ? static_cast<size_t>(n)
                                                     : wire::kHeaderLen));
  if (!h.ok()) return h.error();
  rx_header_ = *h;
  if (h->payload_len > inbound_.max_payload || h->item_count > inbound_.max_items) {
    return make_error(Errc::kLimitExceeded, "inbound message over the negotiated ceiling");
  }
  const uint64_t got = static_cast<uint64_t>(n) - wire::kHeaderLen;
  if ((msg.msg_flags & MSG_TRUNC) != 0 || got > h->payload_len) {
    return make_error(Errc::kProtocol, "first packet longer than its message");
  }
  if (got == h->payload_len) {
    rx_message_ = Message{*h, ByteSpan(rx_buf_->data(), got)};
    return Rx::kComplete;
  }
  // Chunked: the rest follows in continuation packets.
  rx_expected_count_ = 1 + static_cast<uint32_t>((h->payload_len - got + body - 1) / body);
  // Sized once from the header's announced length (already bounded by the
  // inbound ceiling), keeping the part the first packet brought.
  NETIPC_RETURN_IF_ERROR(reserve_receive(h->payload_len, got));
  rx_offset_ = static_cast<uint32_t>(got);
  rx_next_index_ = 1;
  rx_in_chunks_ = true;
  return Rx::kProgress;
}

Result<UdsConnection::Rx> UdsConnection::read_continuation(int flags) {
  const uint32_t body = packet_size_ - static_cast<uint32_t>(wire::kHeaderLen);
  const uint32_t total = rx_header_.payload_len;
  const uint32_t want = std::min(body, total - rx_offset_);
  iovec iov[2] = {{rx_chunk_hdr_, wire::kHeaderLen}, {rx_buf_->data() + rx_offset_, want}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  int err = 0;
  const ssize_t n =
      detail::sys_retry([&] { return ::recvmsg(fd_.get(), &msg, flags); }, &err);
  if (n < 0) {
    if (err == EAGAIN || err == EWOULDBLOCK) return Rx::kWouldBlock;
    rx_in_chunks_ = false;
    return io_error("recvmsg", err);
  }
  rx_in_chunks_ = false;  // any failure below ends the message (session broken)
  if (n == 0) return make_error(Errc::kPeerGone, "peer closed the connection mid-message");
  if ((msg.msg_flags & MSG_TRUNC) != 0) return make_error(Errc::kProtocol, "over-long chunk");
  auto c = wire::decode_chunk_header(ByteSpan(rx_chunk_hdr_, static_cast<size_t>(n)));
  if (!c.ok()) return c.error();
  const uint64_t got = static_cast<uint64_t>(n) - wire::kHeaderLen;
  if (c->message_id != rx_header_.message_id || c->chunk_index != rx_next_index_ ||
      c->chunk_count != rx_expected_count_ || c->chunk_index >= c->chunk_count ||
      c->total_message_len != wire::kHeaderLen + uint64_t{total} ||
      got != c->chunk_payload_len || rx_offset_ + got > total) {
    return make_error(Errc::kProtocol, "chunk does not continue the message");
  }
  rx_offset_ += static_cast<uint32_t>(got);
  ++rx_next_index_;
  if (rx_offset_ == total) {
    if (rx_next_index_ != rx_expected_count_) return make_error(Errc::kProtocol, "chunk count");
    rx_message_ = Message{rx_header_, ByteSpan(rx_buf_->data(), total)};
    return Rx::kComplete;
  }
  if (rx_next_index_ >= rx_expected_count_) return make_error(Errc::kProtocol, "short chunks");
  rx_in_chunks_ = true;
  return Rx::kProgress;
}

Result<Message> UdsConnection::read_message(int flags, size_t budget_bytes) {
  size_t spent = 0;
  for (;;) {
    auto r = rx_in_chunks_ ? read_continuation(flags) : read_first_packet(flags);
    if (!r.ok()) {
      rx_in_chunks_ = false;
      return r.error();
    }
    if (*r == Rx::kComplete) return rx_message_;
    // Would block (or, in blocking mode, SO_RCVTIMEO expired).
    if (*r == Rx::kWouldBlock) return make_error(Errc::kNotReady, "recvmsg would block");
    spent += packet_size_;
    if (spent >= budget_bytes) return make_error(Errc::kNotReady, "receive budget spent");
  }
}

Result<Message> UdsConnection::try_receive() { return read_message(MSG_DONTWAIT); }

Result<Message> UdsConnection::try_receive(size_t budget_bytes) {
  return read_message(MSG_DONTWAIT, budget_bytes);
}

ReceiveBuffer UdsConnection::take_receive_buffer() {
  if (rx_in_chunks_) return nullptr;
  ReceiveBuffer out;
  out.swap(rx_buf_);
  rx_message_ = Message{};
  return out;
}

bool UdsConnection::swap_receive_buffer(ReceiveBuffer* buf) {
  if (rx_in_chunks_) return false;
  rx_buf_.swap(*buf);
  rx_message_ = Message{};
  return true;
}

void UdsConnection::release_receive_buffer(size_t keep_bytes) {
  if (rx_in_chunks_ || receive_buffer_bytes() <= keep_bytes) return;
  rx_buf_->release();
  rx_message_ = Message{};
}

Status UdsConnection::enable_blocking_receive() {
  const int fl = ::fcntl(fd_.get(), F_GETFL);
  if (fl < 0 || ::fcntl(fd_.get(), F_SETFL, fl & ~O_NONBLOCK) != 0) {
    return make_error(Errc::kSystem, "fcntl O_NONBLOCK", errno);
  }
  blocking_receive_ = true;
  return ok_status();
}

Result<Message> UdsConnection::receive_blocking(int64_t deadline_ns) {
  for (;;) {
    int64_t want_ms = 0;  // 0 = wait forever
    if (deadline_ns != 0) {
      const int64_t left_ns = deadline_ns - detail::monotonic_ns();
      if (left_ns <= 0) {
        rx_in_chunks_ = false;
        return make_error(Errc::kTimeout, "receive");
      }
      // Rounded down to 64 ms steps so that the per-call deadlines of a
      // steady request stream map to one value and need no setsockopt; the
      // remainder is waited for in a last short step.
      const int64_t left_ms = (left_ns + 999999) / 1000000;
      want_ms = left_ms >= 128 ? left_ms & ~int64_t{63} : left_ms;
    }
    if (want_ms != rcvtimeo_ms_) {
      timeval tv{static_cast<time_t>(want_ms / 1000), static_cast<suseconds_t>(want_ms % 1000) * 1000};
      if (::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
        return make_error(Errc::kSystem, "SO_RCVTIMEO", errno);
      }
      rcvtimeo_ms_ = want_ms;
    }
    auto m = read_message(0);
    if (m.ok() || m.code() != Errc::kNotReady) return m;
  }
}

Result<Message> UdsConnection::receive(int64_t deadline_ns, int abort_fd) {
  if (blocking_receive_ && abort_fd < 0) return receive_blocking(deadline_ns);
  // Wait first: in request/response traffic the answer is rarely there
  // already, and a speculative read would cost a system call each time.
  // Continuations usually are there, so a message in progress reads first.
  bool read_first = rx_in_chunks_;
  for (;;) {
    if (!read_first) {
      Status w = wait(POLLIN, deadline_ns, abort_fd);
      if (!w.ok()) {
        rx_in_chunks_ = false;
        return w.error();
      }
    }
    read_first = false;
    auto m = try_receive();
    if (m.ok() || m.code() != Errc::kNotReady) return m;
  }
}

}  // namespace netipc
