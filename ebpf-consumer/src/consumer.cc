#include "ebpf_consumer/consumer.h"

#include <malloc.h>

#include <new>
#include <utility>

#include "netipc/snapshot_cache_client.h"
#include "netipc/wire.h"
#include "sys_linux.h"

namespace netipc::ebpf {

namespace {

ClientConfig client_config_of(const ConsumerConfig& c) {
  ClientConfig cc;
  cc.run_dir = c.run_dir;
  cc.service = c.service;
  cc.method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  cc.supported_profiles = c.supported_profiles;
  cc.preferred_profiles = c.preferred_profiles;
  cc.auth_token = c.auth_token;
  cc.call_timeout_ms = c.call_timeout_ms;
  cc.connect_timeout_ms = c.connect_timeout_ms;
  return cc;
}

}  // namespace

Result<std::unique_ptr<Consumer>> Consumer::create(ConsumerConfig config) {
  if (config.run_dir.empty() || config.run_dir[0] != '/') {
    return make_error(Errc::kInvalidArgument, "Consumer: run_dir must be an absolute path");
  }
  if (config.service.empty()) config.service = kDefaultService;
  if (config.call_timeout_ms <= 0) config.call_timeout_ms = kConsumerDefaultCallTimeoutMs;
  auto store = std::make_shared<SnapshotStore>();
  SnapshotCacheOptions options;
  options.layout = config.layout;
  options.max_snapshot_bytes = config.max_snapshot_bytes;
  options.store = store;
  auto cache = SnapshotCache::create(client_config_of(config), options);
  if (!cache.ok()) return cache.error();
  std::unique_ptr<Consumer> c(new (std::nothrow)
                                  Consumer(std::move(config), std::move(*cache), std::move(store)));
  if (!c) return make_error(Errc::kNoMemory, "Consumer");
  return c;
}

Consumer::Consumer(ConsumerConfig config, std::unique_ptr<SnapshotCache> cache,
                   std::shared_ptr<SnapshotStore> store)
    : config_(std::move(config)), store_(std::move(store)), cache_(std::move(cache)) {
  client_status_ = cache_->client_status();
  layout_ = cache_->layout();
}

Status Consumer::refresh(int timeout_ms, ConsumerRefresh* out) {
  if (attached_.load(std::memory_order_acquire)) {
    return make_error(Errc::kInvalidArgument, "Consumer::refresh: attached to a loop");
  }
  ConsumerRefresh local;
  ConsumerRefresh& r = out != nullptr ? *out : local;
  r = ConsumerRefresh{};
  Status st = cache_->refresh(timeout_ms, &r.refresh);
  apply_current(r.refresh, &r);
  mirror(cache_->client_status(), cache_->layout(), r.refresh.malformed ? 1 : 0);
  return st;
}

// Rebuilds the table from the cached snapshot (after a success, and after
// a failure too: the PIDs of known cgroups keep changing). Not after an
// abort: that is a shutdown, and reading every cgroup.procs would delay it.
void Consumer::apply_current(const RefreshOutcome& refresh, ConsumerRefresh* out) {
  if (refresh.error.code == Errc::kAborted) return;
  const std::shared_ptr<const Snapshot> current = store_->acquire();
  if (!current) return;
  auto stats = table_.apply(*current);
  if (stats.ok()) {
    out->applied = true;
    out->apply = *stats;
  } else {
    out->apply_error = stats.error();
  }
#ifdef __GLIBC__
  if (!config_.no_heap_trim) malloc_trim(0);
#endif
}

void Consumer::mirror(const ClientStatus& st, uint16_t layout, uint64_t malformed) {
  std::lock_guard<std::mutex> lock(mirror_mu_);
  client_status_ = st;
  layout_ = layout;
  malformed_ += malformed;
}

ClientStatus Consumer::client_status() const {
  std::lock_guard<std::mutex> lock(mirror_mu_);
  return client_status_;
}

uint16_t Consumer::layout() const {
  std::lock_guard<std::mutex> lock(mirror_mu_);
  return layout_;
}

uint64_t Consumer::malformed_count() const {
  std::lock_guard<std::mutex> lock(mirror_mu_);
  return malformed_;
}

bool Consumer::attached() const noexcept {
  return attached_.load(std::memory_order_acquire);
}

void Consumer::abort() noexcept {
  cache_->abort();
}

void Consumer::clear_abort() {
  cache_->clear_abort();
}

void Consumer::reset_connection() {
  cache_->reset_connection();
  mirror(cache_->client_status(), cache_->layout(), 0);
}

}  // namespace netipc::ebpf
