// Server-side request dispatch, shared by every transport: one endpoint
// serves one method; batches go whole to the method's batch handler when it
// has one, otherwise are split into items, each handled in order, and the
// answers collected into a batch response; the outcome maps to a
// transport status and says whether the session continues
// (docs/levels.md §2.4).
//
// Handlers are called concurrently from the loop thread (socket sessions)
// and from shared-memory waiter threads: they must be thread-safe, and
// cheap (no blocking I/O) because they run on the server's loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "netipc/batch.h"
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
using ItemHandler = std::function<Status(ByteSpan request, ResponseWriter& out)>;

// Handles a whole batch request in one call, for methods whose items are
// cheap enough that a call per item would dominate. `request` has passed
// wire::BatchView::parse; its items are read through item(), which
// re-checks each entry (a request read in place from shared memory can
// change under the handler). The handler writes a canonical batch of
// exactly request.size() answers into out.bytes() (wire::BatchWriter or
// wire::layout_uniform_batch; it starts empty, its capacity reused);
// answer i belongs to request item i. Statuses as for ItemHandler; any
// failure fails the whole reply, as a failing item does on the per-item
// path.
using BatchHandler = std::function<Status(const wire::BatchView& request, ResponseWriter& out)>;

// What an endpoint runs for its method: an ItemHandler, which serves single
// requests and (item by item) batches, and optionally a BatchHandler, which
// then serves batch requests instead. Converts implicitly from any callable
// an ItemHandler accepts, so a per-item lambda is a Handler.
class Handler {
 public:
  Handler() = default;
  Handler(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Handler> &&
                                                    std::is_constructible_v<ItemHandler, F>>>
  Handler(F&& item) : item_(std::forward<F>(item)) {}  // NOLINT(google-explicit-constructor)
  Handler(ItemHandler item, BatchHandler batch)
      : item_(std::move(item)), batch_(std::move(batch)) {}

  // Runs the item handler (std::bad_function_call when there is none).
  Status operator()(ByteSpan request, ResponseWriter& out) const { return item_(request, out); }
  // True when there is an item handler (a batch handler alone is not enough).
  explicit operator bool() const { return static_cast<bool>(item_); }
  const ItemHandler& item() const { return item_; }
  const BatchHandler& batch() const { return batch_; }

 private:
  ItemHandler item_;
  BatchHandler batch_;
};

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
