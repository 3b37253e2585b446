// SnapshotPublisher: turns the provider's current cgroup set into the
// immutable, pre-encoded buffers the cgroups-snapshot endpoint sends.
//
// publish() encodes layout 1 and layout 2 once per generation, off the
// serving loop, and swaps them in atomically. The generation advances only
// when the content changed. handler() is the endpoint's CGROUPS_SNAPSHOT
// handler: it decodes the 4-byte request, picks the buffer of the requested
// layout and shares it (no copy, no encoding on the request path).
//
// Threading: publish() from one thread at a time (the discovery/scan
// thread); current() and the handler from any thread, concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "netipc/cgroup_item.h"
#include "netipc/dispatch.h"
#include "netipc/result.h"

namespace netipc::cgroups_provider {

struct EncodedSnapshot {
  uint64_t generation = 0;
  uint32_t systemd_enabled = 0;
  size_t item_count = 0;
  SharedBytes layout1;  // NetIPC v1 binary layout
  SharedBytes layout2;  // protobuf layout (adds cgroup ids)
  size_t enabled_count = 0;  // items with enabled != 0
  // 64-bit fingerprint of what was encoded (every field of every item, in
  // order, and systemd_enabled). The items themselves are not kept: at
  // 100k cgroups they would cost tens of MB for a comparison.
  uint64_t fingerprint = 0;
};

// The fingerprint publish() compares (content_fingerprint(items, flag)).
uint64_t content_fingerprint(const std::vector<CgroupItem>& items, uint32_t systemd_enabled);

struct PublishOutcome {
  bool changed = false;
  uint64_t generation = 0;
  size_t layout1_bytes = 0;
  size_t layout2_bytes = 0;
  double encode_ms = 0;
};

class SnapshotPublisher {
 public:
  // Starts with an empty snapshot of generation `first_generation`.
  explicit SnapshotPublisher(uint64_t first_generation = 1);

  // Publishes `items` unless they equal what is published (same 64-bit
  // content fingerprint: every field of every item and the systemd flag):
  // then nothing changes. Two different contents share a fingerprint with
  // probability about 2^-64 per publish; the publisher accepts that risk
  // rather than keep a copy of the items (tens of MB at 100k cgroups).
  // The items are not retained after publish() returns. Errors only when encoding fails (kLimitExceeded for a
  // snapshot that cannot be represented); the previous one stays.
  Result<PublishOutcome> publish(std::shared_ptr<const std::vector<CgroupItem>> items,
                                 uint32_t systemd_enabled = 1);

  // Any thread: the published snapshot (never null).
  std::shared_ptr<const EncodedSnapshot> current() const;

  // Called (on the publishing thread) with the larger encoded size of every
  // new generation, e.g. to uv::Server::announce_response_size().
  void set_size_listener(std::function<void(uint64_t bytes)> listener);

  // The CGROUPS_SNAPSHOT handler; it keeps the publisher alive through a
  // shared reference to its state, so it may outlive this object.
  Handler handler() const;

 private:
  struct State {
    mutable std::mutex mu;  // guards `current` (held only to copy a pointer)
    std::shared_ptr<const EncodedSnapshot> current;
  };
  std::shared_ptr<State> state_;
  std::function<void(uint64_t)> size_listener_;
};

}  // namespace netipc::cgroups_provider
