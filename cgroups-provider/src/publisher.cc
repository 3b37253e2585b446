#include "cgroups_provider/publisher.h"

#include <chrono>
#include <cstring>
#include <string_view>

#include "netipc/codec/cgroups.h"
#include "netipc/codec/cgroups_pb.h"

namespace netipc::cgroups_provider {

namespace {

// A 64-bit streaming hash (8 bytes per step, multiply-xorshift mixing in
// the style of MurmurHash64/wyhash finalizers). Not cryptographic: it only
// tells "unchanged" from "changed" for content the provider produced.
class Fingerprint {
 public:
  void u64(uint64_t v) { h_ = mix(h_ ^ (v * kM1)) * kM2 + kM3; }
  void bytes(std::string_view s) {
    u64(s.size());
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      u64(w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    u64(tail ^ (uint64_t{s.size() - i} << 56));
  }
  uint64_t value() const { return mix(h_); }

 private:
  static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
  }
  static constexpr uint64_t kM1 = 0x9E3779B97F4A7C15ull;
  static constexpr uint64_t kM2 = 0xD6E8FEB86659FD93ull;
  static constexpr uint64_t kM3 = 0x2545F4914F6CDD1Dull;
  uint64_t h_ = 0x243F6A8885A308D3ull;
};

std::shared_ptr<const EncodedSnapshot> encode(std::shared_ptr<const std::vector<CgroupItem>> items,
                                              uint32_t systemd_enabled, uint64_t generation,
                                              uint64_t fingerprint, Status* status) {
  auto snap = std::make_shared<EncodedSnapshot>();
  snap->generation = generation;
  snap->systemd_enabled = systemd_enabled;
  snap->item_count = items->size();
  snap->fingerprint = fingerprint;
  for (const CgroupItem& it : *items)
    snap->enabled_count += it.enabled != 0 ? 1 : 0;
  auto l1 = std::make_shared<std::vector<uint8_t>>();
  auto l2 = std::make_shared<std::vector<uint8_t>>();
  *status = codec::encode_cgroups_snapshot_v1(*items, systemd_enabled, generation, l1.get());
  if (status->ok()) {
    *status = codec::encode_cgroups_snapshot_v2(*items, systemd_enabled, generation, l2.get());
  }
  snap->layout1 = std::move(l1);
  snap->layout2 = std::move(l2);
  return snap;
}

}  // namespace

uint64_t content_fingerprint(const std::vector<CgroupItem>& items, uint32_t systemd_enabled) {
  Fingerprint f;
  f.u64(systemd_enabled);
  f.u64(items.size());
  for (const CgroupItem& it : items) {
    f.u64((uint64_t{it.hash} << 32) | it.options);
    f.u64(it.enabled);
    f.u64(it.cgroup_id);
    f.bytes(it.name);
    f.bytes(it.path);
  }
  return f.value();
}

SnapshotPublisher::SnapshotPublisher(uint64_t first_generation)
    : state_(std::make_shared<State>()) {
  Status st;
  state_->current = encode(std::make_shared<const std::vector<CgroupItem>>(), 1, first_generation,
                           content_fingerprint({}, 1), &st);
}

Result<PublishOutcome> SnapshotPublisher::publish(
    std::shared_ptr<const std::vector<CgroupItem>> items, uint32_t systemd_enabled) {
  if (!items) items = std::make_shared<const std::vector<CgroupItem>>();
  auto cur = current();
  PublishOutcome out;
  const uint64_t fingerprint = content_fingerprint(*items, systemd_enabled);
  if (cur->systemd_enabled == systemd_enabled && cur->fingerprint == fingerprint) {
    out.generation = cur->generation;
    out.layout1_bytes = cur->layout1->size();
    out.layout2_bytes = cur->layout2->size();
    return out;
  }
  const auto t0 = std::chrono::steady_clock::now();
  Status st;
  auto next = encode(std::move(items), systemd_enabled, cur->generation + 1, fingerprint, &st);
  if (!st.ok()) return st.error();
  out.encode_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
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
