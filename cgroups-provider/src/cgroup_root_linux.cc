#include "cgroups_provider/cgroup_root.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "netipc/unique_fd.h"
#include "sys_linux.h"

namespace netipc::cgroups_provider {

namespace {

constexpr long kCgroup2SuperMagic = 0x63677270;
constexpr long kCgroupSuperMagic = 0x27e0eb;
constexpr std::string_view kSuffix = "/sys/fs/cgroup";

long fs_magic(int dir_fd, const char* name) {
  // fstatfs through an O_PATH descriptor: no need to be able to list it.
  auto fd = netipc::detail::sys_call("open cgroup root entry", [&] {
    return ::openat(dir_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  });
  if (!fd.ok()) return 0;
  UniqueFd owner(static_cast<int>(*fd));
  struct statfs s {};
  auto rc = netipc::detail::sys_call("fstatfs", [&] { return ::fstatfs(owner.get(), &s); });
  return rc.ok() ? static_cast<long>(s.f_type) : 0;
}

bool is_cgroup_magic(long magic) {
  return magic == kCgroup2SuperMagic || magic == kCgroupSuperMagic;
}

// PATH itself is a cgroup mount, or a directory one level down is (the
// tmpfs of a v1 or hybrid host holds one mount per controller).
bool holds_cgroup_filesystem(int root_fd) {
  if (is_cgroup_magic(fs_magic(root_fd, "."))) return true;
  auto dup = netipc::detail::sys_call("open cgroup root", [&] {
    return ::openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  });
  if (!dup.ok()) return false;
  DIR* dir = ::fdopendir(static_cast<int>(*dup));
  if (dir == nullptr) {
    ::close(static_cast<int>(*dup));
    return false;
  }
  bool found = false;
  while (!found) {
    dirent* e = ::readdir(dir);
    if (e == nullptr) break;
    if (e->d_name[0] == '.') continue;
    if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
    found = is_cgroup_magic(fs_magic(root_fd, e->d_name));
  }
  ::closedir(dir);
  return found;
}

}  // namespace

Result<CgroupRoot> resolve_cgroup_root(std::string_view path, const std::string& mountinfo_path) {
  if (path.empty() || path.front() != '/') {
    return make_error(Errc::kInvalidArgument, "the cgroup root must be an absolute path");
  }
  std::string root(path);
  while (root.size() > 1 && root.back() == '/')
    root.pop_back();
  if (root.size() < kSuffix.size() ||
      std::string_view(root).substr(root.size() - kSuffix.size()) != kSuffix) {
    return make_error(Errc::kInvalidArgument,
                      "the cgroup root must be <prefix>/sys/fs/cgroup (e.g. /sys/fs/cgroup, "
                      "/host/sys/fs/cgroup)");
  }
  auto fd = netipc::detail::sys_call(
      "open the cgroup root",
      [&] { return ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); }, Errc::kNotFound);
  if (!fd.ok()) return fd.error();
  UniqueFd root_fd(static_cast<int>(*fd));

  CgroupRoot out;
  out.path = root;
  out.fs.host_prefix = root.substr(0, root.size() - kSuffix.size());
  if (holds_cgroup_filesystem(root_fd.get())) {
    out.fs.mountinfo_path = mountinfo_path;
    out.fs.mode = CgroupMode::kAuto;
    return out;
  }
  out.directory_tree = true;
  out.fs.mountinfo_path.clear();
  struct stat st {};
  const bool v2 = netipc::detail::sys_call("stat cgroup.procs", [&] {
                    return ::fstatat(root_fd.get(), "cgroup.procs", &st, 0);
                  }).ok();
  out.fs.mode = v2 ? CgroupMode::kV2 : CgroupMode::kV1;
  return out;
}

}  // namespace netipc::cgroups_provider
