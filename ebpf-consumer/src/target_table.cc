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

netipc::Result<ApplyStats> TargetTable::apply(const netipc::Snapshot& snapshot) {
  std::lock_guard<std::mutex> apply_lock(apply_mu_);
  const int64_t start = netipc::detail::monotonic_ns();
  const std::shared_ptr<const TargetView> prev = view();
  ApplyStats stats;
  stats.pass = pass_ + 1;
  uint64_t next_id = next_id_;
  bool send = false;
  std::shared_ptr<TargetView> next;

  try {
    next = std::make_shared<TargetView>();
    next->pass_ = stats.pass;
    next->generation_ = snapshot.generation();
    next->systemd_enabled_ = snapshot.systemd_enabled();
    next->integration_active_ = snapshot.item_count() > 0;

    if (snapshot.item_count() == 0) {
      // Legacy: an empty snapshot keeps the targets; the integration is
      // inactive until items come back, and then charts are (re)sent.
      next->targets_ = prev->targets_;
      next->slots_ = prev->slots_;
    } else {
      next->targets_.reserve(snapshot.item_count());
      next->index_reset(snapshot.item_count());
      size_t kept = 0;  // targets of `prev` found again
      for (size_t i = 0; i < snapshot.item_count(); ++i) {
        const netipc::CgroupItemView& item = snapshot.item(i);
        if (item.enabled == 0) {
          ++stats.disabled_skipped;
          continue;
        }
        const uint64_t key = TargetView::key_of(item.hash, item.name);
        if (next->find_ptr(key, item.hash, item.name) != nullptr) {
          ++stats.duplicates_skipped;
          continue;
        }
        const TargetRef* old_ref = prev->find_ptr(key, item.hash, item.name);
        const Target* old = old_ref != nullptr ? old_ref->get() : nullptr;
        const pid_t* old_pids = old != nullptr ? old->pids.data() : nullptr;
        const size_t old_count = old != nullptr ? old->pids.size() : 0;
        if (old != nullptr) ++kept;

        netipc::Status st = reader_.read(item.path, &scratch_);
        if (st.ok()) {
          ++stats.files_read;
        } else if (st.code() == netipc::Errc::kNotFound) {
          ++stats.files_vanished;  // cgroup gone: no PIDs this pass
          scratch_.clear();
        } else {
          ++stats.read_failures;  // keep what we knew
          scratch_.assign(old_pids, old_pids + old_count);
        }
        diff_sorted(old_pids, old_count, scratch_.data(), scratch_.size(), &stats.pids_added,
                    &stats.pids_removed);
        stats.pids += scratch_.size();

        if (old != nullptr &&
            std::equal(old->pids.begin(), old->pids.end(), scratch_.begin(), scratch_.end()) &&
            old->path == item.path && old->options == item.options &&
            old->cgroup_id == item.cgroup_id) {
          next->insert(key, *old_ref);  // unchanged: share the published object
          continue;
        }
        auto t = Target::make(item, old != nullptr ? old->id : next_id,
                              old != nullptr ? old->added_pass : stats.pass, scratch_.data(),
                              scratch_.size());
        if (!t.ok()) return t.error();
        if (old == nullptr) {
          ++next_id;
          ++stats.targets_added;
        }
        next->insert(key, std::move(t).value());
      }
      // Each kept target was matched by exactly one item (duplicates are
      // skipped before the lookup): if all were kept, none left.
      if (kept != prev->targets_.size()) {
        for (const TargetRef& p : prev->targets_) {
          if (next->find(p->hash, p->name) == nullptr) {
            next->removed_.push_back(p);
            stats.pids_removed += p->pids.size();
          }
        }
      }
      stats.targets_removed = next->removed_.size();
      send = stats.targets_added != 0 || stats.targets_removed != 0 || force_send_;
    }
  } catch (const std::exception&) {
    return netipc::make_error(netipc::Errc::kNoMemory, "target table: apply");
  }

  if (snapshot.item_count() == 0) {
    for (const TargetRef& p : next->targets_)
      stats.pids += p->pids.size();
  }
  next->send_cgroup_charts_ = send;
  stats.send_cgroup_charts = send;
  stats.targets = next->targets_.size();

  // Commit: nothing below can fail.
  pass_ = stats.pass;
  next_id_ = next_id;
  force_send_ = snapshot.item_count() == 0;
  const bool active = next->integration_active_;
  const bool systemd_enabled = next->systemd_enabled_;
  {
    std::shared_ptr<const TargetView> published = std::move(next);
    std::lock_guard<std::mutex> lock(view_mu_);
    view_.swap(published);
  }
  integration_active_.store(active, std::memory_order_release);
  systemd_enabled_.store(systemd_enabled, std::memory_order_release);
  stats.duration_ns = netipc::detail::monotonic_ns() - start;
  return stats;
}

}  // namespace netipc::ebpf
