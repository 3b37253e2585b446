// Server-side request dispatch, shared by every transport: one endpoint
// serves one method; batches are split into items, each handled in order,
// and the answers collected into a batch response; the outcome maps to a
// transport status and says whether the session continues
// (docs/levels.md §2.4).
//
// Handlers are called concurrently from the loop thread (socket sessions)
// and from shared-memory waiter threads: they must be thread-safe, and
// cheap (no blocking I/O) because they run on the server's loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/result.h"
#include "netipc/uds_connection.h"
#include "netipc/wire.h"

namespace netipc {

using SharedBytes = std::shared_ptr<const std::vector<uint8_t>>;

// Where a handler puts its answer: either bytes written into the
// session-owned scratch buffer (reused across calls: no allocation in
// steady state), or a shared immutable buffer sent without copying.
class ResponseWriter {
 public:
  explicit ResponseWriter(std::vector<uint8_t>* scratch) : scratch_(scratch) {}
  std::vector<uint8_t>& bytes() { return *scratch_; }
  void share(SharedBytes buffer) { shared_ = std::move(buffer); }

  ByteSpan payload() const {
    return shared_ ? ByteSpan(shared_->data(), shared_->size()) : ByteSpan(*scratch_);
  }
  const SharedBytes& shared() const { return shared_; }
  void reset() {
    scratch_->clear();
    shared_.reset();
  }

 private:
  std::vector<uint8_t>* scratch_;
  SharedBytes shared_;
};

// Handles one request item. Return:
//   ok                     -> OK with the written payload
//   a decode error (kTruncated, kBadLayout, kOutOfBounds, kMissingNul,
//     kBadAlignment, kBadItemCount, kProtocol)  -> BAD_ENVELOPE, close
//   kLimitExceeded         -> LIMIT_EXCEEDED (the answer did not fit), close
//   anything else          -> INTERNAL_ERROR, close
using Handler = std::function<Status(ByteSpan request, ResponseWriter& out)>;

// What to send back and what to do afterwards.
struct DispatchResult {
  wire::Header header;     // kind RESPONSE, code/id copied, status set
  ByteSpan payload;        // valid until the next dispatch on this Dispatcher
  SharedBytes keepalive;   // holds a shared payload while it is being sent
  bool close_after_send = false;
  // For LIMIT_EXCEEDED: the size the server should learn (0 = none).
  uint32_t grow_response_to = 0;
};

// Per-session dispatcher (owns the session's scratch buffers; not
// thread-safe itself: one per session).
class Dispatcher {
 public:
  Dispatcher(uint16_t method, const Handler* handler) : method_(method), handler_(handler) {}

  // `request` is a validated REQUEST message; `max_response_payload` is the
  // session's agreed response ceiling.
  DispatchResult dispatch(const Message& request, uint32_t max_response_payload);

  // A response for a request rejected before dispatch (e.g. over the
  // request ceiling): empty payload, the given status.
  static DispatchResult status_only(const wire::Header& request, wire::TransportStatus status,
                                    bool close_after_send);

 private:
  DispatchResult dispatch_batch(const Message& request, uint32_t max_response_payload);
  DispatchResult finish(const wire::Header& request, Status outcome, uint32_t max_response_payload,
                        ResponseWriter& writer, bool batch);

  uint16_t method_;
  const Handler* handler_;
  std::vector<uint8_t> scratch_;
  std::vector<uint8_t> item_scratch_;
  std::vector<uint8_t> batch_out_;
};

}  // namespace netipc
