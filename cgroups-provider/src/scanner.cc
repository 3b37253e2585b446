#include "cgroups_provider/scanner.h"

#include <cstdio>

#include "cgroups_provider/publisher.h"
#include "cgroups_provider/sanitize.h"
#include "netipc/bytes.h"
#include "scanner_internal.h"
#include "sys_linux.h"

namespace netipc::cgroups_provider {

const char* const kDefaultEnablePattern =
    "!*/init.scope !/system.slice/run-*.scope *user.slice/docker-* !*user.slice* *.scope "
    "!/machine.slice/*/.control !/machine.slice/*/payload* !/machine.slice/*/supervisor "
    "/machine.slice/*.service */kubepods/pod*/* */kubepods/*/pod*/* */*-kubepods-pod*/* "
    "*/*-kubepods-*-pod*/* !*kubepods* !*kubelet* !*/vcpu* !*/emulator !*.mount !*.partition "
    "!*.service !*.service/udev !*.socket !*.slice !*.swap !*.user !/ !/docker !*/libvirt !/lxc "
    "!/lxc/*/* !/lxc.monitor* !/lxc.pivot !/lxc.payload !*lxcfs.service/.control !/machine "
    "!/qemu !/system !/systemd !/user *";
const char* const kDefaultEnableNamesPattern = "*";
const char* const kDefaultSearchPattern =
    "!*/init.scope !*-qemu !*.libvirt-qemu !/init.scope !/system !/systemd !/user !/lxc/*/* "
    "!/lxc.monitor !/lxc.payload/*/* !/lxc.payload.* *";
const char* const kDefaultRenamePattern =
    "!/ !*.mount !*.socket !*.partition /machine.slice/*.service !*.service !*.slice !*.swap "
    "!*.user !init.scope !*.scope/vcpu* !*.scope/emulator *.scope *docker* *lxc* *qemu* "
    "*/kubepods/pod*/* */kubepods/*/pod*/* */*-kubepods-pod*/* */*-kubepods-*-pod*/* "
    "!*kubepods* !*kubelet* *.libvirt-qemu *";
const char* const kDefaultSystemdServicesPattern =
    "!/system.slice/*/*.service /system.slice/*.service";

namespace {

constexpr std::string_view kServicePrefix = "systemd_";
constexpr std::string_view kCgroupPrefix = "cgroup_";
constexpr std::string_view kKnownControllers[] = {"cpuacct", "cpuset", "blkio", "memory", "pids"};
// Netdata looks for cgroup.procs in these v1 hierarchies, in this order.
constexpr std::string_view kV1PathControllers[detail::kPathRanks] = {"cpuset", "blkio", "memory"};

}  // namespace

CgroupNamer::CgroupNamer(const CgroupPatterns& p)
    : enable_(p.enable),
      enable_names_(p.enable_names),
      search_(p.search),
      rename_(p.rename),
      services_(p.systemd_services) {}

CgroupIdentity CgroupNamer::describe(std::string_view id, bool unified) const {
  CgroupIdentity out;
  if (unified) out.options |= kCgroupOptIsUnified;
  bool service = services_.matches(id);
  std::string name;
  if (service) {
    // Services are named after their unit and never renamed; the enable
    // patterns do not apply to them (duplicates still do).
    out.options |= kCgroupOptSystemdService;
    out.chart_id = cgroup_chart_id(systemd_service_name(id));
  } else if (rename_.matches(id)) {
    name = script_fallback_name(cgroup_intermediate_id(id));
    out.chart_id = cgroup_chart_id(name);
  } else {
    name = std::string(id);
    out.chart_id = cgroup_chart_id(id);
  }
  out.name.reserve(kServicePrefix.size() + out.chart_id.size());
  out.name.append(service ? kServicePrefix : kCgroupPrefix).append(out.chart_id);
  out.hash = fnv1a32(out.name);
  if (out.chart_id.size() + kCgroupPrefix.size() >= kMaxChartIdWithPrefix) {
    out.pattern_enabled = false;
  } else if (service) {
    out.pattern_enabled = true;
  } else {
    out.pattern_enabled = enable_names_.matches(name) && enable_.matches(id);
  }
  return out;
}

namespace detail {

ScannerState::ScannerState(ScannerConfig cfg, CgroupfsLayout lay)
    : config(std::move(cfg)),
      layout(std::move(lay)),
      namer(config.patterns),
      registry(&namer, layout.version == CgroupVersion::kV2),
      path_bases(kPathRanks, nullptr) {
  if (config.max_cgroups == 0) config.max_cgroups = kDefaultMaxCgroups;
  if (layout.version == CgroupVersion::kV2) {
    trees.push_back(Tree{layout.unified_base, true, 0, false, {}});
    path_bases[0] = &layout.unified_base;
    return;
  }
  for (const auto& ctl : config.v1_controllers) {
    int rank = -1;
    for (int r = 0; r < kPathRanks; ++r) {
      if (ctl == kV1PathControllers[r]) rank = r;
    }
    trees.push_back(Tree{*layout.v1_base(ctl), true, rank, false, {}});
  }
  for (int r = 0; r < kPathRanks; ++r) {
    path_bases[r] = layout.v1_base(kV1PathControllers[r]);
    bool walked = false;
    for (const auto& t : trees)
      walked = walked || t.path_rank == r;
    // Walked for cgroup.procs only: its directories do not become cgroups.
    if (!walked) trees.push_back(Tree{*path_bases[r], false, r, false, {}});
  }
}

}  // namespace detail

Scanner::Scanner(std::unique_ptr<detail::ScannerState> state) : state_(std::move(state)) {}
Scanner::Scanner(Scanner&& other) noexcept = default;
Scanner& Scanner::operator=(Scanner&& other) noexcept = default;
Scanner::~Scanner() = default;

const CgroupfsLayout& Scanner::layout() const noexcept {
  return state_->layout;
}

Result<Scanner> Scanner::create(ScannerConfig config) {
  for (size_t i = 0; i < config.v1_controllers.size(); ++i) {
    const auto& ctl = config.v1_controllers[i];
    bool known = false;
    for (auto k : kKnownControllers)
      known = known || ctl == k;
    if (!known) return make_error(Errc::kInvalidArgument, "unknown v1 controller");
    for (size_t j = 0; j < i; ++j) {
      if (config.v1_controllers[j] == ctl) {
        return make_error(Errc::kInvalidArgument, "v1 controller listed twice");
      }
    }
  }
  auto layout = detect_cgroupfs(config.fs);
  if (!layout.ok()) return layout.error();
  return Scanner(std::make_unique<detail::ScannerState>(std::move(config), std::move(*layout)));
}

Result<ScanResult> Scanner::scan() {
  detail::ScannerState& s = *state_;
  const int64_t start = netipc::detail::monotonic_ns();
  ScanResult result;
  detail::WalkContext ctx;
  ctx.registry = &s.registry;
  ctx.namer = &s.namer;
  ctx.max_depth = s.config.max_depth;
  ctx.use_nlink_shortcut = s.config.use_nlink_shortcut;
  ctx.epoch = ++s.epoch;
  ctx.stats = &result.stats;

  size_t walked = 0;
  for (auto& tree : s.trees) {
    if (s.walker.walk(&tree, &ctx)) ++walked;
  }
  if (walked == 0) {
    // Nothing could be read: keep the previous items rather than publish
    // an empty set because of a transient or configuration problem.
    --s.epoch;
    return make_error(Errc::kNotFound, "no cgroup hierarchy could be opened", ENOENT);
  }
  if (s.registry.sweep(ctx.epoch) > 0) ctx.dirty = true;
  result.stats.cgroups_found = s.registry.live_count();

  // Nothing the items depend on changed: no rebuild. The previous vector
  // is returned while someone still holds it; otherwise items stays null.
  std::shared_ptr<const std::vector<CgroupItem>> items = s.items.lock();
  if (ctx.dirty || !s.have_items) {
    auto built = std::make_shared<const std::vector<CgroupItem>>(
        s.registry.build(ctx.epoch, s.path_bases.data(), s.config.max_cgroups, &s.not_admitted));
    const uint64_t fp = content_fingerprint(*built, 0);
    if (!s.have_items || fp != s.fingerprint) {
      s.fingerprint = fp;
      s.have_items = true;
      ++s.generation;
      result.changed = true;
    }
    // Unchanged content keeps the held vector; if nobody holds it, the
    // equal vector just built is handed out (it was paid for).
    if (result.changed || !items) items = std::move(built);
    s.items = items;
  }
  result.items = std::move(items);
  result.generation = s.generation;
  result.stats.cgroups_published = s.registry.published_count();
  result.stats.skipped_by_limit = s.not_admitted;

  if (s.not_admitted > 0) {
    int64_t now_ms = netipc::detail::monotonic_ns() / 1000000;
    if (!s.warned || now_ms - s.last_warn_ms >= s.config.warn_interval_ms) {
      s.warned = true;
      s.last_warn_ms = now_ms;
      char msg[192];
      std::snprintf(msg, sizeof msg,
                    "cgroups scanner: maximum number of cgroups reached (%zu); %llu cgroups not "
                    "published",
                    s.config.max_cgroups, static_cast<unsigned long long>(s.not_admitted));
      if (s.config.warn) {
        s.config.warn(msg);
      } else {
        std::fprintf(stderr, "%s\n", msg);
      }
    }
  }
  result.stats.duration_ns = static_cast<uint64_t>(netipc::detail::monotonic_ns() - start);
  return result;
}

}  // namespace netipc::cgroups_provider
