// The cgroup registry: one record per relative id, in first-seen order,
// and the rules that turn records into items (count limit, duplicates,
// cgroup.procs path, enabled).
#include <unordered_set>

#include "scanner_internal.h"

namespace netipc::cgroups_provider::detail {

uint32_t Registry::intern(std::string_view id, bool* created) {
  std::string key(id);
  auto it = index_.find(key);
  if (it != index_.end()) {
    *created = false;
    return it->second;
  }
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(recs_.size());
    recs_.emplace_back();
  }
  Rec& r = recs_[slot];
  uint32_t gen = r.gen;
  r = Rec{};
  r.gen = gen;
  r.live = true;
  r.id = key;
  r.ident = namer_->describe(id, unified_);
  index_.emplace(std::move(key), slot);
  order_.push_back(slot);
  *created = true;
  return slot;
}

uint32_t Registry::lookup(std::string_view id) const {
  auto it = index_.find(std::string(id));
  return it == index_.end() ? kNoSlot : it->second;
}

void Registry::mark_seen(uint32_t slot, uint64_t epoch, uint64_t ino) {
  Rec& r = recs_[slot];
  if (r.seen_epoch != epoch) {  // the first registering tree that sees it names its inode
    r.seen_epoch = epoch;
    r.reg_ino = ino;
  }
}

void Registry::mark_path(uint32_t slot, int rank, uint64_t epoch, uint64_t ino) {
  Rec& r = recs_[slot];
  r.path_epoch[rank] = epoch;
  r.path_ino[rank] = ino;
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
    index_.erase(r.id);
    r.live = false;
    ++r.gen;
    r.id.clear();
    r.ident = CgroupIdentity{};
    free_.push_back(slot);
    ++removed;
  }
  order_.resize(out);
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
    item.name = r.ident.name;
    item.hash = r.ident.hash;
    item.options = r.ident.options;
    bool enabled = r.ident.pattern_enabled;
    if (enabled) {
      bool service = (r.ident.options & kCgroupOptSystemdService) != 0;
      if (!taken[service ? 1 : 0].insert(r.ident.chart_id).second) {
        item.options |= kCgroupOptDisabledDuplicate;
        enabled = false;
      }
    }
    item.cgroup_id = r.reg_ino;
    for (int rank = 0; rank < kPathRanks; ++rank) {
      if (path_bases[rank] == nullptr || r.path_epoch[rank] != epoch) continue;
      // Netdata joins base + id + "/cgroup.procs" (the root id "/" gives
      // "<base>//cgroup.procs"; the root is never enabled by default).
      item.path.reserve(path_bases[rank]->size() + r.id.size() + 13);
      item.path.append(*path_bases[rank]).append(r.id).append("/cgroup.procs");
      item.cgroup_id = r.path_ino[rank];
      break;
    }
    item.enabled = enabled && !item.path.empty() ? 1 : 0;
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace netipc::cgroups_provider::detail
