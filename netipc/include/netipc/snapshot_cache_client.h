// SnapshotCache: the Level-3 cgroups cache (docs/levels.md
// Part 3): a blocking Level-2 client of the cgroups-snapshot service plus a
// SnapshotStore that readers on any thread look items up in.
// Integrator guide: docs/cache.md, docs/consumer.md.
//
// refresh() is caller-driven (no thread, no timer): it connects or
// reconnects as needed (lazily, inside the call), performs one typed
// CGROUPS_SNAPSHOT call (layout 2, falling back to layout 1 for peers that
// only speak it: the rules of the CgroupsSnapshotClient the cache runs on),
// builds a new immutable Snapshot privately and publishes it. On any failure
// the previous snapshot stays and the failure is counted. A malformed
// response (it does not decode, or an item fails its checks) also DROPS the
// session, so the next refresh reconnects: our deliberate difference from
// upstream, which keeps such a session READY.
//
// Failure matrix (docs/levels.md §3.4, with that one difference):
//   refresh succeeds              snapshot replaced atomically, session READY
//   call fails on a READY session previous kept; client retried once; BROKEN
//   no provider                   previous (or empty) kept; NOT_FOUND; next refresh retries
//   provider restarted            previous kept until the next success, which reconnects
//   malformed response            previous kept; session dropped (DISCONNECTED)
//   timeout / abort               previous kept; BROKEN; no retry of that refresh
//   wrong token / incompatible    previous kept; AUTH_FAILED / INCOMPATIBLE are sticky
//                                 until reset_connection()
//
// Threading and lifetime:
//  - refresh(), reset_connection() and close() are serialised by an internal
//    mutex: call them from one thread at a time (a second caller waits).
//  - Lookups (guard(), copy(), acquire()), status(), client_status(),
//    abort() and abort_pending() may be called from any thread at any time;
//    lookups never wait for a refresh in progress and never see a
//    half-built snapshot (SnapshotStore's guarantees).
//  - abort() is async-signal-safe. It makes a refresh in progress fail with
//    kAborted at once, and every later refresh fail with kAborted until
//    clear_abort(), which waits for a refresh in progress to return.
//  - ReadGuards and shared_ptrs from acquire() must not outlive the store;
//    the store is shared (store()), so keeping a shared_ptr to it is enough.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

#include "netipc/cgroup_item.h"
#include "netipc/cgroups_snapshot_client.h"
#include "netipc/client_config.h"
#include "netipc/client_state.h"
#include "netipc/codec/cgroups.h"
#include "netipc/result.h"
#include "netipc/snapshot.h"
#include "netipc/snapshot_cache.h"
#include "netipc/snapshot_refresh.h"

namespace netipc {

struct SnapshotCacheOptions {
  // 0 = automatic (layout 2, fallback to 1 for this cache's life); 1 or 2 = only that.
  uint16_t layout = 0;
  // Cap on one snapshot's memory (SnapshotBuilder::Options::max_bytes); 0 = none.
  uint64_t max_snapshot_bytes = 0;
  // Publish into this store (shared with other refresh paths, e.g. a
  // uv::Refresher); null = a store of its own.
  std::shared_ptr<SnapshotStore> store;
};

class SnapshotCache {
 public:
  // `config.method` 0 means CGROUPS_SNAPSHOT; any other method is
  // kInvalidArgument. Validates like Client::create() (kInvalidArgument,
  // kPathTooLong). No I/O: the state is DISCONNECTED and the cache empty.
  static Result<std::unique_ptr<SnapshotCache>> create(ClientConfig config,
                                                       SnapshotCacheOptions options = {});
  ~SnapshotCache();
  SnapshotCache(const SnapshotCache&) = delete;
  SnapshotCache& operator=(const SnapshotCache&) = delete;

  // One refresh (docs/levels.md §3.1 step 2). `timeout_ms` bounds each call attempt
  // (<= 0: config.call_timeout_ms, default 30000); the connect is bounded by
  // config.connect_timeout_ms. Returns OK when a new snapshot was published,
  // else the error of the call, the decode or the build (the previous
  // snapshot stays). *outcome (optional) receives the details.
  Status refresh(int timeout_ms = 0, RefreshOutcome* outcome = nullptr);

  // Lookups, any thread. A guard pins the current snapshot: views it
  // returns are valid until it is destroyed (on the thread that made it).
  ReadGuard guard() const noexcept { return ReadGuard(*store_); }
  // An owned copy of the item (hash, name). kNotFound if absent (or the
  // cache is empty), kNoMemory if a string cannot be allocated.
  Status copy(uint32_t hash, std::string_view name, CgroupItem* out) const noexcept;
  // The current snapshot (null before the first success), for long work.
  std::shared_ptr<const Snapshot> acquire() const { return store_->acquire(); }
  const std::shared_ptr<SnapshotStore>& store() const noexcept { return store_; }

  // docs/levels.md §3.3: populated, items, generation, counters, last success time,
  // and the client state as of the end of the last refresh. Any thread.
  CacheStatus status() const noexcept { return store_->status(); }
  bool ready() const noexcept { return store_->ready(); }
  // The Level-2 counters (connect_count, reconnect_count, ...) as of the end
  // of the last refresh. Any thread.
  ClientStatus client_status() const;
  // Layout in use (2 until a peer rejected it, then 1). Any thread.
  uint16_t layout() const noexcept { return layout_.load(std::memory_order_relaxed); }
  // Responses rejected as malformed (each dropped its session). Any thread.
  uint64_t malformed_count() const noexcept { return malformed_.load(std::memory_order_relaxed); }

  void abort() noexcept { client_.abort(); }
  void clear_abort();
  bool abort_pending() const noexcept { return client_.abort_pending(); }

  // Leaves the sticky AUTH_FAILED / INCOMPATIBLE states so that the next
  // refresh tries again with the same configuration (e.g. after the
  // provider was upgraded). Drops the session; the snapshot is kept.
  void reset_connection();
  // docs/levels.md §3.1 close(): drops the session and the snapshot (ready() becomes
  // false). Counters are kept. kInvalidArgument if the calling thread holds
  // a ReadGuard on this cache.
  Status close();

 private:
  SnapshotCache(CgroupsSnapshotClient client, SnapshotCacheOptions options);
  void mirror_client_status();

  std::mutex refresh_mu_;  // serialises refresh(), clear_abort(), reset, close
  CgroupsSnapshotClient client_;
  codec::CgroupsSnapshotViews scratch_;  // decode buffer, released after each refresh
  uint64_t max_snapshot_bytes_ = 0;
  std::shared_ptr<SnapshotStore> store_;

  mutable std::mutex status_mu_;  // guards client_status_
  ClientStatus client_status_;
  std::atomic<uint16_t> layout_{0};
  std::atomic<uint64_t> malformed_{0};
};

}  // namespace netipc
