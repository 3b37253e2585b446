// Level-1 batch framing: a directory of {offset, length} entries followed by
// the packed item area, items at 8-byte aligned offsets, tail padded to 8.
// See docs/wire.md §3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/result.h"

namespace netipc::wire {

// Builds a canonical batch payload into a caller-owned (reusable) vector.
//
// The vector is grown, never value-initialised item by item: bytes left
// from a previous use are overwritten (directory, items) or zeroed
// explicitly (padding), so a reused vector costs no fill at all and a
// growing one a single fill of the new part.
class BatchWriter {
 public:
  // Starts a batch of item_count items in *out (its previous contents are
  // discarded). `item_area_hint` is the expected size of the item area
  // (items and their padding, e.g. 8 * item_count for 8-byte items): the
  // vector is sized for it once instead of growing with the items.
  BatchWriter(std::vector<uint8_t>* out, uint32_t item_count, size_t item_area_hint = 0);
  // Appends the next item. At most item_count items may be added.
  void add(ByteSpan item);
  // Returns the space for the next item of `len` bytes, to be filled in
  // place (avoids a copy for fixed-size items). Valid until the next call.
  uint8_t* add_uninitialized(uint32_t len) {
    const size_t start = static_cast<size_t>(align8(used_));
    const size_t end = start + len;
    if (dir_ + end > out_->size()) grow(dir_ + end);
    uint8_t* base = out_->data();
    if (start != used_) std::memset(base + dir_ + used_, 0, start - used_);
    uint8_t* entry = base + size_t{8} * next_;
    store_u32(entry, static_cast<uint32_t>(start));
    store_u32(entry + 4, len);
    ++next_;
    used_ = end;
    return base + dir_ + start;
  }
  // Pads the tail to a multiple of 8 and trims *out to the payload; entries
  // of items never added read {0, 0}. Returns the finished payload.
  ByteSpan finish();
  uint32_t added() const { return next_; }

 private:
  void grow(size_t min_size);

  std::vector<uint8_t>* out_;
  size_t dir_;       // directory bytes: 8 * item_count
  size_t used_ = 0;  // item area written so far (last item's end)
  uint32_t count_;
  uint32_t next_ = 0;
};

// Lays out in *out a canonical batch of `count` items of `item_len` bytes
// each, all at once: directory written, padding zeroed, *out sized to the
// payload (previous bytes written over, only growth filled). Returns the
// first item's space; item i is at + i * align8(item_len), to be filled by
// the caller. Same bytes as a BatchWriter adding those items.
uint8_t* layout_uniform_batch(std::vector<uint8_t>* out, uint32_t count, uint32_t item_len);

// Canonical payload size of a batch of items with these lengths.
uint64_t batch_payload_size(const uint32_t* lengths, uint32_t count);

// A validated view of a received batch payload.
class BatchView {
 public:
  // Checks the directory fits and every entry is aligned and in bounds
  // (64-bit arithmetic). Item order, overlap and gaps are not checked.
  static Result<BatchView> parse(ByteSpan payload, uint32_t item_count);
  uint32_t size() const { return count_; }
  // Re-checks entry i against the payload: a payload read in place from
  // shared memory can change after parse(). An entry that no longer fits
  // (or i >= size()) gives an empty span, never bytes outside the payload.
  ByteSpan item(uint32_t i) const {
    if (i >= count_) return ByteSpan();
    const uint8_t* e = payload_.data + size_t{8} * i;
    const uint64_t dir = uint64_t{8} * count_;
    // Each field loaded once, then bounded (see above).
    const uint64_t off = load_u32(e);
    const uint64_t len = load_u32(e + 4);
    if (off + len > payload_.size - dir) return ByteSpan();
    return ByteSpan(payload_.data + dir + off, static_cast<size_t>(len));
  }

 private:
  ByteSpan payload_;
  uint32_t count_ = 0;
};

}  // namespace netipc::wire
