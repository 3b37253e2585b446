// LargeBuffer: a growable byte buffer for messages of megabytes (a
// 100k-cgroup snapshot is ~10-18 MB), backed by its own anonymous mapping
// once it passes kLargeBufferMapBytes and by the heap below that.
//
// Why a mapping: a first touch of a 4 KiB page is one page fault, and on a
// virtual machine each fault can exit to the hypervisor (~12 us measured on
// a PVM guest; thousands per snapshot). The mapping starts on a 2 MiB
// boundary and is marked MADV_HUGEPAGE, so with transparent huge pages in
// `madvise` or `always` mode it is filled with 2 MiB pages: a few faults
// instead of thousands. It is then pre-faulted in one MADV_POPULATE_WRITE
// call (Linux 5.14+), which also halves the cost of 4 KiB pages when huge
// pages are unavailable. Both are hints: when either fails (THP `never`, an
// older kernel, a kernel without THP) the buffer works with 4 KiB pages and
// nothing is reported. The mapping is rounded up to whole 2 MiB extents
// (so the tail is huge too): capacity() is the rounded size, and the
// resident size can exceed the requested one by less than 2 MiB.
//
// release() unmaps: the memory goes back to the kernel at once (a heap
// block of the same size might stay in the allocator's arena).
//
// Single owner, move-only, not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "netipc/result.h"

namespace netipc {

// Requests of at least this many bytes get their own mapping.
inline constexpr size_t kLargeBufferMapBytes = size_t{1} << 20;

// For a large array held elsewhere (a std::vector reserved to megabytes)
// that is about to be filled whole: marks the 2 MiB-aligned extents inside
// [data, data + bytes) for huge pages (MADV_HUGEPAGE) and pre-faults the
// whole pages of the range in one MADV_POPULATE_WRITE call (contents are
// unchanged). Ranges under 4 MiB are left alone. Hints: failures are
// ignored.
void prefault_large_array(void* data, size_t bytes) noexcept;

class LargeBuffer {
 public:
  // How the current storage was obtained (for tests and diagnostics).
  enum class Backing : uint8_t { kNone, kHeap, kMapping };

  LargeBuffer() noexcept = default;
  LargeBuffer(LargeBuffer&& other) noexcept;
  LargeBuffer& operator=(LargeBuffer&& other) noexcept;
  LargeBuffer(const LargeBuffer&) = delete;
  LargeBuffer& operator=(const LargeBuffer&) = delete;
  ~LargeBuffer() { release(); }

  // Makes capacity() at least `bytes`, keeping the first `preserve` bytes
  // (preserve <= size of the current storage). Never shrinks; a grown
  // buffer has new storage (data() changes). Memory beyond `preserve` is
  // unspecified. Errors: kNoMemory (the buffer is unchanged).
  Status reserve(size_t bytes, size_t preserve = 0) noexcept;

  // Frees the storage; capacity() is 0 afterwards.
  void release() noexcept;

  uint8_t* data() noexcept { return data_; }
  const uint8_t* data() const noexcept { return data_; }
  size_t capacity() const noexcept { return capacity_; }
  Backing backing() const noexcept { return backing_; }
  // True when the mapping was accepted for huge pages (madvise succeeded);
  // whether the kernel actually used them is its decision.
  bool huge_advised() const noexcept { return huge_advised_; }

  // For tests: run the mapped path without the MADV_HUGEPAGE and populate
  // hints, as on a kernel that refuses them.
  static void set_hints_disabled_for_testing(bool disabled) noexcept;

 private:
  uint8_t* data_ = nullptr;
  size_t capacity_ = 0;
  size_t mapped_bytes_ = 0;  // length of the mapping (kMapping only)
  Backing backing_ = Backing::kNone;
  bool huge_advised_ = false;
};

}  // namespace netipc
