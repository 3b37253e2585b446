#include "cgroups_provider/cgroupfs.h"

#include <fcntl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "netipc/unique_fd.h"
#include "sys_linux.h"

namespace netipc::cgroups_provider {
namespace {

constexpr long kCgroup2SuperMagic = 0x63677270;
constexpr long kTmpfsMagic = 0x01021994;
constexpr size_t kMountinfoMax = 16u << 20;  // refuse to slurp more than 16 MiB
constexpr std::string_view kCgroupRoot = "/sys/fs/cgroup";

// Decodes mountinfo's octal escapes (\040 space, \011 tab, \012 newline,
// \134 backslash).
std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ')
      ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ')
      ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// Prepends the host prefix unless the path already lies under it (whole
// components: "/host" is not a prefix of "/hostile").
std::string with_prefix(std::string_view prefix, std::string_view path) {
  bool under = path.substr(0, prefix.size()) == prefix &&
               (path.size() == prefix.size() || path[prefix.size()] == '/');
  if (prefix.empty() || under) return std::string(path);
  std::string out(prefix);
  out.append(path);
  return out;
}

const MountEntry* find_v1(const std::vector<MountEntry>& mounts, std::string_view ctl) {
  for (const auto& m : mounts) {
    if (m.fstype == "cgroup" && mount_option_present(m.super_options, ctl)) return &m;
  }
  for (const auto& m : mounts) {
    if (m.fstype == "cgroup" && m.source == ctl) return &m;
  }
  return nullptr;
}

const MountEntry* find_v2(const std::vector<MountEntry>& mounts) {
  for (const auto& m : mounts) {
    if (m.fstype == "cgroup2" && mount_option_present(m.super_options, "rw")) return &m;
  }
  for (const auto& m : mounts) {
    if (m.fstype == "cgroup2" && m.source == "cgroup") return &m;
  }
  return nullptr;
}

// Reads a whole (small, procfs-style) file. Empty on any failure.
std::string read_small_file(const std::string& path) {
  std::string out;
  auto fd = netipc::detail::sys_call("open mountinfo",
                                     [&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); });
  if (!fd.ok()) return out;
  UniqueFd owner(static_cast<int>(*fd));
  char buf[16384];
  for (;;) {
    auto n = netipc::detail::sys_call("read mountinfo",
                                      [&] { return ::read(owner.get(), buf, sizeof buf); });
    if (!n.ok() || *n == 0 || out.size() > kMountinfoMax) break;
    out.append(buf, static_cast<size_t>(*n));
  }
  return out;
}

}  // namespace

const char* cgroup_version_name(CgroupVersion v) noexcept {
  return v == CgroupVersion::kV1 ? "v1" : "v2";
}

bool mount_option_present(std::string_view options, std::string_view name) {
  size_t i = 0;
  while (i <= options.size()) {
    size_t comma = options.find(',', i);
    if (comma == std::string_view::npos) comma = options.size();
    if (options.substr(i, comma - i) == name) return true;
    i = comma + 1;
  }
  return false;
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  // id parent major:minor root mount_point options [optional...] - fstype source super
  std::vector<MountEntry> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    auto fields = split_spaces(text.substr(pos, nl - pos));
    pos = nl + 1;
    if (fields.size() < 7) continue;
    size_t sep = 6;  // optional fields end at the lone "-"
    while (sep < fields.size() && fields[sep] != "-")
      ++sep;
    if (sep + 2 >= fields.size()) continue;  // no fstype and source
    MountEntry m;
    m.mount_point = unescape(fields[4]);
    m.fstype = unescape(fields[sep + 1]);
    m.source = unescape(fields[sep + 2]);
    if (sep + 3 < fields.size()) m.super_options = unescape(fields[sep + 3]);
    out.push_back(std::move(m));
  }
  return out;
}

const std::string* CgroupfsLayout::v1_base(std::string_view controller) const noexcept {
  if (controller == "cpuacct") return &cpuacct_base;
  if (controller == "cpuset") return &cpuset_base;
  if (controller == "blkio") return &blkio_base;
  if (controller == "memory") return &memory_base;
  if (controller == "pids") return &pids_base;
  return nullptr;
}

void fill_base_paths(const std::vector<MountEntry>& mounts, std::string_view host_prefix,
                     CgroupfsLayout* layout) {
  auto base_of = [&](std::string_view ctl) {
    const MountEntry* m = find_v1(mounts, ctl);
    return with_prefix(host_prefix,
                       m ? m->mount_point : std::string(kCgroupRoot) + "/" + std::string(ctl));
  };
  layout->cpuacct_base = base_of("cpuacct");
  layout->cpuset_base = base_of("cpuset");
  layout->blkio_base = base_of("blkio");
  layout->memory_base = base_of("memory");
  layout->pids_base = base_of("pids");
  const MountEntry* m = find_v2(mounts);
  layout->unified_base = with_prefix(host_prefix, m ? m->mount_point : std::string(kCgroupRoot));
}

Result<CgroupfsLayout> detect_cgroupfs(const CgroupfsConfig& config) {
  if (!config.host_prefix.empty() && config.host_prefix.front() != '/') {
    return make_error(Errc::kInvalidArgument, "cgroupfs host_prefix must be absolute");
  }
  std::string prefix = config.host_prefix;
  while (!prefix.empty() && prefix.back() == '/')
    prefix.pop_back();

  std::vector<MountEntry> mounts;
  if (!config.mountinfo_path.empty())
    mounts = parse_mountinfo(read_small_file(config.mountinfo_path));

  CgroupfsLayout layout;
  layout.root = prefix + std::string(kCgroupRoot);
  fill_base_paths(mounts, prefix, &layout);

  bool any_v1 = false;
  bool any_v2 = false;
  bool v2_at_root = false;
  for (const auto& m : mounts) {
    if (m.fstype == "cgroup") any_v1 = true;
    if (m.fstype == "cgroup2") {
      any_v2 = true;
      if (with_prefix(prefix, m.mount_point) == layout.root) v2_at_root = true;
    }
  }

  if (config.mode != CgroupMode::kAuto) {
    layout.version = config.mode == CgroupMode::kV1 ? CgroupVersion::kV1 : CgroupVersion::kV2;
    layout.decided_by = VersionSource::kConfig;
  } else {
    struct statfs sfs {};
    auto rc = netipc::detail::sys_call("statfs cgroup root",
                                       [&] { return ::statfs(layout.root.c_str(), &sfs); });
    long magic = rc.ok() ? static_cast<long>(sfs.f_type) : 0;
    if (magic == kCgroup2SuperMagic) {
      layout.version = CgroupVersion::kV2;
      layout.decided_by = VersionSource::kStatfs;
    } else if (magic == kTmpfsMagic) {
      layout.version = CgroupVersion::kV1;
      layout.decided_by = VersionSource::kStatfs;
    } else {
      layout.version = (!v2_at_root && any_v1) ? CgroupVersion::kV1 : CgroupVersion::kV2;
      layout.decided_by = VersionSource::kMountinfo;
    }
  }
  layout.hybrid = layout.version == CgroupVersion::kV1 && any_v1 && any_v2;
  return layout;
}

}  // namespace netipc::cgroups_provider
