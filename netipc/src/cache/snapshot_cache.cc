#include "netipc/snapshot_cache.h"

#include <chrono>
#include <new>
#include <thread>
#include <utility>

#include "base/cpu_relax.h"
#include "sys_linux.h"

namespace netipc {
namespace {

constexpr unsigned kNoStripe = ~0u;

// Per-thread reader state. Both are trivially constructible, so using them
// never allocates or runs a TLS initialiser.
thread_local unsigned t_stripe = kNoStripe;
thread_local unsigned t_guards_held = 0;

std::atomic<unsigned> g_next_stripe{0};

inline unsigned my_stripe(size_t stripes) noexcept {
  if (t_stripe == kNoStripe) {
    t_stripe = g_next_stripe.fetch_add(1, std::memory_order_relaxed);
  }
  return t_stripe % static_cast<unsigned>(stripes);
}

using detail::cpu_relax;

constexpr uint64_t pack_flags(bool populated, bool systemd, ClientState state, Errc err,
                              uint32_t items) {
  return (populated ? 1u : 0u) | (systemd ? 2u : 0u) |
         (static_cast<uint64_t>(static_cast<uint8_t>(state)) << 8) |
         (static_cast<uint64_t>(static_cast<uint16_t>(err)) << 16) |
         (static_cast<uint64_t>(items) << 32);
}

}  // namespace

// ---------------------------------------------------------------------------
// Readers

ReadGuard::ReadGuard(const SnapshotStore& store) noexcept {
  SnapshotStore::Stripe& stripe = store.stripes_[my_stripe(SnapshotStore::kStripes)];
  for (;;) {
    const uint64_t e = store.epoch_.load(std::memory_order_relaxed);  // A
    std::atomic<uint64_t>* counter = &stripe.active[e & 1];
    counter->fetch_add(1, std::memory_order_seq_cst);         // B
    if (store.epoch_.load(std::memory_order_seq_cst) == e) {  // C
      counter_ = counter;
      break;
    }
    counter->fetch_sub(1, std::memory_order_release);  // a publish flipped: retry
  }
  snap_ = store.current_.load(std::memory_order_seq_cst);  // D
  ++t_guards_held;
}

ReadGuard::~ReadGuard() {
  counter_->fetch_sub(1, std::memory_order_release);  // L
  --t_guards_held;
}

Status ReadGuard::copy(const CgroupItemView* view, CgroupItem* out) const noexcept {
  if (view == nullptr || out == nullptr || snap_ == nullptr || !snap_->owns(view)) {
    return make_error(Errc::kInvalidArgument, "cache copy: view is not from this guard");
  }
  try {
    out->hash = view->hash;
    out->options = view->options;
    out->enabled = view->enabled;
    out->name.assign(view->name.data(), view->name.size());
    out->path.assign(view->path.data(), view->path.size());
    out->cgroup_id = view->cgroup_id;
  } catch (const std::exception&) {
    return make_error(Errc::kNoMemory, "cache copy");
  }
  return ok_status();
}

Result<CgroupItem> ReadGuard::copy(const CgroupItemView* view) const noexcept {
  CgroupItem item;
  Status st = copy(view, &item);
  if (!st.ok()) return st.error();
  return item;
}

// ---------------------------------------------------------------------------
// Publisher

SnapshotStore::SnapshotStore() noexcept {
  for (auto& s : stripes_) {
    s.active[0].store(0, std::memory_order_relaxed);
    s.active[1].store(0, std::memory_order_relaxed);
  }
}

SnapshotStore::~SnapshotStore() = default;

namespace {

// Growing pause for the rare blocking waits (publish with kMaxRetired
// snapshots pinned, clear(), synchronize()): spin briefly, then give the CPU
// away so that a reader preempted inside its guard can run and leave.
void backoff(unsigned round) noexcept {
  if (round < 64) {
    cpu_relax();
  } else if (round < 128) {
    std::this_thread::yield();
  } else {
    const unsigned shift = round - 128 < 10 ? round - 128 : 10;
    std::this_thread::sleep_for(std::chrono::microseconds(1u << shift));
  }
}

// How long publish() spins for readers to leave before deferring the free.
constexpr unsigned kPublishSpins = 256;

}  // namespace

bool SnapshotStore::drained(unsigned parity) const noexcept {
  for (const Stripe& stripe : stripes_) {
    if (stripe.active[parity].load(std::memory_order_seq_cst) != 0) return false;  // Z
  }
  return true;
}

size_t SnapshotStore::advance(unsigned spins) noexcept {
  for (unsigned i = 0;; ++i) {
    if (grace_active_ && drained(static_cast<unsigned>(grace_epoch_ & 1))) {
      grace_active_ = false;
      // Free what was retired before the flip; keep the rest in order.
      size_t kept = 0;
      for (size_t k = 0; k < retired_count_; ++k) {
        if (retired_[k].epoch <= grace_epoch_) {
          retired_[k].snapshot.reset();  // frees it unless acquire() shares it
        } else if (kept != k) {
          retired_[kept++] = std::move(retired_[k]);
        } else {
          ++kept;
        }
      }
      retired_count_ = kept;
    }
    if (!grace_active_ && retired_count_ != 0) {
      const uint64_t e = epoch_.load(std::memory_order_relaxed);  // only publishers write it
      epoch_.store(e + 1, std::memory_order_seq_cst);             // F
      grace_epoch_ = e;
      grace_active_ = true;
      continue;  // every retired snapshot has epoch <= e: check at once
    }
    if (retired_count_ == 0 || i >= spins) {
      retired_mirror_.store(retired_count_, std::memory_order_relaxed);
      return retired_count_;
    }
    cpu_relax();
  }
}

Status SnapshotStore::swap_in(std::shared_ptr<const Snapshot> next, bool count_success, bool sync) {
  if (t_guards_held != 0) {
    return make_error(Errc::kInvalidArgument,
                      "cache publish: this thread holds a ReadGuard (would deadlock)");
  }
  std::lock_guard<std::mutex> publish_lock(publish_mu_);
  // Bound memory: with every retired slot pinned, wait for readers to leave.
  for (unsigned round = 0; retired_count_ == kMaxRetired; ++round) {
    if (advance(0) == kMaxRetired) backoff(round);
  }
  const Snapshot* raw = next.get();
  std::shared_ptr<const Snapshot> old;
  {
    std::lock_guard<std::mutex> owner_lock(owner_mu_);
    old = std::exchange(owner_, std::move(next));
    current_.store(raw, std::memory_order_seq_cst);  // W
  }
  if (old) {
    retired_[retired_count_].snapshot = std::move(old);
    retired_[retired_count_].epoch = epoch_.load(std::memory_order_relaxed);
    ++retired_count_;
    retired_mirror_.store(retired_count_, std::memory_order_relaxed);
  }
  {
    std::lock_guard<std::mutex> status_lock(status_mu_);
    write_status_begin();
    const uint64_t flags = st_flags_.load(std::memory_order_relaxed);
    const auto state = static_cast<ClientState>((flags >> 8) & 0xFF);
    const auto err = static_cast<Errc>((flags >> 16) & 0xFFFF);
    if (raw != nullptr) {
      st_flags_.store(pack_flags(true, raw->systemd_enabled(), state, err,
                                 static_cast<uint32_t>(raw->item_count())),
                      std::memory_order_relaxed);
      st_generation_.store(raw->generation(), std::memory_order_relaxed);
    } else {
      st_flags_.store(pack_flags(false, false, state, err, 0), std::memory_order_relaxed);
      st_generation_.store(0, std::memory_order_relaxed);
    }
    if (count_success) {
      st_success_.store(st_success_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      st_consecutive_.store(0, std::memory_order_relaxed);
      st_last_ts_.store(detail::monotonic_ms(), std::memory_order_relaxed);
    }
    write_status_end();
  }
  advance(kPublishSpins);
  for (unsigned round = 0; sync && retired_count_ != 0; ++round) {
    if (advance(0) != 0) backoff(round);
  }
  return ok_status();
}

Status SnapshotStore::publish(std::shared_ptr<const Snapshot> snapshot) {
  if (!snapshot) return make_error(Errc::kInvalidArgument, "cache publish: null snapshot");
  return swap_in(std::move(snapshot), /*count_success=*/true, /*sync=*/false);
}

Status SnapshotStore::clear() {
  return swap_in(nullptr, /*count_success=*/false, /*sync=*/true);
}

size_t SnapshotStore::reclaim() noexcept {
  // Never blocks: a publisher may hold the mutex while it waits for readers,
  // and the caller may be one of them.
  std::unique_lock<std::mutex> publish_lock(publish_mu_, std::try_to_lock);
  if (!publish_lock.owns_lock()) return retired_mirror_.load(std::memory_order_relaxed);
  return advance(0);
}

Status SnapshotStore::synchronize() {
  if (t_guards_held != 0) {
    return make_error(Errc::kInvalidArgument,
                      "cache synchronize: this thread holds a ReadGuard (would deadlock)");
  }
  std::lock_guard<std::mutex> publish_lock(publish_mu_);
  for (unsigned round = 0; retired_count_ != 0; ++round) {
    if (advance(0) != 0) backoff(round);
  }
  return ok_status();
}

std::shared_ptr<const Snapshot> SnapshotStore::acquire() const {
  std::lock_guard<std::mutex> owner_lock(owner_mu_);
  return owner_;
}

// ---------------------------------------------------------------------------
// Status (sequence lock)

void SnapshotStore::write_status_begin() noexcept {
  status_seq_.store(status_seq_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
}

void SnapshotStore::write_status_end() noexcept {
  status_seq_.store(status_seq_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

uint64_t SnapshotStore::record_failure(const Error& why) noexcept {
  std::lock_guard<std::mutex> status_lock(status_mu_);
  write_status_begin();
  const uint64_t flags = st_flags_.load(std::memory_order_relaxed);
  st_flags_.store((flags & ~(uint64_t{0xFFFF} << 16)) |
                      (static_cast<uint64_t>(static_cast<uint16_t>(why.code)) << 16),
                  std::memory_order_relaxed);
  st_failure_.store(st_failure_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  const uint64_t consecutive = st_consecutive_.load(std::memory_order_relaxed) + 1;
  st_consecutive_.store(consecutive, std::memory_order_relaxed);
  write_status_end();
  return consecutive;
}

void SnapshotStore::set_connection_state(ClientState state) noexcept {
  std::lock_guard<std::mutex> status_lock(status_mu_);
  write_status_begin();
  const uint64_t flags = st_flags_.load(std::memory_order_relaxed);
  st_flags_.store(
      (flags & ~(uint64_t{0xFF} << 8)) | (static_cast<uint64_t>(static_cast<uint8_t>(state)) << 8),
      std::memory_order_relaxed);
  write_status_end();
}

CacheStatus SnapshotStore::status() const noexcept {
  CacheStatus out;
  for (;;) {
    const uint64_t seq1 = status_seq_.load(std::memory_order_acquire);
    if (seq1 & 1) {
      cpu_relax();
      continue;
    }
    const uint64_t flags = st_flags_.load(std::memory_order_relaxed);
    out.generation = st_generation_.load(std::memory_order_relaxed);
    out.refresh_success_count = st_success_.load(std::memory_order_relaxed);
    out.refresh_failure_count = st_failure_.load(std::memory_order_relaxed);
    out.consecutive_failures = st_consecutive_.load(std::memory_order_relaxed);
    out.last_refresh_ts = st_last_ts_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (status_seq_.load(std::memory_order_relaxed) != seq1) continue;
    out.populated = (flags & 1) != 0;
    out.systemd_enabled = (flags & 2) != 0;
    out.connection_state = static_cast<ClientState>((flags >> 8) & 0xFF);
    out.last_error = static_cast<Errc>((flags >> 16) & 0xFFFF);
    out.item_count = static_cast<uint32_t>(flags >> 32);
    return out;
  }
}

bool SnapshotStore::ready() const noexcept {
  return (st_flags_.load(std::memory_order_acquire) & 1) != 0;
}

}  // namespace netipc
