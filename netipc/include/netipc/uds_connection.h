// UdsConnection: logical NetIPC messages over one connected SEQPACKET
// socket: chunking on send, validated reassembly on receive
// (docs/wire.md §4 and §7), in a blocking face (poll with a
// monotonic deadline and an abort fd) and a non-blocking face for event
// loops. Single owner: not thread-safe; one message is sent at a time and
// all its packets go out back to back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "netipc/bytes.h"
#include "netipc/result.h"
#include "netipc/unique_fd.h"
#include "netipc/wire.h"

namespace netipc {

// The receive buffer's type is internal (a large mapping with huge-page
// hints once a message passes 1 MiB); declared here so the connection can
// own one.
class LargeBuffer;
struct LargeBufferDelete {
  void operator()(LargeBuffer* b) const noexcept;
};
using ReceiveBuffer = std::unique_ptr<LargeBuffer, LargeBufferDelete>;
// A receive buffer of at least `bytes`, its pages already faulted in (huge
// pages where the kernel allows; see UdsConnection::swap_receive_buffer).
// Null when the memory is not available.
ReceiveBuffer make_receive_buffer(size_t bytes) noexcept;

struct Limits {
  uint32_t max_payload = wire::kMaxPayloadDefault;
  uint32_t max_items = wire::kDefaultBatchItems;
};

// A received message. `payload` is valid until the next receive on the
// same connection.
struct Message {
  wire::Header header;
  ByteSpan payload;
};

class UdsConnection {
 public:
  UdsConnection() = default;
  explicit UdsConnection(UniqueFd fd) : fd_(std::move(fd)) {}
  UdsConnection(UdsConnection&&) noexcept = default;
  UdsConnection& operator=(UdsConnection&&) noexcept = default;

  // Session parameters from the handshake. `inbound` limits are checked on
  // every received header before any allocation; `outbound` on every send.
  void configure(uint32_t packet_size, Limits inbound, Limits outbound);
  uint32_t packet_size() const { return packet_size_; }
  const Limits& inbound() const { return inbound_; }
  const Limits& outbound() const { return outbound_; }
  int fd() const { return fd_.get(); }
  UniqueFd release_fd() { return std::move(fd_); }

  // ---- blocking face (the fd may be non-blocking; waits use poll) ----
  // deadline_ns: CLOCK_MONOTONIC nanoseconds, 0 = no deadline.
  // abort_fd: readable = abort (kAborted); -1 = none.
  //
  // enable_blocking_receive() puts the fd in blocking mode so that a
  // receive() without an abort fd is one blocking recvmsg per packet, its
  // deadline enforced with SO_RCVTIMEO, instead of poll + recvmsg. Sends
  // and the non-blocking face are unaffected (they pass MSG_DONTWAIT).
  Status enable_blocking_receive();
  Status send(const wire::Header& header, ByteSpan payload, int64_t deadline_ns = 0,
              int abort_fd = -1);
  Result<Message> receive(int64_t deadline_ns = 0, int abort_fd = -1);

  // ---- non-blocking face ----
  // Starts a message; `payload` must stay valid until the send completes.
  // kLimitExceeded (nothing queued) when it exceeds the outbound limits.
  Status start_send(const wire::Header& header, ByteSpan payload);
  // Sends packets until the socket would block. true = message fully sent.
  Result<bool> continue_send();
  bool send_pending() const { return tx_active_; }
  // Reads packets until a message completes (returned) or the socket
  // would block (kNotReady; call again when readable). Any other error
  // breaks the session.
  Result<Message> try_receive();
  // As try_receive(), but also returns kNotReady, with the message still
  // in progress, once the packets read in this call add up to
  // `budget_bytes` or more (counted at the packet size; at least one packet
  // is read). An event loop calls it once per readable event, so a large
  // message is received over several iterations with other work between
  // them instead of in one (the poll is level-triggered: the next event
  // comes at once).
  Result<Message> try_receive(size_t budget_bytes);
  // The header of the last message whose first packet was read; on
  // kLimitExceeded it names the offending request.
  const wire::Header& last_header() const { return rx_header_; }

  // Frees the receive buffer when it holds more than `keep_bytes` and no
  // message is half received; the next receive allocates it again. The
  // last received payload is invalid afterwards. For clients that receive
  // a large message rarely (a snapshot every 30 s) and should not hold its
  // size in between.
  void release_receive_buffer(size_t keep_bytes);
  size_t receive_buffer_bytes() const noexcept;
  // Hands the receive buffer to the caller, when no message is half
  // received (else returns null and changes nothing). The last received
  // payload stays where it is, now owned by the returned buffer (it starts
  // at its data()); the next receive allocates a new buffer. For a caller
  // that processes a large message on another thread without copying it
  // and without the connection overwriting it.
  ReceiveBuffer take_receive_buffer();
  // The other direction: swaps `*buf` in as the receive buffer when no
  // message is half received (else returns false and changes nothing);
  // `*buf` gets the previous one (possibly null). A message that fits in
  // its capacity is received into it as is, without growing it: a caller
  // can allocate and fault in a large buffer on another thread, away from
  // its event loop (make_receive_buffer).
  bool swap_receive_buffer(ReceiveBuffer* buf);

 private:
  enum class Rx : uint8_t { kComplete, kProgress, kWouldBlock };
  Result<bool> send_one_packet();
  Result<Rx> read_first_packet(int flags);
  Result<Rx> read_continuation(int flags);
  Result<Message> receive_blocking(int64_t deadline_ns);
  Result<Message> read_message(int flags, size_t budget_bytes = SIZE_MAX);
  Status wait(short events, int64_t deadline_ns, int abort_fd);
  Status reserve_receive(size_t bytes, size_t preserve);

  UniqueFd fd_;
  bool blocking_receive_ = false;
  int64_t rcvtimeo_ms_ = 0;  // SO_RCVTIMEO currently set (0 = none)
  uint32_t packet_size_ = wire::kPacketSizeFallback;
  Limits inbound_;
  Limits outbound_;

  // Receive state.
  uint8_t rx_hdr_[wire::kHeaderLen] = {};
  uint8_t rx_chunk_hdr_[wire::kHeaderLen] = {};
  wire::Header rx_header_;
  Message rx_message_;
  ReceiveBuffer rx_buf_;
  bool rx_in_chunks_ = false;
  uint32_t rx_offset_ = 0;
  uint32_t rx_next_index_ = 0;
  uint32_t rx_expected_count_ = 0;

  // Send state.
  uint8_t tx_hdr_[wire::kHeaderLen] = {};
  uint8_t tx_chunk_hdr_[wire::kHeaderLen] = {};
  ByteSpan tx_payload_;
  uint64_t tx_message_id_ = 0;
  uint32_t tx_offset_ = 0;
  uint32_t tx_index_ = 0;
  uint32_t tx_count_ = 0;
  bool tx_active_ = false;
};

}  // namespace netipc
