// netipc::uv::Server: a Level-2 NetIPC server on a libuv loop.
//
// One endpoint = one (run_dir, service) = one method = one handler.
// Unix-socket sessions are non-blocking on the loop: accept, handshake,
// receive and send never block it (one uv_poll_t per fd). Shared-memory
// sessions are served by one waiter thread each (a futex cannot be waited
// on in epoll) that calls the same handler.
//
// Threading and lifetime:
//  - create(), stop() and every accessor except the atomic ones marked
//    below must be called on the loop thread (or before the loop runs).
//  - The handler runs on the loop thread and on SHM waiter threads: it must
//    be thread-safe and must not block.
//  - stop(deadline, done): stops accepting at once (the socket node is
//    removed), lets responses in progress finish until the deadline, then
//    closes every session. `done` runs on the loop thread once every
//    handle is closed; after it, no callback of this server runs again and
//    the Server may be destroyed. The host may then uv_loop_close().
//  - Failures inside a libuv callback (an exception from the handler or
//    from an allocation, a handle that cannot be initialised, a thread that
//    cannot be started) close the session concerned, are counted in
//    ServerStats::internal_failures and logged (rate limited); they never
//    leave a callback, so they never reach libuv or the host.
//  - If create() fails because a libuv handle could not be initialised
//    (descriptors or memory exhausted), the handles it had registered are
//    closed and freed by the loop's next iteration: run the loop once more
//    before uv_loop_close(). Listen failures (ADDR_IN_USE, an unsafe run
//    dir...) happen before any handle is registered and leave the loop
//    untouched.
//  - Destroying a Server that was not stopped (or whose stop has not
//    completed) is a programming error: it aborts in debug builds.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "netipc/dispatch.h"
#include "netipc/result.h"
#include "netipc/uds.h"
#include "netipc/uv/thread_factory.h"

typedef struct uv_loop_s uv_loop_t;

namespace netipc::uv {

struct ServerConfig {
  std::string run_dir;
  std::string service;
  uint16_t method = 0;                       // required
  uint32_t supported_profiles = 0;           // 0 -> UDS only
  uint32_t preferred_profiles = 0;
  uint32_t max_request_payload_bytes = 0;    // 0 -> 1024
  uint32_t max_response_payload_bytes = 0;   // 0 -> 65536 (initial ceiling)
  uint32_t response_growth_ceiling = 0;      // 0 -> 1 GiB (learned ceiling cap)
  uint64_t auth_token = 0;
  uint32_t max_sessions = 0;                 // 0 -> 1024 concurrent sessions
  uint32_t handshake_timeout_ms = 0;         // 0 -> 5000
  // Connections accepted but not past their handshake have a budget of
  // their own (0 -> 128). When it is full, a new connection pushes out the
  // oldest one (early drop, like sshd's MaxStartups) once that one has had
  // 250 ms to say HELLO; while all are younger, the listener rests until
  // the next sweep and new connections wait in the kernel's backlog. So
  // connections that never say HELLO cannot lock out a client that does.
  uint32_t max_pending_handshakes = 0;
  uint32_t packet_size = 0;                  // 0 -> auto (SO_SNDBUF - 32)
  ListenerOptions listener;
  // Starts the shared-memory waiter threads (name "netipc-shm"). Empty ->
  // std_thread_factory(). When a thread cannot be started, that session
  // falls back to the socket transport.
  ThreadFactory shm_threads;
};

struct ServerStats {
  uint64_t sessions_accepted = 0;   // completed handshakes
  uint64_t sessions_rejected = 0;   // handshake rejections (auth, limits, busy...)
  uint64_t sessions_active = 0;    // connections held (handshaking or serving)
  uint64_t sessions_dropped = 0;    // closed for malformed traffic or timeouts
  uint64_t requests = 0;
  uint64_t shm_sessions = 0;
  // Times accept() ran out of descriptors or memory (EMFILE, ENFILE,
  // ENOBUFS, ENOMEM): the listener then rests until the next sweep (250 ms)
  // instead of spinning; pending connections wait in the backlog.
  uint64_t accept_pauses = 0;
  // Handshaking connections pushed out by newer ones (budget full); also
  // counted in sessions_dropped.
  uint64_t handshakes_shed = 0;
  // Failures inside the server itself (an exception from a handler or an
  // allocation, a libuv handle that could not be set up): the session
  // concerned is closed, the server goes on.
  uint64_t internal_failures = 0;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> create(uv_loop_t* loop, ServerConfig config,
                                                Handler handler);
  virtual ~Server() = default;

  virtual void stop(uint32_t deadline_ms, std::function<void()> done) = 0;

  // Any thread: the response ceiling offered to new sessions grows to
  // cover `bytes` with headroom (next power of two of bytes + 1/8), up to
  // the growth ceiling. Publishers call it with each new snapshot's size.
  virtual void announce_response_size(uint64_t bytes) = 0;
  // Any thread.
  virtual uint32_t response_ceiling() const = 0;
  virtual ServerStats stats() const = 0;
  virtual const std::string& socket_path() const = 0;
};

// Resolves the zero defaults of a config (what the server actually uses).
ServerConfig resolve_defaults(ServerConfig config);

}  // namespace netipc::uv
