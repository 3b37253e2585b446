// A v2-shaped cgroup directory tree on /dev/shm that stands in for cgroupfs
// in the provider benchmarks.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace netipc::bench::cgroup_tree {

// The slices the containers shape spreads its leaves over.
inline constexpr const char* kSlices[] = {"system.slice", "machine.slice", "user.slice",
                                          "pods.slice"};

// kMix: a production-shaped host (systemd services, docker scopes,
// kubernetes pods with two containers each, user sessions).
// kContainers: four slices of docker-<64 hex>.scope leaves only.
enum class Shape { kContainers, kMix };

const char* shape_name(Shape s);

// Creates an empty file `p` relative to the directory `at` (or AT_FDCWD).
void touch_at(int at, const std::string& p);

// Relative cgroup directories (parents first) of a kMix host with about `n`
// cgroups.
std::vector<std::string> mix_dirs(size_t n);

// <dir>/sys/fs/cgroup with about `leaves` cgroups; "" on failure.
std::string build_tree(size_t leaves, Shape shape);

}  // namespace netipc::bench::cgroup_tree
