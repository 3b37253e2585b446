// The cgroupfs scanner: discovers cgroups the way Netdata's cgroups.plugin
// does (docs/provider-scanner.md) and turns them into cgroups-snapshot
// items (docs/codecs.md §2.2), for a provider that runs without Netdata.
//
// What it reproduces: v1/v2 detection and base paths, the walk with the
// search pattern, depth and count limits, id sanitizing, systemd service
// detection and names, enable patterns, duplicate detection, the
// cgroup.procs path, "systemd_"/"cgroup_" + chart id, FNV-1a hash, options
// 0x1/0x2/0x4. What it cannot: Netdata's rename script (docker/podman/k8s
// names, labels, 0x8 excluded, k8s pause containers). Cgroups the script
// would rename get the script's own fallback name (sanitize.h). See
// docs/provider-scanner.md.
//
// Threads: a Scanner is not thread-safe; call scan() from one thread at a
// time. The item vectors it returns are immutable and may be shared freely.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups_provider/cgroupfs.h"
#include "cgroups_provider/simple_pattern.h"
#include "netipc/cgroup_item.h"
#include "netipc/result.h"

namespace netipc::cgroups_provider {

// Netdata's defaults of [plugin:cgroups] (docs/provider-scanner.md).
extern const char* const kDefaultEnablePattern;           // enable by default cgroups matching
extern const char* const kDefaultEnableNamesPattern;      // ... cgroups names matching
extern const char* const kDefaultSearchPattern;           // search for cgroups in subpaths matching
extern const char* const kDefaultRenamePattern;           // run script to rename cgroups matching
extern const char* const kDefaultSystemdServicesPattern;  // cgroups to match as systemd services
inline constexpr size_t kDefaultMaxCgroups = 1000;        // max cgroups to allow
inline constexpr size_t kMaxChartIdWithPrefix = 1200;     // longer chart ids stay disabled

struct CgroupPatterns {
  std::string enable = kDefaultEnablePattern;
  std::string enable_names = kDefaultEnableNamesPattern;
  std::string search = kDefaultSearchPattern;
  std::string rename = kDefaultRenamePattern;
  std::string systemd_services = kDefaultSystemdServicesPattern;
};

// The script-less naming of one cgroup id: Netdata's first-time naming
// without its k8s checks, with the rename script's fallback name in place
// of the script (docs/provider-scanner.md).
struct CgroupIdentity {
  std::string chart_id;
  std::string name;      // "systemd_" or "cgroup_" + chart_id
  uint32_t hash = 0;     // fnv1a32(name)
  uint32_t options = 0;  // kCgroupOptSystemdService, kCgroupOptIsUnified
  // Enabled by patterns (services always; others by the enable patterns),
  // before duplicates and the cgroup.procs check.
  bool pattern_enabled = false;
};

class CgroupNamer {
 public:
  explicit CgroupNamer(const CgroupPatterns& patterns);
  // id: the path relative to the hierarchy base, "/" for the root.
  CgroupIdentity describe(std::string_view id, bool unified) const;
  // Whether the walk descends below the directory with this id.
  bool search_matches(std::string_view id) const { return search_.matches(id); }

 private:
  SimplePattern enable_;
  SimplePattern enable_names_;
  SimplePattern search_;
  SimplePattern rename_;
  SimplePattern services_;
};

struct ScannerConfig {
  CgroupfsConfig fs;  // host prefix, mount table, auto/v1/v2
  CgroupPatterns patterns;
  // Most cgroups published (disabled ones count too, like Netdata).
  // 0 = kDefaultMaxCgroups. Cgroups already published keep their place;
  // new ones take free places in discovery order.
  size_t max_cgroups = 0;
  // Netdata's `max cgroups depth to monitor`: 0 = unlimited; otherwise a
  // directory whose id has more than max_depth '/' is not registered (and,
  // since every id below it is deeper, its subtree is not walked).
  unsigned max_depth = 0;
  // v1 hierarchies whose directories become cgroups, walked in this order.
  // Allowed: cpuacct, cpuset, blkio, memory, pids. The cgroup.procs path
  // is always looked up in cpuset, then blkio, then memory (Netdata).
  std::vector<std::string> v1_controllers = {"cpuacct", "blkio", "memory"};
  // Skip listing directories whose link count says they have no
  // subdirectories (nlink == 2), on filesystems known to keep
  // nlink = 2 + subdirectories (cgroup, cgroup2, tmpfs, ext2/3/4, xfs).
  bool use_nlink_shortcut = true;
  // Rate-limited warnings (count limit). nullptr = stderr.
  std::function<void(std::string_view)> warn;
  int64_t warn_interval_ms = 3600 * 1000;  // Netdata: once per hour
};

struct ScanStats {
  uint64_t dirs_visited = 0;       // directories examined (one stat each)
  uint64_t dirs_listed = 0;        // directories opened and read
  uint64_t cgroups_found = 0;      // distinct cgroups registered this scan
  uint64_t cgroups_published = 0;  // items returned
  uint64_t skipped_by_limit = 0;   // found but not published: max_cgroups reached
  uint64_t skipped_by_depth = 0;   // directories one level past max_depth
  uint64_t vanished = 0;           // removed between listing and use (a race, not an error)
  uint64_t unreadable = 0;         // directories that could not be opened or read
  uint64_t duration_ns = 0;
};

struct ScanResult {
  // In discovery order (first-seen order across scans). The scanner does
  // not own it. A rescan that found nothing changed builds nothing: it
  // returns the previous vector while someone still holds it, else null
  // (changed is then false). A changed scan always returns its items.
  std::shared_ptr<const std::vector<CgroupItem>> items;
  bool changed = false;     // items differ from the previous scan's (first scan: true)
  uint64_t generation = 0;  // +1 on every change; starts at 1
  ScanStats stats;
};

namespace detail {
struct ScannerState;
}

class Scanner {
 public:
  // Detects the hierarchy (cgroupfs.h) and compiles the patterns.
  // kInvalidArgument: unknown v1 controller, relative host prefix.
  static Result<Scanner> create(ScannerConfig config);

  Scanner(Scanner&& other) noexcept;
  Scanner& operator=(Scanner&& other) noexcept;
  ~Scanner();

  // Walks the hierarchy. Fails with kNotFound when no base directory of the
  // hierarchy can be opened (nothing was scanned; the previous state is
  // kept). Directories that vanish or cannot be read mid-walk are counted
  // in stats, not errors.
  Result<ScanResult> scan();

  const CgroupfsLayout& layout() const noexcept;

 private:
  explicit Scanner(std::unique_ptr<detail::ScannerState> state);
  std::unique_ptr<detail::ScannerState> state_;
};

}  // namespace netipc::cgroups_provider
