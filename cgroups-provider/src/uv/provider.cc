#include "cgroups_provider/provider.h"

#include <uv.h>

#include <utility>

#include "netipc/wire.h"
#include "provider_impl.h"

namespace netipc::cgroups_provider {

namespace {

uv::ServerConfig make_server_config(const ProviderConfig& c, const std::string& service) {
  uv::ServerConfig s;
  s.run_dir = c.run_dir;
  s.service = service;
  s.method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  s.supported_profiles = c.supported_profiles;
  s.preferred_profiles = c.preferred_profiles;
  s.max_sessions = c.max_sessions;
  s.response_growth_ceiling = c.response_growth_ceiling;
  s.auth_token = c.auth_token;
  s.listener = c.listener;
  s.shm_threads = c.threads;  // empty -> std::thread
  return s;
}

}  // namespace

CgroupsProvider::CgroupsProvider(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<CgroupsProvider>> CgroupsProvider::create(uv_loop_t* loop,
                                                                 ProviderConfig config) {
  if (loop == nullptr) return make_error(Errc::kInvalidArgument, "cgroups provider loop");
  auto impl = std::make_unique<Impl>(std::move(config));
  impl->loop = loop;
  // The exit note is heap-held: its close callback may run after a failed
  // create() has freed everything else.
  impl->exit_async = new uv_async_t();
  if (int rc = uv_async_init(loop, impl->exit_async,
                             [](uv_async_t* a) {
                               auto* self = static_cast<Impl*>(a->data);
                               if (self == nullptr) return;
                               if (self->encoder_thread != nullptr)
                                 self->threads.join(self->encoder_thread);
                               self->encoder_thread = nullptr;
                               self->encoder_exited = true;
                               self->maybe_finish_stop();
                             });
      rc != 0) {
    delete impl->exit_async;
    return make_error(Errc::kSystem, "cgroups provider uv_async_init", -rc);
  }
  impl->exit_async->data = impl.get();
  // Idle until stop(): it must not keep the host's loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(impl->exit_async));
  auto close_async = [](uv_async_t* a) {
    a->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(a),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
  };

  auto server = uv::Server::create(loop, make_server_config(impl->config, impl->service),
                                   impl->make_handler());
  if (!server.ok()) {
    close_async(impl->exit_async);
    return server.error();
  }
  impl->server = std::move(*server);
  impl->srv = impl->server.get();
  Status enc = impl->start_encoder();
  if (!enc.ok()) {
    // Nothing runs yet: stop the server on the loop, then let it go.
    impl->exit_async->data = nullptr;
    close_async(impl->exit_async);
    impl->exit_async = nullptr;
    uv::Server* srv = impl->server.release();
    srv->stop(0, [srv] { delete srv; });
    return enc.error();
  }
  uv::Server* srv = impl->srv;
  impl->publisher.set_size_listener([srv](uint64_t bytes) { srv->announce_response_size(bytes); });
  return std::unique_ptr<CgroupsProvider>(new CgroupsProvider(std::move(impl)));
}

Result<std::unique_ptr<CgroupsProvider>> CgroupsProvider::start(ProviderConfig config) {
  auto impl = std::make_unique<Impl>(std::move(config));
  auto st = uv::ServerThread::start(make_server_config(impl->config, impl->service),
                                    impl->make_handler(), impl->threads, "netipc-cgroups");
  if (!st.ok()) return st.error();
  impl->server_thread = std::move(*st);
  impl->srv = &impl->server_thread->server();
  Status enc = impl->start_encoder();
  if (!enc.ok()) {
    impl->server_thread->stop(0);
    return enc.error();
  }
  uv::Server* srv = impl->srv;
  impl->publisher.set_size_listener([srv](uint64_t bytes) { srv->announce_response_size(bytes); });
  return std::unique_ptr<CgroupsProvider>(new CgroupsProvider(std::move(impl)));
}

CgroupsProvider::~CgroupsProvider() {
  if (!impl_) return;
  if (impl_->server_thread) {
    stop();
    return;
  }
  // Host-loop mode: stop() and its `done` must have happened. If the host
  // forgot, at least do not leave a thread running on freed memory.
  if (impl_->encoder_thread != nullptr) {
    NETIPC_LOG(kError, "%s: provider destroyed before its stop completed", impl_->service.c_str());
    uv_async_t* a = nullptr;
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      a = std::exchange(impl_->exit_async, nullptr);
    }
    if (a != nullptr) {
      a->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(a),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
    }
    impl_->quit_encoder();
    impl_->threads.join(impl_->encoder_thread);
    impl_->encoder_thread = nullptr;
  }
}

void CgroupsProvider::publish(std::vector<CgroupItem> items, uint32_t systemd_enabled) {
  publish(std::make_shared<const std::vector<CgroupItem>>(std::move(items)), systemd_enabled);
}

void CgroupsProvider::publish(Items items, uint32_t systemd_enabled) {
  impl_->handover(Impl::Job{std::move(items), nullptr, systemd_enabled});
}

void CgroupsProvider::refresh_from(Source source, uint32_t systemd_enabled) {
  if (!source) return;
  impl_->handover(Impl::Job{nullptr, std::move(source), systemd_enabled});
}

Result<PublishOutcome> CgroupsProvider::publish_now(Items items, uint32_t systemd_enabled) {
  if (impl_->stop_started.load()) return make_error(Errc::kAborted, "cgroups provider stopped");
  Result<PublishOutcome> out = impl_->publish_locked(items, systemd_enabled);
  items.reset();  // the caller's reference, if any, is theirs to drop
  if (out.ok() && out->changed) impl_->after_generation(*out);
  return out;
}

bool CgroupsProvider::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  const uint64_t target = impl_->submitted;
  return impl_->idle_cv.wait_for(lock, timeout, [&] { return impl_->finished >= target; });
}

