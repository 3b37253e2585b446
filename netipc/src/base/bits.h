// Bit arithmetic on sizes.
#pragma once

#include <cstdint>

namespace netipc::detail {

// The smallest power of two >= n, at least 16 and at most 2^31: the size a
// growing buffer or a learned response ceiling is rounded up to.
inline uint32_t next_pow2_u32(uint32_t n) {
  if (n < 16) return 16;
  if ((n & (n - 1)) == 0) return n;
  if (n > 0x80000000u) return 0x80000000u;
  return 1u << (32 - __builtin_clz(n));
}

}  // namespace netipc::detail
