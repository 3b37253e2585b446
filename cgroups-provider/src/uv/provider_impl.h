// CgroupsProvider internals: the encoder mailbox (one pending hand-over,
// latest wins), the serialised publish path with its logging, and the state
// of a stop in progress. Not part of the public API.
#pragma once

#include <uv.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include "cgroups_provider/provider.h"
#include "netipc/log.h"

namespace netipc::cgroups_provider {

struct CgroupsProvider::Impl {
  // One hand-over: ready items, or a source to run first.
  struct Job {
    Items items;
    Source source;
    uint32_t systemd_enabled = 1;
  };

  // State the server's handler shares (it may outlive nothing here, but
  // the server holds its own reference).
  struct HandlerState {
    std::atomic<uint64_t> rejected{0};
    RateLimiter limiter{5, 60000};
  };

  explicit Impl(ProviderConfig cfg);

  // Encoder thread.
  Status start_encoder();
  void encoder_main();
  // Runs the source (if any) and publishes; the outcome of a new generation.
  std::optional<PublishOutcome> run_job(Job* job);
  // The host's on_generation hook, called once the items are let go of.
  void after_generation(const PublishOutcome& outcome);
  void handover(Job job);
  void quit_encoder();  // asks the encoder thread to exit (does not join)

  // Publishes under publish_mu; updates stats and logs.
  Result<PublishOutcome> publish_locked(const Items& items, uint32_t systemd_enabled);
  void count_failure();

  Handler make_handler();

  // Host-loop stop bookkeeping (loop thread only).
  void maybe_finish_stop();

  ProviderConfig config;
  std::string service;  // resolved
  SnapshotPublisher publisher;
  std::shared_ptr<HandlerState> handler_state = std::make_shared<HandlerState>();

  // Serving: exactly one of server / server_thread.
  uv_loop_t* loop = nullptr;
  std::unique_ptr<uv::Server> server;
  std::unique_ptr<uv::ServerThread> server_thread;
  uv::Server* srv = nullptr;

  // Encoder mailbox, guarded by mu.
  uv::ThreadFactory threads;
  void* encoder_thread = nullptr;
  std::mutex mu;
  std::condition_variable work_cv;
  std::condition_variable idle_cv;
  std::optional<Job> pending;
  bool quit = false;
  uint64_t submitted = 0;  // tickets handed over
  uint64_t finished = 0;   // tickets processed or superseded

  std::mutex publish_mu;  // one publisher.publish() at a time

  mutable std::mutex stats_mu;
  ProviderStats stats;

  // Stop state. stop_started is touched by whichever thread calls stop().
  std::atomic<bool> stop_started{false};
  uv_async_t* exit_async = nullptr;  // host-loop mode: the encoder's exit note
  bool server_stopped = false;
  bool encoder_exited = false;
  std::function<void()> done;
};

}  // namespace netipc::cgroups_provider
