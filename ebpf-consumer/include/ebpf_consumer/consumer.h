// Consumer: what ebpf.plugin runs instead of the legacy shared-memory
// reader: the Level-3 cgroups cache wired to the cgroup target table.
// Every refresh (30 s in Netdata) asks the provider for a snapshot,
// publishes it, then rebuilds the target table from it (PIDs read from each
// cgroup's cgroup.procs). C callers use the C ABI in netipc_ebpf.h, which
// wraps this class. Integrator guide: docs/consumer.md.
//
// Two ways to drive it, one at a time:
//  - blocking: refresh(timeout_ms) from the plugin's own thread;
//  - on a libuv loop: attach(loop, interval_ms, cb) starts a uv::Refresher
//    (first refresh at once, then every interval); the snapshot build and
//    the table rebuild run on the libuv threadpool, `cb` on the loop.
//
// Never giving up: a missing, late, restarting or misbehaving provider only
// makes refreshes fail (counted, logged at a limited rate); the previous
// snapshot and table stay, and every later refresh tries again. Only
// AUTH_FAILED / INCOMPATIBLE stop connect attempts (they cannot heal with
// the same token); reset_connection() leaves them.
//
// After every refresh attempt that was not aborted, the table is rebuilt
// from the cached snapshot, even when the refresh failed: PIDs keep being
// tracked from cgroup.procs while the provider is away (as ebpf.plugin
// processed its cached items every pass).
//
// Threading: refresh(), reset_connection() from one thread at a time (not
// while attached: kInvalidArgument). attach(), detach(), the destructor of
// an attached Consumer and the callbacks: the loop's thread. view(),
// the flags, status(), client_status(), lookups through store(): any
// thread. abort() any thread (async-signal-safe): it affects blocking
// refreshes; an attached consumer is stopped with detach().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "ebpf_consumer/target_table.h"
#include "netipc/client_state.h"
#include "netipc/result.h"
#include "netipc/snapshot_cache.h"
#include "netipc/snapshot_refresh.h"

typedef struct uv_loop_s uv_loop_t;

namespace netipc {
class SnapshotCache;
}

namespace netipc::ebpf {

inline constexpr const char* kDefaultService = "cgroups-snapshot";
// Netdata v2.11 bounds its snapshot call by 5 s; a 30 s default (the
// client's) would let one stuck provider eat a whole refresh period.
inline constexpr int kConsumerDefaultCallTimeoutMs = 5000;

struct ConsumerConfig {
  std::string run_dir;  // required: Netdata's run directory
  std::string service;  // empty -> kDefaultService
  uint64_t auth_token = 0;
  // Blocking refreshes may use SHM (e.g. UDS|SHM_HYBRID); attached ones
  // are UDS only (libuv cannot wait on a futex). 0 -> UDS.
  uint32_t supported_profiles = 0;
  uint32_t preferred_profiles = 0;
  int call_timeout_ms = 0;          // <= 0 -> kConsumerDefaultCallTimeoutMs
  int connect_timeout_ms = 0;       // <= 0 -> 5000
  uint16_t layout = 0;              // 0 = automatic (2, fallback 1)
  uint64_t max_snapshot_bytes = 0;  // 0 = no cap
  // A refresh of a large snapshot allocates and frees tens of megabytes
  // (staging copies, the replaced snapshot and table). glibc keeps much of
  // that in its heap, so by default every refresh ends with malloc_trim(0)
  // (a few ms at 100k items, every 30 s) to return it to the kernel.
  // true: leave the heap alone (e.g. the host trims itself).
  bool no_heap_trim = false;
};

// What one refresh did: the cache part and the table part.
struct ConsumerRefresh {
  RefreshOutcome refresh;
  bool applied = false;  // the table was rebuilt
  Error apply_error;     // why not, when a snapshot existed (kNoMemory)
  ApplyStats apply;      // valid when applied
};

class Consumer {
 public:
  using RefreshCallback = std::function<void(const ConsumerRefresh&)>;

  // Validates (kInvalidArgument, kPathTooLong). No I/O.
  static Result<std::unique_ptr<Consumer>> create(ConsumerConfig config);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // One blocking refresh then the table rebuild. Returns the refresh's
  // status (the table may still have been rebuilt from the previous
  // snapshot: see *out). `timeout_ms` <= 0: the configured call timeout.
  Status refresh(int timeout_ms = 0, ConsumerRefresh* out = nullptr);

  // Starts refreshing on `loop` every interval_ms (<= 0 -> 30000), the
  // first right away; `cb` (may be empty) runs on the loop after each
  // attempt, once the table reflects it. kInvalidArgument if attached (or
  // detaching), kUnsupported if built without libuv.
  Status attach(uv_loop_t* loop, int interval_ms, RefreshCallback cb);
  // Stops the loop refresher; `done` runs on the loop once its handles are
  // closed (then uv_loop_close() can succeed and refresh() works again).
  // kInvalidArgument if not attached.
  Status detach(std::function<void()> done);
  bool attached() const noexcept;

  // The current target table view (never null); any thread.
  std::shared_ptr<const TargetView> view() const { return table_.view(); }
  bool integration_active() const noexcept { return table_.integration_active(); }
  bool systemd_enabled() const noexcept { return table_.systemd_enabled(); }
  bool send_cgroup_charts() const { return table_.view()->send_cgroup_charts(); }

  // Cache status (docs/levels.md §3.3) and the Level-2 counters as of the last
  // refresh; any thread.
  CacheStatus status() const noexcept { return store_->status(); }
  ClientStatus client_status() const;
  uint16_t layout() const;
  uint64_t malformed_count() const;

  // The cache itself, for guarded lookups by (hash, name); any thread.
  const std::shared_ptr<SnapshotStore>& store() const noexcept { return store_; }
  TargetTable& table() noexcept { return table_; }

  void abort() noexcept;
  void clear_abort();
  void reset_connection();

 private:
  struct Attached;  // the loop refresher (src/uv/consumer_attach.cc)
  struct AttachedDeleter {
    void operator()(Attached* a) const noexcept;
  };
  Consumer(ConsumerConfig config, std::unique_ptr<SnapshotCache> cache,
           std::shared_ptr<SnapshotStore> store);
  void apply_current(const RefreshOutcome& r, ConsumerRefresh* out);
  void mirror(const ClientStatus& st, uint16_t layout, uint64_t malformed);

  ConsumerConfig config_;
  std::shared_ptr<SnapshotStore> store_;
  TargetTable table_;
  std::unique_ptr<SnapshotCache> cache_;

  mutable std::mutex mirror_mu_;  // guards the three below
  ClientStatus client_status_;
  uint16_t layout_ = 0;
  uint64_t malformed_ = 0;

  std::atomic<bool> attached_{false};
  // Declared last: destroyed first, so the threadpool hook (which uses
  // table_ and store_) has finished before they go.
  std::unique_ptr<Attached, AttachedDeleter> attached_state_;
};

}  // namespace netipc::ebpf
