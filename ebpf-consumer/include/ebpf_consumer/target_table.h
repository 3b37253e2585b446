// The ebpf.plugin cgroup target table: the set of cgroups ebpf.plugin charts,
// each with the PIDs currently in it, rebuilt from a cache Snapshot every
// refresh (30 s in Netdata) and read by the collection threads every second.
//
// Legacy semantics kept (docs/cache.md, "The target table"):
// - only enabled items become targets; a target is identified by (hash, name);
// - `systemd` is option bit 0x2 (kCgroupOptSystemdService);
// - PIDs come from the item's `path`, its cgroup.procs file;
// - an empty snapshot keeps the existing targets and marks the integration
//   inactive (integration_active = false); the next non-empty pass raises the
//   "send cgroup charts" signal;
// - integration_active (snapshot has items) and systemd_enabled are published
//   with release stores after the targets, and read with acquire loads.
// Legacy flaws dropped (same section):
// - find-or-add is a hash lookup, not a list scan; PID sets are sorted
//   arrays diffed by a merge, not O(P^2) list searches;
// - a cgroup that left the snapshot is removed in the same pass (listed in
//   TargetView::removed() so its charts can be obsoleted), not one pass later;
// - "send cgroup charts" is raised when the SET of targets changes (any name
//   added or removed), not only when the count changes;
// - a cgroup.procs file that vanished (cgroup removed between discovery and
//   now) yields an empty PID set for this pass instead of an error;
// - nothing is ever unlinked, and no lock is held while files are read.
//
// Threading: apply() may be called from any thread; calls are serialised.
// It builds a new immutable TargetView privately (reading every cgroup.procs
// without holding any lock readers need) and publishes it with one pointer
// swap. Readers call view() and iterate the returned view for as long as they
// like; it never changes, so a half-updated table cannot be observed. Targets
// whose data did not change are shared between consecutive views (one
// Target object, counted by TargetRef: target.h).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ebpf_consumer/target.h"
#include "netipc/result.h"
#include "netipc/snapshot.h"

namespace netipc::ebpf {

// Reads cgroup.procs-shaped files: decimal PIDs separated by whitespace.
// One open + read loop into a buffer reused across calls (no allocation once
// the buffer has grown to the largest file). Not thread-safe.
class ProcsReader {
 public:
  static constexpr size_t kMaxFileBytes = size_t{64} << 20;

  // Replaces *pids with the PIDs in `path`, sorted ascending, no duplicates.
  // Errors:
  //   kNotFound         the file or its cgroup is gone (ENOENT, ENODEV,
  //                     ENOTDIR, ESRCH): callers treat it as "no PIDs";
  //                     *pids is cleared
  //   kInvalidArgument  empty path or a path containing NUL
  //   kLimitExceeded    the file is larger than kMaxFileBytes
  //   kSystem           any other open/read failure (errno kept)
  // After other errors the contents of *pids are unspecified.
  netipc::Status read(std::string_view path, std::vector<pid_t>* pids);

  // Parses `text` into *pids (appending, unsorted); returns the number of
  // tokens that are not a PID in [1, INT32_MAX].
  static size_t parse(std::string_view text, std::vector<pid_t>* pids);

  // Tokens skipped by the last read().
  size_t invalid_tokens() const noexcept { return invalid_tokens_; }

 private:
  std::string path_;
  std::vector<char> buf_;
  size_t invalid_tokens_ = 0;
};

// What one apply() did.
struct ApplyStats {
  uint64_t pass = 0;
  size_t targets = 0;  // after the pass
  size_t targets_added = 0;
  size_t targets_removed = 0;
  size_t pids = 0;  // after the pass, all targets
  size_t pids_added = 0;
  size_t pids_removed = 0;      // includes the PIDs of removed targets
  size_t files_read = 0;        // cgroup.procs files read successfully
  size_t files_vanished = 0;    // cgroup gone: empty PID set this pass
  size_t read_failures = 0;     // other failures: previous PIDs kept
  size_t disabled_skipped = 0;  // items with enabled == 0
  size_t duplicates_skipped = 0;
  bool send_cgroup_charts = false;
  int64_t duration_ns = 0;
};

// An immutable, consistent picture of the table after one pass.
class TargetView {
 public:
  uint64_t pass() const noexcept { return pass_; }  // 0 = nothing applied yet
  uint64_t snapshot_generation() const noexcept { return generation_; }
  bool integration_active() const noexcept { return integration_active_; }
  bool systemd_enabled() const noexcept { return systemd_enabled_; }
  // True in the view of a pass whose set of targets changed (or the first
  // non-empty pass after an empty one). Act on it once per pass().
  bool send_cgroup_charts() const noexcept { return send_cgroup_charts_; }

  size_t size() const noexcept { return targets_.size(); }
  const Target& operator[](size_t i) const noexcept { return *targets_[i]; }
  const std::vector<TargetRef>& targets() const noexcept { return targets_; }
  // Targets that left in this pass (for obsoleting their charts).
  const std::vector<TargetRef>& removed() const noexcept { return removed_; }

  const Target* find(uint32_t hash, std::string_view name) const noexcept;

  // Memory, without the allocator's per-block overhead: the view's own
  // arrays (target and removed lists, index), and the blocks of its targets
  // (Target::block_bytes(), shared with the views that hold the same
  // targets). target_bytes() walks every target: O(size()).
  size_t index_bytes() const noexcept;
  size_t target_bytes() const noexcept;

 private:
  friend class TargetTable;
  // The index key of (hash, name): computed once per item by apply() and
  // used for every view it probes.
  static uint64_t key_of(uint32_t hash, std::string_view name) noexcept;
  size_t slot_of(uint64_t key) const noexcept;
  const TargetRef* find_ptr(uint64_t key, uint32_t hash, std::string_view name) const noexcept;
  void index_reset(size_t capacity);            // may throw std::bad_alloc
  void insert(uint64_t key, TargetRef target);  // may throw std::bad_alloc

  uint64_t pass_ = 0;
  uint64_t generation_ = 0;
  bool integration_active_ = false;
  bool systemd_enabled_ = false;
  bool send_cgroup_charts_ = false;
  std::vector<TargetRef> targets_;
  std::vector<TargetRef> removed_;
  std::vector<uint32_t> slots_;  // index into targets_ + 1; 0 = empty
};

class TargetTable {
 public:
  TargetTable();
  ~TargetTable();
  TargetTable(const TargetTable&) = delete;
  TargetTable& operator=(const TargetTable&) = delete;

  // Rebuilds the table from `snapshot` (which the caller keeps alive for the
  // call, e.g. via SnapshotStore::acquire()) and publishes the new view.
  // kNoMemory: nothing published, the previous view stays current.
  netipc::Result<ApplyStats> apply(const netipc::Snapshot& snapshot);

  // The current view; never null (an empty view before the first apply).
  std::shared_ptr<const TargetView> view() const;

  bool integration_active() const noexcept {
    return integration_active_.load(std::memory_order_acquire);
  }
  bool systemd_enabled() const noexcept { return systemd_enabled_.load(std::memory_order_acquire); }

 private:
  std::mutex apply_mu_;  // serialises apply(); guards the members below it
  ProcsReader reader_;
  std::vector<pid_t> scratch_;
  uint64_t next_id_ = 1;
  uint64_t pass_ = 0;
  bool force_send_ = false;

  mutable std::mutex view_mu_;  // held only to copy or swap view_
  std::shared_ptr<const TargetView> view_;
  std::atomic<bool> integration_active_{false};
  std::atomic<bool> systemd_enabled_{false};
};

}  // namespace netipc::ebpf
