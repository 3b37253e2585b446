#include "netipc/uv/refresher.h"

#include <uv.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "netipc/cgroups_snapshot_call.h"
#include "netipc/codec/cgroups.h"
#include "netipc/uv/async_client.h"
#include "netipc/wire.h"
#include "sys_linux.h"

namespace netipc::uv {

struct Refresher::Impl {
  uv_loop_t* loop = nullptr;
  Refresher* owner = nullptr;  // null once the Refresher is destroyed
  std::unique_ptr<AsyncClient> client;
  std::shared_ptr<SnapshotStore> store;
  CgroupsSnapshotCall call;
  RefresherConfig cfg;
  std::string service;
  RefreshCallback on_refresh;
  WorkHook hook;
  StopCallback stop_done;

  uv_timer_t timer{};
  uv_work_t work{};
  bool started = false;
  bool stopping = false;
  bool timer_open = false;
  bool client_open = true;
  bool fully_closed = false;
  bool busy = false;         // an attempt runs: call, then work, then delivery
  bool work_queued = false;  // submitted; its after-work callback has not run

  // The attempt in flight. Written on the loop before uv_queue_work and by
  // the work body after; libuv orders both hand-overs.
  RefreshOutcome outcome;
  bool have_payload = false;
  std::vector<uint8_t> payload;  // the response, copied out of the client
  codec::CgroupsSnapshotViews scratch;
  int64_t call_start_ns = 0;

  // Lets the destructor wait for a work body (and the hook) to finish.
  std::mutex mu;
  std::condition_variable cv;
  bool work_running = false;
  bool work_cancelled = false;

  uint64_t attempts = 0;
  uint64_t skipped = 0;
  uint64_t malformed = 0;

  explicit Impl(uint16_t layout) : call(layout) {}

  void start_attempt();
  void on_call(Result<Message> reply);
  void queue_work();
  void work_body();
  void complete();
  void begin_stop();
  void maybe_finish();

  static void on_timer(uv_timer_t* t);
  static void on_timer_closed(uv_handle_t* h);
  static void on_work(uv_work_t* w);
  static void on_after_work(uv_work_t* w, int status);
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
  call_start_ns = detail::monotonic_ns();
  Status st = client->call(call.request(), 1, cfg.timeout_ms,
                           [this](Result<Message> r) { on_call(std::move(r)); });
  if (!st.ok()) {
    // Cannot happen while we own the client and run one call at a time;
    // still reported through the normal (asynchronous) path.
    outcome.error = st.error();
    queue_work();
  }
}

void Refresher::Impl::on_call(Result<Message> reply) {
  if (stopping) {
    busy = false;  // aborted by stop(): nothing to report
    return;
  }
  if (!reply.ok() && call.fall_back_on(reply.error())) {
    if (client
            ->call(call.request(), 1, cfg.timeout_ms,
                   [this](Result<Message> r) { on_call(std::move(r)); })
            .ok()) {
      return;
    }
  }
  outcome.call_ns = detail::monotonic_ns() - call_start_ns;
  outcome.layout = call.layout();
  if (!reply.ok()) {
    outcome.error = reply.error();
  } else {
    // The message is only valid inside this callback: copy it out so the
    // build can run on the threadpool.
    payload.assign(reply->payload.data, reply->payload.data + reply->payload.size);
    outcome.payload_bytes = reply->payload.size;
    have_payload = true;
  }
  queue_work();
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
  self->work_body();
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
    bool bad = false;
    auto snap = build_snapshot_from_response(call, ByteSpan(payload), &scratch,
                                             cfg.max_snapshot_bytes, &bad);
    // Between refreshes (30 s) keep neither the copy nor the views: they
    // would double the resident size of a large cache.
    std::vector<uint8_t>().swap(payload);
    std::vector<CgroupItemView>().swap(scratch.items);
    if (snap.ok()) {
      publish_refresh(store.get(), name, std::move(snap).value(), &outcome);
    } else {
      outcome.error = snap.error();
      outcome.malformed = bad;
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
  if (self->outcome.malformed) {
    // Our difference from upstream: a peer that sent a malformed snapshot
    // loses its session; the next refresh reconnects.
    ++self->malformed;
    (void)self->client->reset();
  }
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
  if (!stopping || timer_open || client_open || work_queued || fully_closed) return;
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
  const auto method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  if (config.method == 0) config.method = method;
  if (config.method != method) {
    return make_error(Errc::kInvalidArgument, "Refresher: method must be CGROUPS_SNAPSHOT");
  }
  if (refresher.layout > codec::kCgroupsLayoutProtobuf) {
    return make_error(Errc::kInvalidArgument, "Refresher: layout must be 0, 1 or 2");
  }
  if (refresher.interval_ms <= 0) refresher.interval_ms = kRefresherDefaultIntervalMs;
  // The AsyncClient is UDS only: offer what it can do.
  if (config.supported_profiles != 0) {
    config.supported_profiles &= wire::kProfileUds;
    if (config.supported_profiles == 0) config.supported_profiles = wire::kProfileUds;
    config.preferred_profiles &= config.supported_profiles;
  }
  auto client = AsyncClient::create(loop, config);
  if (!client.ok()) return client.error();
  auto* impl = new Impl(refresher.layout);
  impl->loop = loop;
  impl->client = std::move(*client);
  impl->store = std::move(store);
  impl->cfg = refresher;
  impl->service = config.service;
  const int rc = uv_timer_init(loop, &impl->timer);
  if (rc != 0) {
    impl->stopping = true;
    impl->client.reset();  // cancels silently; its handles close on the loop
    delete impl;
    return make_error(Errc::kSystem, "uv_timer_init", -rc);
  }
  impl->timer.data = impl;
  impl->timer_open = true;
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
  return impl_->malformed;
}
uint16_t Refresher::layout() const {
  return impl_->call.layout();
}
ClientStatus Refresher::client_status() const {
  return impl_->client->status();
}
const std::shared_ptr<SnapshotStore>& Refresher::store() const {
  return impl_->store;
}

}  // namespace netipc::uv
