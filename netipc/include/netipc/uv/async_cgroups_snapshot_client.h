// uv::AsyncCgroupsSnapshotClient: the typed cgroups-snapshot client on a
// libuv loop the caller owns. The asynchronous face of
// netipc::CgroupsSnapshotClient: same layout choice (2, falling back to 1
// for the rest of its life when a peer rejects layout 2), same decoding,
// same treatment of a malformed snapshot (error, session dropped), over
// uv::AsyncClient, so connect, handshake and call never block the loop.
// Integrator guide: docs/snapshot-service.md.
//
// The uv::Refresher runs on this client too (call(), then decode_only() on
// the threadpool and settle_decode() back on the loop), so on a loop the
// fallback and the malformed-snapshot rule exist only here.
//
// Transport: UDS only (uv::AsyncClient strips shared memory; see there).
// A config's SHM profiles are ignored rather than refused.
//
// Threading: every method, the destructor included, on the loop thread,
// except decode_only() (see there). Callbacks run on that thread, from
// inside uv_run().
//
// Callback contract (that of uv::AsyncClient::call), for fetch() and call():
//  - returning an error: `done` never runs.
//  - returning OK: `done` runs exactly once, later, from the loop, never
//    from inside fetch() or call(). A layout fallback happens inside that
//    one fetch or call: `done` sees only the final outcome.
//  - The views (fetch) or the payload (call) passed to `done`, and the
//    strings they point to, are valid only until `done` returns: copy what
//    you keep. `done` may start the next fetch or call, close() or destroy
//    the client.
//  - close(closed): a fetch or call in flight completes with kAborted, then
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
#include <vector>

#include "netipc/bytes.h"
#include "netipc/cgroups_snapshot_call.h"
#include "netipc/cgroups_snapshot_client.h"
#include "netipc/client_config.h"
#include "netipc/codec/cgroups.h"
#include "netipc/result.h"
#include "netipc/uv/async_client.h"

namespace netipc::uv {

class AsyncCgroupsSnapshotClient {
 public:
  using FetchCallback = std::function<void(Result<const codec::CgroupsSnapshotViews*>)>;
  using CallCallback = std::function<void(Result<ByteSpan>)>;
  using CloseCallback = std::function<void()>;

  // No I/O. kInvalidArgument for a null loop or a bad layout.
  static Result<std::unique_ptr<AsyncCgroupsSnapshotClient>> create(
      uv_loop_t* loop, const CgroupsSnapshotClientConfig& config);
  // For callers that manage the Level-2 configuration themselves (the
  // uv::Refresher): as CgroupsSnapshotClient::create(ClientConfig, layout),
  // with the SHM profiles stripped. No I/O.
  static Result<std::unique_ptr<AsyncCgroupsSnapshotClient>> create(uv_loop_t* loop,
                                                                    ClientConfig config,
                                                                    uint16_t layout);

  ~AsyncCgroupsSnapshotClient();
  AsyncCgroupsSnapshotClient(const AsyncCgroupsSnapshotClient&) = delete;
  AsyncCgroupsSnapshotClient& operator=(const AsyncCgroupsSnapshotClient&) = delete;

  // Starts one fetch. kInvalidArgument while a fetch or call is in flight
  // or when `done` is empty; kNotReady after close(). timeout_ms <= 0 uses
  // the config's call timeout (per attempt). Errors delivered to `done`: as
  // CgroupsSnapshotClient::fetch().
  Status fetch(int timeout_ms, FetchCallback done);

  // fetch() in two halves, as CgroupsSnapshotClient::call() and decode():
  //  - call() performs the round trip, with the layout fallback, and hands
  //    `done` the raw response payload. Starting it and the errors
  //    delivered as fetch(), less the decoder's.
  //  - decode() decodes a payload from call() with the layout it was asked
  //    for; a malformed one is counted and drops the session. Call it
  //    before the next call() (inside `done` or later). `out` borrows
  //    `payload`.
  Status call(int timeout_ms, CallCallback done);
  Status decode(ByteSpan payload, codec::CgroupsSnapshotViews* out);

  // decode() in two halves, for callers that decode off the loop (the
  // uv::Refresher decodes and builds on the libuv threadpool):
  //  - decode_only() decodes with the layout of the last call() and touches
  //    nothing else: any thread, while no fetch or call is in flight (the
  //    layout changes only inside call(), on the loop).
  //  - settle_decode(), on the loop and before the next call(), does the
  //    rest of decode() with decode_only()'s result: counts the fetch, or
  //    counts the malformed snapshot and drops the session. Returns
  //    `decoded`.
  Status decode_only(ByteSpan payload, codec::CgroupsSnapshotViews* out) const {
    return call_.decode(payload, out);
  }
  Status settle_decode(Status decoded);

  // True from a successful fetch() or call() until its `done` runs.
  bool fetch_in_flight() const { return client_->call_in_flight(); }

  // As uv::AsyncClient: fails a fetch in flight with kAborted; sticky
  // until clear_abort().
  // AsyncClient::release_receive_buffer(): the last payload is invalid after.
  void release_receive_buffer(size_t keep_bytes) { client_->release_receive_buffer(keep_bytes); }
  // AsyncClient::take_receive_buffer(): inside call()'s `done`, the payload
  // then lives in the returned buffer, out of the client's reach.
  ReceiveBuffer take_receive_buffer() { return client_->take_receive_buffer(); }
  // AsyncClient::provide_receive_buffer().
  void provide_receive_buffer(ReceiveBuffer buf) {
    client_->provide_receive_buffer(std::move(buf));
  }
  void abort() { client_->abort(); }
  void clear_abort() { client_->clear_abort(); }
  void close(CloseCallback closed) { client_->close(std::move(closed)); }

  CgroupsSnapshotClientStatus status() const;
  ClientState state() const { return client_->state(); }
  // The layout the next call asks for (2 until a peer rejected it, then 1).
  uint16_t layout() const { return call_.layout(); }

 private:
  AsyncCgroupsSnapshotClient(std::unique_ptr<AsyncClient> client, uint16_t layout)
      : client_(std::move(client)), call_(layout) {}
  Status start_call();
  void on_response(Result<Message> r);

  std::unique_ptr<AsyncClient> client_;
  CgroupsSnapshotCall call_;
  codec::CgroupsSnapshotViews views_;
  CallCallback done_;
  int timeout_ms_ = 0;
  uint64_t fetch_count_ = 0;
  uint64_t malformed_count_ = 0;
};

}  // namespace netipc::uv
