// Snapshot: one immutable, self-contained generation of the cgroups cache,
// and SnapshotBuilder, which makes one.
//
// A Snapshot owns everything it points to: every item's name and path live in
// one contiguous block (the "arena") next to the item's CgroupItemView, and a
// lookup index keyed by (hash, name) sits in a second block. Nothing in a
// Snapshot changes after SnapshotBuilder::finish() returns it, so any number of
// threads may read it concurrently without synchronisation. Publication to
// readers (and deciding when an old snapshot may be freed) is the job of
// SnapshotStore (snapshot_cache.h).
//
// Lookup contract: find(hash, name) matches items whose hash equals `hash`
// exactly and whose name equals `name` byte for byte (embedded NULs included).
// It performs no system call and no allocation and never fails. When the same
// (hash, name) pair occurs more than once, the earliest item wins (upstream
// behaviour).
//
// Index layout (why it is fast): a power-of-two table of 8-byte slots
// {hash, record reference}, at most half full. The bucket comes from the
// producer's 32-bit hash through a seeded multiplicative mix, so hashes that
// share their low bits still spread, and no per-lookup pass over the name is
// needed (the reference index hashes the name with djb2 on every lookup).
// A probe compares the 32-bit hash stored in the slot; only on an equal hash
// does it touch the item record, where the name's length and bytes sit right
// after the CgroupItemView that find() returns. A hit therefore costs one
// table line plus one record line; a miss usually costs one table line.
//
// Degenerate input: a producer that sends the same hash for many different
// names would pile them into one probe chain (O(n) lookups, O(n^2) build).
// The builder notices an over-long chain and rebuilds the table with the
// bucket derived from hash and a seeded hash of the name ("name-keyed" mode);
// lookups then hash the name too. Honest producers (hash = FNV-1a of the name)
// never trigger it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "netipc/cgroup_item.h"
#include "netipc/result.h"

namespace netipc {

// Shape of the lookup index, for diagnostics and tests.
struct SnapshotIndexStats {
  size_t slot_count = 0;       // 0 when the snapshot has no index
  size_t indexed_items = 0;    // distinct (hash, name) keys
  size_t duplicate_items = 0;  // items shadowed by an earlier equal key
  size_t max_probe = 0;        // longest probe sequence of a stored key (1 = home slot)
  double mean_probe = 0.0;     // mean probe length over stored keys
  bool name_keyed = false;     // buckets also depend on the name (degenerate hashes)
};

class Snapshot {
 public:
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  uint64_t generation() const noexcept { return generation_; }
  bool systemd_enabled() const noexcept { return systemd_enabled_; }
  size_t item_count() const noexcept { return item_count_; }
  bool empty() const noexcept { return item_count_ == 0; }

  // The i-th item in the order it was added (i < item_count()). The view and
  // the strings it points to live as long as this Snapshot. Names and paths
  // are followed by a NUL byte (not part of the view) for C callers.
  const CgroupItemView& item(size_t i) const noexcept;

  // The earliest item with this exact (hash, name), or nullptr.
  // No system call, no allocation, wait-free.
  const CgroupItemView* find(uint32_t hash, std::string_view name) const noexcept;

  // True if `view` points at one of this snapshot's items.
  bool owns(const CgroupItemView* view) const noexcept;

  // False only when the index could not be allocated (lookups then scan).
  bool indexed() const noexcept { return slots_ != nullptr; }
  SnapshotIndexStats index_stats() const noexcept { return stats_; }

  // Bytes this snapshot owns (arena + index + item table + object).
  size_t memory_bytes() const noexcept;

  // Number of Snapshot objects currently alive in this process
  // (diagnostics; lets tests prove that replaced snapshots are freed).
  static uint64_t live_instances() noexcept;

 private:
  friend class SnapshotBuilder;
  struct Slot {
    uint32_t hash;
    uint32_t ref;  // record offset / kRecordAlign; kEmptyRef when free
  };
  static constexpr uint32_t kEmptyRef = 0xFFFFFFFFu;
  static constexpr size_t kRecordAlign = 8;

