// The encoder side of CgroupsProvider: the mailbox, the encoder thread and
// the serialised publish path with its logging.
#include <time.h>

#include "provider_impl.h"

namespace netipc::cgroups_provider {

namespace {

uint64_t wall_clock_us() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

uint64_t first_generation_of(const ProviderConfig& c) {
  if (c.first_generation != 0) return c.first_generation;
  const uint64_t us = wall_clock_us();
  return us == 0 ? 1 : us;
}

}  // namespace

CgroupsProvider::Impl::Impl(ProviderConfig cfg)
    : config(std::move(cfg)),
      service(config.service.empty() ? kDefaultProviderService : config.service),
      publisher(first_generation_of(config)),
      threads(config.threads.start ? config.threads : uv::std_thread_factory()) {}

Status CgroupsProvider::Impl::start_encoder() {
  auto handle = threads.start("netipc-encoder", [this] { encoder_main(); });
  if (!handle.ok()) return handle.error();
  encoder_thread = *handle;
  return ok_status();
}

void CgroupsProvider::Impl::handover(Job job) {
  std::lock_guard<std::mutex> lock(mu);
  if (quit) return;
  ++submitted;
  {
    std::lock_guard<std::mutex> s(stats_mu);
    ++stats.handovers;
    if (pending) ++stats.superseded;
  }
  if (pending) ++finished;  // the replaced hand-over is done with
  pending = std::move(job);
  work_cv.notify_one();
}

void CgroupsProvider::Impl::quit_encoder() {
  std::lock_guard<std::mutex> lock(mu);
  quit = true;
  work_cv.notify_all();
}

void CgroupsProvider::Impl::encoder_main() {
  std::unique_lock<std::mutex> lock(mu);
  for (;;) {
    work_cv.wait(lock, [this] { return quit || pending.has_value(); });
    if (quit) break;
    Job job = std::move(*pending);
    pending.reset();
    lock.unlock();
    std::optional<PublishOutcome> fresh = run_job(&job);
    job = Job();  // drop the items before the hook and before reporting idle
    if (fresh) after_generation(*fresh);
    lock.lock();
    ++finished;
    idle_cv.notify_all();
  }
  if (pending) {
    pending.reset();
    ++finished;
  }
  idle_cv.notify_all();
  uv_async_t* note = exit_async;
  lock.unlock();
  // Last action: the loop (host-loop mode) joins this thread on the note.
  if (note != nullptr) uv_async_send(note);
}

std::optional<PublishOutcome> CgroupsProvider::Impl::run_job(Job* job) {
  Items items = std::move(job->items);
  if (job->source) {
    Result<Items> r = job->source();
    if (!r.ok()) {
      if (r.error().what[0] != '\0') {
        NETIPC_LOG(kError, "%s: cannot get the cgroup set: %s", service.c_str(),
                   r.error().message().c_str());
      }
      count_failure();
      return std::nullopt;
    }
    if (*r == nullptr) {  // the source saw no change: keep serving what is served
      std::lock_guard<std::mutex> s(stats_mu);
      ++stats.processed;
      ++stats.unchanged;
      return std::nullopt;
    }
    items = std::move(*r);
  }
  Result<PublishOutcome> out = publish_locked(items, job->systemd_enabled);
  if (!out.ok() || !out->changed) return std::nullopt;
  return *out;
}

void CgroupsProvider::Impl::after_generation(const PublishOutcome& outcome) {
  if (config.on_generation) config.on_generation(outcome);
}

void CgroupsProvider::Impl::count_failure() {
  std::lock_guard<std::mutex> s(stats_mu);
  ++stats.failures;
  ++stats.processed;
}

Result<PublishOutcome> CgroupsProvider::Impl::publish_locked(const Items& items,
                                                             uint32_t systemd_enabled) {
  Result<PublishOutcome> out = make_error(Errc::kInternalError, "cgroups provider publish");
  std::shared_ptr<const EncodedSnapshot> snap;
  {
    std::lock_guard<std::mutex> lock(publish_mu);
    out = publisher.publish(items, systemd_enabled);
    if (!out.ok()) {
      NETIPC_LOG(kError, "%s: cannot encode %zu cgroups, still serving generation %llu: %s",
                 service.c_str(), items ? items->size() : size_t{0},
                 static_cast<unsigned long long>(publisher.current()->generation),
                 out.error().message().c_str());
      count_failure();
      return out;
    }
    snap = publisher.current();
    std::lock_guard<std::mutex> s(stats_mu);
    ++stats.processed;
    if (out->changed) {
      ++stats.generations;
      stats.last_encode_ms = out->encode_ms;
    } else {
      ++stats.unchanged;
    }
    stats.generation = snap->generation;
    stats.item_count = snap->item_count;
    stats.layout1_bytes = snap->layout1->size();
    stats.layout2_bytes = snap->layout2->size();
  }
  // Outside the lock: the log line (the hook runs once the caller has let
  // go of the items, see after_generation()).
  if (out->changed) {
    size_t enabled = 0;
    if (items) {
      for (const CgroupItem& it : *items)
        enabled += it.enabled != 0 ? 1 : 0;
    }
    NETIPC_LOG(kInfo,
               "%s: generation %llu: %zu cgroups (%zu enabled), layout 1 %zu bytes, layout 2 %zu "
               "bytes, encoded in %.1f ms",
               service.c_str(), static_cast<unsigned long long>(out->generation), snap->item_count,
               enabled, out->layout1_bytes, out->layout2_bytes, out->encode_ms);
  }
  return out;
}

Handler CgroupsProvider::Impl::make_handler() {
  Handler inner = publisher.handler();
  std::shared_ptr<HandlerState> st = handler_state;
  std::string name = service;
  return [inner = std::move(inner), st, name](ByteSpan request, ResponseWriter& out) -> Status {
    Status s = inner(request, out);
    if (!s.ok()) {
      // Caused by a peer: counted, and logged at a bounded rate.
      st->rejected.fetch_add(1, std::memory_order_relaxed);
      uint64_t suppressed = 0;
      if (st->limiter.allow(&suppressed)) {
        NETIPC_LOG(kWarning,
                   "%s: rejected a snapshot request of %zu bytes: %s (%llu similar "
                   "messages suppressed)",
                   name.c_str(), request.size, s.error().message().c_str(),
                   static_cast<unsigned long long>(suppressed));
      }
    }
    return s;
  };
}

}  // namespace netipc::cgroups_provider
