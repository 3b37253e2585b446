// Client: the blocking Level-2 client of one NetIPC endpoint (one
// {run_dir, service}, one method). docs/levels.md Part 1;
// integrator guide: docs/client.md.
//
// What it does for the caller:
//  - connects lazily: creating a Client does no I/O, and a call connects
//    when there is no session (refresh() exists for callers who want to
//    connect ahead of time);
//  - retries once on a broken session (at-least-once: servers may see a
//    request twice), grows request/response proposals on LIMIT_EXCEEDED and
//    reconnects, invisibly, up to 8 attempts;
//  - bounds every attempt by a deadline and can be aborted from another
//    thread;
//  - keeps AUTH_FAILED and INCOMPATIBLE sticky: no further connect attempts
//    until reset().
//
// Threading and lifetime:
//  - One owning thread at a time calls everything except abort(). The
//    Client may move between threads between calls.
//  - abort() may be called from any thread (and from a signal handler) as
//    long as the Client is neither destroyed nor moved concurrently.
//  - A returned Message (and a BatchView) points into the client's
//    buffers: valid until the next call(), call_batch(), refresh(),
//    reset() or the Client's destruction.
//  - No allocation on the steady-state call path: buffers are reused and
//    only grow when a larger message arrives or a session is replaced.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "netipc/batch.h"
#include "netipc/bytes.h"
#include "netipc/client_config.h"
#include "netipc/client_state.h"
#include "netipc/result.h"
#include "netipc/uds_connection.h"

namespace netipc {

class Client {
 public:
  // Validates the config (kInvalidArgument, kPathTooLong) and creates the
  // abort eventfd. Touches no socket: the state is DISCONNECTED.
  static Result<Client> create(const ClientConfig& config);

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();  // closes the session (never unlinks anything)

  // Cached: no system call.
  ClientState state() const;
  bool ready() const { return state() == ClientState::kReady; }
  ClientStatus status() const;
  // The config with its defaults resolved.
  const ClientConfig& config() const;

  // docs/levels.md §1.3: connects from DISCONNECTED / NOT_FOUND, reconnects from
  // BROKEN, does nothing in READY and the sticky states. Returns whether
  // the state changed. The connect is bounded by connect_timeout_ms. A
  // pending abort is ignored (docs/levels.md §1.8.3), but abort() interrupts a
  // refresh already waiting for HELLO_ACK.
  bool refresh();

  // One request/response exchange. `item_count` >= 2 marks
  // `request_payload` as a Level-1 batch (see call_batch()). `timeout_ms`
  // <= 0 uses config.call_timeout_ms; the deadline starts with each attempt
  // and covers sending the request and receiving the whole response.
  //
  // Errors (each distinct):
  //  kNotFound       no server at the endpoint (state NOT_FOUND)
  //  kAuthFailed     token rejected; sticky: later calls fail at once
  //  kIncompatible   no common profile / version mismatch; sticky
  //  kLimitExceeded  growth could not make the message fit (server ceiling
  //                  or 8 attempts), or a handshake rejected our proposal
  //  kUnsupported / kBadEnvelope / kInternalError
  //                  the server's status, after the one retry
  //  kTimeout        the attempt's deadline passed (state BROKEN, no retry)
  //  kAborted        abort() (state BROKEN; sticky until clear_abort())
  //  kPeerGone / kProtocol / kSystem ...
  //                  the session failed twice (state BROKEN)
  Result<Message> call(ByteSpan request_payload, uint32_t item_count = 1, int timeout_ms = 0);

  // Sends `items` as one Level-1 batch (one item is sent as a plain
  // message) and returns a view of the response's items; item i answers
  // request item i. items.size() must not exceed
  // config.max_request_batch_items (kLimitExceeded); empty -> kInvalidArgument.
  Result<wire::BatchView> call_batch(const std::vector<ByteSpan>& items, int timeout_ms = 0);

  // docs/levels.md §1.8.3: sets a sticky flag and wakes a blocked call, which returns
  // kAborted and leaves the state BROKEN. While the flag is set every call
  // fails with kAborted without I/O (tearing down a READY session). Any
  // thread.
  void abort() noexcept;
  // Clears the flag; the next call reconnects. Owning thread only.
  void clear_abort() noexcept;
  bool abort_pending() const noexcept;

  // Drops the session and returns to DISCONNECTED, also out of AUTH_FAILED
  // and INCOMPATIBLE. Learned sizes, the profile set (SHM stays stripped
  // after an attach failure), the counters and the abort flag are kept.
  void reset();

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netipc
