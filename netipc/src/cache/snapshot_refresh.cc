#include "netipc/snapshot_refresh.h"

#include <utility>

#include "netipc/log.h"
#include "sys_linux.h"

namespace netipc {

Result<std::shared_ptr<const Snapshot>> build_snapshot(const codec::CgroupsSnapshotViews& views,
                                                       size_t payload_bytes,
                                                       uint64_t max_bytes) noexcept {
  SnapshotBuilder::Options options;
  options.max_bytes = max_bytes;
  SnapshotBuilder builder(options);
  builder.set_generation(views.generation);
  builder.set_systemd_enabled(views.systemd_enabled != 0);
  // Names and paths of all items together are at most the payload's size.
  NETIPC_RETURN_IF_ERROR(builder.reserve(views.items.size(), payload_bytes));
  for (const CgroupItemView& item : views.items) {
    NETIPC_RETURN_IF_ERROR(builder.add(item));
  }
  return builder.finish();
}

void record_refresh_failure(SnapshotStore* store, const char* service,
                            RefreshOutcome* outcome) noexcept {
  const uint64_t n = store->record_failure(outcome->error);
  outcome->consecutive_failures = n;
  if (n % 10 == 1) {
    NETIPC_LOG(kWarning,
               "cgroups cache '%s': refresh failed (%s: %s, errno %d%s); keeping the previous "
               "snapshot (%llu consecutive failure%s)",
               service, outcome->error.what, errc_name(outcome->error.code),
               outcome->error.sys_errno,
               outcome->malformed ? ", malformed response: session dropped" : "",
               static_cast<unsigned long long>(n), n == 1 ? "" : "s");
  }
}

void publish_refresh(SnapshotStore* store, const char* service,
                     std::shared_ptr<const Snapshot> snapshot, RefreshOutcome* outcome) noexcept {
  const uint64_t failed_before = store->status().consecutive_failures;
  const uint64_t generation = snapshot->generation();
  const size_t items = snapshot->item_count();
  Status st = store->publish(std::move(snapshot));
  if (!st.ok()) {
    outcome->error = st.error();
    record_refresh_failure(store, service, outcome);
    return;
  }
  outcome->error = Error{};
  outcome->generation = generation;
  outcome->item_count = items;
  outcome->consecutive_failures = 0;
  if (failed_before != 0) {
    NETIPC_LOG(kInfo, "cgroups cache '%s': refresh succeeded again after %llu failure%s", service,
               static_cast<unsigned long long>(failed_before), failed_before == 1 ? "" : "s");
  }
}

}  // namespace netipc
