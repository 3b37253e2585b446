// CgroupsSnapshotClient: the typed, blocking client of a cgroups-snapshot
// endpoint. One fetch() = one CGROUPS_SNAPSHOT call on a netipc::Client,
// decoded into views of every item. Integrator guide:
// docs/snapshot-service.md.
//
// What it adds to netipc::Client:
//  - the layout choice: it asks for layout 2 (protobuf, with cgroup ids)
//    and, when the peer rejects that (a layout-1-only server answers
//    BAD_ENVELOPE), switches to layout 1 for the rest of its life and
//    retries at once, invisibly (CgroupsSnapshotCall);
//  - defaults sized for snapshots: shared memory offered and preferred
//    (UDS|SHM_HYBRID), a 1 MiB response hint, no size to configure. The
//    server's HELLO_ACK ceiling covers its current snapshot (the publisher
//    announces every new size), so even a 100,000-item snapshot arrives on
//    the first attempt without a growth round;
//  - a malformed snapshot (the response decodes badly) fails the fetch with
//    the decoder's error and drops the session: the next fetch reconnects.
//
// The Level-3 SnapshotCache (snapshot_cache_client.h) runs on this client
// too, through the two halves of fetch() (call() and decode()), so the layout
// choice, the fallback and the malformed-snapshot rule exist only here.
//
// Threading and lifetime: as netipc::Client. One owning thread at a time;
// abort() from any thread. The views returned by fetch() point into the
// client's buffers: valid until the next fetch(), reset() or destruction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "netipc/cgroups_snapshot_call.h"
#include "netipc/client.h"
#include "netipc/client_config.h"
#include "netipc/codec/cgroups.h"
#include "netipc/result.h"

namespace netipc {

// The service name Netdata's run directory uses for this endpoint.
inline constexpr const char* kCgroupsSnapshotService = "cgroups-snapshot";
// The response hint a snapshot client proposes (the server decides).
inline constexpr uint32_t kSnapshotClientResponseHint = 1u << 20;

struct CgroupsSnapshotClientConfig {
  std::string run_dir;  // required
  std::string service;  // "" -> "cgroups-snapshot"
  uint64_t auth_token = 0;
  // 0 = automatic (2, falling back to 1); 1 or 2 = only that layout.
  uint16_t layout = 0;
  // 0 -> UDS|SHM_HYBRID with SHM preferred (blocking client); the async
  // client always strips SHM. Otherwise used as given, with
  // preferred_profiles as given.
  uint32_t supported_profiles = 0;
  uint32_t preferred_profiles = 0;
  int call_timeout_ms = 0;     // <= 0 -> 30000, per attempt
  int connect_timeout_ms = 0;  // <= 0 -> 5000
};

// The Level-2 client config a snapshot client runs on (method, profiles,
// response hint resolved). kInvalidArgument for a layout other than 0, 1, 2.
Result<ClientConfig> snapshot_client_config(const CgroupsSnapshotClientConfig& config);
// For callers that manage the Level-2 configuration themselves (the
// SnapshotCache, the uv::Refresher): `config` as given, except that method
// 0 means CGROUPS_SNAPSHOT. kInvalidArgument for another method or a layout
// other than 0, 1, 2.
Result<ClientConfig> snapshot_client_config(ClientConfig config, uint16_t layout);

struct CgroupsSnapshotClientStatus {
  uint16_t layout = 0;           // the layout the next fetch asks for
  bool fell_back = false;        // a peer rejected layout 2; layout 1 from now on
  uint64_t fetch_count = 0;      // successful fetches
  uint64_t malformed_count = 0;  // responses that failed to decode
  ClientStatus client;           // connection state, counters, agreed sizes
};

class CgroupsSnapshotClient {
 public:
  // No I/O: the first fetch() connects.
  static Result<CgroupsSnapshotClient> create(const CgroupsSnapshotClientConfig& config);
  // For callers that manage the Level-2 configuration themselves (the
  // SnapshotCache): `config` checked by snapshot_client_config(config,
  // layout), then the errors of Client::create(). `layout` as
  // CgroupsSnapshotClientConfig::layout. No I/O.
  static Result<CgroupsSnapshotClient> create(ClientConfig config, uint16_t layout);

  CgroupsSnapshotClient(CgroupsSnapshotClient&&) noexcept;
  CgroupsSnapshotClient& operator=(CgroupsSnapshotClient&&) noexcept;
  ~CgroupsSnapshotClient();

  // Fetches and decodes the provider's current snapshot. `timeout_ms` <= 0
  // uses the config's call timeout (per attempt). Errors: those of
  // Client::call() (kNotFound, kAuthFailed, kTimeout, kAborted, ...),
  // kBadEnvelope when a forced layout 2 is refused, and the decoder's
  // (kTruncated, kBadLayout, kProtocol, ...) for a malformed snapshot.
  Result<const codec::CgroupsSnapshotViews*> fetch(int timeout_ms = 0);

  // fetch() in two halves, for callers that time the round trip apart from
  // the decoding, or decode into buffers of their own:
  //  - call() performs the round trip, with the layout fallback, and returns
  //    the raw response payload: valid until the next call(), fetch() or
  //    reset(). Errors as fetch() less the decoder's.
  //  - decode() decodes a payload from call() with the layout it was asked
  //    for; a malformed one is counted and drops the session, as in fetch().
  //    `out` borrows `payload`.
  Result<ByteSpan> call(int timeout_ms = 0);
  Status decode(ByteSpan payload, codec::CgroupsSnapshotViews* out);

  CgroupsSnapshotClientStatus status() const;
  ClientState state() const { return client_.state(); }
  // The layout the next call asks for (2 until a peer rejected it, then 1).
  uint16_t layout() const { return call_.layout(); }
  // The Level-2 config with its defaults resolved.
  const ClientConfig& config() const { return client_.config(); }

  // Any thread: wakes a blocked fetch with kAborted (sticky until
  // clear_abort(), as Client::abort()).
  void abort() noexcept { client_.abort(); }
  void clear_abort() noexcept { client_.clear_abort(); }
  bool abort_pending() const noexcept { return client_.abort_pending(); }
  // Connects now when there is no session (Client::refresh()): the
  // connect and handshake a first fetch() would otherwise do. true when the
  // state changed.
  bool connect() { return client_.refresh(); }
  // Drops the session (also out of AUTH_FAILED / INCOMPATIBLE). The layout
  // choice and learned sizes are kept.
  void reset() { client_.reset(); }
  // Client::release_receive_buffer(): the last fetched payload (and views
  // decoded from it) become invalid.
  void release_receive_buffer(size_t keep_bytes) { client_.release_receive_buffer(keep_bytes); }

 private:
  CgroupsSnapshotClient(Client client, uint16_t layout);
  Client client_;
  CgroupsSnapshotCall call_;
  // Heap-held so a returned pointer stays valid when this object moves.
  std::unique_ptr<codec::CgroupsSnapshotViews> views_;
  uint64_t fetch_count_ = 0;
  uint64_t malformed_count_ = 0;
};

}  // namespace netipc
