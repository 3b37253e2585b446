#include "netipc/uv/refresher.h"

#include <uv.h>

#include <condition_variable>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "base/large_buffer.h"
#include "netipc/codec/cgroups.h"
#include "netipc/uv/async_cgroups_snapshot_client.h"
#include "sys_linux.h"
#include "worker_thread.h"

namespace netipc::uv {

struct Refresher::Impl {
  uv_loop_t* loop = nullptr;
  Refresher* owner = nullptr;  // null once the Refresher is destroyed
  // The layout fallback and the malformed-snapshot rule live in this
  // client: the Refresher only times, copies, builds and publishes.
  std::unique_ptr<AsyncCgroupsSnapshotClient> client;
  std::shared_ptr<SnapshotStore> store;
  RefresherConfig cfg;
  std::string service;
  RefreshCallback on_refresh;
  WorkHook hook;
  StopCallback stop_done;

  uv_timer_t timer{};
  uv_work_t work{};
  uv_work_t prep{};  // allocates the next receive buffer on the threadpool
  bool started = false;
  bool stopping = false;
  bool timer_open = false;
  bool client_open = true;
  bool fully_closed = false;
  bool busy = false;         // an attempt runs: call, then work, then delivery
  bool work_queued = false;  // submitted; its after-work callback has not run
  bool prep_queued = false;  // the same, for `prep`

  // The attempt in flight. Written on the loop before uv_queue_work and by
  // the work body after; libuv orders both hand-overs.
  RefreshOutcome outcome;
  bool have_payload = false;
  // The response: a large one is the client's receive buffer itself,
  // handed over (no copy on the loop, and the client cannot overwrite it
  // while the work decodes it); a small one is copied, so that the client
  // keeps its buffer. `response` is the payload inside `taken` or
  // `payload`.
  ReceiveBuffer taken;
  std::vector<uint8_t> payload;
  ByteSpan response;
  // The receive buffer for the next response, allocated and faulted in by
  // `prep` on the threadpool when the last successful response was large
  // (its own mapping: nothing stays in a worker thread's malloc arena),
  // then given to the client before the call: the loop then neither grows
  // nor faults in a buffer of the snapshot's size. Sized from the last
  // response plus an eighth; a larger response still grows it on the loop.
  ReceiveBuffer prepared;
  size_t expected_bytes = 0;
  Status decoded;  // of `response`, settled with the client on the loop
  codec::CgroupsSnapshotViews scratch;
  int64_t call_start_ns = 0;

  // Lets the destructor wait for a work body (and the hook) to finish.
  std::mutex mu;
  std::condition_variable cv;
  bool work_running = false;
  bool work_cancelled = false;

  uint64_t attempts = 0;
  uint64_t skipped = 0;

  // Runs work_body() (see worker_thread.h). Declared last: destroyed (and
  // joined) first, when no work can be running any more.
  WorkerThread worker;

  void start_attempt();
  void start_call();
  void on_call(Result<ByteSpan> reply);
  void take_payload(ByteSpan reply);
  void queue_work();
  void work_body();
  void complete();
  void begin_stop();
  void maybe_finish();

