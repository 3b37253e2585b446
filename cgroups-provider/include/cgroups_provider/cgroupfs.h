// Where the cgroup hierarchies live and which version the host runs, the way
// Netdata's cgroups.plugin decides it (docs/provider-scanner.md).
//
// Version (mode kAuto): statfs(<host_prefix>/sys/fs/cgroup) -> cgroup2 magic
// means v2; tmpfs means v1 (a "hybrid" host, tmpfs with v1 controllers plus
// a cgroup2 mount such as /sys/fs/cgroup/unified, is treated as v1, as
// Netdata does). Anything else is inconclusive: then the mount table
// decides (a cgroup2 mount at /sys/fs/cgroup -> v2, else any v1 `cgroup`
// mount -> v1, else v2). Netdata's own inconclusive fallback also runs
// `systemd --version` and reads /proc/cmdline; this one does not start
// processes.
//
// Base paths come from the mount table: a v1 controller's base is the mount
// point of the first `cgroup` mount whose super options name the controller
// (else whose source is the controller's name, else /sys/fs/cgroup/<ctl>);
// the v2 base is the first `cgroup2` mount with super option `rw` (else with
// source `cgroup`, else /sys/fs/cgroup). The host prefix is prepended unless
// the mount point already starts with it.
//
// host_prefix lets a directory tree stand in for a host: with
// host_prefix = "/tmp/x", the root is /tmp/x/sys/fs/cgroup and every base is
// /tmp/x/<mount point>.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "netipc/result.h"

namespace netipc::cgroups_provider {

enum class CgroupMode : unsigned char { kAuto, kV1, kV2 };
enum class CgroupVersion : unsigned char { kV1, kV2 };

const char* cgroup_version_name(CgroupVersion v) noexcept;

struct CgroupfsConfig {
  std::string host_prefix;  // "" = none (Netdata's "/host" inside a container)
  // Mount table to read; "" = none (every base takes its default).
  std::string mountinfo_path = "/proc/self/mountinfo";
  CgroupMode mode = CgroupMode::kAuto;  // Netdata's `use unified cgroups`
};

// One line of /proc/<pid>/mountinfo, octal escapes (\040 ...) decoded.
struct MountEntry {
  std::string mount_point;
  std::string fstype;
  std::string source;
  std::string super_options;
};

// Parses mountinfo text; lines that do not follow the format are skipped.
std::vector<MountEntry> parse_mountinfo(std::string_view text);

// True when the comma-separated `options` contains `name` as a whole token.
bool mount_option_present(std::string_view options, std::string_view name);

enum class VersionSource : unsigned char {
  kConfig,     // mode was kV1/kV2
  kStatfs,     // the root's filesystem magic decided
  kMountinfo,  // statfs was inconclusive; the mount table decided
};

struct CgroupfsLayout {
  CgroupVersion version = CgroupVersion::kV2;
  VersionSource decided_by = VersionSource::kConfig;
  // v1 with a cgroup2 mount beside the controllers (treated as v1).
  bool hybrid = false;
  std::string root;  // <host_prefix>/sys/fs/cgroup
  std::string unified_base;
  std::string cpuacct_base;
  std::string cpuset_base;
  std::string blkio_base;
  std::string memory_base;
  std::string pids_base;

  // The v1 base of `controller` (cpuacct, cpuset, blkio, memory, pids), or
  // nullptr for any other name.
  const std::string* v1_base(std::string_view controller) const noexcept;
};

// Base paths from a parsed mount table (pure; version/hybrid/root untouched).
void fill_base_paths(const std::vector<MountEntry>& mounts, std::string_view host_prefix,
                     CgroupfsLayout* layout);

// Detects the version and base paths. A mount table that cannot be read is
// not an error (bases take their defaults, as in Netdata). Fails only with
// kInvalidArgument for a relative host_prefix.
Result<CgroupfsLayout> detect_cgroupfs(const CgroupfsConfig& config);

}  // namespace netipc::cgroups_provider
