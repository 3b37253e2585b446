#include "netipc/uv/async_cgroups_snapshot_client.h"

#include <utility>

#include "netipc/wire.h"

namespace netipc::uv {

Result<std::unique_ptr<AsyncCgroupsSnapshotClient>> AsyncCgroupsSnapshotClient::create(
    uv_loop_t* loop, const CgroupsSnapshotClientConfig& config) {
  auto cc = snapshot_client_config(config);
  if (!cc.ok()) return cc.error();
  // UDS only on a loop: drop the SHM profiles instead of refusing them, so
  // one config serves both faces.
  cc->supported_profiles &= ~wire::kProfileShmMask;
  cc->preferred_profiles &= ~wire::kProfileShmMask;
  if (cc->supported_profiles == 0) cc->supported_profiles = wire::kProfileUds;
  auto client = AsyncClient::create(loop, *cc);
  if (!client.ok()) return client.error();
  return std::unique_ptr<AsyncCgroupsSnapshotClient>(
      new AsyncCgroupsSnapshotClient(std::move(*client), config.layout));
}

AsyncCgroupsSnapshotClient::~AsyncCgroupsSnapshotClient() = default;

Status AsyncCgroupsSnapshotClient::fetch(int timeout_ms, FetchCallback done) {
  if (!done) return make_error(Errc::kInvalidArgument, "snapshot fetch: no callback");
  if (done_ || client_->call_in_flight()) {
    return make_error(Errc::kInvalidArgument, "snapshot fetch: a fetch is in flight");
  }
  timeout_ms_ = timeout_ms;
  Status st = start_call(timeout_ms);
  if (st.ok()) done_ = std::move(done);
  return st;
}

Status AsyncCgroupsSnapshotClient::start_call(int timeout_ms) {
  return client_->call(call_.request(), 1, timeout_ms,
                       [this](Result<Message> r) { on_response(std::move(r)); });
}

// Runs from the AsyncClient's callback. The user's callback is always the
// last thing done here: it may destroy this object.
void AsyncCgroupsSnapshotClient::on_response(Result<Message> r) {
  FetchCallback done = std::move(done_);
  done_ = nullptr;
  if (!r.ok()) {
    if (call_.fall_back_on(r.error())) {
      Status st = start_call(timeout_ms_);
      if (st.ok()) {
        done_ = std::move(done);
        return;
      }
      done(st.error());
      return;
    }
    done(r.error());
    return;
  }
  Status st = call_.decode(r->payload, &views_);
  if (!st.ok()) {
    ++malformed_count_;
    (void)client_->reset();  // not busy inside the callback: cannot fail
    done(st.error());
    return;
  }
  ++fetch_count_;
  done(static_cast<const codec::CgroupsSnapshotViews*>(&views_));
}

CgroupsSnapshotClientStatus AsyncCgroupsSnapshotClient::status() const {
  CgroupsSnapshotClientStatus s;
  s.layout = call_.layout();
  s.fell_back = call_.fell_back();
  s.fetch_count = fetch_count_;
  s.malformed_count = malformed_count_;
  s.client = client_->status();
  return s;
}

}  // namespace netipc::uv
