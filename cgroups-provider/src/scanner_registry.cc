// The cgroup registry: one record per relative id, in first-seen order,
// and the rules that turn records into items (count limit, duplicates,
// cgroup.procs path, enabled).
#include <functional>
#include <unordered_set>
#include <utility>

#include "scanner_internal.h"

namespace netipc::cgroups_provider::detail {

void SlotIndex::grow() {
  std::vector<Bucket> old;
  old.swap(buckets_);
  const size_t n = old.empty() ? 64 : old.size() * 2;
  buckets_.assign(n, Bucket{});
  mask_ = n - 1;
  for (const Bucket& b : old) {
    if (b.slot == kEmpty) continue;
    size_t i = b.tag & mask_;
    while (buckets_[i].slot != kEmpty)
      i = (i + 1) & mask_;
    buckets_[i] = b;
  }
}

void SlotIndex::insert(uint32_t tag, uint32_t slot) {
  if ((size_ + 1) * 2 > buckets_.size()) grow();
  size_t i = tag & mask_;
  while (buckets_[i].slot != kEmpty)
    i = (i + 1) & mask_;
  buckets_[i] = Bucket{slot, tag};
  ++size_;
}

void SlotIndex::erase(uint32_t tag, uint32_t slot) {
  if (buckets_.empty()) return;
  size_t i = tag & mask_;
  while (buckets_[i].slot != slot) {
    if (buckets_[i].slot == kEmpty) return;  // not present
    i = (i + 1) & mask_;
  }
  // Backward shift: move later entries of the probe run into the hole when
  // their home bucket does not lie (cyclically) between the hole and them.
  size_t hole = i;
  for (size_t j = (hole + 1) & mask_; buckets_[j].slot != kEmpty; j = (j + 1) & mask_) {
    const size_t home = buckets_[j].tag & mask_;
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    buckets_[hole] = buckets_[j];
    hole = j;
  }
  buckets_[hole] = Bucket{};
  --size_;
}

uint32_t Registry::tag_of(std::string_view id) {
  const uint64_t h = std::hash<std::string_view>()(id);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

uint32_t Registry::store(std::string_view text) {
  const auto off = static_cast<uint32_t>(arena_.size());
  arena_.append(text);
  return off;
}

void Registry::compact() {
  std::string next;
  next.reserve(arena_.size() - garbage_ + (arena_.size() - garbage_) / 4);
  for (uint32_t slot : order_) {
    Rec& r = recs_[slot];
    const auto id_off = static_cast<uint32_t>(next.size());
    next.append(id_of(r));
    const auto name_off = static_cast<uint32_t>(next.size());
    next.append(name_of(r));
    r.id_off = id_off;
    r.name_off = name_off;
  }
  arena_.swap(next);
  garbage_ = 0;
}

uint32_t Registry::intern(std::string_view id, bool* created) {
  const uint32_t tag = tag_of(id);
  const uint32_t found = index_.find(tag, [&](uint32_t slot) { return id_of(recs_[slot]) == id; });
  if (found != SlotIndex::kEmpty) {
    *created = false;
    return found;
  }
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(recs_.size());
    recs_.emplace_back();
  }
  CgroupIdentity ident = namer_->describe(id, unified_);
  Rec& r = recs_[slot];
  uint32_t gen = r.gen;
  r = Rec{};
  r.gen = gen;
  r.live = true;
  r.id_len = static_cast<uint32_t>(id.size());
  r.id_off = store(id);
  r.name_len = static_cast<uint32_t>(ident.name.size());
  r.name_off = store(ident.name);
  r.hash = ident.hash;
  r.options = static_cast<uint8_t>(ident.options);
  r.pattern_enabled = ident.pattern_enabled;
  index_.insert(tag, slot);
  order_.push_back(slot);
  *created = true;
  return slot;
}

uint32_t Registry::lookup(std::string_view id) const {
  const uint32_t found =
      index_.find(tag_of(id), [&](uint32_t slot) { return id_of(recs_[slot]) == id; });
  return found == SlotIndex::kEmpty ? kNoSlot : found;
}

void Registry::mark_seen(uint32_t slot, uint64_t epoch, uint64_t ino) {
  Rec& r = recs_[slot];
  if (r.seen_epoch != epoch) {  // the first registering tree that sees it names its inode
    r.seen_epoch = epoch;
    r.reg_ino = ino;
  }
}

void Registry::mark_path(uint32_t slot, int rank, uint64_t epoch, uint64_t ino) {
  // Only the best rank matters: Netdata takes the first of cpuset, blkio,
  // memory whose cgroup.procs exists.
  Rec& r = recs_[slot];
  if (r.path_epoch != epoch || rank < r.path_rank) {
    r.path_epoch = epoch;
    r.path_rank = static_cast<uint8_t>(rank);
    r.path_ino = ino;
  }
}

size_t Registry::sweep(uint64_t epoch) {
  size_t removed = 0;
  size_t out = 0;
  for (uint32_t slot : order_) {
    Rec& r = recs_[slot];
    if (r.seen_epoch == epoch) {
      order_[out++] = slot;
      continue;
    }
    index_.erase(tag_of(id_of(r)), slot);
    r.live = false;
    ++r.gen;
    garbage_ += r.id_len + r.name_len;
    r.id_len = r.name_len = 0;
    free_.push_back(slot);
    ++removed;
  }
  order_.resize(out);
  if (garbage_ > 64 * 1024 && garbage_ * 2 > arena_.size()) compact();
  if (order_.empty()) {
    std::string().swap(arena_);
    garbage_ = 0;
    index_.clear();
    std::vector<Rec>().swap(recs_);
    std::vector<uint32_t>().swap(free_);
  }
  return removed;
}

std::vector<CgroupItem> Registry::build(uint64_t epoch, const std::string* const* path_bases,
                                        size_t max_cgroups, uint64_t* not_admitted) {
  // Places: cgroups published before keep theirs; the rest go, in
  // first-seen order, to newcomers (and to those that waited).
  size_t admitted = 0;
  for (uint32_t slot : order_)
    admitted += recs_[slot].admitted;
  *not_admitted = 0;
  for (uint32_t slot : order_) {
    Rec& r = recs_[slot];
    if (r.admitted) continue;
    if (admitted < max_cgroups) {
      r.admitted = true;
      ++admitted;
    } else {
      ++*not_admitted;
    }
  }

  // Duplicates: among pattern-enabled cgroups of the same kind (service or
  // not), the first with a chart id keeps it; later ones are disabled and
  // flagged. Netdata re-enables the first disabled duplicate when the
  // enabled one goes away; recomputing in first-seen order does the same.
  std::unordered_set<std::string_view> taken[2];
  std::vector<CgroupItem> items;
  items.reserve(admitted);
  for (uint32_t slot : order_) {
    const Rec& r = recs_[slot];
    if (!r.admitted) continue;
    CgroupItem item;
    const std::string_view name = name_of(r);
    item.name.assign(name);
    item.hash = r.hash;
    item.options = r.options;
    bool enabled = r.pattern_enabled;
    if (enabled) {
      bool service = (r.options & kCgroupOptSystemdService) != 0;
      // The chart id: the name without "systemd_" / "cgroup_".
      const std::string_view chart_id = name.substr(service ? 8 : 7);
      if (!taken[service ? 1 : 0].insert(chart_id).second) {
        item.options |= kCgroupOptDisabledDuplicate;
        enabled = false;
      }
    }
    item.cgroup_id = r.reg_ino;
    if (r.path_epoch == epoch && path_bases[r.path_rank] != nullptr) {
      // Netdata joins base + id + "/cgroup.procs" (the root id "/" gives
      // "<base>//cgroup.procs"; the root is never enabled by default).
      const std::string& base = *path_bases[r.path_rank];
      const std::string_view id = id_of(r);
      item.path.reserve(base.size() + id.size() + 13);
      item.path.append(base).append(id).append("/cgroup.procs");
      item.cgroup_id = r.path_ino;
    }
    item.enabled = enabled && !item.path.empty() ? 1 : 0;
    items.push_back(std::move(item));
  }
  published_ = items.size();
  return items;
}

}  // namespace netipc::cgroups_provider::detail
