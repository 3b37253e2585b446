#include "netipc/cgroups_snapshot_call.h"

namespace netipc {

CgroupsSnapshotCall::CgroupsSnapshotCall(uint16_t layout)
    : layout_(layout == 0 ? codec::kCgroupsLayoutProtobuf : layout), automatic_(layout == 0) {
  set_layout(layout_);
}

void CgroupsSnapshotCall::set_layout(uint16_t layout) {
  layout_ = layout;
  codec::encode_cgroups_request(layout_, request_);
}

bool CgroupsSnapshotCall::fall_back_on(const Error& e) {
  if (!automatic_ || layout_ != codec::kCgroupsLayoutProtobuf) return false;
  // A layout-1-only server cannot decode our request: BAD_ENVELOPE. Some
  // servers may answer UNSUPPORTED instead; both mean "not this layout".
  if (e.code != Errc::kBadEnvelope && e.code != Errc::kUnsupported) return false;
  set_layout(codec::kCgroupsLayoutBinary);
  fell_back_ = true;
  return true;
}

Status CgroupsSnapshotCall::decode(ByteSpan payload, codec::CgroupsSnapshotViews* out) const {
  return codec::decode_cgroups_snapshot(layout_, payload, out);
}

}  // namespace netipc
