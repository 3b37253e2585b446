#include "netipc/batch.h"

namespace netipc::wire {

BatchWriter::BatchWriter(std::vector<uint8_t>* out, uint32_t item_count)
    : out_(out), count_(item_count) {
  out_->clear();
  out_->resize(size_t{8} * item_count);
}

uint8_t* BatchWriter::add_uninitialized(uint32_t len) {
  const size_t dir = size_t{8} * count_;
  const size_t start = align8(out_->size() - dir);
  out_->resize(dir + start + len);
  uint8_t* entry = out_->data() + size_t{8} * next_;
  store_u32(entry, static_cast<uint32_t>(start));
  store_u32(entry + 4, len);
  ++next_;
  return out_->data() + dir + start;
}

void BatchWriter::add(ByteSpan item) {
  uint8_t* dst = add_uninitialized(static_cast<uint32_t>(item.size));
  if (item.size != 0) std::memcpy(dst, item.data, item.size);
}

ByteSpan BatchWriter::finish() {
  const size_t dir = size_t{8} * count_;
  out_->resize(dir + align8(out_->size() - dir));
  return ByteSpan(out_->data(), out_->size());
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

ByteSpan BatchView::item(uint32_t i) const {
  if (i >= count_) return ByteSpan();
  const uint8_t* e = payload_.data + size_t{8} * i;
  const uint64_t dir = uint64_t{8} * count_;
  // Each field loaded once, then bounded (see the header).
  const uint64_t off = load_u32(e);
  const uint64_t len = load_u32(e + 4);
  if (off + len > payload_.size - dir) return ByteSpan();
  return ByteSpan(payload_.data + dir + off, static_cast<size_t>(len));
}

}  // namespace netipc::wire
