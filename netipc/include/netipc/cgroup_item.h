// The cgroup item: the unit of the cgroups-snapshot service, shared by the
// provider (which produces items), the codecs (which carry them) and the
// consumer cache (which indexes them).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace netipc {

// Option bits (Netdata's CGROUP_OPTIONS_*), opaque to the library.
inline constexpr uint32_t kCgroupOptDisabledDuplicate = 0x1;
inline constexpr uint32_t kCgroupOptSystemdService = 0x2;
inline constexpr uint32_t kCgroupOptIsUnified = 0x4;
inline constexpr uint32_t kCgroupOptDisabledExcluded = 0x8;

// An owned item.
struct CgroupItem {
  uint32_t hash = 0;     // fnv1a32(name), Netdata's simple_hash
  uint32_t options = 0;  // kCgroupOpt* bits
  uint32_t enabled = 0;  // 0/1 in practice
  std::string name;      // "cgroup_<chart_id>" or "systemd_<chart_id>"
  std::string path;      // absolute path of its cgroup.procs, or ""
  uint64_t cgroup_id = 0;  // inode of the cgroup directory; 0 = unknown (layout 1)

  bool operator==(const CgroupItem& o) const {
    return hash == o.hash && options == o.options && enabled == o.enabled && name == o.name &&
           path == o.path && cgroup_id == o.cgroup_id;
  }
  bool operator!=(const CgroupItem& o) const { return !(*this == o); }
};

// A borrowed item: views into a decoded message or a cache.
struct CgroupItemView {
  uint32_t hash = 0;
  uint32_t options = 0;
  uint32_t enabled = 0;
  std::string_view name;
  std::string_view path;
  uint64_t cgroup_id = 0;

  CgroupItem to_owned() const {
    return CgroupItem{hash, options, enabled, std::string(name), std::string(path), cgroup_id};
  }
};

}  // namespace netipc
