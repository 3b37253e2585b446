#include "base/large_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older headers lack it
#endif

namespace netipc {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

std::atomic<bool> g_hints_disabled{false};

size_t page_size() noexcept {
  static const size_t page = [] {
    const long p = ::sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<size_t>(p) : size_t{4096};
  }();
  return page;
}

struct Mapped {
  uint8_t* data = nullptr;
  size_t bytes = 0;
  bool huge = false;
};

// An anonymous mapping of `bytes` rounded up to whole 2 MiB extents that
// starts on a 2 MiB boundary: the over-long reservation's unaligned head
// and tail are unmapped again. A tail shorter than an extent would be
// filled 4 KiB at a time (hundreds of faults for a 10 MB message).
Mapped map_aligned(size_t bytes) noexcept {
  const size_t page = page_size();
  if (bytes > SIZE_MAX - 2 * kHugePage) return {};
  const size_t len = (bytes + kHugePage - 1) & ~(kHugePage - 1);
  const size_t reserve = len + kHugePage - page;
  void* raw = ::mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return {};
  const auto base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (base + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
  if (aligned > base) ::munmap(raw, aligned - base);
  const uintptr_t end = base + reserve;
  if (end > aligned + len) ::munmap(reinterpret_cast<void*>(aligned + len), end - aligned - len);
  Mapped m;
  m.data = reinterpret_cast<uint8_t*>(aligned);
  m.bytes = len;
  if (!g_hints_disabled.load(std::memory_order_relaxed)) {
    // Hints only: EINVAL (no THP in the kernel, or a kernel without
    // MADV_POPULATE_WRITE) leaves an ordinary mapping that faults lazily.
    m.huge = ::madvise(m.data, len, MADV_HUGEPAGE) == 0;
    (void)::madvise(m.data, len, MADV_POPULATE_WRITE);
  }
  return m;
}

}  // namespace

void prefault_large_array(void* data, size_t bytes) noexcept {
  if (data == nullptr || bytes < 2 * kHugePage ||
      g_hints_disabled.load(std::memory_order_relaxed)) {
    return;
  }
  const auto begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t first = (begin + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
  const uintptr_t last = (begin + bytes) & ~(uintptr_t{kHugePage} - 1);
  if (last > first) (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  // Whole pages only: the partial pages at either end may belong to other
  // heap blocks (populating them would be harmless, but is not ours to do).
  const uintptr_t page = page_size();
  const uintptr_t p0 = (begin + page - 1) & ~(page - 1);
  const uintptr_t p1 = (begin + bytes) & ~(page - 1);
  if (p1 > p0) (void)::madvise(reinterpret_cast<void*>(p0), p1 - p0, MADV_POPULATE_WRITE);
}

void LargeBuffer::set_hints_disabled_for_testing(bool disabled) noexcept {
  g_hints_disabled.store(disabled, std::memory_order_relaxed);
}

LargeBuffer::LargeBuffer(LargeBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      mapped_bytes_(std::exchange(other.mapped_bytes_, 0)),
      backing_(std::exchange(other.backing_, Backing::kNone)),
      huge_advised_(std::exchange(other.huge_advised_, false)) {}

LargeBuffer& LargeBuffer::operator=(LargeBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    mapped_bytes_ = std::exchange(other.mapped_bytes_, 0);
    backing_ = std::exchange(other.backing_, Backing::kNone);
    huge_advised_ = std::exchange(other.huge_advised_, false);
  }
  return *this;
}

Status LargeBuffer::reserve(size_t bytes, size_t preserve) noexcept {
  if (bytes <= capacity_) return ok_status();
  if (preserve > capacity_) preserve = capacity_;
  LargeBuffer next;
  if (bytes >= kLargeBufferMapBytes) {
    const Mapped m = map_aligned(bytes);
    if (m.data == nullptr) return make_error(Errc::kNoMemory, "large buffer: mmap", errno);
    next.data_ = m.data;
    next.capacity_ = m.bytes;
    next.mapped_bytes_ = m.bytes;
    next.backing_ = Backing::kMapping;
    next.huge_advised_ = m.huge;
  } else {
    next.data_ = static_cast<uint8_t*>(std::malloc(bytes));
    if (next.data_ == nullptr) return make_error(Errc::kNoMemory, "large buffer: malloc");
    next.capacity_ = bytes;
    next.backing_ = Backing::kHeap;
  }
  if (preserve != 0) std::memcpy(next.data_, data_, preserve);
  *this = std::move(next);
  return ok_status();
}

void LargeBuffer::release() noexcept {
  if (backing_ == Backing::kMapping) {
    ::munmap(data_, mapped_bytes_);
  } else if (backing_ == Backing::kHeap) {
    std::free(data_);
  }
  data_ = nullptr;
  capacity_ = 0;
  mapped_bytes_ = 0;
  backing_ = Backing::kNone;
  huge_advised_ = false;
}

}  // namespace netipc
