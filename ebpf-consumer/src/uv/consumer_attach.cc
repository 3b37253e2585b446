// Consumer::attach / detach: the consumer driven by a uv::Refresher on the
// host's loop. Built only with the libuv adapter (see CMakeLists.txt).
#include <uv.h>

#include <utility>

#include "ebpf_consumer/consumer.h"
#include "netipc/snapshot_cache_client.h"
#include "netipc/uv/refresher.h"
#include "netipc/wire.h"
#include "sys_linux.h"

namespace netipc::ebpf {

struct Consumer::Attached {
  std::unique_ptr<uv::Refresher> refresher;
  RefreshCallback cb;
  bool detaching = false;
  // Written by the work hook on a threadpool thread, read by on_refresh on
  // the loop: libuv's work queue orders the two.
  ConsumerRefresh pending;
};

void Consumer::AttachedDeleter::operator()(Attached* a) const noexcept {
  delete a;
}

Consumer::~Consumer() {
  // An attached refresher is cancelled silently (loop thread); its
  // destructor waits for a hook that is still rebuilding the table.
  attached_state_.reset();
}

Status Consumer::attach(uv_loop_t* loop, int interval_ms, RefreshCallback cb) {
  if (attached_.load(std::memory_order_acquire) || attached_state_) {
    return make_error(Errc::kInvalidArgument, "Consumer::attach: already attached");
  }
  ClientConfig cc;
  cc.run_dir = config_.run_dir;
  cc.service = config_.service;
  cc.method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  cc.auth_token = config_.auth_token;
  cc.call_timeout_ms = config_.call_timeout_ms;
  cc.connect_timeout_ms = config_.connect_timeout_ms;
  uv::RefresherConfig rc;
  rc.interval_ms = interval_ms;
  rc.layout = config_.layout;
  rc.max_snapshot_bytes = config_.max_snapshot_bytes;
  auto refresher = uv::Refresher::create(loop, cc, store_, rc);
  if (!refresher.ok()) return refresher.error();

  std::unique_ptr<Attached, AttachedDeleter> state(new Attached());
  Attached* a = state.get();
  a->refresher = std::move(*refresher);
  a->cb = std::move(cb);
  // Threadpool: rebuild the table (one cgroup.procs read per target).
  NETIPC_RETURN_IF_ERROR(a->refresher->set_work_hook(
      [this, a](const RefreshOutcome& r, const std::shared_ptr<const Snapshot>&) {
        a->pending = ConsumerRefresh{};
        a->pending.refresh = r;
        apply_current(r, &a->pending);
      }));
  // Loop: publish the Level-2 counters, then tell the host.
  NETIPC_RETURN_IF_ERROR(a->refresher->set_on_refresh([this, a](const RefreshOutcome& r) {
    a->pending.refresh = r;  // the delivered copy is authoritative
    mirror(a->refresher->client_status(), a->refresher->layout(), r.malformed ? 1 : 0);
    if (a->cb) {
      // Copies: the callback may detach or destroy the consumer (and `a`).
      const ConsumerRefresh copy = a->pending;
      const RefreshCallback user_cb = a->cb;
      user_cb(copy);  // last
    }
  }));
  NETIPC_RETURN_IF_ERROR(a->refresher->start());
  attached_state_ = std::move(state);
  attached_.store(true, std::memory_order_release);
  return ok_status();
}

Status Consumer::detach(std::function<void()> done) {
  Attached* a = attached_state_.get();
  if (a == nullptr || a->detaching) {
    return make_error(Errc::kInvalidArgument, "Consumer::detach: not attached");
  }
  a->detaching = true;
  a->refresher->stop([this, done = std::move(done)]() mutable {
    std::function<void()> d = std::move(done);
    attached_state_.reset();  // destroys the stopped Refresher (allowed here)
    attached_.store(false, std::memory_order_release);
    if (d) d();
  });
  return ok_status();
}

}  // namespace netipc::ebpf
