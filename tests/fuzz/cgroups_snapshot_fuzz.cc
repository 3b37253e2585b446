// Fuzzes the layout-1 cgroups snapshot decoder: parse, item access,
// validate_all and decode_cgroups_snapshot_v1 must agree with each other,
// never read outside the input, and valid snapshots must survive a
// re-encode.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "netipc/codec/cgroups.h"

using netipc::ByteSpan;
using netipc::CgroupItem;
using netipc::Errc;
using namespace netipc::codec;

namespace {

void check(bool cond) {
  if (!cond) std::abort();
}

bool inside(std::string_view s, const uint8_t* data, size_t size) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  return p >= data && p + s.size() <= data + size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteSpan in(data, size);
  auto view = CgroupsSnapshotView::parse(in);
  CgroupsSnapshotViews decoded;
  const netipc::Status whole = decode_cgroups_snapshot_v1(in, &decoded);
  if (!view.ok()) {
    check(whole.code() == view.code());
    return 0;
  }
  Errc first_error = Errc::kOk;
  std::vector<CgroupItem> items;
  for (uint32_t i = 0; i < view->size(); ++i) {
    auto it = view->item(i);
    if (!it.ok()) {
      if (first_error == Errc::kOk) first_error = it.code();
      continue;
    }
    check(inside(it->name, data, size) && inside(it->path, data, size));
    check(it->cgroup_id == 0);
    items.push_back(it->to_owned());
  }
  check(view->item(view->size()).code() == Errc::kInvalidArgument);
  check(view->validate_all().code() == first_error);
  check(whole.code() == first_error);
  if (first_error != Errc::kOk) {
    check(decoded.items.empty());
    return 0;
  }
  check(decoded.items.size() == items.size());
  check(decoded.generation == view->generation());

  // A valid (possibly non-canonical) snapshot re-encodes canonically to
  // the same content.
  std::vector<uint8_t> again;
  check(
      encode_cgroups_snapshot_v1(items, view->systemd_enabled(), view->generation(), &again).ok());
  CgroupsSnapshotViews round;
  check(decode_cgroups_snapshot_v1(ByteSpan(again), &round).ok());
  check(round.items.size() == items.size());
  for (size_t i = 0; i < items.size(); ++i)
    check(round.items[i].to_owned() == items[i]);
  return 0;
}

extern "C" void NetipcFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  const std::vector<CgroupItem> spec = {
      {100, 0, 1, "init.scope", "/sys/fs/cgroup/init.scope", 0},
      {200, 2, 0, "system.slice/docker-abc.scope", "/sys/fs/cgroup/system.slice/docker-abc.scope",
       0},
      {300, 0, 1, "", "", 0},
  };
  std::vector<uint8_t> b;
  if (encode_cgroups_snapshot_v1(spec, 1, 999, &b).ok()) out->push_back(b);
  if (encode_cgroups_snapshot_v1({}, 0, 42, &b).ok()) out->push_back(b);
  std::vector<CgroupItem> services;
  for (int i = 0; i < 8; ++i) {
    const std::string name = "systemd_svc" + std::to_string(i);
    services.push_back(
        {netipc::fnv1a32(name), 6, 1, name,
         "/sys/fs/cgroup/system.slice/svc" + std::to_string(i) + ".service/cgroup.procs", 0});
  }
  if (encode_cgroups_snapshot_v1(services, 1, 7, &b).ok()) out->push_back(b);
}
