// Level-1 sessions: the handshake on a connected socket, then request /
// response messaging. The client side keeps the set of message ids in
// flight (pipelining: responses may come in any order and are matched by
// id). The server side's blocking handshake serves simple servers and
// tests; event-loop servers use read_hello() + server_handshake() instead.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "netipc/handshake.h"
#include "netipc/result.h"
#include "netipc/uds_connection.h"
#include "netipc/unique_fd.h"
#include "netipc/wire.h"

namespace netipc {

class ShmRegion;  // shm.h

// The limits a session agreed on, seen from one side.
Limits client_inbound_limits(const wire::HelloAck& ack);
Limits client_outbound_limits(const wire::HelloAck& ack);
Limits server_inbound_limits(const wire::HelloAck& ack);
Limits server_outbound_limits(const wire::HelloAck& ack);

class ClientSession {
 public:
  // Connects to {run_dir}/{service}.sock and runs the handshake. A zero
  // packet_size in the proposal is resolved from the socket (SO_SNDBUF -
  // 32). When the ACK selects a shared-memory profile the session attaches
  // the region and moves every request/response there (one in flight).
  // Errors: kNotFound (no server), kAuthFailed, kUnsupported,
  // kIncompatible, kLimitExceeded (handshake rejections), kTimeout,
  // kAborted, kPeerGone/kProtocol (server closed or misbehaved),
  // kShmUnavailable (SHM agreed, region not attachable).
  static Result<ClientSession> connect(const std::string& run_dir, const std::string& service,
                                       const ClientProposal& proposal, int64_t deadline_ns = 0,
                                       int abort_fd = -1);

  ClientSession();
  ClientSession(ClientSession&&) noexcept;
  ClientSession& operator=(ClientSession&&) noexcept;
  ~ClientSession();

  const wire::HelloAck& agreed() const { return ack_; }
  uint32_t profile() const { return ack_.selected_profile; }
  bool uses_shm() const { return (ack_.selected_profile & wire::kProfileShmMask) != 0; }
  int fd() const { return conn_.fd(); }
  size_t in_flight() const { return in_flight_.size(); }

  // Sends one request. item_count >= 2 marks a batch (flags = BATCH).
  // Refused locally: a message id already in flight (kInvalidArgument), a
  // payload or item count over the agreed request ceilings
  // (kLimitExceeded, nothing sent), a second request in flight over SHM.
  Status send_request(uint16_t method, uint64_t message_id, ByteSpan payload,
                      uint32_t item_count = 1, int64_t deadline_ns = 0, int abort_fd = -1);
  // Receives the next response. kProtocol for a non-RESPONSE message or an
  // id not in flight. Inbound limits are the agreed response ceilings
  // (kLimitExceeded when exceeded). The payload stays valid until the next
  // receive; over SHM (read in place in the server's area) only until the
  // next send_request().
  Result<Message> receive_response(int64_t deadline_ns = 0, int abort_fd = -1);
  // UdsConnection::release_receive_buffer() of the session's socket (an SHM
  // session receives in place and holds no buffer of its own).
  void release_receive_buffer(size_t keep_bytes) { conn_.release_receive_buffer(keep_bytes); }

  struct ShmState;

 private:
  // SHM sessions: attaches the region named by the session id (the server
  // created it before acknowledging). Any failure is kShmUnavailable: the
  // Level-2 client then stops proposing SHM and reconnects on the socket.
  Status attach_shm(const std::string& run_dir, const std::string& service, int64_t deadline_ns,
                    int abort_fd);
  Status shm_send(const wire::Header& header, ByteSpan payload);
  Result<Message> shm_receive(int64_t deadline_ns, int abort_fd);
  UdsConnection conn_;
  wire::HelloAck ack_;
  std::vector<uint64_t> in_flight_;
  std::unique_ptr<ShmState> shm_;
};

// Server side, non-blocking: reads the HELLO packet if one is waiting.
// kNotReady = nothing yet. The returned span points into `buf` (>= 128
// bytes); kPeerGone when the client closed.
Result<ByteSpan> read_hello(int fd, uint8_t* buf, size_t buf_len);
// Sends the decision's ACK packet (80 bytes: fits any fresh socket buffer).
Status send_ack(int fd, const ServerDecision& decision);

// Server side, blocking: reads HELLO, decides, answers. On success the
// connection is configured with the agreed packet size and limits.
struct ServerSession {
  UdsConnection conn;
  wire::HelloAck ack;
  wire::Hello hello;
};
Result<ServerSession> server_handshake_blocking(UniqueFd fd, const ServerPolicy& policy,
                                                uint64_t session_id, int64_t deadline_ns);

}  // namespace netipc
