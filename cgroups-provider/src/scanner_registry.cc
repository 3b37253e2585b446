// The cgroup registry: one record per relative id, in first-seen order,
// and the rules that turn records into items (count limit, duplicates,
// cgroup.procs path, enabled).
#include <functional>
#include <unordered_set>

#include "scanner_internal.h"

namespace netipc::cgroups_provider::detail {

uint64_t Registry::key_of(std::string_view id) {
  return std::hash<std::string_view>()(id);
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
  const uint64_t key = key_of(id);
  auto range = index_.equal_range(key);
  for (auto it = range.first; it != range.second; ++it) {
    if (id_of(recs_[it->second]) == id) {
      *created = false;
      return it->second;
    }
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
  r.options = ident.options;
  r.pattern_enabled = ident.pattern_enabled;
  index_.emplace(key, slot);
  order_.push_back(slot);
  *created = true;
  return slot;
}

uint32_t Registry::lookup(std::string_view id) const {
  auto range = index_.equal_range(key_of(id));
  for (auto it = range.first; it != range.second; ++it) {
    if (id_of(recs_[it->second]) == id) return it->second;
  }
  return kNoSlot;
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
    auto range = index_.equal_range(key_of(id_of(r)));
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == slot) {
        index_.erase(it);
        break;
      }
    }
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
    for (int rank = 0; rank < kPathRanks; ++rank) {
      if (path_bases[rank] == nullptr || r.path_epoch[rank] != epoch) continue;
      // Netdata joins base + id + "/cgroup.procs" (the root id "/" gives
      // "<base>//cgroup.procs"; the root is never enabled by default).
      const std::string_view id = id_of(r);
      item.path.reserve(path_bases[rank]->size() + id.size() + 13);
      item.path.append(*path_bases[rank]).append(id).append("/cgroup.procs");
      item.cgroup_id = r.path_ino[rank];
      break;
    }
    item.enabled = enabled && !item.path.empty() ? 1 : 0;
    items.push_back(std::move(item));
  }
  published_ = items.size();
  return items;
}

}  // namespace netipc::cgroups_provider::detail
