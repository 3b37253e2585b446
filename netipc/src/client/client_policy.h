// ClientPolicy: every decision of a Level-2 client context, with no I/O.
//
// The blocking Client and the libuv AsyncClient perform the I/O; this class
// tells them what to do next and keeps the state, the counters and the
// learned sizes (docs/levels.md §1.2-§1.8). Keeping the
// decisions here, pure, means both faces behave identically and every rule
// is testable without a socket.
//
// A driver runs a small loop:
//
//   Step s = policy.start_call(payload.size, items, abort_pending);
//   for (;;) switch (s) {
//     case kConnect: drop the session; connect with proposal();
//                    s = ok ? on_connected(ack) : on_connect_failed(error); break;
//     case kAttempt: send the request with message_id(), wait for the response;
//                    s = ok ? on_response(msg) : on_attempt_error(error); break;
//     case kSucceed: the response last passed to on_response() is the result;
//     case kFail:    drop the session unless state() == kReady; return error();
//   }
//
// Invariant the driver keeps: it holds a session exactly while state() is
// kReady (it drops the session before connecting and whenever a step leaves
// another state). Single owner; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "netipc/client_config.h"
#include "netipc/client_state.h"
#include "netipc/handshake.h"
#include "netipc/result.h"
#include "netipc/uds_connection.h"
#include "netipc/wire.h"

namespace netipc {

// Growth rule (§1.7.2): 16 below 16, n when n is a power of two, else the
// next power of two; 0 when that does not fit u32 (callers ignore 0).
uint32_t client_grow(uint64_t n) noexcept;

// How one call attempt failed, as far as retry and growth care.
enum class AttemptFailure : uint8_t {
  kOrdinary,        // I/O or protocol failure; a non-OK status other than LIMIT_EXCEEDED
  kResponseGrowth,  // the server answered LIMIT_EXCEEDED: grow the response proposal
  kOverCeiling,     // a message did not fit the agreed ceilings here (no growth)
  kTimeout,
  kAborted,
};
// Classifies an error returned by a send or receive.
AttemptFailure classify_attempt_error(Errc code) noexcept;

// Whether a failed connect was an SHM attach failure after an OK HELLO_ACK
// that selected SHM (§1.3 step 4, docs/shm.md B.5). See client_policy.cc for
// the codes recognised until ClientSession reports this distinctly.
bool is_shm_attach_failure(const Error& connect_error) noexcept;

class ClientPolicy {
 public:
  enum class Step : uint8_t { kConnect, kAttempt, kSucceed, kFail };

  // Validates the config (service name, socket path length, method) and
  // resolves its zero values. No I/O.
  static Result<ClientPolicy> create(const ClientConfig& config);

  const ClientConfig& config() const { return config_; }
  ClientState state() const { return state_; }
  ClientStatus status() const;
  // The HELLO proposal for the next connect: learned sizes, current
  // profiles, packet size left to the transport (auto).
  ClientProposal proposal() const;
  bool shm_offered() const { return (supported_ & wire::kProfileShmMask) != 0; }
  // Removes the SHM profiles for the rest of this context's life.
  // kInvalidArgument when no profile would remain.
  Status strip_shm();

  // ---- refresh (§1.3): kConnect when a connect is due, else kSucceed ----
  Step start_refresh();

  // ---- calls (§1.4-§1.5 with a lazy connect) ----
  // `abort_pending`: the context's abort flag. Returns kConnect (not
  // connected yet), kAttempt or kFail (sticky state, abort, bad arguments).
  Step start_call(size_t payload_size, uint32_t item_count, bool abort_pending);
  // The id of the request to send now: successful calls + 1, so a retried
  // request reuses its id (docs/wire.md §2.6).
  uint64_t message_id() const { return call_count_ + 1; }
  // The per-attempt deadline budget of this call in ms (0 -> config).
  int timeout_ms(int requested) const;

  // ---- results the driver reports ----
  Step on_connected(const wire::HelloAck& ack);
  Step on_connect_failed(const Error& error);
  // Validates kind, code, message_id, status and (batches) item_count and
  // directory. kSucceed counts the call.
  Step on_response(const Message& response);
  Step on_attempt_error(const Error& error);

  // The error of the last kFail.
  const Error& error() const { return error_; }

  // Back to DISCONNECTED (also out of the sticky states). Learned sizes,
  // the profile set and the counters are kept.
  void reset();

 private:
  enum class Phase : uint8_t {
    kIdle,
    kRefresh,         // a refresh() connect
    kInitialConnect,  // the call found no session
    kFirstAttempt,
    kRetryConnect,     // reconnect after an ordinary failure
    kRetriedAttempt,   // the single retry
    kOverflowConnect,  // reconnect with grown sizes
    kOverflowAttempt,
  };
  struct Sizes {
    uint32_t agreed_request = 0;
    uint32_t agreed_response = 0;
    uint32_t learned_request = 0;
    uint32_t learned_response = 0;
  };

  ClientPolicy() = default;
  Step begin_connect(Phase phase);
  Step begin_connect_after_teardown(Phase phase);
  Step next_attempt();
  Step attempt_failed(AttemptFailure kind, const Error& error);
  Step fail(const Error& error);         // the call fails; the state is kept
  Step fail_broken(const Error& error);  // the session is torn down: BROKEN
  void drop_session(ClientState next);
  Sizes sizes() const;

  ClientConfig config_;
  uint32_t supported_ = wire::kProfileUds;
  uint32_t preferred_ = 0;
  uint32_t learned_request_ = 0;
  uint32_t learned_response_ = 0;

  ClientState state_ = ClientState::kDisconnected;
  ClientState connect_from_ = ClientState::kDisconnected;
  wire::HelloAck agreed_{};  // valid while kReady

  uint64_t connect_count_ = 0;
  uint64_t reconnect_count_ = 0;
  uint64_t call_count_ = 0;
  uint64_t error_count_ = 0;

  // The call in progress.
  Phase phase_ = Phase::kIdle;
  size_t payload_size_ = 0;
  uint32_t item_count_ = 1;
  uint32_t overflow_rounds_ = 0;
  Sizes before_attempt_;
  Error original_error_;  // the first failure, returned if the retry cannot connect
  Error last_error_;      // the latest attempt failure
  Error error_;
};

}  // namespace netipc
