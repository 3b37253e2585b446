#include "netipc/uv/async_client.h"

#include <utility>

#include "async_client_impl.h"

namespace netipc::uv {

// ---- lifetime and the policy loop ----

void AsyncClient::Impl::drop_slot() {
  if (slot == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&slot->poll), &Impl::on_slot_closed);
  slot = nullptr;
}

void AsyncClient::Impl::on_slot_closed(uv_handle_t* h) {
  Slot* s = static_cast<Slot*>(h->data);
  Impl* self = s->owner;
  delete s;  // closes the socket
  self->handle_closed();
}

void AsyncClient::Impl::on_timer_closed(uv_handle_t* h) {
  static_cast<Impl*>(h->data)->handle_closed();
}

void AsyncClient::Impl::handle_closed() {
  if (--open_handles == 0 && closing) finish_close();
}

void AsyncClient::Impl::begin_close() {
  closing = true;
  policy.reset();  // docs/levels.md §1.8.5: a closed context is DISCONNECTED
  uv_timer_stop(&timer);
  drop_slot();
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), &Impl::on_timer_closed);
}

void AsyncClient::Impl::finish_close() {
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

void AsyncClient::Impl::drive(Step step) {
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
void AsyncClient::Impl::deliver(const Message& m) {
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
void AsyncClient::Impl::fail_later(const Error& e) {
  if (policy.state() != ClientState::kReady) drop_slot();
  set_events(0);
  phase = Phase::kIdle;
  failure = e;
  deferred = true;
  uv_timer_start(&timer, &Impl::on_timer, 0, 0);
}

void AsyncClient::Impl::on_poll(uv_poll_t* h, int status, int events) {
  Slot* s = static_cast<Slot*>(h->data);
  Impl* self = s->owner;
  if (self->slot != s) return;
  if (!self->busy) {
    self->set_events(0);  // level-triggered: an unwatched event would repeat
    return;
  }
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

void AsyncClient::Impl::on_timer(uv_timer_t* t) {
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

// ---- public API ----

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

void AsyncClient::release_receive_buffer(size_t keep_bytes) {
  if (impl_->busy) return;
  if (impl_->spare_rx && impl_->spare_rx->capacity() > keep_bytes) impl_->spare_rx.reset();
  if (impl_->slot != nullptr) impl_->slot->conn.release_receive_buffer(keep_bytes);
}

ReceiveBuffer AsyncClient::take_receive_buffer() {
  if (impl_->busy || impl_->slot == nullptr) return nullptr;
  return impl_->slot->conn.take_receive_buffer();
}

void AsyncClient::provide_receive_buffer(ReceiveBuffer buf) {
  Impl& d = *impl_;
  if (d.busy || d.closing) return;
  if (d.slot == nullptr) {
    d.spare_rx = std::move(buf);
    return;
  }
  (void)d.slot->conn.swap_receive_buffer(&buf);  // no call in flight: nothing half received
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
