// STRING_REVERSE (method 3) payload codec, a test method:
// {u32 str_offset = 8, u32 str_length, bytes, NUL}; total 8 + length + 1.
// The response carries the reversed string. Pure bytes, no I/O.
// Normative source: docs/codecs.md §4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/result.h"

namespace netipc::codec {

inline constexpr uint32_t kStringReverseOffset = 8;

// Payload size for a string of `len` bytes.
constexpr uint64_t string_reverse_size(uint64_t len) {
  return kStringReverseOffset + len + 1;
}

// Encodes `s` into *out (reusing its capacity). kLimitExceeded when the
// length does not fit the u32 field.
Status encode_string_reverse(std::string_view s, std::vector<uint8_t>* out) noexcept;

// Encodes `s` reversed: the server's response to a request carrying `s`.
Status encode_string_reversed(std::string_view s, std::vector<uint8_t>* out) noexcept;

// Returns a view of the string inside `payload` (valid while it is).
// Fewer than 8 bytes -> kTruncated; str_offset != 8 -> kBadLayout;
// 8 + length + 1 > size -> kOutOfBounds; no NUL after the string ->
// kMissingNul. Extra bytes are ignored; embedded NULs are not rejected.
Result<std::string_view> decode_string_reverse(ByteSpan payload) noexcept;

}  // namespace netipc::codec
