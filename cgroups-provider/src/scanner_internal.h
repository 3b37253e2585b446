// Scanner internals: the per-directory state kept between scans, the cgroup
// registry (one record per relative id, merged across v1 hierarchies) and
// the walker. Not part of the public API.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups_provider/scanner.h"

namespace netipc::cgroups_provider::detail {

inline constexpr uint32_t kNoSlot = UINT32_MAX;
inline constexpr int kPathRanks = 3;  // v1: cpuset, blkio, memory; v2: rank 0 only

// Directory names of one tree, back to back and NUL-terminated (for
// openat/fstatat), so a node costs 6 bytes of reference instead of a
// std::string. Freed names are garbage until the tree compacts.
class NameArena {
 public:
  uint32_t add(std::string_view name);
  std::string_view get(uint32_t off, uint16_t len) const {
    return std::string_view(text_).substr(off, len);
  }
  const char* c_str(uint32_t off) const { return text_.data() + off; }
  void release(uint16_t len) { garbage_ += size_t{len} + 1; }
  bool wants_compaction() const { return garbage_ > 64 * 1024 && garbage_ * 2 > text_.size(); }
  void clear() {
    std::string().swap(text_);
    garbage_ = 0;
  }
  void swap(NameArena* other) {
    text_.swap(other->text_);
    std::swap(garbage_, other->garbage_);
  }
  size_t live_bytes() const { return text_.size() - garbage_; }
  void reserve(size_t bytes) { text_.reserve(bytes); }

 private:
  std::string text_;
  size_t garbage_ = 0;
};

// What the previous scan saw of one directory (56 bytes plus its name in
// the tree's arena). The id is rebuilt while walking.
struct DirNode {
  enum Flags : uint8_t {
    kHasProcs = 1,     // <dir>/cgroup.procs exists
    kDescend = 2,      // its id matches the search pattern
    kWithinDepth = 4,  // its id is not deeper than max_depth
  };
  uint64_t ino = 0;    // 0 = never examined
  uint64_t stamp = 0;  // mtime and ctime, folded
  uint32_t name_off = 0;
  uint32_t rec = kNoSlot;  // registry slot, valid while rec_gen matches
  uint32_t rec_gen = 0;
  uint16_t name_len = 0;  // NAME_MAX is 255
  uint8_t flags = 0;
  std::vector<DirNode> children;  // subdirectories, in listing order

  bool has(Flags f) const { return (flags & f) != 0; }
  void set(Flags f, bool on) { flags = static_cast<uint8_t>(on ? flags | f : flags & ~f); }
};

// One hierarchy to walk.
struct Tree {
  std::string base;
  bool registers = false;  // its directories become cgroups
  int path_rank = -1;      // where its cgroup.procs ranks for item paths; -1 none
  bool have_root = false;
  DirNode root;
  NameArena names;

  std::string_view name_of(const DirNode& n) const { return names.get(n.name_off, n.name_len); }
  // Marks the names of `n`'s subtree (and its own, if `self`) as garbage.
  void release(const DirNode& n, bool self);
  // Rewrites the arena without garbage (after a walk, when worth it).
  void compact();
};

// One cgroup (a relative id). Its id and name live in the registry's
// arena; the chart id is the name without its "systemd_"/"cgroup_" prefix.
struct Rec {
  uint32_t id_off = 0;
  uint32_t id_len = 0;
  uint32_t name_off = 0;
  uint32_t name_len = 0;
  uint32_t hash = 0;        // fnv1a32(name)
  uint32_t gen = 0;         // bumped when the slot is freed
  uint64_t seen_epoch = 0;  // scan in which a registering tree last saw it
  uint64_t path_epoch = 0;  // scan in which some rank had cgroup.procs
  uint64_t reg_ino = 0;     // inode in the first registering tree that saw it
  uint64_t path_ino = 0;    // inode of the best (lowest) rank with cgroup.procs
  uint8_t options = 0;      // kCgroupOptSystemdService, kCgroupOptIsUnified
  uint8_t path_rank = 0;    // that rank, valid while path_epoch is current
  bool pattern_enabled = false;
  bool live = false;
  bool admitted = false;  // holds one of the max_cgroups places
};

// Open-addressing index: 32 bits of the id's hash -> registry slot, linear
// probing with backward-shift deletion (no tombstones), 8 bytes a bucket,
// at most half full. Equal tags are told apart by the caller.
class SlotIndex {
 public:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  template <typename Match>
  uint32_t find(uint32_t tag, Match&& match) const {
    if (buckets_.empty()) return kEmpty;
    for (size_t i = tag & mask_;; i = (i + 1) & mask_) {
      const Bucket& b = buckets_[i];
      if (b.slot == kEmpty) return kEmpty;
      if (b.tag == tag && match(b.slot)) return b.slot;
    }
  }
  void insert(uint32_t tag, uint32_t slot);
  void erase(uint32_t tag, uint32_t slot);
  void clear() {
    std::vector<Bucket>().swap(buckets_);
    size_ = 0;
    mask_ = 0;
  }