  static void on_timer(uv_timer_t* t);
  static void on_timer_closed(uv_handle_t* h);
  static void on_work(uv_work_t* w);
  static void on_after_work(uv_work_t* w, int status);
  static void on_prep(uv_work_t* w);
  static void on_after_prep(uv_work_t* w, int status);
};

void Refresher::Impl::on_timer(uv_timer_t* t) {
  Impl* self = static_cast<Impl*>(t->data);
  if (self->stopping) return;
  if (self->busy) {
    ++self->skipped;
    return;
  }
  self->start_attempt();
}

void Refresher::Impl::start_attempt() {
  busy = true;
  ++attempts;
  outcome = RefreshOutcome{};
  have_payload = false;
  // Only onto a live session: a refresh that has to connect may well fail
  // (provider away) and would allocate the buffer for nothing.
  if (expected_bytes > kKeepReceiveBufferBytes && client->state() == ClientState::kReady) {
    prep.data = this;
    if (uv_queue_work(loop, &prep, &Impl::on_prep, &Impl::on_after_prep) == 0) {
      prep_queued = true;
      return;
    }
  }
  start_call();
}

// Maps and faults in the next receive buffer, here instead of on the loop.
// Null when memory is short: the client then grows its own. No call is in
// flight, so `expected_bytes` is stable (written on the loop in on_call).
void Refresher::Impl::on_prep(uv_work_t* w) {
  Impl* self = static_cast<Impl*>(w->data);
  self->prepared = make_receive_buffer(self->expected_bytes + self->expected_bytes / 8);
}

void Refresher::Impl::on_after_prep(uv_work_t* w, int /*status*/) {
  Impl* self = static_cast<Impl*>(w->data);
  self->prep_queued = false;
  if (self->stopping) {
    self->prepared.reset();
    self->busy = false;
    self->maybe_finish();
    return;
  }
  if (self->prepared) self->client->provide_receive_buffer(std::move(self->prepared));
  self->start_call();
}

void Refresher::Impl::start_call() {
  call_start_ns = detail::monotonic_ns();
  Status st = client->call(cfg.timeout_ms, [this](Result<ByteSpan> r) { on_call(std::move(r)); });
  if (!st.ok()) {
    // Cannot happen while we own the client and run one call at a time;
    // still reported through the normal (asynchronous) path.
    outcome.error = st.error();
    queue_work();
  }
}

// The call includes any layout fallback (the client retries inside it).
void Refresher::Impl::on_call(Result<ByteSpan> reply) {
  if (stopping) {
    busy = false;  // aborted by stop(): nothing to report
    return;
  }
  outcome.call_ns = detail::monotonic_ns() - call_start_ns;
  outcome.layout = client->layout();
  if (!reply.ok()) {
    outcome.error = reply.error();
    // A buffer prepared for this response is not kept for 30 s.
    client->release_receive_buffer(kKeepReceiveBufferBytes);
  } else {
    outcome.payload_bytes = reply->size;
    expected_bytes = reply->size;
    try {
      take_payload(*reply);
      have_payload = true;
    } catch (const std::bad_alloc&) {  // the copy of a small response
      std::vector<uint8_t>().swap(payload);
      outcome.error = make_error(Errc::kNoMemory, "copy of the snapshot response");
    }
  }
  queue_work();
}

// The payload is the client's only until this callback returns. A large
// one (over kKeepReceiveBufferBytes, which the client would not keep
// anyway) leaves with its buffer: the work decodes it in place and frees
// it, and the loop does no work in proportion to the snapshot. A small
// one is copied (at most 1 MiB) and the client keeps its buffer.
void Refresher::Impl::take_payload(ByteSpan reply) {
  if (reply.size > kKeepReceiveBufferBytes) {
    ReceiveBuffer buf = client->take_receive_buffer();
    if (buf && buf->data() == reply.data && buf->capacity() >= reply.size) {
      taken = std::move(buf);
      response = ByteSpan(taken->data(), reply.size);
      return;
    }
    // Not handed over as expected: copy while `buf` still holds the
    // bytes, and do not keep a large buffer next to the copy.
    payload.assign(reply.data, reply.data + reply.size);
    response = ByteSpan(payload);
    client->release_receive_buffer(kKeepReceiveBufferBytes);
    return;
  }
  payload.assign(reply.data, reply.data + reply.size);
  response = ByteSpan(payload);
}

void Refresher::Impl::queue_work() {
  work.data = this;
  work_queued = true;
  const int rc = uv_queue_work(loop, &work, &Impl::on_work, &Impl::on_after_work);
  if (rc != 0) {
    // Only for invalid arguments. The attempt is dropped (nothing was
    // published or counted); the next tick tries again.
    work_queued = false;
    busy = false;
  }
}

void Refresher::Impl::on_work(uv_work_t* w) {
  Impl* self = static_cast<Impl*>(w->data);
  {
    std::lock_guard<std::mutex> lock(self->mu);
    if (self->work_cancelled) return;
    self->work_running = true;
  }
  self->worker.run([self] { self->work_body(); });
  {
    std::lock_guard<std::mutex> lock(self->mu);
    self->work_running = false;
  }
  self->cv.notify_all();
}

void Refresher::Impl::work_body() {
  const char* name = service.c_str();
  const int64_t t0 = detail::monotonic_ns();
  if (have_payload) {
    // Decoding validates the header, the directory and every item. No call
    // is in flight while the work runs, so the client's layout is stable.
    decoded = client->decode_only(response, &scratch);
    Result<std::shared_ptr<const Snapshot>> snap =
        decoded.ok() ? build_snapshot(scratch, response.size, cfg.max_snapshot_bytes)
                     : decoded.error();
    // Between refreshes (30 s) keep neither the response nor the views:
    // they would double the resident size of a large cache.
    std::vector<uint8_t>().swap(payload);
    taken.reset();
    response = ByteSpan();
    std::vector<CgroupItemView>().swap(scratch.items);
    if (snap.ok()) {
      publish_refresh(store.get(), name, std::move(snap).value(), &outcome);
    } else {
      outcome.error = snap.error();
      outcome.malformed = !decoded.ok();
      record_refresh_failure(store.get(), name, &outcome);
    }
  } else {
    record_refresh_failure(store.get(), name, &outcome);
  }
  outcome.build_ns = detail::monotonic_ns() - t0;
  if (hook) hook(outcome, store->acquire());
}

void Refresher::Impl::on_after_work(uv_work_t* w, int /*status*/) {
  Impl* self = static_cast<Impl*>(w->data);
  self->work_queued = false;
  if (self->stopping) {
    self->busy = false;
    self->maybe_finish();
    return;
  }
  // A malformed snapshot is counted and drops the session (our difference
  // from upstream); the next refresh reconnects.
  if (self->have_payload) (void)self->client->settle_decode(self->decoded);
  self->complete();
}

void Refresher::Impl::complete() {
  store->set_connection_state(client->state());
  busy = false;
  if (on_refresh) {
    // Copies: the callback may stop or destroy the Refresher, which would
    // destroy `outcome` and the std::function while they are in use.
    const RefreshOutcome copy = outcome;
    const RefreshCallback cb = on_refresh;
    cb(copy);  // last
  }
}

void Refresher::Impl::begin_stop() {
  stopping = true;
  if (timer_open) {
    uv_timer_stop(&timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), &Impl::on_timer_closed);
  }
  if (work_queued) (void)uv_cancel(reinterpret_cast<uv_req_t*>(&work));
  if (prep_queued) (void)uv_cancel(reinterpret_cast<uv_req_t*>(&prep));
  client->close([this] {
    client_open = false;
    maybe_finish();
  });
}

