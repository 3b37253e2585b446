// Byte spans and unaligned host-order loads/stores.
//
// Received bytes are never cast to structs: every field is read with load_*
// (a memcpy the compiler turns into one move) at an offset the caller has
// bounds-checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace netipc {

struct ByteSpan {
  const uint8_t* data = nullptr;
  size_t size = 0;

  constexpr ByteSpan() = default;
  constexpr ByteSpan(const uint8_t* d, size_t n) : data(d), size(n) {}
  ByteSpan(const std::vector<uint8_t>& v) : data(v.data()), size(v.size()) {}  // NOLINT
  ByteSpan subspan(size_t off, size_t n) const { return ByteSpan(data + off, n); }
  ByteSpan subspan(size_t off) const { return ByteSpan(data + off, size - off); }
  bool empty() const { return size == 0; }
  std::string_view as_chars() const {
    return std::string_view(reinterpret_cast<const char*>(data), size);
  }
};

struct MutableByteSpan {
  uint8_t* data = nullptr;
  size_t size = 0;

  constexpr MutableByteSpan() = default;
  constexpr MutableByteSpan(uint8_t* d, size_t n) : data(d), size(n) {}
  MutableByteSpan(std::vector<uint8_t>& v) : data(v.data()), size(v.size()) {}  // NOLINT
  operator ByteSpan() const { return ByteSpan(data, size); }  // NOLINT
};

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint64_t load_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }
inline void store_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, sizeof v); }
inline void store_u64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, sizeof v); }

constexpr uint64_t align8(uint64_t x) { return (x + 7) & ~uint64_t{7}; }
constexpr uint64_t align64(uint64_t x) { return (x + 63) & ~uint64_t{63}; }

// 32-bit FNV-1a, Netdata's simple_hash(): the hash of a cgroup item's name.
constexpr uint32_t fnv1a32(std::string_view s) {
  uint32_t h = 0x811C9DC5u;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x01000193u;
  }
  return h;
}

}  // namespace netipc
