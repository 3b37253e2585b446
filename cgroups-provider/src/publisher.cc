#include "cgroups_provider/publisher.h"

#include <chrono>

#include "netipc/codec/cgroups.h"
#include "netipc/codec/cgroups_pb.h"

namespace netipc::cgroups_provider {

namespace {

std::shared_ptr<const EncodedSnapshot> encode(std::shared_ptr<const std::vector<CgroupItem>> items,
                                              uint32_t systemd_enabled, uint64_t generation,
                                              Status* status) {
  auto snap = std::make_shared<EncodedSnapshot>();
  snap->generation = generation;
  snap->systemd_enabled = systemd_enabled;
  snap->item_count = items->size();
  auto l1 = std::make_shared<std::vector<uint8_t>>();
  auto l2 = std::make_shared<std::vector<uint8_t>>();
  *status = codec::encode_cgroups_snapshot_v1(*items, systemd_enabled, generation, l1.get());
  if (status->ok()) {
    *status = codec::encode_cgroups_snapshot_v2(*items, systemd_enabled, generation, l2.get());
  }
  snap->layout1 = std::move(l1);
  snap->layout2 = std::move(l2);
  snap->items = std::move(items);
  return snap;
}

}  // namespace

SnapshotPublisher::SnapshotPublisher(uint64_t first_generation) : state_(std::make_shared<State>()) {
  Status st;
  state_->current = encode(std::make_shared<const std::vector<CgroupItem>>(), 1,
                           first_generation, &st);
}

Result<PublishOutcome> SnapshotPublisher::publish(
    std::shared_ptr<const std::vector<CgroupItem>> items, uint32_t systemd_enabled) {
  if (!items) items = std::make_shared<const std::vector<CgroupItem>>();
  auto cur = current();
  PublishOutcome out;
  if (cur->systemd_enabled == systemd_enabled &&
      (cur->items == items || *cur->items == *items)) {
    out.generation = cur->generation;
    out.layout1_bytes = cur->layout1->size();
    out.layout2_bytes = cur->layout2->size();
    return out;
  }
  const auto t0 = std::chrono::steady_clock::now();
  Status st;
  auto next = encode(std::move(items), systemd_enabled, cur->generation + 1, &st);
  if (!st.ok()) return st.error();
  out.encode_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                      .count();
  out.changed = true;
  out.generation = next->generation;
  out.layout1_bytes = next->layout1->size();
  out.layout2_bytes = next->layout2->size();
  // Announce the size before the swap, so a client that sees the new
  // generation also gets a ceiling that covers it.
  if (size_listener_) size_listener_(std::max(out.layout1_bytes, out.layout2_bytes));
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->current = std::move(next);
  }
  return out;
}

std::shared_ptr<const EncodedSnapshot> SnapshotPublisher::current() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->current;
}

void SnapshotPublisher::set_size_listener(std::function<void(uint64_t)> listener) {
  size_listener_ = std::move(listener);
  if (size_listener_) {
    auto cur = current();
    size_listener_(std::max(cur->layout1->size(), cur->layout2->size()));
  }
}

Handler SnapshotPublisher::handler() const {
  std::shared_ptr<State> state = state_;
  return [state](ByteSpan request, ResponseWriter& out) -> Status {
    auto layout = codec::decode_cgroups_request(request, codec::kCgroupsLayoutsAll);
    if (!layout.ok()) return layout.error();
    std::shared_ptr<const EncodedSnapshot> snap;
    {
      std::lock_guard<std::mutex> lock(state->mu);
      snap = state->current;
    }
    out.share(*layout == codec::kCgroupsLayoutProtobuf ? snap->layout2 : snap->layout1);
    return ok_status();
  };
}

}  // namespace netipc::cgroups_provider
