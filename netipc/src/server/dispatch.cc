#include "netipc/dispatch.h"

#include "base/bits.h"
#include "netipc/batch.h"

namespace netipc {

namespace {

wire::TransportStatus status_for(Errc code) {
  switch (code) {
    case Errc::kOk:
      return wire::TransportStatus::kOk;
    case Errc::kTruncated:
    case Errc::kBadLayout:
    case Errc::kOutOfBounds:
    case Errc::kMissingNul:
    case Errc::kBadAlignment:
    case Errc::kBadItemCount:
    case Errc::kBadMagic:
    case Errc::kBadVersion:
    case Errc::kProtocol:
      return wire::TransportStatus::kBadEnvelope;
    case Errc::kLimitExceeded:
      return wire::TransportStatus::kLimitExceeded;
    default:
      return wire::TransportStatus::kInternalError;
  }
}

wire::Header response_header(const wire::Header& request) {
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kResponse);
  h.code = request.code;
  h.message_id = request.message_id;
  h.item_count = 1;
  h.flags = 0;
  return h;
}

}  // namespace

DispatchResult Dispatcher::status_only(const wire::Header& request, wire::TransportStatus status,
                                       bool close_after_send) {
  DispatchResult r;
  r.header = response_header(request);
  r.header.transport_status = static_cast<uint16_t>(status);
  r.close_after_send = close_after_send;
  return r;
}

DispatchResult Dispatcher::finish(const wire::Header& request, Status outcome,
                                  uint32_t max_response_payload, ResponseWriter& writer,
                                  bool batch) {
  const wire::TransportStatus status = status_for(outcome.code());
  if (status != wire::TransportStatus::kOk) {
    DispatchResult r = status_only(request, status, true);
    if (status == wire::TransportStatus::kLimitExceeded) {
      // The answer did not fit: next sessions get twice this one's ceiling.
      const uint64_t doubled = uint64_t{max_response_payload} * 2;
      r.grow_response_to = doubled > 0x80000000u ? 0x80000000u : static_cast<uint32_t>(doubled);
    }
    return r;
  }
  ByteSpan payload = writer.payload();
  if (payload.size > max_response_payload) {
    DispatchResult r = status_only(request, wire::TransportStatus::kLimitExceeded, true);
    r.grow_response_to = payload.size > 0x80000000u
                             ? 0x80000000u
                             : detail::next_pow2_u32(static_cast<uint32_t>(payload.size));
    return r;
  }
  DispatchResult r;
  r.header = response_header(request);
  if (batch) {
    r.header.flags = wire::kFlagBatch;
    r.header.item_count = request.item_count;
  }
  r.header.payload_len = static_cast<uint32_t>(payload.size);
  r.payload = payload;
  r.keepalive = writer.shared();
  return r;
}

DispatchResult Dispatcher::dispatch(const Message& request, uint32_t max_response_payload) {
  if (request.header.code != method_) {
    // A method this endpoint does not serve: answered, the session goes on.
    return status_only(request.header, wire::TransportStatus::kUnsupported, false);
  }
  if (request.header.is_batch()) return dispatch_batch(request, max_response_payload);
  ResponseWriter writer(&scratch_);
  writer.reset();
  Status st = (*handler_)(request.payload, writer);
  return finish(request.header, st, max_response_payload, writer, false);
}

DispatchResult Dispatcher::dispatch_batch(const Message& request, uint32_t max_response_payload) {
  auto view = wire::BatchView::parse(request.payload, request.header.item_count);
  if (!view.ok()) {
    return status_only(request.header, wire::TransportStatus::kBadEnvelope, true);
  }
  if (handler_->batch()) {
    ResponseWriter whole(&batch_out_);
    whole.reset();  // a handler that writes nothing must not resend the last reply
    Status st = handler_->batch()(*view, whole);
    // A reply shorter than its directory is the handler's bug, not the peer's.
    if (st.ok() && whole.payload().size < uint64_t{8} * view->size()) {
      st = make_error(Errc::kInternalError, "batch handler wrote no directory");
    }
    return finish(request.header, st, max_response_payload, whole, true);
  }
  wire::BatchWriter out(&batch_out_, view->size());
  ResponseWriter item(&item_scratch_);
  for (uint32_t i = 0; i < view->size(); ++i) {
    item.reset();
    Status st = (*handler_)(view->item(i), item);
    // The first failing item decides the status of the whole reply.
    if (!st.ok()) return finish(request.header, st, max_response_payload, item, true);
    out.add(item.payload());
  }
  out.finish();
  ResponseWriter whole(&batch_out_);
  return finish(request.header, ok_status(), max_response_payload, whole, true);
}

}  // namespace netipc
