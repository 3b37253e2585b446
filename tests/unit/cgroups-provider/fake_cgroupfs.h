// A directory tree shaped like a host's /sys/fs/cgroup, plus the mount
// table that describes it, for scanner tests. Every cgroup directory gets a
// cgroup.procs file (as cgroupfs does) unless the test asks otherwise.
// Regular directories stand in for cgroupfs here; the integration test
// (tests/integration/cgroups-provider/real_cgroupfs_test.cc) runs the same
// scanner on the real one.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "cgroups_provider/scanner.h"
#include "netipc/bytes.h"

namespace netipc {
// Readable failures for item comparisons.
inline void PrintTo(const CgroupItem& i, std::ostream* os) {
  *os << "{name=" << i.name << " hash=0x" << std::hex << i.hash << std::dec
      << " options=" << i.options << " enabled=" << i.enabled << " path=" << i.path
      << " cgroup_id=" << i.cgroup_id << "}";
}
}  // namespace netipc

namespace netipc::cgroups_provider::testing {

enum class HostKind { kV2, kV1, kHybrid };

class FakeHost {
 public:
  // The tree lives in a fresh directory under `parent` (default /tmp;
  // /dev/shm makes big trees quick to build and remove).
  explicit FakeHost(HostKind kind, const std::string& parent = "/tmp") : kind_(kind) {
    std::string tmpl = parent + "/nipc-cgXXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    std::string mi;
    if (kind == HostKind::kV2) {
      mi +=
          "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 "
          "cgroup2 rw,nsdelegate,memory_recursiveprot\n";
      make_base("");
    } else {
      mi +=
          "31 23 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n";
      // cpu and cpuacct co-mounted, as on most v1 distributions.
      mi +=
          "33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:11 - cgroup cgroup "
          "rw,cpu,cpuacct\n";
      mi += "34 31 0:31 / /sys/fs/cgroup/cpuset rw,nosuid shared:12 - cgroup cgroup rw,cpuset\n";
      mi += "35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid shared:13 - cgroup cgroup rw,memory\n";
      mi += "38 31 0:35 / /sys/fs/cgroup/blkio rw,nosuid shared:16 - cgroup cgroup rw,blkio\n";
      mi += "39 31 0:36 / /sys/fs/cgroup/pids rw,nosuid shared:17 - cgroup cgroup rw,pids\n";
      mi +=
          "40 31 0:37 / /sys/fs/cgroup/systemd rw,nosuid shared:18 - cgroup cgroup "
          "rw,xattr,name=systemd\n";
      for (const char* d : {"cpu,cpuacct", "cpuset", "memory", "blkio", "pids", "systemd"}) {
        make_base(d);
      }
      if (kind == HostKind::kHybrid) {
        mi +=
            "41 31 0:38 / /sys/fs/cgroup/unified rw,nosuid shared:19 - cgroup2 cgroup2 "
            "rw,nsdelegate\n";
        make_base("unified");
      }
    }
    std::ofstream(mountinfo()) << mi;
  }

  ~FakeHost() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  const std::string& prefix() const { return dir_; }
  std::string mountinfo() const { return dir_ + "/mountinfo"; }
  std::string root() const { return prefix() + "/sys/fs/cgroup"; }
  // Base directory of a hierarchy: "" (v2 root), "unified", "cpu,cpuacct", ...
  std::string base(const std::string& sub = "") const {
    return sub.empty() ? root() : root() + "/" + sub;
  }
  // The v2 base: the root on a v2 host, /sys/fs/cgroup/unified on a hybrid.
  std::string unified() const { return kind_ == HostKind::kV2 ? base() : base("unified"); }

  ScannerConfig config(CgroupMode mode = CgroupMode::kAuto) const {
    ScannerConfig c;
    c.fs.host_prefix = prefix();
    c.fs.mountinfo_path = mountinfo();
    c.fs.mode = mode;
    return c;
  }

  // Creates <base><id> and its missing parents; each new directory gets a
  // cgroup.procs unless with_procs is false (then only the last lacks it).
  void add(const std::string& base_dir, const std::string& id, bool with_procs = true) const {
    std::string path = base_dir;
    size_t pos = 1;
    while (pos <= id.size()) {
      size_t slash = id.find('/', pos);
      if (slash == std::string::npos) slash = id.size();
      path += "/" + id.substr(pos, slash - pos);
      bool last = slash == id.size();
      if (::mkdir(path.c_str(), 0755) == 0 && (with_procs || !last)) touch(path + "/cgroup.procs");
      pos = slash + 1;
    }
  }

  // Creates many leaf cgroups under one existing parent, with syscalls
  // relative to the parent's fd (fast enough for 100k).
  void add_leaves(const std::string& parent_dir, const std::vector<std::string>& names) const {
    int pfd = ::open(parent_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) std::abort();
    for (const auto& n : names) {
      if (::mkdirat(pfd, n.c_str(), 0755) != 0) std::abort();
      std::string f = n + "/cgroup.procs";
      int fd = ::openat(pfd, f.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) std::abort();
      ::close(fd);
    }
    ::close(pfd);
  }

  void remove(const std::string& base_dir, const std::string& id) const {
    std::filesystem::remove_all(base_dir + id);
  }

  static void touch(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) ::close(fd);
  }

  static uint64_t ino(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return 0;
    return st.st_ino;
  }

 private:
  void make_base(const std::string& sub) const {
    std::filesystem::create_directories(base(sub));
    touch(base(sub) + "/cgroup.procs");
  }

  std::string dir_;
  HostKind kind_;
};

// An expected item; the hash is always FNV-1a of the name.
inline CgroupItem item(const std::string& name, uint32_t options, uint32_t enabled,
                       const std::string& path, uint64_t cgroup_id) {
  return CgroupItem{fnv1a32(name), options, enabled, name, path, cgroup_id};
}

// Order-independent comparison (listing order differs between filesystems).
inline std::vector<CgroupItem> sorted(std::vector<CgroupItem> v) {
  std::sort(v.begin(), v.end(), [](const CgroupItem& a, const CgroupItem& b) {
    return std::tie(a.name, a.cgroup_id) < std::tie(b.name, b.cgroup_id);
  });
  return v;
}

inline const CgroupItem* find_item(const std::vector<CgroupItem>& v, const std::string& name) {
  for (const auto& i : v) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

inline size_t index_of(const std::vector<CgroupItem>& v, const std::string& name) {
  for (size_t k = 0; k < v.size(); ++k) {
    if (v[k].name == name) return k;
  }
  return v.size();
}

}  // namespace netipc::cgroups_provider::testing
