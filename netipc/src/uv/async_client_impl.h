// Internals of uv::AsyncClient, shared by async_client.cc (API, lifetime,
// the policy loop, libuv callbacks) and async_client_io.cc (the
// non-blocking handshake and request/response I/O). Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <vector>

#include "base/large_buffer.h"
#include "client/client_policy.h"
#include "netipc/uds_connection.h"
#include "netipc/uv/async_client.h"

namespace netipc::uv {

using Step = ClientPolicy::Step;

enum class Phase : uint8_t {
  kIdle,
  kHelloSend,  // HELLO could not be sent at once: waiting for writable
  kAckWait,    // waiting for HELLO_ACK
  kAttempt,    // request going out and/or response coming in
};

// One session: its socket and the single uv_poll_t on it. The fd stays open
// until the poll handle's close callback, so a new session never reuses the
// number of a descriptor libuv may still be watching.
struct Slot {
  uv_poll_t poll{};  // poll.data points back to this Slot
  UdsConnection conn;
  AsyncClient::Impl* owner = nullptr;
  int events = 0;            // current poll mask, 0 = stopped
  uint8_t packet[128] = {};  // HELLO out, HELLO_ACK in
};

struct AsyncClient::Impl {
  uv_loop_t* loop = nullptr;
  AsyncClient* owner = nullptr;  // null once the AsyncClient is destroyed
  ClientPolicy policy;
  uv_timer_t timer{};    // deadlines, and deferred failure delivery
  Slot* slot = nullptr;  // open exactly while READY or connecting
  int open_handles = 0;  // initialised handles whose close callback has not run
  bool aborted = false;
  bool closing = false;
  bool fully_closed = false;
  bool* destroyed = nullptr;  // set while finish_close() runs user callbacks

  // The call in flight.
  bool busy = false;
  Phase phase = Phase::kIdle;
  std::vector<uint8_t> request;  // the caller's payload, copied; capacity reused
  uint32_t items = 1;
  int timeout_ms = 0;
  CallCallback done;
  Message response;
  bool deferred = false;  // the timer delivers `failure` on the next iteration
  Error failure;
  CloseCallback closed;
  ReceiveBuffer spare_rx;  // provide_receive_buffer() before a session exists

  explicit Impl(ClientPolicy p) : policy(std::move(p)) {}

  // async_client.cc: lifetime and the policy loop.
  void drop_slot();
  void handle_closed();
  void begin_close();
  void finish_close();
  void drive(Step step);
  void deliver(const Message& m);
  void fail_later(const Error& e);
  static void on_slot_closed(uv_handle_t* h);
  static void on_timer_closed(uv_handle_t* h);
  static void on_poll(uv_poll_t* h, int status, int events);
  static void on_timer(uv_timer_t* t);

  // async_client_io.cc: each returns true while waiting for the loop, else
  // stores the policy's next step in *next.
  void set_events(int events);
  void start_deadline(int ms);
  bool start_connect(Step* next);
  bool send_hello(Step* next);
  bool read_ack(Step* next);
  bool start_attempt(Step* next);
  bool pump_send(Step* next);
  bool pump_receive(Step* next);
};

}  // namespace netipc::uv
