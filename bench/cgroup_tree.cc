// The provider benchmarks' stand-in cgroup trees.
#include "cgroup_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iterator>

namespace netipc::bench::cgroup_tree {

const char* shape_name(Shape s) {
  return s == Shape::kMix ? "mix" : "containers";
}

void touch_at(int at, const std::string& p) {
  int fd = ::openat(at, p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
}

// Relative cgroup directories (parents first) of a production-shaped host
// with about `n` cgroups: per 31 cgroups, 1 systemd service, 11 docker
// scopes, 5 kubernetes pods (a pod slice and two containers each: 15) and
// 4 user slices and sessions, plus the slices above them.
std::vector<std::string> mix_dirs(size_t n) {
  std::vector<std::string> d = {"system.slice", "user.slice", "kubepods.slice",
                                "kubepods.slice/kubepods-burstable.slice",
                                "kubepods.slice/kubepods-besteffort.slice"};
  char b[320];
  auto hex64 = [](size_t i, size_t salt) {
    char h[80];
    const unsigned long long a = (i + 1) * 0x9E3779B97F4A7C15ull ^ salt;
    const unsigned long long c = (i + 7) * 0xC2B2AE3D27D4EB4Full ^ (salt << 1);
    std::snprintf(h, sizeof h, "%016llx%016llx%016llx%016llx", a, c, a ^ c, a * 3 + c);
    return std::string(h);
  };
  for (size_t i = 0; d.size() < n; ++i) {
    const size_t k = i % 20;  // 20 steps = 31 cgroups
    if (k == 0) {
      std::snprintf(b, sizeof b, "system.slice/app-%zu.service", i / 20);
      d.emplace_back(b);
    } else if (k <= 5) {
      d.push_back("system.slice/docker-" + hex64(i, 1) + ".scope");
    } else if (k <= 9 && k != 7) {
      // k = 6, 8, 9 here and 16, 17 below: 5 pods per 20 steps.
      const unsigned long long u = (i + 3) * 0xD6E8FEB86659FD93ull;
      const char* qos = (k & 1) ? "besteffort" : "burstable";
      std::snprintf(b, sizeof b,
                    "kubepods.slice/kubepods-%s.slice/kubepods-%s-pod%08llx_%04llx_%04llx_%04llx_"
                    "%012llx.slice",
                    qos, qos, u >> 32, (u >> 16) & 0xffff, u & 0xffff, (u >> 48) & 0xffff,
                    (u * 7) & 0xffffffffffffull);
      const std::string pod = b;
      d.push_back(pod);
      d.push_back(pod + "/cri-containerd-" + hex64(i, 2) + ".scope");
      d.push_back(pod + "/cri-containerd-" + hex64(i, 3) + ".scope");
    } else if (k == 7) {
      std::snprintf(b, sizeof b, "user.slice/user-%zu.slice", 1000 + i / 20);
      d.emplace_back(b);
      std::snprintf(b, sizeof b, "user.slice/user-%zu.slice/session-%zu.scope", 1000 + i / 20,
                    i / 20 + 1);
      d.emplace_back(b);
    } else {
      // k = 10..19: 6 more docker scopes, 2 more pods, 2 more sessions.
      if (k <= 15) {
        d.push_back("system.slice/docker-" + hex64(i, 4) + ".scope");
      } else if (k <= 17) {
        const unsigned long long u = (i + 5) * 0xD6E8FEB86659FD93ull;
        std::snprintf(b, sizeof b,
                      "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%08llx_%04llx_"
                      "%04llx_%04llx_%012llx.slice",
                      u >> 32, (u >> 16) & 0xffff, u & 0xffff, (u >> 48) & 0xffff,
                      (u * 7) & 0xffffffffffffull);
        const std::string pod = b;
        d.push_back(pod);
        d.push_back(pod + "/cri-containerd-" + hex64(i, 5) + ".scope");
        d.push_back(pod + "/cri-containerd-" + hex64(i, 6) + ".scope");
      } else {
        std::snprintf(b, sizeof b, "user.slice/user-%zu.slice/session-%zu.scope", 1000 + i / 20, i);
        d.emplace_back(b);
      }
    }
  }
  d.resize(n);  // parents come before their children, so a cut keeps the tree whole
  return d;
}

// <dir>/sys/fs/cgroup with about `leaves` cgroups; "" on failure.
// kContainers: four slices of docker-<64 hex>.scope (long names only).
std::string build_tree(size_t leaves, Shape shape) {
  char tmpl[] = "/dev/shm/nipc-provXXXXXX";
  char* d = ::mkdtemp(tmpl);
  if (d == nullptr) return "";
  const std::string root = std::string(d) + "/sys/fs/cgroup";
  if (::mkdir((std::string(d) + "/sys").c_str(), 0755) != 0 ||
      ::mkdir((std::string(d) + "/sys/fs").c_str(), 0755) != 0 ||
      ::mkdir(root.c_str(), 0755) != 0) {
    return "";
  }
  touch_at(AT_FDCWD, root + "/cgroup.procs");
  if (shape == Shape::kMix) {
    int rfd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0) return "";
    for (const std::string& rel : mix_dirs(leaves)) {
      if (::mkdirat(rfd, rel.c_str(), 0755) != 0) break;
      touch_at(rfd, rel + "/cgroup.procs");
    }
    ::close(rfd);
    return root;
  }
  for (size_t s = 0; s < std::size(kSlices); ++s) {
    const std::string slice = root + "/" + kSlices[s];
    if (::mkdir(slice.c_str(), 0755) != 0) return "";
    touch_at(AT_FDCWD, slice + "/cgroup.procs");
    int pfd = ::open(slice.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) return "";
    for (size_t i = s; i < leaves; i += std::size(kSlices)) {
      char name[96];
      std::snprintf(name, sizeof name, "docker-%064zx.scope",
                    static_cast<size_t>(i * 0x9E3779B97F4A7C15ull));
      if (::mkdirat(pfd, name, 0755) != 0) break;
      touch_at(pfd, std::string(name) + "/cgroup.procs");
    }
    ::close(pfd);
  }
  return root;
}

}  // namespace netipc::bench::cgroup_tree
