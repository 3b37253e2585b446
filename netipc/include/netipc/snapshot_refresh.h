// The transport-free half of a Level-3 refresh (docs/levels.md
// §3.1 steps 3-5), shared by the blocking SnapshotCache
// (snapshot_cache_client.h) and the libuv Refresher (uv/refresher.h):
// turning the decoded views of a CGROUPS_SNAPSHOT response into an immutable
// Snapshot, and recording what a refresh attempt did in the SnapshotStore.
//
// Decoding, the layout fallback and the treatment of a malformed response
// (counted, session dropped: our deliberate difference from upstream, which
// keeps a session that sent a bad snapshot READY) belong to the typed
// clients both refresh paths run on: CgroupsSnapshotClient and
// uv::AsyncCgroupsSnapshotClient.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "netipc/codec/cgroups.h"
#include "netipc/result.h"
#include "netipc/snapshot.h"
#include "netipc/snapshot_cache.h"

namespace netipc {

// What one refresh attempt did. Filled by both refresh paths.
struct RefreshOutcome {
  Error error;              // code kOk when a new snapshot was published
  bool malformed = false;   // the response was rejected as malformed; session dropped
  uint16_t layout = 0;      // snapshot layout asked for (after any fallback)
  uint64_t generation = 0;  // of the published snapshot (0 on failure)
  size_t item_count = 0;    // of the published snapshot
  uint64_t payload_bytes = 0;
  int64_t call_ns = 0;                // request sent -> whole response received (incl. connect)
  int64_t build_ns = 0;               // decode + Snapshot build + publish
  uint64_t consecutive_failures = 0;  // after this attempt (0 on success)

  bool ok() const noexcept { return error.code == Errc::kOk; }
};

// Builds a Snapshot of every decoded item (hash, options, enabled, name,
// path, cgroup id, plus generation and systemd_enabled). `payload_bytes`
// (the size of the payload `views` were decoded from) bounds the string
// bytes to reserve. `max_bytes` caps the snapshot's size (0 = no cap).
// Errors: kLimitExceeded (larger than max_bytes), kNoMemory.
Result<std::shared_ptr<const Snapshot>> build_snapshot(const codec::CgroupsSnapshotViews& views,
                                                       size_t payload_bytes,
                                                       uint64_t max_bytes) noexcept;

// Records a failed attempt in the store (the current snapshot is kept) and
// fills outcome->consecutive_failures. Logs a warning on the 1st, 11th,
// 21st... consecutive failure (ebpf.plugin's cadence), naming `service`.
void record_refresh_failure(SnapshotStore* store, const char* service,
                            RefreshOutcome* outcome) noexcept;

// Publishes `snapshot` (counted as a success) and fills the outcome. A
// publish error (only kInvalidArgument: the calling thread holds a
// ReadGuard) is recorded as a failure instead.
void publish_refresh(SnapshotStore* store, const char* service,
                     std::shared_ptr<const Snapshot> snapshot, RefreshOutcome* outcome) noexcept;

}  // namespace netipc
