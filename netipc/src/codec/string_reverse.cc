#include "netipc/codec/string_reverse.h"

#include <algorithm>
#include <cstring>
#include <exception>

namespace netipc::codec {

namespace {

// Writes the header and NUL, returns where the string bytes go.
Result<uint8_t*> prepare(size_t len, std::vector<uint8_t>* out) noexcept {
  if (out == nullptr) return make_error(Errc::kInvalidArgument, "string reverse encode");
  if (len > UINT32_MAX - kStringReverseOffset - 1) {
    return make_error(Errc::kLimitExceeded, "string reverse length");
  }
  try {
    out->resize(static_cast<size_t>(string_reverse_size(len)));
  } catch (const std::exception&) {
    return make_error(Errc::kNoMemory, "string reverse encode");
  }
  uint8_t* p = out->data();
  store_u32(p, kStringReverseOffset);
  store_u32(p + 4, static_cast<uint32_t>(len));
  p[kStringReverseOffset + len] = 0;
  return p + kStringReverseOffset;
}

}  // namespace

Status encode_string_reverse(std::string_view s, std::vector<uint8_t>* out) noexcept {
  auto dst = prepare(s.size(), out);
  if (!dst.ok()) return dst.error();
  if (!s.empty()) std::memcpy(*dst, s.data(), s.size());
  return ok_status();
}

Status encode_string_reversed(std::string_view s, std::vector<uint8_t>* out) noexcept {
  auto dst = prepare(s.size(), out);
  if (!dst.ok()) return dst.error();
  std::reverse_copy(s.begin(), s.end(), reinterpret_cast<char*>(*dst));
  return ok_status();
}

Result<std::string_view> decode_string_reverse(ByteSpan payload) noexcept {
  if (payload.size < kStringReverseOffset) {
    return make_error(Errc::kTruncated, "string reverse payload");
  }
  const uint32_t off = load_u32(payload.data);
  const uint64_t len = load_u32(payload.data + 4);
  if (off != kStringReverseOffset) return make_error(Errc::kBadLayout, "string reverse offset");
  if (kStringReverseOffset + len + 1 > payload.size) {
    return make_error(Errc::kOutOfBounds, "string reverse length");
  }
  if (payload.data[kStringReverseOffset + len] != 0) {
    return make_error(Errc::kMissingNul, "string reverse string");
  }
  return std::string_view(reinterpret_cast<const char*>(payload.data + kStringReverseOffset),
                          static_cast<size_t>(len));
}

}  // namespace netipc::codec
