#include "netipc/batch.h"

namespace netipc::wire {

BatchWriter::BatchWriter(std::vector<uint8_t>* out, uint32_t item_count, size_t item_area_hint)
    : out_(out), dir_(size_t{8} * item_count), count_(item_count) {
  // Only growth is filled; shrinking (and reuse) touches no byte.
  const size_t want = dir_ + item_area_hint;
  if (out_->size() < want) out_->resize(want);
}

void BatchWriter::grow(size_t min_size) {
  // Geometric, so that items of unknown total size cost amortised O(1).
  const size_t doubled = out_->size() * 2;
  out_->resize(doubled > min_size ? doubled : min_size);
}

void BatchWriter::add(ByteSpan item) {
  uint8_t* dst = add_uninitialized(static_cast<uint32_t>(item.size));
  if (item.size != 0) std::memcpy(dst, item.data, item.size);
}

ByteSpan BatchWriter::finish() {
  uint8_t* base = out_->data();
  if (next_ < count_) std::memset(base + size_t{8} * next_, 0, size_t{8} * (count_ - next_));
  const size_t end = static_cast<size_t>(align8(used_));
  if (dir_ + end > out_->size()) out_->resize(dir_ + end);
  base = out_->data();
  if (end != used_) std::memset(base + dir_ + used_, 0, end - used_);
  out_->resize(dir_ + end);
  return ByteSpan(out_->data(), out_->size());
}

uint8_t* layout_uniform_batch(std::vector<uint8_t>* out, uint32_t count, uint32_t item_len) {
  const size_t dir = size_t{8} * count;
  const size_t slot = static_cast<size_t>(align8(item_len));
  out->resize(dir + slot * count);
  uint8_t* base = out->data();
  // Locals only: stores through uint8_t* would otherwise force the vector's
  // fields to be reloaded for every item.
  for (uint32_t i = 0; i < count; ++i) {
    store_u32(base + size_t{8} * i, static_cast<uint32_t>(slot * i));
    store_u32(base + size_t{8} * i + 4, item_len);
  }
  if (slot != item_len) {
    for (uint32_t i = 0; i < count; ++i)
      std::memset(base + dir + slot * i + item_len, 0, slot - item_len);
  }
  return base + dir;
}

uint64_t batch_payload_size(const uint32_t* lengths, uint32_t count) {
  uint64_t end = 0;
  for (uint32_t i = 0; i < count; ++i) end = align8(end) + lengths[i];
  return uint64_t{8} * count + align8(end);
}

Result<BatchView> BatchView::parse(ByteSpan payload, uint32_t item_count) {
  const uint64_t dir = uint64_t{8} * item_count;
  if (dir > payload.size) return make_error(Errc::kBadItemCount, "batch directory");
  const uint64_t packed = payload.size - dir;
  for (uint32_t i = 0; i < item_count; ++i) {
    const uint8_t* e = payload.data + size_t{8} * i;
    const uint64_t off = load_u32(e);
    const uint64_t len = load_u32(e + 4);
    if (off % 8 != 0) return make_error(Errc::kBadAlignment, "batch item");
    if (off + len > packed) return make_error(Errc::kOutOfBounds, "batch item");
  }
  BatchView v;
  v.payload_ = payload;
  v.count_ = item_count;
  return v;
}

}  // namespace netipc::wire
