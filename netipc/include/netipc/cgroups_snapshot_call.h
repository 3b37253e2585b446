// The typed CGROUPS_SNAPSHOT call, transport-free: which layout to ask for,
// the request bytes, the decoding of the answer, and the layout fallback.
// Shared by the blocking and the asynchronous typed clients.
//
// Our consumers ask for layout 2 (protobuf, with cgroup ids). A peer that
// serves only layout 1 (Netdata's own C/Go/Rust servers) rejects a layout-2
// request: it answers BAD_ENVELOPE (its request decoder fails) and closes
// the session. That answer to a layout-2 request switches this client
// context to layout 1 for the rest of its life, and the call is retried at
// once with layout 1, invisibly to the caller.
#pragma once

#include <cstdint>

#include "netipc/codec/cgroups.h"
#include "netipc/result.h"
#include "netipc/uds_connection.h"

namespace netipc {

class CgroupsSnapshotCall {
 public:
  // `layout` 0 = automatic (2 with fallback to 1); 1 or 2 = only that one.
  explicit CgroupsSnapshotCall(uint16_t layout = 0);

  uint16_t layout() const { return layout_; }
  bool fell_back() const { return fell_back_; }
  // The 4-byte request for the current layout.
  ByteSpan request() const { return ByteSpan(request_, sizeof request_); }

  // Judges a failed call: true when it was a layout-2 rejection and the
  // context switched to layout 1 (the caller retries at once).
  bool fall_back_on(const Error& call_error);

  // Decodes a successful response payload (views into `payload`).
  Status decode(ByteSpan payload, codec::CgroupsSnapshotViews* out) const;

 private:
  void set_layout(uint16_t layout);
  uint16_t layout_;
  bool automatic_;
  bool fell_back_ = false;
  uint8_t request_[codec::kCgroupsRequestLen] = {};
};

}  // namespace netipc
