// Level-1 batch framing: a directory of {offset, length} entries followed by
// the packed item area, items at 8-byte aligned offsets, tail padded to 8.
// See docs/wire.md §3.
#pragma once

#include <cstdint>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/result.h"

namespace netipc::wire {

// Builds a canonical batch payload into a caller-owned (reusable) vector.
class BatchWriter {
 public:
  // Clears *out and reserves the directory for item_count items.
  BatchWriter(std::vector<uint8_t>* out, uint32_t item_count);
  // Appends the next item. At most item_count items may be added.
  void add(ByteSpan item);
  // Returns the space for the next item of `len` bytes, to be filled in
  // place (avoids a copy for fixed-size items).
  uint8_t* add_uninitialized(uint32_t len);
  // Pads the tail to a multiple of 8; returns the finished payload.
  ByteSpan finish();
  uint32_t added() const { return next_; }

 private:
  std::vector<uint8_t>* out_;
  uint32_t count_;
  uint32_t next_ = 0;
};

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
  ByteSpan item(uint32_t i) const;

 private:
  ByteSpan payload_;
  uint32_t count_ = 0;
};

}  // namespace netipc::wire
