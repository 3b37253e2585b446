// Scanner internals: the per-directory state kept between scans, the cgroup
// registry (one record per relative id, merged across v1 hierarchies) and
// the walker. Not part of the public API.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cgroups_provider/scanner.h"

namespace netipc::cgroups_provider::detail {

inline constexpr uint32_t kNoSlot = UINT32_MAX;
inline constexpr int kPathRanks = 3;  // v1: cpuset, blkio, memory; v2: rank 0 only

// What the previous scan saw of one directory. The name is the last path
// component; the id is rebuilt while walking.
struct DirNode {
  std::string name;
  uint64_t ino = 0;  // 0 = never examined
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint32_t rec = kNoSlot;  // registry slot, valid while rec_gen matches
  uint32_t rec_gen = 0;
  bool has_procs = false;         // <dir>/cgroup.procs exists
  bool descend = false;           // its id matches the search pattern
  bool within_depth = false;      // its id is not deeper than max_depth
  std::vector<DirNode> children;  // subdirectories, in listing order
};

// One hierarchy to walk.
struct Tree {
  std::string base;
  bool registers = false;  // its directories become cgroups
  int path_rank = -1;      // where its cgroup.procs ranks for item paths; -1 none
  bool have_root = false;
  DirNode root;
};

// One cgroup (a relative id). Its id and name live in the registry's
// arena; the chart id is the name without its "systemd_"/"cgroup_" prefix.
struct Rec {
  uint32_t id_off = 0;
  uint32_t id_len = 0;
  uint32_t name_off = 0;
  uint32_t name_len = 0;
  uint32_t hash = 0;     // fnv1a32(name)
  uint32_t options = 0;  // kCgroupOptSystemdService, kCgroupOptIsUnified
  uint32_t gen = 0;      // bumped when the slot is freed
  bool pattern_enabled = false;
  bool live = false;
  bool admitted = false;                 // holds one of the max_cgroups places
  uint64_t seen_epoch = 0;               // scan in which a registering tree last saw it
  uint64_t reg_ino = 0;                  // inode in the first registering tree that saw it
  uint64_t path_epoch[kPathRanks] = {};  // scan in which rank r had cgroup.procs
  uint64_t path_ino[kPathRanks] = {};
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
  static uint64_t key_of(std::string_view id);
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
  // 64-bit hash of the id -> slot; equal hashes are told apart by the id.
  std::unordered_multimap<uint64_t, uint32_t> index_;
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
    int64_t mtime_ns;
    int64_t ctime_ns;
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