void Refresher::Impl::on_timer_closed(uv_handle_t* h) {
  Impl* self = static_cast<Impl*>(h->data);
  self->timer_open = false;
  self->maybe_finish();
}

void Refresher::Impl::maybe_finish() {
  if (!stopping || timer_open || client_open || work_queued || prep_queued || fully_closed) {
    return;
  }
  fully_closed = true;
  if (owner == nullptr) {
    delete this;
    return;
  }
  StopCallback done = std::move(stop_done);
  stop_done = nullptr;
  if (done) done();  // may destroy the Refresher, which then frees us
}

// ---- public API ----

Result<std::unique_ptr<Refresher>> Refresher::create(uv_loop_t* loop, ClientConfig config,
                                                     std::shared_ptr<SnapshotStore> store,
                                                     RefresherConfig refresher) {
  if (loop == nullptr || !store) {
    return make_error(Errc::kInvalidArgument, "Refresher: null loop or store");
  }
  if (refresher.interval_ms <= 0) refresher.interval_ms = kRefresherDefaultIntervalMs;
  const std::string service = config.service;
  // Checks the method and the layout; strips the SHM profiles.
  auto client = AsyncCgroupsSnapshotClient::create(loop, std::move(config), refresher.layout);
  if (!client.ok()) return client.error();
  auto* impl = new Impl();
  impl->loop = loop;
  impl->client = std::move(*client);
  impl->store = std::move(store);
  impl->cfg = refresher;
  impl->service = service;
  const int rc = uv_timer_init(loop, &impl->timer);
  if (rc != 0) {
    impl->stopping = true;
    impl->client.reset();  // cancels silently; its handles close on the loop
    delete impl;
    return make_error(Errc::kSystem, "uv_timer_init", -rc);
  }
  impl->timer.data = impl;
  impl->timer_open = true;
  // Without the thread the work runs on the threadpool worker (as it
  // would anyway); only the arena reuse is lost.
  (void)impl->worker.start(refresher.threads, "netipc-refresh");
  std::unique_ptr<Refresher> r(new Refresher(impl));
  impl->owner = r.get();
  impl->store->set_connection_state(impl->client->state());
  return r;
}

