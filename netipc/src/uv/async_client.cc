#include "netipc/uv/async_client.h"

#include <sys/socket.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "netipc/client_policy.h"
#include "netipc/handshake.h"
#include "netipc/session.h"
#include "netipc/uds.h"
#include "sys_linux.h"

namespace netipc::uv {

namespace {

using Step = ClientPolicy::Step;

enum class Phase : uint8_t {
  kIdle,
  kHelloSend,  // HELLO could not be sent at once: waiting for writable
  kAckWait,    // waiting for HELLO_ACK
  kAttempt,    // request going out and/or response coming in
};

}  // namespace

// One session: its socket and the single uv_poll_t on it. The fd stays open
// until the poll handle's close callback, so a new session never reuses the
// number of a descriptor libuv may still be watching.
struct Slot {
  uv_poll_t poll{};
  UdsConnection conn;
  AsyncClient::Impl* owner = nullptr;
  int events = 0;  // current poll mask, 0 = stopped
  uint8_t packet[128] = {};
};

struct AsyncClient::Impl {
  uv_loop_t* loop = nullptr;
  AsyncClient* owner = nullptr;  // null once the AsyncClient is destroyed
  ClientPolicy policy;
  uv_timer_t timer{};
  Slot* slot = nullptr;  // open exactly while policy.state() == kReady or connecting
  int open_handles = 0;
  bool aborted = false;
  bool closing = false;
  bool fully_closed = false;
  bool* destroyed = nullptr;  // set while finish_close() runs user callbacks

  // The call in flight.
  bool busy = false;
  Phase phase = Phase::kIdle;
  std::vector<uint8_t> request;
  uint32_t items = 1;
  int timeout_ms = 0;
  CallCallback done;
  Message response;
  bool deferred = false;  // the timer delivers `failure` on the next iteration
  Error failure;
  CloseCallback closed;

  explicit Impl(ClientPolicy p) : policy(std::move(p)) {}

  // ---- handles ----

  void set_events(int events) {
    if (slot == nullptr || slot->events == events) return;
    slot->events = events;
    if (events == 0) {
      uv_poll_stop(&slot->poll);
    } else {
      uv_poll_start(&slot->poll, events, &Impl::on_poll);
    }
  }