std::shared_ptr<const EncodedSnapshot> CgroupsProvider::current() const {
  return impl_->publisher.current();
}

ProviderStats CgroupsProvider::stats() const {
  ProviderStats s;
  {
    std::lock_guard<std::mutex> lock(impl_->stats_mu);
    s = impl_->stats;
  }
  s.requests_rejected = impl_->handler_state->rejected.load(std::memory_order_relaxed);
  if (s.generation == 0) {
    auto cur = impl_->publisher.current();
    s.generation = cur->generation;
    s.layout1_bytes = cur->layout1->size();
    s.layout2_bytes = cur->layout2->size();
  }
  return s;
}

uv::ServerStats CgroupsProvider::server_stats() const {
  return impl_->srv->stats();
}

uint32_t CgroupsProvider::response_ceiling() const {
  return impl_->srv->response_ceiling();
}

const std::string& CgroupsProvider::socket_path() const {
  return impl_->srv->socket_path();
}

void CgroupsProvider::stop(uint32_t deadline_ms, std::function<void()> done) {
  Impl* impl = impl_.get();
  if (impl->stop_started.exchange(true)) return;
  impl->quit_encoder();
  if (impl->server_thread) {
    if (impl->encoder_thread != nullptr) impl->threads.join(impl->encoder_thread);
    impl->encoder_thread = nullptr;
    impl->server_thread->stop(deadline_ms);
    if (done) done();
    return;
  }
  impl->done = std::move(done);
  // Keep the loop alive until the encoder's exit note arrives.
  uv_ref(reinterpret_cast<uv_handle_t*>(impl->exit_async));
  impl->server->stop(deadline_ms, [impl] {
    impl->server_stopped = true;
    impl->maybe_finish_stop();
  });
}

void CgroupsProvider::Impl::maybe_finish_stop() {
  if (!server_stopped || !encoder_exited || exit_async == nullptr) return;
  uv_async_t* a = exit_async;
  exit_async = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(a), [](uv_handle_t* h) {
    auto* self = static_cast<Impl*>(h->data);
    delete reinterpret_cast<uv_async_t*>(h);
    if (self != nullptr && self->done) {
      auto fn = std::move(self->done);
      fn();
    }
  });
}

}  // namespace netipc::cgroups_provider
