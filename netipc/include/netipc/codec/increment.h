// INCREMENT (method 1) payload codec: one u64 in host order; the server
// answers v + 1 (wrapping). Single form: an 8-byte payload. Batch form: a
// Level-1 batch (docs/wire.md §3) of 8-byte items. Pure bytes, no I/O.
// Normative source: docs/codecs.md §3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "netipc/batch.h"
#include "netipc/bytes.h"
#include "netipc/result.h"

namespace netipc::codec {

inline constexpr size_t kIncrementLen = 8;

// The server's answer to v (wraps at 2^64).
constexpr uint64_t increment_reply(uint64_t v) {
  return v + 1;
}

// Writes exactly 8 bytes.
void encode_increment(uint64_t value, uint8_t out[kIncrementLen]) noexcept;
// Fewer than 8 bytes -> kTruncated; extra bytes are ignored.
Result<uint64_t> decode_increment(ByteSpan payload) noexcept;

// Writes a canonical batch of `count` values into *out (reusing its
// capacity): 16 * count bytes.
Status encode_increment_batch(const uint64_t* values, uint32_t count,
                              std::vector<uint8_t>* out) noexcept;

// Decodes a batch of `item_count` values into *values (cleared first, left
// empty on failure). Directory errors as wire::BatchView::parse
// (kBadItemCount, kBadAlignment, kOutOfBounds); an item shorter than 8
// bytes -> kTruncated.
Status decode_increment_batch(ByteSpan payload, uint32_t item_count,
                              std::vector<uint64_t>* values) noexcept;

// Server side of a batch: decodes the request batch and writes the response
// batch (item i = request item i + 1) into *out. Any item failure fails the
// whole reply and leaves *out untouched.
Status answer_increment_batch(ByteSpan request, uint32_t item_count,
                              std::vector<uint8_t>* out) noexcept;

// The same for an already parsed request, in one pass over its items (each
// entry read once, through BatchView::item): an item shorter than 8 bytes
// -> kTruncated, and *out is then left empty. *out's previous bytes are
// written over, not cleared first.
Status answer_increment_batch(const wire::BatchView& request, std::vector<uint8_t>* out) noexcept;

}  // namespace netipc::codec
