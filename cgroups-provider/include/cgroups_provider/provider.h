// CgroupsProvider: the cgroups-snapshot service. It owns the
// SnapshotPublisher (publisher.h) and a netipc::uv::Server endpoint, and
// accepts cgroup sets from any source: the cgroupfs scanner in the
// standalone daemon, Netdata's discovery through the glue, a test.
//
//   source (any thread) --publish()/refresh_from()--> encoder thread:
//     [run the source, e.g. a scan] -> publisher.publish() (layouts 1 and 2,
//     once per generation) -> announce the size to the server -> swap
//   server (loop thread, SHM waiter threads): share the current buffers
//
// Encoding (and a source's scan) never runs on the serving loop: it runs on
// the provider's own encoder thread (publish(), refresh_from()) or on the
// caller's thread (publish_now(), which must not be called on the loop).
// Hand-overs are "latest wins": a set that has not started encoding when a
// newer one arrives is dropped (counted in stats().superseded), so a slow
// encode never queues work up.
//
// Generations: a new generation only when the content changes (any field
// of any item, including cgroup_id, the order, or systemd_enabled); both
// layouts of one generation carry the same items. With first_generation =
// 0 the first generation is taken from the wall clock (microseconds since
// the epoch), so a restarted provider never reuses a generation number
// that an attached consumer has already seen.
//
// Logging (netipc/log.h): one info line per new generation (item count,
// enabled count, bytes of each layout, encode time); errors of sources and
// encodes as errors; rejected requests (peer-caused) as rate-limited
// warnings.
//
// Threads and lifetime:
//  - create(loop, ...) serves on a loop the host owns: call create() and
//    stop() on the loop thread. stop() returns at once; `done` runs on the
//    loop thread once the server's handles are closed and the encoder thread
//    has exited. Destroy the provider only after `done` (or never started:
//    a failed create() leaves nothing behind).
//  - start(...) serves on a loop and thread of its own (uv::ServerThread).
//    stop() may be called from any thread but the server's and blocks until
//    everything is stopped; `done` runs on the calling thread before it
//    returns. The destructor stops a running provider.
//  - publish(), refresh_from(), current(), stats() and the accessors: any
//    thread, also concurrently. publish_now(): any thread except the
//    serving loop's. After stop() has begun, hand-overs are ignored.
//  - Sources run on the encoder thread, one at a time: a source may use a
//    non-thread-safe object (a Scanner) as long as nothing else uses it
//    concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cgroups_provider/publisher.h"
#include "netipc/cgroup_item.h"
#include "netipc/result.h"
#include "netipc/uds.h"
#include "netipc/uv/server.h"
#include "netipc/uv/server_thread.h"

typedef struct uv_loop_s uv_loop_t;

namespace netipc::cgroups_provider {

// The service name Netdata's run directory uses for this endpoint.
inline constexpr const char* kDefaultProviderService = "cgroups-snapshot";

struct ProviderConfig {
  std::string run_dir;  // required; where {service}.sock lives
  std::string service;  // "" -> kDefaultProviderService
  uint64_t auth_token = 0;
  // 0 -> UDS only. wire::kProfileUds | wire::kProfileShmHybrid also offers
  // shared memory (preferred_profiles decides which one wins).
  uint32_t supported_profiles = 0;
  uint32_t preferred_profiles = 0;
  uint32_t max_sessions = 0;             // 0 -> the server's default (1024)
  uint32_t response_growth_ceiling = 0;  // 0 -> the server's default (1 GiB)
  ListenerOptions listener;
  // 0 -> microseconds since the epoch at creation (see above).
  uint64_t first_generation = 0;
  // Starts the encoder thread, the server's shared-memory waiter threads
  // (and, with start(), the server thread).
  // Empty -> std::thread (uv::std_thread_factory()).
  uv::ThreadFactory threads;
  // Called after each new generation is being served, on the publishing
  // thread (the encoder thread, or publish_now()'s caller), after the log
  // line and after the provider has dropped its own references to the
  // published set. For host bookkeeping (metrics, returning freed memory to
  // the OS); it must not call back into the provider's publish functions.
  std::function<void(const PublishOutcome&)> on_generation;
};

struct ProviderStats {
  uint64_t handovers = 0;          // publish() and refresh_from() calls accepted
  uint64_t superseded = 0;         // hand-overs replaced by a newer one before encoding
  uint64_t processed = 0;          // sets published or found unchanged (any path)
  uint64_t generations = 0;        // new generations published
  uint64_t unchanged = 0;          // sets equal to the published one
  uint64_t failures = 0;           // sources or encodes that failed (nothing published)
  uint64_t requests_rejected = 0;  // malformed or unsupported-layout requests
  uint64_t generation = 0;         // of the current snapshot
  size_t item_count = 0;           // of the current snapshot
  size_t layout1_bytes = 0;
  size_t layout2_bytes = 0;
  double last_encode_ms = 0;  // of the latest new generation
};

class CgroupsProvider {
 public:
  using Items = std::shared_ptr<const std::vector<CgroupItem>>;
  // Produces the next set on the encoder thread (e.g. a cgroupfs scan). An
  // error is logged and counted; the current snapshot stays. A source that
  // logs its own failure may return it with an empty `what` to avoid a
  // second line. A null set means "nothing changed since my last set": it
  // is counted as unchanged and nothing is compared or encoded.
  using Source = std::function<Result<Items>()>;

  // Serves on `loop` (the caller's thread must be the loop thread and the
  // loop must outlive the provider). Errors: those of uv::Server::create
  // (kInvalidArgument, kPathTooLong, kUnsafeRunDir, kAddrInUse, ...) and
  // kSystem when the encoder thread cannot start.
  static Result<std::unique_ptr<CgroupsProvider>> create(uv_loop_t* loop, ProviderConfig config);
  // Serves on its own loop and thread. Same errors.
  static Result<std::unique_ptr<CgroupsProvider>> start(ProviderConfig config);

  ~CgroupsProvider();
  CgroupsProvider(const CgroupsProvider&) = delete;
  CgroupsProvider& operator=(const CgroupsProvider&) = delete;

  // Any thread; returns at once. The encoder thread publishes the set
  // (latest wins).
  void publish(std::vector<CgroupItem> items, uint32_t systemd_enabled = 1);
  void publish(Items items, uint32_t systemd_enabled = 1);
  // Any thread; returns at once. The encoder thread runs `source` and
  // publishes what it returns (latest wins: a source that has not started
  // is replaced).
  void refresh_from(Source source, uint32_t systemd_enabled = 1);

  // Publishes on the calling thread (never the serving loop's thread: it
  // encodes). Serialised with the encoder thread. Errors: the publisher's
  // (kLimitExceeded for a snapshot that cannot be encoded), kAborted after
  // stop() has begun.
  Result<PublishOutcome> publish_now(Items items, uint32_t systemd_enabled = 1);

  // Waits until every hand-over made before this call has been processed
  // (published, found unchanged, failed or superseded). False on timeout.
  // Any thread except the serving loop's.
  bool wait_idle(std::chrono::milliseconds timeout);

  // Any thread: the snapshot being served (never null).
  std::shared_ptr<const EncodedSnapshot> current() const;
  ProviderStats stats() const;
  uv::ServerStats server_stats() const;
  uint32_t response_ceiling() const;
  const std::string& socket_path() const;

  // See "Threads and lifetime" above. Further calls do nothing (`done` of a
  // second call is not run).
  void stop(uint32_t deadline_ms = 1000, std::function<void()> done = nullptr);

 private:
  struct Impl;
  explicit CgroupsProvider(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netipc::cgroups_provider
