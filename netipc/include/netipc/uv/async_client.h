// uv::AsyncClient: the Level-2 client on a libuv loop the caller owns.
//
// Same rules as the blocking netipc::Client (lazy connect, retry once on a
// broken session, invisible response/request growth, per-attempt deadline,
// sticky AUTH_FAILED / INCOMPATIBLE / abort; both run the same
// ClientPolicy), but nothing ever blocks the loop: the connect is
// non-blocking, and HELLO/HELLO_ACK and every request/response are driven
// by one uv_poll_t on the session socket plus one uv_timer_t for the
// deadline. Integrator guide: docs/client.md.
//
// Transport: UDS only. A shared-memory session is woken by a futex, which
// an epoll loop cannot wait on, so this client strips the SHM profiles from
// its proposal; a config that offers nothing but SHM is refused by create().
//
// Threading: every method, the destructor included, must be called on the
// loop's thread. Callbacks run on that thread, from inside uv_run().
//
// Callback contract:
//  - call() returning an error: `done` is never invoked.
//  - call() returning OK: `done` runs exactly once, later, from the loop;
//    never from inside call() (even when the outcome is known at once, e.g.
//    no server: the failure is delivered on a following loop iteration).
//  - The Message passed to `done` points into the client's buffers: valid
//    only until `done` returns. `done` may start the next call, call
//    close() or destroy the AsyncClient.
//  - close(closed): an in-flight call completes with kAborted (or with the
//    failure already decided for it), then `closed` runs; after that no
//    callback of this client ever runs. Once `closed` ran (or even from
//    inside it) the AsyncClient may be destroyed, and with no other handles
//    uv_loop_close() returns 0.
//  - Destroying the AsyncClient without close(), or before `closed` ran,
//    cancels silently: no callback (neither `done` nor `closed`) runs after
//    the destructor returns. Its handles still close asynchronously, so the
//    loop must run once more (uv_run) before uv_loop_close().
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/client_config.h"
#include "netipc/client_state.h"
#include "netipc/result.h"
#include "netipc/uds_connection.h"

namespace netipc::uv {

// The most a readable event reads of a response (at least one packet):
// a response larger than this is received over several loop iterations,
// so the loop never copies a whole large response in one. With the
// default packet size (the socket's send buffer, ~200 KiB) that is one
// packet per iteration.
inline constexpr size_t kReceiveBytesPerEvent = size_t{64} << 10;

class AsyncClient {
 public:
  using CallCallback = std::function<void(Result<Message>)>;
  using CloseCallback = std::function<void()>;

  // Validates the config like Client::create() and initialises the timer
  // handle on `loop`. No socket is touched: the state is DISCONNECTED.
  // kInvalidArgument for a null loop or an SHM-only profile set.
  static Result<std::unique_ptr<AsyncClient>> create(uv_loop_t* loop, const ClientConfig& config);

  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // Starts one call; `payload` is copied (into a reused buffer), so it may
  // die when call() returns. One call at a time: kInvalidArgument while one
  // is in flight or when `done` is empty; kNotReady after close().
  // item_count >= 2 marks a Level-1 batch payload; timeout_ms <= 0 uses
  // config.call_timeout_ms. Errors delivered to `done`: as Client::call().
  Status call(ByteSpan payload, uint32_t item_count, int timeout_ms, CallCallback done);
  bool call_in_flight() const;

  // docs/levels.md §1.8.3 on the loop: fails an in-flight call with kAborted
  // (delivered on a following iteration; state BROKEN) and makes every
  // later call fail with kAborted until clear_abort().
  void abort();
  void clear_abort();
  bool abort_pending() const;

  // Drops the session, back to DISCONNECTED (also out of the sticky
  // states). kNotReady while a call is in flight or after close().
  Status reset();

  // Frees the session's receive buffer when it holds more than
  // `keep_bytes` (UdsConnection::release_receive_buffer), and a provided
  // one still waiting for a session; the last response's payload is
  // invalid afterwards. Nothing while a call is in flight.
  void release_receive_buffer(size_t keep_bytes);
  // Hands the session's receive buffer to the caller
  // (UdsConnection::take_receive_buffer): called from inside `done`, the
  // response's payload stays valid for as long as the returned buffer
  // lives (it starts at its data()) and the client never writes to it
  // again; the next response goes into a new buffer. Null while a call is
  // in flight or without a session.
  ReceiveBuffer take_receive_buffer();
  // Gives the client a receive buffer for its next responses
  // (UdsConnection::swap_receive_buffer, make_receive_buffer): a response
  // that fits in its capacity is received into it without the loop
  // growing or faulting in a buffer. Goes to the current session, or to
  // the next one this client connects. Ignored while a call is in flight.
  void provide_receive_buffer(ReceiveBuffer buf);

  // Closes the handles; see the callback contract above. A second close()
  // is ignored (its callback never runs).
  void close(CloseCallback closed);

  ClientState state() const;
  ClientStatus status() const;
  const ClientConfig& config() const;  // defaults resolved

  struct Impl;  // public only for the C callbacks in async_client.cc

 private:
  explicit AsyncClient(Impl* impl) : impl_(impl) {}
  Impl* impl_;  // lives until its last handle is closed
};

}  // namespace netipc::uv
