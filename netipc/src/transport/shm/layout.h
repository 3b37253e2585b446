// The byte layout of a shared-memory region (docs/shm.md B.2): the 64-byte control
// header, its field offsets, and the placement of the two message areas.
#pragma once

#include <cstddef>
#include <cstdint>

#include "netipc/bytes.h"
#include "netipc/result.h"

namespace netipc::shm {

inline constexpr uint32_t kMagic = 0x4E53484D;  // "NSHM", LE bytes 4D 48 53 4E
inline constexpr uint16_t kVersion = 3;
inline constexpr uint16_t kHeaderLen = 64;
inline constexpr uint32_t kAlignment = 64;
inline constexpr uint32_t kDefaultSpinTries = 128;
// In the automatic mode a receiver also keeps spinning until this much time
// has passed since it started waiting (two or more usable CPUs only): long
// enough to cover a peer's handling of a small request on another CPU, so
// request/response traffic does not pay two futex sleeps and wake-ups per
// round trip; short enough to cost nothing measurable at low call rates.
inline constexpr uint32_t kAutoSpinNs = 20000;
inline constexpr uint32_t kMessageHeaderLen = 32;  // the NetIPC outer header

// Byte offsets of the control header fields.
inline constexpr size_t kOffMagic = 0;              // u32, plain
inline constexpr size_t kOffVersion = 4;            // u16, plain
inline constexpr size_t kOffHeaderLen = 6;          // u16, plain
inline constexpr size_t kOffOwnerPid = 8;           // i32, plain
inline constexpr size_t kOffOwnerGeneration = 12;   // u32, plain, non-zero
inline constexpr size_t kOffRequestOffset = 16;     // u32, plain
inline constexpr size_t kOffRequestCapacity = 20;   // u32, plain
inline constexpr size_t kOffResponseOffset = 24;    // u32, plain
inline constexpr size_t kOffResponseCapacity = 28;  // u32, plain
inline constexpr size_t kOffReqSeq = 32;            // u64, atomic, written by the client
inline constexpr size_t kOffRespSeq = 40;           // u64, atomic, written by the server
inline constexpr size_t kOffReqLen = 48;            // u32, atomic, written by the client
inline constexpr size_t kOffRespLen = 52;           // u32, atomic, written by the server
inline constexpr size_t kOffReqSignal = 56;         // u32, futex word client -> server
inline constexpr size_t kOffRespSignal = 60;        // u32, futex word server -> client

// Bit of a signal word that its *waiter* (never its publisher) sets while it
// is not sleeping in FUTEX_WAIT on that word. A publisher of this library
// skips FUTEX_WAKE when it sees the bit, and preserves it when it bumps the
// counter (the other 31 bits). Peers that know nothing of it never set it, so
// they are always woken; see docs/shm.md "Wake skipping" for the proof.
inline constexpr uint32_t kSignalAwakeBit = 0x80000000u;

// Largest region file attach() maps: two u32 offsets plus two u32 capacities
// can never describe more than this, so anything larger is not a region.
inline constexpr uint64_t kMaxRegionFileSize = uint64_t{1} << 33;

struct RegionLayout {
  uint32_t request_offset = 0;
  uint32_t request_capacity = 0;
  uint32_t response_offset = 0;
  uint32_t response_capacity = 0;
  uint64_t file_size = 0;  // response_offset + response_capacity (create)
};

// Layout of a region whose areas hold messages of up to the given sizes
// (32-byte header + payload). Capacities are rounded up to 64. Zero sizes
// are kInvalidArgument; a layout whose end does not fit in u32 is
// kLimitExceeded.
Result<RegionLayout> compute_layout(uint32_t request_message_bytes,
                                    uint32_t response_message_bytes) noexcept;

// align64(32 + payload) as u64 (never overflows): the area capacity a
// session needs for a payload ceiling.
constexpr uint64_t capacity_for_payload(uint32_t max_payload_bytes) {
  return align64(uint64_t{kMessageHeaderLen} + max_payload_bytes);
}

}  // namespace netipc::shm