  void drop_slot() {
    if (slot == nullptr) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&slot->poll), &Impl::on_slot_closed);
    slot = nullptr;
  }

  static void on_slot_closed(uv_handle_t* h) {
    Slot* s = static_cast<Slot*>(h->data);
    Impl* self = s->owner;
    delete s;  // closes the socket
    self->handle_closed();
  }

  static void on_timer_closed(uv_handle_t* h) { static_cast<Impl*>(h->data)->handle_closed(); }

  void handle_closed() {
    if (--open_handles == 0 && closing) finish_close();
  }

  void begin_close() {
    closing = true;
    uv_timer_stop(&timer);
    drop_slot();
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), &Impl::on_timer_closed);
  }

  void finish_close() {
    fully_closed = true;
    CallCallback call_done = busy ? std::move(done) : CallCallback();
    const Error err = deferred ? failure : make_error(Errc::kAborted, "client closed");
    CloseCallback closed_done = std::move(closed);
    busy = false;
    if (owner == nullptr) {
      delete this;  // the destructor already cancelled every callback
      return;
    }
    bool gone = false;
    destroyed = &gone;
    if (call_done) call_done(err);
    if (gone) return;  // destroyed inside `done`: no callback after that
    destroyed = nullptr;
    if (closed_done) closed_done();  // may destroy the AsyncClient (and this)
  }

  // ---- the policy loop ----

  void drive(Step step) {
    for (;;) {
      switch (step) {
        case Step::kConnect:
          if (start_connect(&step)) return;
          break;
        case Step::kAttempt:
          if (start_attempt(&step)) return;
          break;
        case Step::kSucceed:
          deliver(response);
          return;
        case Step::kFail:
          fail_later(policy.error());
          return;
      }
    }
  }

  // Delivers a success now (we are inside a poll callback). The user's
  // callback is the last thing that runs: it may start a call or destroy us.
  void deliver(const Message& m) {
    uv_timer_stop(&timer);
    set_events(0);
    phase = Phase::kIdle;
    busy = false;
    CallCallback cb = std::move(done);
    done = nullptr;
    cb(m);
  }

  // Failures may be decided inside call() or abort(): delivered by the
  // timer so that `done` never runs from inside the caller's own call.
  void fail_later(const Error& e) {
    if (policy.state() != ClientState::kReady) drop_slot();
    set_events(0);
    phase = Phase::kIdle;
    failure = e;
    deferred = true;
    uv_timer_start(&timer, &Impl::on_timer, 0, 0);
  }

  // The loop's clock is cached and counts whole milliseconds: refresh it and
  // add one so that a deadline never fires before `ms` have really passed.
  void start_deadline(int ms) {
    uv_update_time(loop);
    uv_timer_start(&timer, &Impl::on_timer, static_cast<uint64_t>(ms) + 1, 0);
  }

  // Returns true when waiting for the loop; else *next is the next step.
  bool start_connect(Step* next) {
    drop_slot();
    const ClientConfig& c = policy.config();
    auto fd = uds_connect(c.run_dir, c.service);
    if (!fd.ok()) {
      *next = policy.on_connect_failed(fd.error());
      return false;
    }
    auto* s = new Slot();
    s->owner = this;
    const int fd_num = fd->get();
    s->conn = UdsConnection(std::move(*fd));
    const int rc = uv_poll_init(loop, &s->poll, fd_num);
    if (rc != 0) {
      delete s;
      *next = policy.on_connect_failed(make_error(Errc::kSystem, "uv_poll_init", -rc));
      return false;
    }
    s->poll.data = s;
    ++open_handles;
    slot = s;
    ClientProposal p = policy.proposal();
    p.packet_size = auto_packet_size(fd_num);
    wire::encode_hello_packet(make_hello(p), s->packet);
    start_deadline(c.connect_timeout_ms);
    return send_hello(next);
  }

  bool send_hello(Step* next) {
    int err = 0;
    const ssize_t n = detail::sys_retry(
        [&] {
          return ::send(slot->conn.fd(), slot->packet, wire::kHelloPacketLen,
                        MSG_NOSIGNAL | MSG_DONTWAIT);
        },
        &err);
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
      phase = Phase::kHelloSend;
      set_events(UV_WRITABLE);
      return true;
    }
    if (n != static_cast<ssize_t>(wire::kHelloPacketLen)) {
      uv_timer_stop(&timer);
      *next = policy.on_connect_failed(make_error(Errc::kPeerGone, "send HELLO", err));
      return false;
    }
    phase = Phase::kAckWait;
    set_events(UV_READABLE);
    return true;
  }

  // Reads HELLO_ACK if it is there. Returns true while still waiting.
  bool read_ack(Step* next) {
    int err = 0;
    const ssize_t n = detail::sys_retry(
        [&] { return ::recv(slot->conn.fd(), slot->packet, sizeof slot->packet, MSG_DONTWAIT); },
        &err);
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) return true;
    uv_timer_stop(&timer);
    if (n <= 0) {
      // Servers close without an ACK for malformed HELLOs (wire §5.7).
      *next = policy.on_connect_failed(
          make_error(Errc::kBadEnvelope, "handshake: server closed without HELLO_ACK", err));
      return false;
    }
    auto ack = client_read_ack(ByteSpan(slot->packet, static_cast<size_t>(n)));
    if (!ack.ok()) {
      *next = policy.on_connect_failed(ack.error());
      return false;
    }
    if ((ack->selected_profile & make_hello(policy.proposal()).supported_profiles) == 0) {
      *next = policy.on_connect_failed(
          make_error(Errc::kProtocol, "HELLO_ACK selected a profile we did not offer"));
      return false;
    }
    slot->conn.configure(ack->agreed_packet_size, client_inbound_limits(*ack),
                         client_outbound_limits(*ack));
    set_events(0);
    phase = Phase::kIdle;
    *next = policy.on_connected(*ack);
    return false;
  }

  bool start_attempt(Step* next) {
    wire::Header h;
    h.kind = static_cast<uint16_t>(wire::Kind::kRequest);
    h.code = policy.config().method;
    h.item_count = items;
    h.flags = items >= 2 ? wire::kFlagBatch : 0;
    h.message_id = policy.message_id();
    Status st = slot->conn.start_send(h, ByteSpan(request));
    if (!st.ok()) {
      *next = policy.on_attempt_error(st.error());
      return false;
    }
    phase = Phase::kAttempt;
    start_deadline(timeout_ms);
    return pump_send(next);
  }

  bool pump_send(Step* next) {
    auto sent = slot->conn.continue_send();
    if (!sent.ok()) {
      uv_timer_stop(&timer);
      *next = policy.on_attempt_error(sent.error());
      return false;
    }
    set_events(UV_READABLE | (slot->conn.send_pending() ? UV_WRITABLE : 0));
    return true;
  }

  // Drains readable packets. Returns true while the response is incomplete.
  bool pump_receive(Step* next) {
    auto m = slot->conn.try_receive();
    if (!m.ok() && m.code() == Errc::kNotReady) return true;
    uv_timer_stop(&timer);
    if (!m.ok()) {
      *next = policy.on_attempt_error(m.error());
      return false;
    }
    response = *m;
    *next = policy.on_response(response);
    return false;
  }

  // ---- callbacks ----

  static void on_poll(uv_poll_t* h, int status, int events) {
    Slot* s = static_cast<Slot*>(h->data);
    Impl* self = s->owner;
    if (self->slot != s || !self->busy) return;
    Step next = Step::kFail;
    if (status < 0) {
      uv_timer_stop(&self->timer);
      const Error e = make_error(Errc::kSystem, "uv_poll", -status);
      next = self->phase == Phase::kAttempt ? self->policy.on_attempt_error(e)
                                            : self->policy.on_connect_failed(e);
      self->drive(next);
      return;
    }
    bool waiting = true;
    switch (self->phase) {
      case Phase::kHelloSend:
        if ((events & UV_WRITABLE) != 0) waiting = self->send_hello(&next);
        break;
      case Phase::kAckWait:
        if ((events & UV_READABLE) != 0) waiting = self->read_ack(&next);
        break;
      case Phase::kAttempt:
        if ((events & UV_WRITABLE) != 0 && s->conn.send_pending()) {
          waiting = self->pump_send(&next);
        }
        if (waiting && (events & UV_READABLE) != 0) waiting = self->pump_receive(&next);
        break;
      case Phase::kIdle:
        self->set_events(0);
        break;
    }
    if (!waiting) self->drive(next);
  }

  static void on_timer(uv_timer_t* t) {
    Impl* self = static_cast<Impl*>(t->data);
    if (self->deferred) {
      self->deferred = false;
      self->busy = false;
      CallCallback cb = std::move(self->done);
      self->done = nullptr;
      cb(self->failure);
      return;
    }
    if (!self->busy) return;
    const Error e = make_error(Errc::kTimeout, self->phase == Phase::kAttempt
                                                   ? "no complete response before the deadline"
                                                   : "no HELLO_ACK before the connect timeout");
    self->drive(self->phase == Phase::kAttempt ? self->policy.on_attempt_error(e)
                                               : self->policy.on_connect_failed(e));
  }
};

