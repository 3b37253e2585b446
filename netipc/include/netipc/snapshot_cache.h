// SnapshotStore: the publication half of the Level-3 cgroups cache (spec
// Part 3). It holds the current immutable Snapshot, lets any thread look items
// up through a cheap ReadGuard, replaces the snapshot atomically on publish(),
// frees a replaced snapshot only after every reader that could see it has
// left, and keeps the status block of docs/levels.md §3.3.
//
// The refresh logic (Level-2 call, decode, SnapshotBuilder) lives elsewhere
// and calls only publish(), record_failure() and set_connection_state().
//
// Guarantees
// - Readers never wait for a refresh: taking a guard is two atomic loads and
//   one atomic increment (plus a retry only if a publish flips the epoch in
//   that very instant); releasing it is one atomic decrement. No lock, no
//   system call, no allocation. find() on a guard is Snapshot::find().
// - Readers never see a half-built cache: a Snapshot is complete and
//   immutable before publish() makes it reachable.
// - A view returned by ReadGuard::find() stays valid until that guard is
//   destroyed, even if publish() replaces the snapshot meanwhile.
// - A failed refresh (record_failure) never touches the current snapshot.
// - Publishers do not wait for readers either: a replaced snapshot is
//   "retired" and freed as soon as every guard that could see it has left,
//   checked at once (with a few microseconds of spinning), and again by every
//   later publish() or reclaim(). Only if kMaxRetired replaced snapshots are
//   all still pinned does publish() wait, which bounds memory at
//   1 + kMaxRetired snapshots.
//
// Threading and lifetime rules
// - ReadGuard is thread-affine: destroy it on the thread that created it, and
//   before the SnapshotStore. Guards nest (several on one thread are fine).
// - Hold a guard for a batch of lookups, not across blocking work: a replaced
//   snapshot stays in memory while an older guard lives. For long work (e.g.
//   reading cgroup.procs for every item) take acquire() instead: a shared_ptr
//   that keeps one snapshot alive without holding up reclamation of others.
// - publish(), clear() and synchronize() refuse (kInvalidArgument) when the
//   calling thread holds any ReadGuard: they may have to wait for readers, and
//   waiting for itself would deadlock.
// - All SnapshotStore methods may be called from any thread; publishers are
//   serialised by an internal mutex that readers never take.
//
// Memory-ordering argument (epoch + two reader counters per stripe, a
// one-flip variant of the classic two-parity user-space RCU):
//   Reader enter:  A: e = epoch (relaxed)
//                  B: active[stripe][e & 1] += 1            (seq_cst RMW)
//                  C: if epoch != e: undo B, retry          (seq_cst load)
//                  D: snap = current                        (seq_cst load)
//   Reader leave:  L: active[stripe][e & 1] -= 1            (release RMW)
//   Publish:       W: current = new; retire old, noting the epoch R then
//                  (seq_cst store)
//   Grace period (by a publisher, under the publish mutex, only when no other
//   grace period is in progress):
//                  F: epoch = E + 1                         (seq_cst store)
//                  Z: observe active[s][E & 1] == 0 once for every stripe s
//                     (seq_cst loads, which are also acquire)
//                  then free every retired snapshot with R <= E.
// A snapshot retired with epoch R was replaced (W) before any flip starting
// at E >= R, so W precedes F in program order and in S below. All of B, C, D,
// W, F and the loads in Z are seq_cst, so they appear in one total order S
// consistent with each thread's program order. Take a reader whose D returned
// the retired snapshot. Then D precedes W in S (otherwise D would read W or
// later), and C precedes D, so C precedes F: C read an epoch value written
// before F. If that value is E, the reader pinned parity E & 1 at B, before F
// in S. If it is older, an earlier grace period flipped the epoch after C and
// drained that parity, so it observed this reader's L, and grace periods do
// not overlap: the reader is gone before this one begins. In the first case,
// every load in Z follows F in S, so it cannot read a value older than B: it
// sees the reader's increment until the reader's L. Z therefore completes only
// after reading a value written by L or by a later RMW in the same release
// sequence, so L synchronises with Z and all of the reader's accesses to the
// snapshot happen before it is freed. A reader whose C follows F reads
// E + 1 != e (if it started with E) and retries, or pins parity (E + 1) & 1
// and then reads `current` after W; either way it never holds the retired
// snapshot. A counter only needs to be seen at zero once: no reader can pin
// parity E & 1 after F until the next flip, which waits for this grace period
// to complete. The new snapshot's contents are visible to readers because W
// (a release) is read by D (an acquire). Readers are spread over
// cache-line-sized stripes so that threads do not bounce one line between
// cores.
//
// The status block is a sequence lock over atomic fields: writers (serialised
// by a mutex) bump the sequence to odd, store, bump to even; readers retry
// until they see the same even sequence before and after. A status() copy is
// therefore never torn, and reading it never blocks a writer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

