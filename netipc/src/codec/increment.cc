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
    uint8_t* items = wire::layout_uniform_batch(out, count, kIncrementLen);
    for (uint32_t i = 0; i < count; ++i) {
      encode_increment(values[i], items + kIncrementLen * i);
    }
  } catch (const std::exception&) {
    out->clear();
    return make_error(Errc::kNoMemory, "increment batch encode");
  }
  return ok_status();
}

Status decode_increment_batch(ByteSpan payload, uint32_t item_count,
                              std::vector<uint64_t>* values) noexcept {
  if (values == nullptr) return make_error(Errc::kInvalidArgument, "increment batch decode");
  auto batch = wire::BatchView::parse(payload, item_count);
  if (!batch.ok()) {
    values->clear();
    return batch.error();
  }
  try {
    values->resize(item_count);  // bounded: the directory fitted the payload
  } catch (const std::exception&) {
    values->clear();
    return make_error(Errc::kNoMemory, "increment batch decode");
  }
  uint64_t* dst = values->data();
  for (uint32_t i = 0; i < item_count; ++i) {
    const ByteSpan item = batch->item(i);
    if (item.size < kIncrementLen) {
      values->clear();
      return make_error(Errc::kTruncated, "increment payload");
    }
    dst[i] = load_u64(item.data);
  }
  return ok_status();
}

Status answer_increment_batch(const wire::BatchView& request, std::vector<uint8_t>* out) noexcept {
  if (out == nullptr) return make_error(Errc::kInvalidArgument, "increment batch answer");
  const uint32_t n = request.size();
  try {
    uint8_t* items = wire::layout_uniform_batch(out, n, kIncrementLen);
    for (uint32_t i = 0; i < n; ++i) {
      const ByteSpan item = request.item(i);
      if (item.size < kIncrementLen) {
        out->clear();
        return make_error(Errc::kTruncated, "increment batch item");
      }
      encode_increment(increment_reply(load_u64(item.data)), items + kIncrementLen * i);
    }
  } catch (const std::exception&) {
    out->clear();
    return make_error(Errc::kNoMemory, "increment batch answer");
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
  return answer_increment_batch(*batch, out);
}

}  // namespace netipc::codec
