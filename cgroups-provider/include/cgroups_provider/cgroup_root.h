// The standalone provider's `--cgroup-root PATH`: where the cgroup
// filesystem is, mapped onto the scanner's filesystem config (cgroupfs.h).
//
// PATH is `<prefix>/sys/fs/cgroup`: /sys/fs/cgroup on a host, or for
// example /host/sys/fs/cgroup inside a container that mounts the host's
// root at /host. The part before /sys/fs/cgroup becomes the scanner's host
// prefix, exactly as Netdata's own host prefix works. Other paths are
// refused: the scanner, like Netdata, finds the hierarchies at
// <prefix>/sys/fs/cgroup and at the mount points the mount table names.
//
// Two kinds of PATH:
//  - a cgroup filesystem (PATH is a cgroup2 mount, or holds cgroup or
//    cgroup2 mounts one level down, as a v1 or hybrid host's tmpfs does):
//    Netdata's rules apply unchanged: version by statfs (v1/v2/hybrid), base
//    paths from the mount table (/proc/self/mountinfo), host prefix
//    prepended;
//  - a plain directory tree standing in for one (tests, benchmarks,
//    offline copies): no mount table is read. A tree whose root holds
//    `cgroup.procs` is a v2 hierarchy; any other tree is a v1 host with its
//    controllers at PATH/<controller> (cpuacct, cpuset, blkio, memory).
#pragma once

#include <string>
#include <string_view>

#include "cgroups_provider/cgroupfs.h"
#include "netipc/result.h"

namespace netipc::cgroups_provider {

struct CgroupRoot {
  std::string path;  // PATH without trailing slashes
  CgroupfsConfig fs;
  bool directory_tree = false;  // not a cgroup filesystem (see above)
};

// Errors: kInvalidArgument (relative, or not ending in /sys/fs/cgroup),
// kNotFound (PATH is not an existing directory; errno kept).
// `mountinfo_path` is what a real cgroup filesystem's config reads.
Result<CgroupRoot> resolve_cgroup_root(std::string_view path,
                                       const std::string& mountinfo_path = "/proc/self/mountinfo");

}  // namespace netipc::cgroups_provider