Result<std::unique_ptr<AsyncClient>> AsyncClient::create(uv_loop_t* loop,
                                                         const ClientConfig& config) {
  if (loop == nullptr) return make_error(Errc::kInvalidArgument, "AsyncClient: null loop");
  auto policy = ClientPolicy::create(config);
  if (!policy.ok()) return policy.error();
  // UDS only (see the header): an SHM-only profile set leaves nothing.
  if (policy->shm_offered()) {
    Status st = policy->strip_shm();
    if (!st.ok())
      return make_error(Errc::kInvalidArgument, "AsyncClient: UDS only, SHM-only config");
  }
  auto* impl = new Impl(std::move(*policy));
  impl->loop = loop;
  impl->timeout_ms = impl->policy.config().call_timeout_ms;
  const int rc = uv_timer_init(loop, &impl->timer);
  if (rc != 0) {
    delete impl;
    return make_error(Errc::kSystem, "uv_timer_init", -rc);
  }
  impl->timer.data = impl;
  impl->open_handles = 1;
  std::unique_ptr<AsyncClient> client(new AsyncClient(impl));
  impl->owner = client.get();
  return client;
}

AsyncClient::~AsyncClient() {
  Impl* impl = impl_;
  impl->owner = nullptr;
  if (impl->destroyed != nullptr) *impl->destroyed = true;
  if (impl->fully_closed) {
    delete impl;
    return;
  }
  // Cancel silently; the Impl frees itself in its last close callback.
  impl->done = nullptr;
  impl->closed = nullptr;
  impl->busy = false;
  if (!impl->closing) impl->begin_close();
}

Status AsyncClient::call(ByteSpan payload, uint32_t item_count, int timeout_ms, CallCallback done) {
  Impl& d = *impl_;
  if (d.closing) return make_error(Errc::kNotReady, "AsyncClient: closed");
  if (d.busy) return make_error(Errc::kInvalidArgument, "AsyncClient: a call is in flight");
  if (!done) return make_error(Errc::kInvalidArgument, "AsyncClient: no callback");
  d.request.assign(payload.data, payload.data + payload.size);
  d.items = item_count == 0 ? 1 : item_count;
  d.timeout_ms = d.policy.timeout_ms(timeout_ms);
  d.done = std::move(done);
  d.busy = true;
  d.drive(d.policy.start_call(d.request.size(), d.items, d.aborted));
  return ok_status();
}

bool AsyncClient::call_in_flight() const {
  return impl_->busy;
}

void AsyncClient::abort() {
  Impl& d = *impl_;
  d.aborted = true;
  if (!d.busy || d.deferred || d.closing) return;
  uv_timer_stop(&d.timer);
  const Error e = make_error(Errc::kAborted, "abort()");
  d.drive(d.phase == Phase::kAttempt ? d.policy.on_attempt_error(e)
                                     : d.policy.on_connect_failed(e));
}

void AsyncClient::clear_abort() {
  impl_->aborted = false;
}
bool AsyncClient::abort_pending() const {
  return impl_->aborted;
}

Status AsyncClient::reset() {
  Impl& d = *impl_;
  if (d.closing || d.busy) return make_error(Errc::kNotReady, "AsyncClient: busy or closed");
  d.drop_slot();
  d.policy.reset();
  return ok_status();
}

void AsyncClient::close(CloseCallback closed) {
  Impl& d = *impl_;
  if (d.closing) return;
  d.closed = std::move(closed);
  d.begin_close();
}

ClientState AsyncClient::state() const {
  return impl_->policy.state();
}
ClientStatus AsyncClient::status() const {
  return impl_->policy.status();
}
const ClientConfig& AsyncClient::config() const {
  return impl_->policy.config();
}

}  // namespace netipc::uv
