// Differential fuzzing of the layout-2 decoder against the generated
// protobuf-lite classes (the reference): both must accept exactly the same
// inputs and read the same values; whatever we decode must re-encode to the
// bytes SerializeToArray produces for the same content.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "netipc/codec/cgroups_pb.h"

#if __has_include("netipc/cgroups_snapshot.pb.h")
#include "netipc/cgroups_snapshot.pb.h"
#else
#include "proto/netipc/cgroups_snapshot.pb.h"
#endif

using netipc::ByteSpan;
using netipc::CgroupItem;
using namespace netipc::codec;

namespace {

void check(bool cond) {
  if (!cond) std::abort();
}

bool inside(std::string_view s, const uint8_t* data, size_t size) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  return s.empty() || (p >= data && p + s.size() <= data + size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  netipc::pb::CgroupsSnapshot ref;
  const bool ref_ok = ref.ParseFromArray(data, static_cast<int>(size));
  CgroupsSnapshotViews ours;
  const netipc::Status s = decode_cgroups_snapshot_v2(ByteSpan(data, size), &ours);
  check(s.ok() == ref_ok);
  if (!s.ok()) {
    check(ours.items.empty());
    return 0;
  }
  check(ours.generation == ref.generation());
  check(ours.systemd_enabled == ref.systemd_enabled());
  check(ours.items.size() == static_cast<size_t>(ref.items_size()));
  std::vector<CgroupItem> items;
  netipc::pb::CgroupsSnapshot known;  // ref without its unknown fields
  known.set_generation(ref.generation());
  known.set_systemd_enabled(ref.systemd_enabled());
  for (size_t i = 0; i < ours.items.size(); ++i) {
    const auto& a = ours.items[i];
    const auto& b = ref.items(static_cast<int>(i));
    check(inside(a.name, data, size) && inside(a.path, data, size));
    check(a.hash == b.hash() && a.options == b.options() && a.enabled == b.enabled());
    check(a.name == b.name() && a.path == b.path() && a.cgroup_id == b.cgroup_id());
    items.push_back(a.to_owned());
    auto* k = known.add_items();
    k->set_hash(b.hash());
    k->set_options(b.options());
    k->set_enabled(b.enabled());
    k->set_name(b.name());
    k->set_path(b.path());
    k->set_cgroup_id(b.cgroup_id());
  }
  std::vector<uint8_t> again;
  check(encode_cgroups_snapshot_v2(items, ours.systemd_enabled, ours.generation, &again).ok());
  std::string expected;
  check(known.SerializeToString(&expected));
  check(again.size() == expected.size() &&
        (again.empty() || std::memcmp(again.data(), expected.data(), again.size()) == 0));
  return 0;
}

extern "C" void NetipcFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  std::vector<CgroupItem> items = {
      {netipc::fnv1a32("systemd_ssh"), 6, 1, "systemd_ssh",
       "/sys/fs/cgroup/system.slice/ssh.service/cgroup.procs", 4242},
      {netipc::fnv1a32("cgroup_docker_web"), 4, 1, "cgroup_docker_web",
       "/sys/fs/cgroup/system.slice/docker-0123456789abcdef.scope/cgroup.procs", uint64_t{1} << 40},
      {0, 0, 0, "", "", 0},
      {UINT32_MAX, 1, 0, "cgroup_init.scope", "", UINT64_MAX},
  };
  std::vector<uint8_t> b;
  if (encode_cgroups_snapshot_v2(items, 1, 999, &b).ok()) out->push_back(b);
  // Unknown fields of every wire type, in the snapshot and in an item.
  out->push_back({0x08, 0x07, 0x1a, 0x1b, 0x08, 0x05, 0x22, 0x01, 'n',  0x38, 0x96, 0x01,
                  0x41, 1,    2,    3,    4,    5,    6,    7,    8,    0x4a, 0x01, 'x',
                  0x55, 1,    2,    3,    4,    0x5b, 0x5c, 0xa0, 0x06, 0x09});
  out->push_back({});
}