#include "netipc/cgroup_item.h"
#include "netipc/client_state.h"
#include "netipc/result.h"
#include "netipc/snapshot.h"

namespace netipc {

// docs/levels.md §3.3 status plus the failure bookkeeping a refresh loop needs.
struct CacheStatus {
  bool populated = false;        // a snapshot is cached (a refresh succeeded)
  bool systemd_enabled = false;  // of the cached snapshot
  ClientState connection_state = ClientState::kDisconnected;  // reported by the client layer
  Errc last_error = Errc::kOk;  // code of the most recent failure (kept after success)
  uint32_t item_count = 0;      // of the cached snapshot
  uint64_t generation = 0;      // of the cached snapshot
  uint64_t refresh_success_count = 0;
  uint64_t refresh_failure_count = 0;
  uint64_t consecutive_failures = 0;  // since the last success
  int64_t last_refresh_ts = 0;        // CLOCK_MONOTONIC ms of the last success; 0 = never
};

class ReadGuard;

class SnapshotStore {
 public:
  SnapshotStore() noexcept;
  // No ReadGuard on this store may be alive.
  ~SnapshotStore();
  SnapshotStore(const SnapshotStore&) = delete;
  SnapshotStore& operator=(const SnapshotStore&) = delete;

  // Makes `snapshot` current and retires the previous one (freed once no
  // guard can see it; see reclaim()). Counts a successful refresh:
  // refresh_success_count++, last_refresh_ts = now, consecutive_failures = 0,
  // status fields from the snapshot. Waits for readers only when kMaxRetired
  // replaced snapshots are still pinned.
  // Errors (current snapshot kept, nothing counted): kInvalidArgument for a
  // null snapshot or when the calling thread holds a ReadGuard.
  Status publish(std::shared_ptr<const Snapshot> snapshot);

  // Counts a failed refresh; the current snapshot is kept. Returns the number
  // of consecutive failures (1, 2, ...) so the caller can rate-limit its logs.
  uint64_t record_failure(const Error& why) noexcept;

  // Stores the Level-2 client state (docs/levels.md §1.2) for status(); no other effect.
  void set_connection_state(ClientState state) noexcept;

  // Drops the current snapshot (docs/levels.md §3.1 close): populated = false, and
  // waits until every replaced snapshot is freed. Counters are kept.
  // Errors as publish().
  Status clear();

  // Frees the retired snapshots no guard can see any more. Never blocks (safe
  // while holding a guard): if a publisher is busy, it only reports. Returns
  // how many replaced snapshots are still waiting to be freed.
  size_t reclaim() noexcept;
  // Waits until every retired snapshot is freed. Errors as publish().
  Status synchronize();

  // A consistent copy of the status block; any thread, never blocks.
  CacheStatus status() const noexcept;
  // True once a snapshot is cached (docs/levels.md §3.1 ready()).
  bool ready() const noexcept;

