// The cgroup set benchmarks publish when they need "a production host":
// what Netdata's cgroups.plugin publishes after its rename script, a mix
// of systemd services, docker containers, kubernetes containers and user
// slices on a cgroup v2 host. Names are Netdata's (renamed containers),
// paths are the host's real cgroup.procs paths: about 184 bytes per item in
// layout 1 (100k items ~ 18 MB) and 157 in layout 2.
//
// Header-only so that netipc-bench and netipc-micro-bench share it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/cgroup_item.h"

namespace netipc::bench {

// Deterministic pseudo-random hex digits (container and pod ids).
inline std::string hex_id(uint64_t seed, size_t len) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(len);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
  for (size_t i = 0; i < len; ++i) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    s.push_back(kDigits[(x >> 60) & 0xF]);
  }
  return s;
}

// n items, a quarter of each kind; `salt` changes every container id (a
// different but equally shaped set). cgroup ids are 4096 + i.
inline std::vector<CgroupItem> netdata_items(size_t n, uint64_t salt = 0) {
  std::vector<CgroupItem> items(n);
  const std::string root = "/sys/fs/cgroup/";
  for (size_t i = 0; i < n; ++i) {
    CgroupItem& it = items[i];
    const std::string idx = std::to_string(i);
    const uint64_t s = i + salt * 0x1000003;
    switch (i % 4) {
      case 0:
        it.name = "systemd_service" + idx;
        it.path = root + "system.slice/service" + idx + ".service/cgroup.procs";
        it.options = kCgroupOptSystemdService | kCgroupOptIsUnified;
        break;
      case 1:
        it.name = "cgroup_docker_" + hex_id(s, 12);
        it.path = root + "system.slice/docker-" + hex_id(s, 64) + ".scope/cgroup.procs";
        it.options = kCgroupOptIsUnified;
        break;
      case 2:
        it.name = "cgroup_k8s_default_app-" + hex_id(s, 10) + "_app";
        it.path = root + "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                  hex_id(s + 1, 8) + "_" + hex_id(s + 2, 4) + ".slice/cri-containerd-" +
                  hex_id(s + 3, 64) + ".scope/cgroup.procs";
        it.options = kCgroupOptIsUnified;
        break;
      default:
        it.name = "cgroup_user.slice_user-" + idx + ".slice";
        it.path = root + "user.slice/user-" + idx + ".slice/cgroup.procs";
        it.options = kCgroupOptIsUnified;
        break;
    }
    it.hash = fnv1a32(it.name);
    it.enabled = 1;
    it.cgroup_id = 4096 + i;
  }
  return items;
}

}  // namespace netipc::bench
