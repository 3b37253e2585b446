#include "netipc/codec/increment.h"

#include <exception>

#include "netipc/batch.h"

namespace netipc::codec {

void encode_increment(uint64_t value, uint8_t out[kIncrementLen]) noexcept {
  store_u64(out, value);
}

Result<uint64_t> decode_increment(ByteSpan payload) noexcept {
  if (payload.size < kIncrementLen) return make_error(Errc::kTruncated, "increment payload");
  return load_u64(payload.data);
}

Status encode_increment_batch(const uint64_t* values, uint32_t count,
                              std::vector<uint8_t>* out) noexcept {
  if (out == nullptr || (values == nullptr && count != 0)) {
    return make_error(Errc::kInvalidArgument, "increment batch encode");
  }
  try {
    out->reserve(size_t{16} * count);
    wire::BatchWriter w(out, count);
    for (uint32_t i = 0; i < count; ++i) {
      encode_increment(values[i], w.add_uninitialized(kIncrementLen));
    }
    w.finish();
  } catch (const std::exception&) {
    out->clear();
    return make_error(Errc::kNoMemory, "increment batch encode");
  }
  return ok_status();
}

Status decode_increment_batch(ByteSpan payload, uint32_t item_count,
                              std::vector<uint64_t>* values) noexcept {
  if (values == nullptr) return make_error(Errc::kInvalidArgument, "increment batch decode");
  values->clear();
  auto batch = wire::BatchView::parse(payload, item_count);
  if (!batch.ok()) return batch.error();
  try {
    values->reserve(item_count);  // bounded: the directory fitted the payload
  } catch (const std::exception&) {
    return make_error(Errc::kNoMemory, "increment batch decode");
  }
  for (uint32_t i = 0; i < item_count; ++i) {
    auto v = decode_increment(batch->item(i));
    if (!v.ok()) {
      values->clear();
      return v.error();
    }
    values->push_back(*v);
  }
  return ok_status();
}

Status answer_increment_batch(ByteSpan request, uint32_t item_count,
                              std::vector<uint8_t>* out) noexcept {
  if (out == nullptr) return make_error(Errc::kInvalidArgument, "increment batch answer");
  auto batch = wire::BatchView::parse(request, item_count);
  if (!batch.ok()) return batch.error();
  // Validate every item before writing anything, so a failure leaves no
  // half-built reply behind.
  for (uint32_t i = 0; i < item_count; ++i) {
    if (batch->item(i).size < kIncrementLen) {
      return make_error(Errc::kTruncated, "increment batch item");
    }
  }
  try {
    out->reserve(size_t{16} * item_count);
    wire::BatchWriter w(out, item_count);
    for (uint32_t i = 0; i < item_count; ++i) {
      const uint64_t v = load_u64(batch->item(i).data);
      encode_increment(increment_reply(v), w.add_uninitialized(kIncrementLen));
    }
    w.finish();
  } catch (const std::exception&) {
    out->clear();
    return make_error(Errc::kNoMemory, "increment batch answer");
  }
  return ok_status();
}

}  // namespace netipc::codec
