#include "netipc/uv/async_cgroups_snapshot_client.h"

#include <utility>

#include "netipc/wire.h"

namespace netipc::uv {

Result<std::unique_ptr<AsyncCgroupsSnapshotClient>> AsyncCgroupsSnapshotClient::create(
    uv_loop_t* loop, const CgroupsSnapshotClientConfig& config) {
  auto cc = snapshot_client_config(config);
  if (!cc.ok()) return cc.error();
  return create(loop, std::move(*cc), config.layout);
}

Result<std::unique_ptr<AsyncCgroupsSnapshotClient>> AsyncCgroupsSnapshotClient::create(
    uv_loop_t* loop, ClientConfig config, uint16_t layout) {
  auto cc = snapshot_client_config(std::move(config), layout);
  if (!cc.ok()) return cc.error();
  // UDS only on a loop: drop the SHM profiles instead of refusing them, so
  // one config serves both faces.
  cc->supported_profiles &= ~wire::kProfileShmMask;
  cc->preferred_profiles &= ~wire::kProfileShmMask;
  if (cc->supported_profiles == 0) cc->supported_profiles = wire::kProfileUds;
  auto client = AsyncClient::create(loop, *cc);
  if (!client.ok()) return client.error();
  return std::unique_ptr<AsyncCgroupsSnapshotClient>(
      new AsyncCgroupsSnapshotClient(std::move(*client), layout));
}

AsyncCgroupsSnapshotClient::~AsyncCgroupsSnapshotClient() = default;

Status AsyncCgroupsSnapshotClient::fetch(int timeout_ms, FetchCallback done) {
  if (!done) return make_error(Errc::kInvalidArgument, "snapshot fetch: no callback");
  return call(timeout_ms, [this, done = std::move(done)](Result<ByteSpan> payload) {
    if (!payload.ok()) {
      done(payload.error());
      return;
    }
    Status st = decode(*payload, &views_);
    if (!st.ok()) {
      done(st.error());
      return;
    }
    done(static_cast<const codec::CgroupsSnapshotViews*>(&views_));  // last: may destroy us
  });
}

Status AsyncCgroupsSnapshotClient::call(int timeout_ms, CallCallback done) {
  if (!done) return make_error(Errc::kInvalidArgument, "snapshot call: no callback");
  if (done_ || client_->call_in_flight()) {
    return make_error(Errc::kInvalidArgument, "snapshot call: a fetch or call is in flight");
  }
  timeout_ms_ = timeout_ms;
  Status st = start_call();
  if (st.ok()) done_ = std::move(done);
  return st;
}

Status AsyncCgroupsSnapshotClient::start_call() {
  return client_->call(call_.request(), 1, timeout_ms_,
                       [this](Result<Message> r) { on_response(std::move(r)); });
}

// Runs from the AsyncClient's callback. The user's callback is always the
// last thing done here: it may destroy this object.
void AsyncCgroupsSnapshotClient::on_response(Result<Message> r) {
  CallCallback done = std::move(done_);
  done_ = nullptr;
  if (r.ok()) {
    done(r->payload);
    return;
  }
  // At most two rounds: the second only after a layout-2 rejection.
  if (call_.fall_back_on(r.error())) {
    Status st = start_call();
    if (st.ok()) {
      done_ = std::move(done);
      return;
    }
    done(st.error());
    return;
  }
  done(r.error());
}

Status AsyncCgroupsSnapshotClient::decode(ByteSpan payload, codec::CgroupsSnapshotViews* out) {
  return settle_decode(decode_only(payload, out));
}

Status AsyncCgroupsSnapshotClient::settle_decode(Status decoded) {
  if (!decoded.ok()) {
    // A server that sends a snapshot we cannot read is not trusted with
    // the next one on the same session.
    ++malformed_count_;
    // reset() fails only after close() (no session left) or while a call
    // is in flight, which the contract of decode() rules out.
    (void)client_->reset();
    return decoded;
  }
  ++fetch_count_;
  return decoded;
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
