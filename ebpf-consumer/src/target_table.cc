#include "ebpf_consumer/target_table.h"

#include <algorithm>
#include <functional>
#include <new>
#include <utility>

#include "netipc/cgroup_item.h"
#include "sys_linux.h"

namespace netipc::ebpf {
namespace {

// Counts the elements only in `before` and only in `after` (both sorted).
void diff_sorted(const pid_t* before, size_t nb, const pid_t* after, size_t na, size_t* added,
                 size_t* removed) {
  size_t i = 0, j = 0;
  while (i < nb && j < na) {
    if (before[i] < after[j]) {
      ++*removed;
      ++i;
    } else if (after[j] < before[i]) {
      ++*added;
      ++j;
    } else {
      ++i;
      ++j;
    }
  }
  *removed += nb - i;
  *added += na - j;
}

}  // namespace

// ---------------------------------------------------------------------------
// TargetView index: open addressing over targets_, at most half full. The
// bucket mixes the producer's hash with a hash of the name, so a producer
// that sends degenerate hashes cannot make a pass quadratic.

uint64_t TargetView::key_of(uint32_t hash, std::string_view name) noexcept {
  return ((static_cast<uint64_t>(hash) << 32) ^ std::hash<std::string_view>{}(name)) *
         0x9E3779B97F4A7C15ull;
}

size_t TargetView::slot_of(uint64_t key) const noexcept {
  return static_cast<size_t>(key >> 32) & (slots_.size() - 1);
}

const TargetRef* TargetView::find_ptr(uint64_t key, uint32_t hash,
                                      std::string_view name) const noexcept {
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  for (size_t b = slot_of(key);; b = (b + 1) & mask) {
    const uint32_t ref = slots_[b];
    if (ref == 0) return nullptr;
    const TargetRef& t = targets_[ref - 1];
    if (t->hash == hash && t->name == name) return &t;
  }
}

const Target* TargetView::find(uint32_t hash, std::string_view name) const noexcept {
  const TargetRef* p = find_ptr(key_of(hash, name), hash, name);
  return p != nullptr ? p->get() : nullptr;
}

void TargetView::index_reset(size_t capacity) {
  size_t n = 8;
  while (n < 2 * capacity)
    n <<= 1;
  slots_.assign(n, 0);
}

void TargetView::insert(uint64_t key, TargetRef target) {
  const size_t mask = slots_.size() - 1;
  size_t b = slot_of(key);
  while (slots_[b] != 0)
    b = (b + 1) & mask;
  targets_.push_back(std::move(target));
  slots_[b] = static_cast<uint32_t>(targets_.size());
}

size_t TargetView::index_bytes() const noexcept {
  return sizeof(TargetView) + (targets_.capacity() + removed_.capacity()) * sizeof(TargetRef) +
         slots_.capacity() * sizeof(uint32_t);
}

size_t TargetView::target_bytes() const noexcept {
  size_t bytes = 0;
  for (const TargetRef& t : targets_)
    bytes += t->block_bytes();
  return bytes;
}

// ---------------------------------------------------------------------------
// TargetTable

TargetTable::TargetTable() : view_(std::make_shared<const TargetView>()) {}
TargetTable::~TargetTable() = default;

std::shared_ptr<const TargetView> TargetTable::view() const {
  std::lock_guard<std::mutex> lock(view_mu_);
  return view_;
}

// ---------------------------------------------------------------------------
// ProcsBatch

netipc::Status ProcsBatch::read_all(const netipc::Snapshot& snapshot, ProcsReader* reader) {
  pids.clear();
  entries.clear();
  try {
    entries.reserve(snapshot.item_count());
  } catch (const std::bad_alloc&) {
    return netipc::make_error(netipc::Errc::kNoMemory, "target table: reading cgroup.procs");
  }
  for (size_t i = 0; i < snapshot.item_count(); ++i) {
    const netipc::CgroupItemView& item = snapshot.item(i);
    if (item.enabled == 0) continue;
    Entry e;
    e.first = static_cast<uint32_t>(pids.size());
    // A failure to grow `pids` is a failed read (the PIDs known before are
    // kept), as is any other error but a vanished cgroup.
    const netipc::Status st = reader->append(item.path, &pids);
    if (st.ok()) {
      e.count = static_cast<uint32_t>(pids.size() - e.first);
    } else {
      e.outcome = st.code() == netipc::Errc::kNotFound ? Outcome::kVanished : Outcome::kFailed;
    }
    if (pids.size() > UINT32_MAX) {
      return netipc::make_error(netipc::Errc::kLimitExceeded, "target table: PIDs");
    }
    entries.push_back(e);  // reserved
  }
  return netipc::ok_status();
}

// ---------------------------------------------------------------------------
// TargetTable::apply and its steps

netipc::Result<std::shared_ptr<TargetView>> TargetTable::start_view(
    const netipc::Snapshot& snapshot, const TargetView& prev, uint64_t pass) const {
  try {
    auto next = std::make_shared<TargetView>();
    next->pass_ = pass;
    next->generation_ = snapshot.generation();
    next->systemd_enabled_ = snapshot.systemd_enabled();
    next->integration_active_ = snapshot.item_count() > 0;
    if (snapshot.item_count() == 0) {
      // Legacy: an empty snapshot keeps the targets; the integration is
      // inactive until items come back, and then charts are (re)sent.
      next->targets_ = prev.targets_;
      next->slots_ = prev.slots_;
    } else {
      // Reserved in full, so that match() never allocates for the view's
      // arrays.
      next->targets_.reserve(snapshot.item_count());
      next->index_reset(snapshot.item_count());
    }
    return next;
  } catch (const std::bad_alloc&) {
    return netipc::make_error(netipc::Errc::kNoMemory, "target table: view");
  }
}

// Matches the enabled items against `prev` (by hash and name), giving each
// its PIDs from `batch`: an unchanged target is shared with `prev`, a new or
// changed one gets a new block. Counts into *stats.
netipc::Status TargetTable::match(const netipc::Snapshot& snapshot, const ProcsBatch& batch,
                                  const TargetView& prev, TargetView* next, ApplyStats* stats,
                                  uint64_t* next_id) const {
  size_t kept = 0;  // targets of `prev` found again
  size_t entry = 0;
  for (size_t i = 0; i < snapshot.item_count(); ++i) {
    const netipc::CgroupItemView& item = snapshot.item(i);
    if (item.enabled == 0) {
      ++stats->disabled_skipped;
      continue;
    }
    const ProcsBatch::Entry& e = batch.entries[entry++];
    const uint64_t key = TargetView::key_of(item.hash, item.name);
    if (next->find_ptr(key, item.hash, item.name) != nullptr) {
      ++stats->duplicates_skipped;
      continue;
    }
    const TargetRef* old_ref = prev.find_ptr(key, item.hash, item.name);
    const Target* old = old_ref != nullptr ? old_ref->get() : nullptr;
    const pid_t* old_pids = old != nullptr ? old->pids.data() : nullptr;
    const size_t old_count = old != nullptr ? old->pids.size() : 0;
    if (old != nullptr) ++kept;

    const pid_t* pids = batch.pids.data() + e.first;
    size_t count = e.count;
    switch (e.outcome) {
      case ProcsBatch::Outcome::kRead:
        ++stats->files_read;
        break;
      case ProcsBatch::Outcome::kVanished:
        ++stats->files_vanished;  // cgroup gone: no PIDs this pass
        break;
      case ProcsBatch::Outcome::kFailed:
        ++stats->read_failures;  // keep what we knew
        pids = old_pids;
        count = old_count;
        break;
    }
    diff_sorted(old_pids, old_count, pids, count, &stats->pids_added, &stats->pids_removed);
    stats->pids += count;

    if (old != nullptr && std::equal(old->pids.begin(), old->pids.end(), pids, pids + count) &&
        old->path == item.path && old->options == item.options &&
        old->cgroup_id == item.cgroup_id) {
      next->insert(key, *old_ref);  // unchanged: share the published object
      continue;
    }
    auto t = Target::make(item, old != nullptr ? old->id : *next_id,
                          old != nullptr ? old->added_pass : stats->pass, pids, count);
    if (!t.ok()) return t.error();
    if (old == nullptr) {
      ++*next_id;
      ++stats->targets_added;
    }
    next->insert(key, std::move(t).value());
  }
  return collect_removed(prev, kept, next, stats);
}

// The targets of `prev` no item matched. Each kept target was matched by
// exactly one item (duplicates are skipped before the lookup): if all were
// kept, none left, and the removed list stays unallocated.
netipc::Status TargetTable::collect_removed(const TargetView& prev, size_t kept, TargetView* next,
                                            ApplyStats* stats) {
  if (kept != prev.targets_.size()) {
    try {
      next->removed_.reserve(prev.targets_.size() - kept);
    } catch (const std::bad_alloc&) {
      return netipc::make_error(netipc::Errc::kNoMemory, "target table: removed targets");
    }
    for (const TargetRef& p : prev.targets_) {
      if (next->find(p->hash, p->name) == nullptr) {
        next->removed_.push_back(p);  // reserved
        stats->pids_removed += p->pids.size();
      }
    }
  }
  stats->targets_removed = next->removed_.size();
  return netipc::ok_status();
}

void TargetTable::commit(std::shared_ptr<TargetView> next, const ApplyStats& stats,
                         uint64_t next_id, bool empty_snapshot) noexcept {
  pass_ = stats.pass;
  next_id_ = next_id;
  force_send_ = empty_snapshot;
  next->send_cgroup_charts_ = stats.send_cgroup_charts;
  const bool active = next->integration_active_;
  const bool systemd_enabled = next->systemd_enabled_;
  {
    std::shared_ptr<const TargetView> published = std::move(next);
    std::lock_guard<std::mutex> lock(view_mu_);
    view_.swap(published);
  }
  integration_active_.store(active, std::memory_order_release);
  systemd_enabled_.store(systemd_enabled, std::memory_order_release);
}

netipc::Result<ApplyStats> TargetTable::apply(const netipc::Snapshot& snapshot) {
  const int64_t start = netipc::detail::monotonic_ns();
  ProcsBatch batch;
  {
    ProcsReader reader;  // its buffer lives for this pass only
    NETIPC_RETURN_IF_ERROR(batch.read_all(snapshot, &reader));
  }

  std::lock_guard<std::mutex> apply_lock(apply_mu_);
  const std::shared_ptr<const TargetView> prev = view();
  const bool empty = snapshot.item_count() == 0;
  ApplyStats stats;
  stats.pass = pass_ + 1;
  uint64_t next_id = next_id_;
  auto next = start_view(snapshot, *prev, stats.pass);
  if (!next.ok()) return next.error();
  if (empty) {
    for (const TargetRef& p : (*next)->targets_)
      stats.pids += p->pids.size();
  } else {
    NETIPC_RETURN_IF_ERROR(match(snapshot, batch, *prev, next->get(), &stats, &next_id));
    stats.send_cgroup_charts =
        stats.targets_added != 0 || stats.targets_removed != 0 || force_send_;
  }
  stats.targets = (*next)->targets_.size();
  commit(std::move(*next), stats, next_id, empty);
  stats.duration_ns = netipc::detail::monotonic_ns() - start;
  return stats;
}

}  // namespace netipc::ebpf