 private:
  struct Bucket {
    uint32_t slot = kEmpty;
    uint32_t tag = 0;
  };
  void grow();
  std::vector<Bucket> buckets_;
  size_t size_ = 0;
  size_t mask_ = 0;
};

class Registry {
 public:
  Registry(const CgroupNamer* namer, bool unified) : namer_(namer), unified_(unified) {}

  // Finds or creates the cgroup of `id`; *created tells which.
  uint32_t intern(std::string_view id, bool* created);
  uint32_t lookup(std::string_view id) const;
  bool linked(uint32_t slot, uint32_t gen) const {
    return slot < recs_.size() && recs_[slot].live && recs_[slot].gen == gen;
  }
  Rec& rec(uint32_t slot) { return recs_[slot]; }
  std::string_view id_of(const Rec& r) const {
    return std::string_view(arena_).substr(r.id_off, r.id_len);
  }
  std::string_view name_of(const Rec& r) const {
    return std::string_view(arena_).substr(r.name_off, r.name_len);
  }

  void mark_seen(uint32_t slot, uint64_t epoch, uint64_t ino);
  void mark_path(uint32_t slot, int rank, uint64_t epoch, uint64_t ino);
  // Frees the cgroups no registering tree saw in `epoch`; returns how many.
  size_t sweep(uint64_t epoch);
  size_t live_count() const { return order_.size(); }
  // Items the last build() returned.
  size_t published_count() const { return published_; }

  // The items of the cgroups seen in `epoch`, in first-seen order, at most
  // max_cgroups of them (earlier-admitted ones first). path_bases[r] is the
  // base of path rank r, or nullptr. *not_admitted receives the overflow.
  std::vector<CgroupItem> build(uint64_t epoch, const std::string* const* path_bases,
                                size_t max_cgroups, uint64_t* not_admitted);

 private:
  static uint32_t tag_of(std::string_view id);
  uint32_t store(std::string_view text);
  void compact();

  const CgroupNamer* namer_;
  bool unified_;
  std::vector<Rec> recs_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> order_;  // live slots, first-seen order
  std::string arena_;            // ids and names of the records, back to back
  size_t garbage_ = 0;           // arena bytes of freed records
  size_t published_ = 0;
  SlotIndex index_;
};

// Everything one scan's walk reads and updates.
struct WalkContext {
  Registry* registry = nullptr;
  const CgroupNamer* namer = nullptr;
  unsigned max_depth = 0;
  bool use_nlink_shortcut = true;
  uint64_t epoch = 0;
  bool dirty = false;  // some directory state changed
  ScanStats* stats = nullptr;
};

// A directory listing: subdirectory candidates only, names in one buffer.
struct Listing {
  struct Entry {
    uint32_t offset;
    uint32_t length;
    uint64_t ino;
    unsigned char type;  // DT_DIR or DT_UNKNOWN
  };
  std::string names;
  std::vector<Entry> entries;
  std::string_view name(size_t i) const {
    return std::string_view(names).substr(entries[i].offset, entries[i].length);
  }
};

class Walker {
 public:
  Walker();
  // Walks one tree, updating its state. Returns false when its base cannot
  // be opened (its state is then dropped).
  bool walk(Tree* tree, WalkContext* ctx);

 private:
  struct Stat {
    uint64_t ino;
    uint64_t nlink;
    uint64_t stamp;  // mtime and ctime, folded
  };
  void visit(Tree* tree, DirNode* node, const Stat* st, int own_fd, int parent_fd, size_t level,
             WalkContext* ctx);
  void visit_children(Tree* tree, DirNode* node, int fd, size_t level, WalkContext* ctx);
  bool list(int fd, Listing* out);
  bool procs_exists(int at_fd, std::string_view dir_name);

  std::vector<char> dents_;       // getdents64 buffer, reused
  std::deque<Listing> listings_;  // one per depth level, reused
  std::string id_;                // id of the directory being visited
  std::string scratch_;
  bool trust_nlink_ = false;  // for the tree being walked
};

// The scanner's whole state.
struct ScannerState {
  ScannerConfig config;
  CgroupfsLayout layout;
  CgroupNamer namer;
  Registry registry;
  std::vector<Tree> trees;
  std::vector<const std::string*> path_bases;  // kPathRanks entries
  Walker walker;
  uint64_t epoch = 0;
  uint64_t generation = 0;
  // The last items handed out, not owned: once every holder (the
  // publisher keeps none) drops them, they are freed. Rescans that change
  // nothing build nothing; change detection uses the fingerprint.
  std::weak_ptr<const std::vector<CgroupItem>> items;
  uint64_t fingerprint = 0;
  bool have_items = false;
  uint64_t not_admitted = 0;
  int64_t last_warn_ms = 0;
  bool warned = false;

  ScannerState(ScannerConfig cfg, CgroupfsLayout lay);
};

}  // namespace netipc::cgroups_provider::detail
