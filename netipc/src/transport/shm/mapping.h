// Mapping: the RAII owner of one MAP_SHARED mapping of a region file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace netipc::shm {

// A MAP_SHARED mapping; munmaps in its destructor. `guard_slot` is its
// entry in the SIGBUS guard (-1: unguarded); the mapping leaves the guard
// before it is unmapped.
class Mapping {
 public:
  Mapping() noexcept = default;
  Mapping(uint8_t* base, size_t size, int guard_slot = -1) noexcept
      : base_(base), size_(size), guard_slot_(guard_slot) {}
  Mapping(Mapping&& other) noexcept
      : base_(std::exchange(other.base_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        guard_slot_(std::exchange(other.guard_slot_, -1)) {}
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(); }

  uint8_t* base() const noexcept { return base_; }
  size_t size() const noexcept { return size_; }
  int guard_slot() const noexcept { return guard_slot_; }
  // True once an access hit a part of the file that had been truncated
  // away: the pages are anonymous zeros now, the peer's data is gone.
  bool broken() const noexcept;
  void reset() noexcept;

 private:
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  int guard_slot_ = -1;
};

}  // namespace netipc::shm
