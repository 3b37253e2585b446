// One cgroup target of the ebpf target table (target_table.h), and
// TargetRef, the counted reference that keeps it alive.
//
// Layout: a Target is ONE heap block: 64 bytes of fixed fields, then its
// PIDs, then name + NUL, then path + NUL. With the names and paths of
// netipc-bench consumer-refresh that is ~170 bytes a target with malloc's
// overhead, about half of what a std::shared_ptr<Target> holding two
// std::strings and a PID vector took in four allocations (docs/consumer.md,
// Memory, has the measurement).
//
// Immutable: Target::make() builds a target complete and nothing changes it
// afterwards, so any number of threads read it without synchronisation.
//
// Lifetime: TargetRef is an intrusive, thread-safe reference count (a
// std::shared_ptr without the separate control block, 8 bytes instead of
// 16). The block is freed when its last TargetRef goes, on whichever thread
// that happens. Everything reachable from a Target (name.c_str(),
// path.c_str(), pids.data()) lives exactly as long as the Target, i.e. as
// long as any TargetView or TargetRef holds it; the C ABI (netipc_ebpf.h)
// hands out those pointers for the life of a view.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "netipc/cgroup_item.h"
#include "netipc/result.h"

namespace netipc::ebpf {

class Target;

// Bytes stored in a Target's block, followed by a NUL (embedded NULs are
// kept: size() is authoritative). The member holds the distance from its own
// address to the bytes instead of a pointer: 8 bytes instead of 16, valid
// because a Target never moves. For the same reason it cannot be copied;
// take std::string_view(target.name) (or std::string) for a value.
class TargetString {
 public:
  TargetString(const TargetString&) = delete;
  TargetString& operator=(const TargetString&) = delete;

  const char* data() const noexcept { return reinterpret_cast<const char*>(this) + offset_; }
  const char* c_str() const noexcept { return data(); }  // NUL-terminated
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  char operator[](size_t i) const noexcept { return data()[i]; }
  std::string_view view() const noexcept { return {data(), size_}; }
  operator std::string_view() const noexcept { return view(); }  // NOLINT: implicit by design

  friend bool operator==(const TargetString& a, const TargetString& b) noexcept {
    return a.view() == b.view();
  }
  friend bool operator==(const TargetString& a, std::string_view b) noexcept {
    return a.view() == b;
  }
  friend bool operator==(std::string_view a, const TargetString& b) noexcept {
    return a == b.view();
  }
  friend bool operator!=(const TargetString& a, const TargetString& b) noexcept {
    return !(a == b);
  }
  friend bool operator!=(const TargetString& a, std::string_view b) noexcept { return !(a == b); }
  friend bool operator!=(std::string_view a, const TargetString& b) noexcept { return !(a == b); }
  friend bool operator<(const TargetString& a, const TargetString& b) noexcept {
    return a.view() < b.view();
  }

 private:
  friend class Target;
  TargetString() noexcept = default;

  uint32_t offset_ = 0;  // from this member to the first byte
  uint32_t size_ = 0;
};

// A Target's PIDs, sorted ascending, unique, stored in its block (the same
// self-relative scheme as TargetString). data() is valid (not null) even
// when empty.
class PidList {
 public:
  using value_type = pid_t;
  using const_iterator = const pid_t*;

  PidList(const PidList&) = delete;
  PidList& operator=(const PidList&) = delete;

  const pid_t* data() const noexcept {
    return reinterpret_cast<const pid_t*>(reinterpret_cast<const char*>(this) + offset_);
  }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  pid_t operator[](size_t i) const noexcept { return data()[i]; }
  const pid_t* begin() const noexcept { return data(); }
  const pid_t* end() const noexcept { return data() + size_; }

 private:
  friend class Target;
  PidList() noexcept = default;

  uint32_t offset_ = 0;  // from this member to the first PID
  uint32_t size_ = 0;
};

// A counted reference to a Target (or null). Copying increments, destroying
// decrements; any thread may copy or drop its own TargetRef while other
// threads hold others to the same Target (like std::shared_ptr: one
// TargetRef object is not itself safe to modify from two threads). At most
// 2^32 - 1 references to one Target may exist at once.
class TargetRef {
 public:
  TargetRef() noexcept = default;
  TargetRef(const TargetRef& other) noexcept;
  TargetRef(TargetRef&& other) noexcept : target_(other.target_) { other.target_ = nullptr; }
  TargetRef& operator=(const TargetRef& other) noexcept;
  TargetRef& operator=(TargetRef&& other) noexcept;
  ~TargetRef() { reset(); }

  const Target* get() const noexcept { return target_; }
  const Target* operator->() const noexcept { return target_; }
  const Target& operator*() const noexcept { return *target_; }
  explicit operator bool() const noexcept { return target_ != nullptr; }
  void reset() noexcept;

  // How many TargetRefs hold this target (tests; racy while others change).
  uint32_t use_count() const noexcept;

 private:
  friend class Target;
  explicit TargetRef(const Target* adopted) noexcept : target_(adopted) {}

  const Target* target_ = nullptr;
};

// One cgroup target. Read-only once made; see the file comment.
class Target {
 public:
  uint64_t id = 0;          // unique for the table's life; kept while the target stays
  uint64_t added_pass = 0;  // TargetView::pass() in which it appeared
  uint64_t cgroup_id = 0;
  uint32_t hash = 0;
  uint32_t options = 0;
  TargetString name;
  TargetString path;     // its cgroup.procs
  PidList pids;          // sorted ascending, unique
  bool systemd = false;  // options & kCgroupOptSystemdService

  // A target for `item` (hash, options, cgroup_id, name, path) with the
  // given identity and PIDs (sorted ascending, unique: not checked).
  // Errors: kNoMemory; kLimitExceeded if the block would pass 4 GiB.
  static Result<TargetRef> make(const CgroupItemView& item, uint64_t id, uint64_t added_pass,
                                const pid_t* pids, size_t pid_count) noexcept;

  bool has_pid(pid_t pid) const noexcept;  // binary search

  // Bytes of the block (fixed fields, PIDs, name, path, both NULs), without
  // the allocator's own overhead.
  size_t block_bytes() const noexcept;

  // Targets alive in the process (tests use it to prove blocks are freed).
  static size_t live_instances() noexcept;

  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

 private:
  friend class TargetRef;
  Target() noexcept = default;
  ~Target() = default;
  static void release(const Target* t) noexcept;

  mutable std::atomic<uint32_t> refs_{1};  // TargetRefs holding this block
};

// Keep the fixed part at one 64-byte header: every byte here is paid once
// per cgroup.
static_assert(sizeof(Target) == 64, "Target's fixed fields grew");
static_assert(alignof(Target) % alignof(pid_t) == 0, "PIDs follow the fixed fields unpadded");

}  // namespace netipc::ebpf