  Snapshot() noexcept;
  const CgroupItemView* record(uint32_t ref) const noexcept {
    return reinterpret_cast<const CgroupItemView*>(arena_ +
                                                   static_cast<size_t>(ref) * kRecordAlign);
  }
  // Two multiply-xorshift rounds: every input bit reaches the top bits the
  // bucket is taken from (one Fibonacci multiply clusters hashes that differ
  // only in their high bits).
  size_t bucket_of(uint64_t key) const noexcept {
    uint64_t x = (key ^ seed_) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ull;
    return static_cast<size_t>(x >> shift_);
  }
  uint64_t key_of(uint32_t hash, std::string_view name) const noexcept;
  const CgroupItemView* find_linear(uint32_t hash, std::string_view name) const noexcept;
  void build_index(size_t slot_count) noexcept;
  bool fill_index(bool bounded, SnapshotIndexStats* stats) noexcept;

  unsigned char* arena_ = nullptr;  // malloc'd: records (view + name + NUL + path + NUL)
  size_t arena_bytes_ = 0;
  uint32_t* refs_ = nullptr;  // malloc'd: record ref of item i
  Slot* slots_ = nullptr;     // malloc'd: the index, or nullptr (scan)
  size_t slot_mask_ = 0;
  unsigned shift_ = 64;
  uint64_t seed_ = 0;
  bool name_keyed_ = false;
  size_t item_count_ = 0;
  uint64_t generation_ = 0;
  bool systemd_enabled_ = false;
  SnapshotIndexStats stats_{};
};

// Builds a Snapshot from borrowed item views. Every string is copied, so the
// views passed to add() need to live only for the duration of that call.
//
// Not thread-safe (one builder per thread). Fallible steps return an error
// instead of throwing or aborting:
//   kNoMemory       an allocation failed (the builder stays usable for finish()
//                   only if add() did not fail)
//   kLimitExceeded  Options::max_bytes, or the format limits (2^32-1 items,
//                   32 GiB of records) would be exceeded
//   kInvalidArgument  add()/finish() after finish()
// A failure to allocate the index alone is not an error (docs/levels.md §3.2 rule 5):
// the snapshot is returned without one and find() scans.
class SnapshotBuilder {
 public:
  struct Options {
    uint64_t max_bytes = 0;   // ceiling on the finished snapshot's size; 0 = none
    bool build_index = true;  // false: no index, find() scans (tests, tiny sets)
  };

  SnapshotBuilder() noexcept;
  explicit SnapshotBuilder(Options options) noexcept;
  SnapshotBuilder(SnapshotBuilder&&) noexcept;
  SnapshotBuilder& operator=(SnapshotBuilder&&) noexcept;
  SnapshotBuilder(const SnapshotBuilder&) = delete;
  SnapshotBuilder& operator=(const SnapshotBuilder&) = delete;
  ~SnapshotBuilder();

  void set_generation(uint64_t generation) noexcept { generation_ = generation; }
  void set_systemd_enabled(bool enabled) noexcept { systemd_enabled_ = enabled; }

  // Pre-sizes the staging buffers: `items` items, `string_bytes` bytes of
  // names plus paths in total (0 = unknown).
  Status reserve(size_t items, size_t string_bytes = 0);
  Status add(const CgroupItemView& item);
  size_t size() const noexcept;

  // Lays the items out in their final block, builds the index and hands the
  // snapshot over. The builder is spent afterwards.
  Result<std::shared_ptr<const Snapshot>> finish();

 private:
  struct Pending {
    uint32_t hash;
    uint32_t options;
    uint32_t enabled;
    uint32_t name_len;
    uint64_t name_off;  // into strings_
    uint64_t path_len;
    uint64_t cgroup_id;
  };

  Options options_;
  uint64_t generation_ = 0;
  bool systemd_enabled_ = false;
  bool finished_ = false;
  uint64_t record_bytes_ = 0;  // size of the final arena so far
  std::vector<Pending> pending_;
  std::vector<char> strings_;  // name bytes then path bytes, per item
};

}  // namespace netipc