Refresher::~Refresher() {
  Impl* impl = impl_;
  impl->owner = nullptr;
  impl->on_refresh = nullptr;
  impl->stop_done = nullptr;
  if (impl->fully_closed) {
    delete impl;
    return;
  }
  {
    // No work body starts after this, and one that runs is waited for, so
    // the hook never runs once the destructor has returned.
    std::unique_lock<std::mutex> lock(impl->mu);
    impl->work_cancelled = true;
    impl->cv.wait(lock, [impl] { return !impl->work_running; });
  }
  if (!impl->stopping) impl->begin_stop();
}

Status Refresher::set_on_refresh(RefreshCallback cb) {
  if (impl_->started) return make_error(Errc::kInvalidArgument, "Refresher: already started");
  impl_->on_refresh = std::move(cb);
  return ok_status();
}

Status Refresher::set_work_hook(WorkHook hook) {
  if (impl_->started) return make_error(Errc::kInvalidArgument, "Refresher: already started");
  impl_->hook = std::move(hook);
  return ok_status();
}

Status Refresher::start() {
  Impl& d = *impl_;
  if (d.stopping) return make_error(Errc::kNotReady, "Refresher: stopped");
  if (d.started) return make_error(Errc::kInvalidArgument, "Refresher: already started");
  const auto interval = static_cast<uint64_t>(d.cfg.interval_ms);
  const int rc = uv_timer_start(&d.timer, &Impl::on_timer, 0, interval);
  if (rc != 0) return make_error(Errc::kSystem, "uv_timer_start", -rc);
  d.started = true;
  return ok_status();
}

bool Refresher::refresh_now() {
  Impl& d = *impl_;
  if (!d.started || d.stopping || d.busy) return false;
  d.start_attempt();
  return true;
}

void Refresher::stop(StopCallback done) {
  Impl& d = *impl_;
  if (d.stopping) return;
  d.stop_done = std::move(done);
  d.begin_stop();
}

bool Refresher::refresh_in_flight() const {
  return impl_->busy;
}
uint64_t Refresher::attempts() const {
  return impl_->attempts;
}
uint64_t Refresher::skipped_ticks() const {
  return impl_->skipped;
}
uint64_t Refresher::malformed_count() const {
  return impl_->client->status().malformed_count;
}
uint16_t Refresher::layout() const {
  return impl_->client->layout();
}
ClientStatus Refresher::client_status() const {
  return impl_->client->status().client;
}
const std::shared_ptr<SnapshotStore>& Refresher::store() const {
  return impl_->store;
}

}  // namespace netipc::uv
