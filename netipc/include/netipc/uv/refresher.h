// uv::Refresher: the Level-3 cgroups cache refreshed by a timer on a libuv
// loop the caller owns. Integrator guide: docs/consumer.md.
//
// Every `interval_ms` (default 30000, the first one right after start()) it
// asks the provider for a snapshot through a uv::AsyncCgroupsSnapshotClient
// (UDS only; the connect, the request and the response never block the
// loop), then decodes it and builds the new immutable Snapshot on the libuv
// threadpool (uv_queue_work) and publishes it into a SnapshotStore shared
// with readers on any thread. Same rules as the blocking SnapshotCache, and
// from the same place: the typed client's layout 2 with fallback to 1 and
// its malformed-response rule (counted, session dropped: our difference
// from upstream); the previous snapshot is kept on any failure.
//
// Why the build runs off the loop: decoding and indexing 100k items takes
// tens of milliseconds (~30 ms Release, more in Debug), which would stall
// every other handle of a host loop. What stays on the loop is the receive,
// spread over iterations (at most uv::kReceiveBytesPerEvent per iteration),
// and the bookkeeping. A response over kKeepReceiveBufferBytes is not
// copied: the client's receive buffer is handed to the threadpool work,
// which decodes it in place and frees it; a smaller one is copied (the
// client keeps its buffer for the next refresh).
//
// A tick that comes while a refresh is still running is skipped (counted in
// skipped_ticks()); refreshes never overlap.
//
// Threading and lifetime:
//  - create(), start(), refresh_now(), stop(), the destructor and every
//    accessor run on the loop thread. The store may be read from any thread.
//  - on_refresh runs on the loop thread after every attempt (success or
//    failure), never from inside start() or refresh_now().
//  - work_hook, if set, runs on a libuv threadpool thread after every
//    attempt, after the store was updated, with the store's current
//    snapshot (null if none): the place for slow work that follows a
//    refresh (the ebpf consumer reads every cgroup.procs there). At most one
//    runs at a time; on_refresh of that attempt runs after it returned.
//  - stop(done): no new refresh starts; a call in flight is aborted; a build
//    in flight finishes (it is not interrupted); then `done` runs on the loop
//    thread, after which no callback or hook of this Refresher runs again,
//    it may be destroyed, and (with no other handles) uv_loop_close()
//    returns 0. A second stop() is ignored (its callback never runs).
//  - Destroying a Refresher whose stop has not completed cancels silently:
//    no callback runs after the destructor returns, and if the hook or a
//    build is running on the threadpool the destructor waits for it (so the
//    hook never runs after it). Its handles still close asynchronously: run
//    the loop once more before uv_loop_close().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "netipc/client_config.h"
#include "netipc/client_state.h"
#include "netipc/result.h"
#include "netipc/snapshot.h"
#include "netipc/snapshot_cache.h"
#include "netipc/snapshot_refresh.h"
#include "netipc/uv/thread_factory.h"

typedef struct uv_loop_s uv_loop_t;

namespace netipc::uv {

struct RefresherConfig {
  int interval_ms = 0;              // <= 0 -> kRefresherDefaultIntervalMs
  int timeout_ms = 0;               // per call attempt; <= 0 -> the client config's call timeout
  uint16_t layout = 0;              // 0 = automatic (2, fallback 1); 1 or 2 = only that
  uint64_t max_snapshot_bytes = 0;  // cap on one snapshot's memory; 0 = none
  // Starts the Refresher's work thread ("netipc-refresh"), on which every
  // decode, snapshot build and work hook runs while a threadpool worker
  // waits for it: one thread, so one malloc arena across refreshes.
  // Empty: std_thread_factory(). If the thread cannot be started, the work
  // runs on the threadpool worker itself.
  ThreadFactory threads;
};

inline constexpr int kRefresherDefaultIntervalMs = 30000;  // ebpf.plugin's cadence

class Refresher {
 public:
  using RefreshCallback = std::function<void(const RefreshOutcome&)>;
  using WorkHook =
      std::function<void(const RefreshOutcome&, const std::shared_ptr<const Snapshot>& current)>;
  using StopCallback = std::function<void()>;

  // `config.method` 0 means CGROUPS_SNAPSHOT (any other is
  // kInvalidArgument); SHM profiles are stripped (UDS only). A null loop or
  // store is kInvalidArgument. No I/O until start().
  static Result<std::unique_ptr<Refresher>> create(uv_loop_t* loop, ClientConfig config,
                                                   std::shared_ptr<SnapshotStore> store,
                                                   RefresherConfig refresher = {});
  ~Refresher();
  Refresher(const Refresher&) = delete;
  Refresher& operator=(const Refresher&) = delete;

  // Set before start(); kInvalidArgument afterwards.
  Status set_on_refresh(RefreshCallback cb);
  Status set_work_hook(WorkHook hook);

  // Starts the timer: the first refresh right away, then every interval.
  // kInvalidArgument if already started, kNotReady after stop().
  Status start();
  // Starts one refresh now (the periodic schedule is unchanged). Returns
  // false if one is already running or the Refresher is stopped.
  bool refresh_now();
  void stop(StopCallback done);

  bool refresh_in_flight() const;
  uint64_t attempts() const;       // refreshes started
  uint64_t skipped_ticks() const;  // ticks that found a refresh still running
  uint64_t malformed_count() const;
  uint16_t layout() const;  // 2 until a peer rejected it, then 1
  ClientStatus client_status() const;
  const std::shared_ptr<SnapshotStore>& store() const;

  struct Impl;  // public only for the C callbacks in refresher.cc

 private:
  explicit Refresher(Impl* impl) : impl_(impl) {}
  Impl* impl_;  // lives until its handles are closed and its work is done
};

}  // namespace netipc::uv
