// uv::AsyncCgroupsSnapshotClient: the typed cgroups-snapshot client on a
// libuv loop the caller owns. The asynchronous face of
// netipc::CgroupsSnapshotClient: same layout choice (2, falling back to 1
// for the rest of its life when a peer rejects layout 2), same decoding,
// same treatment of a malformed snapshot (error, session dropped), over
// uv::AsyncClient, so connect, handshake and call never block the loop.
// Integrator guide: docs/snapshot-service.md.
//
// Transport: UDS only (uv::AsyncClient strips shared memory; see there).
// A config's SHM profiles are ignored rather than refused.
//
// Threading: every method, the destructor included, on the loop thread.
// Callbacks run on that thread, from inside uv_run().
//
// Callback contract (that of uv::AsyncClient::call):
//  - fetch() returning an error: `done` never runs.
//  - fetch() returning OK: `done` runs exactly once, later, from the loop,
//    never from inside fetch(). A layout fallback happens inside that one
//    fetch: `done` sees only the final outcome.
//  - The views passed to `done` (and the strings they point to) are valid
//    only until `done` returns: copy what you keep. `done` may start the
//    next fetch, close() or destroy the client.
//  - close(closed): a fetch in flight completes with kAborted, then
//    `closed` runs, then nothing else; uv_loop_close() then returns 0 (if
//    the loop has no other handles).
//  - Destroying the client without close() cancels silently (no callback
//    runs after the destructor); run the loop once more before
//    uv_loop_close().
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "netipc/cgroups_snapshot_call.h"
#include "netipc/cgroups_snapshot_client.h"
#include "netipc/codec/cgroups.h"
#include "netipc/result.h"
#include "netipc/uv/async_client.h"

namespace netipc::uv {

class AsyncCgroupsSnapshotClient {
 public:
  using FetchCallback = std::function<void(Result<const codec::CgroupsSnapshotViews*>)>;
  using CloseCallback = std::function<void()>;

  // No I/O. kInvalidArgument for a null loop or a bad layout.
  static Result<std::unique_ptr<AsyncCgroupsSnapshotClient>> create(
      uv_loop_t* loop, const CgroupsSnapshotClientConfig& config);

  ~AsyncCgroupsSnapshotClient();
  AsyncCgroupsSnapshotClient(const AsyncCgroupsSnapshotClient&) = delete;
  AsyncCgroupsSnapshotClient& operator=(const AsyncCgroupsSnapshotClient&) = delete;

  // Starts one fetch. kInvalidArgument while one is in flight or when
  // `done` is empty; kNotReady after close(). timeout_ms <= 0 uses the
  // config's call timeout (per attempt). Errors delivered to `done`: as
  // CgroupsSnapshotClient::fetch().
  Status fetch(int timeout_ms, FetchCallback done);
  bool fetch_in_flight() const { return client_->call_in_flight(); }

  // As uv::AsyncClient: fails a fetch in flight with kAborted; sticky
  // until clear_abort().
  void abort() { client_->abort(); }
  void clear_abort() { client_->clear_abort(); }
  void close(CloseCallback closed) { client_->close(std::move(closed)); }

  CgroupsSnapshotClientStatus status() const;
  ClientState state() const { return client_->state(); }

 private:
  AsyncCgroupsSnapshotClient(std::unique_ptr<AsyncClient> client, uint16_t layout)
      : client_(std::move(client)), call_(layout) {}
  Status start_call(int timeout_ms);
  void on_response(Result<Message> r);

  std::unique_ptr<AsyncClient> client_;
  CgroupsSnapshotCall call_;
  codec::CgroupsSnapshotViews views_;
  FetchCallback done_;
  int timeout_ms_ = 0;
  uint64_t fetch_count_ = 0;
  uint64_t malformed_count_ = 0;
};

}  // namespace netipc::uv
