#include "netipc/snapshot_cache_client.h"

#include <new>
#include <utility>
#include <vector>

#include "sys_linux.h"

namespace netipc {

Result<std::unique_ptr<SnapshotCache>> SnapshotCache::create(ClientConfig config,
                                                             SnapshotCacheOptions options) {
  auto client = CgroupsSnapshotClient::create(std::move(config), options.layout);
  if (!client.ok()) return client.error();
  std::unique_ptr<SnapshotCache> cache(new (std::nothrow)
                                           SnapshotCache(std::move(*client), std::move(options)));
  if (!cache) return make_error(Errc::kNoMemory, "SnapshotCache");
  return cache;
}

SnapshotCache::SnapshotCache(CgroupsSnapshotClient client, SnapshotCacheOptions options)
    : client_(std::move(client)),
      max_snapshot_bytes_(options.max_snapshot_bytes),
      store_(options.store ? std::move(options.store) : std::make_shared<SnapshotStore>()) {
  layout_.store(client_.layout(), std::memory_order_relaxed);
  client_status_ = client_.status().client;
  store_->set_connection_state(client_.state());
}

SnapshotCache::~SnapshotCache() = default;

Status SnapshotCache::refresh(int timeout_ms, RefreshOutcome* outcome) {
  std::lock_guard<std::mutex> lock(refresh_mu_);
  RefreshOutcome local;
  RefreshOutcome& out = outcome != nullptr ? *outcome : local;
  out = RefreshOutcome{};
  const char* service = client_.config().service.c_str();

  // Steps 1-2: the call connects (or reconnects from BROKEN) by itself; a
  // layout-2 rejection switches the client to layout 1 and retries once.
  const int64_t t0 = detail::monotonic_ns();
  auto payload = client_.call(timeout_ms);
  const int64_t t1 = detail::monotonic_ns();
  out.call_ns = t1 - t0;
  out.layout = client_.layout();
  layout_.store(out.layout, std::memory_order_relaxed);

  Status result;
  if (!payload.ok()) {
    // Step 3: the cache is untouched.
    out.error = payload.error();
    record_refresh_failure(store_.get(), service, &out);
    result = out.error;
  } else {
    out.payload_bytes = payload->size;
    // Decoding validates the header, the directory and every item; a
    // malformed response also ends the session (our difference from
    // upstream, see the header): the client does that.
    Status decoded = client_.decode(*payload, &scratch_);
    Result<std::shared_ptr<const Snapshot>> snap =
        decoded.ok() ? build_snapshot(scratch_, payload->size, max_snapshot_bytes_)
                     : decoded.error();
    // The views point into the client's buffer; and between refreshes (30 s
    // in Netdata) their 56 bytes per item are not worth keeping.
    std::vector<CgroupItemView>().swap(scratch_.items);
    // Nor the response itself when it is large: the snapshot holds its own
    // copy (kKeepReceiveBufferBytes).
    client_.release_receive_buffer(kKeepReceiveBufferBytes);
    if (!snap.ok()) {
      // Step 4: the cache is untouched.
      out.error = snap.error();
      out.malformed = !decoded.ok();
      if (out.malformed) malformed_.fetch_add(1, std::memory_order_relaxed);
      record_refresh_failure(store_.get(), service, &out);
      result = out.error;
    } else {
      // Step 5.
      publish_refresh(store_.get(), service, std::move(snap).value(), &out);
      if (!out.ok()) result = out.error;
    }
    out.build_ns = detail::monotonic_ns() - t1;
  }
  mirror_client_status();
  return result;
}

void SnapshotCache::mirror_client_status() {
  const ClientStatus st = client_.status().client;
  store_->set_connection_state(st.state);
  std::lock_guard<std::mutex> lock(status_mu_);
  client_status_ = st;
}

ClientStatus SnapshotCache::client_status() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  return client_status_;
}

Status SnapshotCache::copy(uint32_t hash, std::string_view name, CgroupItem* out) const noexcept {
  ReadGuard g(*store_);
  const CgroupItemView* v = g.find(hash, name);
  if (v == nullptr) return make_error(Errc::kNotFound, "SnapshotCache::copy: no such item");
  return g.copy(v, out);
}

void SnapshotCache::clear_abort() {
  std::lock_guard<std::mutex> lock(refresh_mu_);
  client_.clear_abort();
}

void SnapshotCache::reset_connection() {
  std::lock_guard<std::mutex> lock(refresh_mu_);
  client_.reset();
  mirror_client_status();
}

Status SnapshotCache::close() {
  std::lock_guard<std::mutex> lock(refresh_mu_);
  client_.reset();
  mirror_client_status();
  return store_->clear();
}

}  // namespace netipc