  // A counted reference to the current snapshot (null if none) for work too
  // long to hold a guard across. Takes a short mutex; not for hot paths.
  std::shared_ptr<const Snapshot> acquire() const;

  // Replaced snapshots that may wait for reclamation before publish() blocks.
  static constexpr size_t kMaxRetired = 16;

 private:
  friend class ReadGuard;
  static constexpr size_t kStripes = 16;
  struct alignas(64) Stripe {
    std::atomic<uint64_t> active[2];
  };
  struct Retired {
    std::shared_ptr<const Snapshot> snapshot;
    uint64_t epoch = 0;  // epoch when it was replaced
  };
  // All below: caller holds publish_mu_.
  bool drained(unsigned parity) const noexcept;
  // Advances grace periods without blocking (spinning up to `spins` times
  // for readers to leave) and frees what they cover. Returns how many
  // retired snapshots remain.
  size_t advance(unsigned spins) noexcept;
  Status swap_in(std::shared_ptr<const Snapshot> next, bool count_success, bool sync);

  void write_status_begin() noexcept;
  void write_status_end() noexcept;

  // Read-mostly line: readers load both, publishers store both.
  alignas(64) std::atomic<uint64_t> epoch_{0};
  std::atomic<const Snapshot*> current_{nullptr};
  mutable Stripe stripes_[kStripes];

  std::mutex publish_mu_;  // serialises publishers and grace periods
  Retired retired_[kMaxRetired];
  size_t retired_count_ = 0;
  std::atomic<size_t> retired_mirror_{0};  // retired_count_ for lock-free reporting
  bool grace_active_ = false;              // a flip happened; waiting for its parity
  uint64_t grace_epoch_ = 0;               // E of that flip (E -> E + 1)

  mutable std::mutex owner_mu_;  // guards owner_ for acquire()
  std::shared_ptr<const Snapshot> owner_;

  std::mutex status_mu_;  // serialises status writers
  alignas(64) std::atomic<uint64_t> status_seq_{0};
  std::atomic<uint64_t> st_flags_{0};  // populated | systemd<<1 | state<<8 | err<<16 | items<<32
  std::atomic<uint64_t> st_generation_{0};
  std::atomic<uint64_t> st_success_{0};
  std::atomic<uint64_t> st_failure_{0};
  std::atomic<uint64_t> st_consecutive_{0};
  std::atomic<int64_t> st_last_ts_{0};
};

// Pins the store's current snapshot for as long as it lives. Construction
// and destruction never block, allocate or enter the kernel.
class ReadGuard {
 public:
  explicit ReadGuard(const SnapshotStore& store) noexcept;
  ~ReadGuard();
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

  // The pinned snapshot; null if nothing was published yet (or after clear()).
  const Snapshot* snapshot() const noexcept { return snap_; }
  bool populated() const noexcept { return snap_ != nullptr; }
  uint64_t generation() const noexcept { return snap_ != nullptr ? snap_->generation() : 0; }
  size_t item_count() const noexcept { return snap_ != nullptr ? snap_->item_count() : 0; }

  // docs/levels.md §3.2 get(): the earliest item with this exact (hash, name), or null
  // (also on an empty store). Valid until this guard is destroyed.
  const CgroupItemView* find(uint32_t hash, std::string_view name) const noexcept {
    return snap_ != nullptr ? snap_->find(hash, name) : nullptr;
  }

  // docs/levels.md §3.2 dup(): an owned copy of `view` that outlives the guard. The
  // first form reuses `out`'s string capacity (no allocation once warm).
  // kInvalidArgument if `view` is not an item of the pinned snapshot,
  // kNoMemory if a string cannot be allocated.
  Status copy(const CgroupItemView* view, CgroupItem* out) const noexcept;
  Result<CgroupItem> copy(const CgroupItemView* view) const noexcept;

 private:
  std::atomic<uint64_t>* counter_ = nullptr;
  const Snapshot* snap_ = nullptr;
};

}  // namespace netipc
