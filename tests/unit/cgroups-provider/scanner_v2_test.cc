// The scanner on a cgroup v2 host shaped like a real one: systemd services,
// docker, podman, kubernetes (systemd and cgroupfs drivers), user slices,
// nested slices. Every field of every item is checked.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cgroups_provider/scanner.h"
#include "fake_cgroupfs.h"

namespace netipc::cgroups_provider {
namespace {

using testing::FakeHost;
using testing::HostKind;
using testing::item;
using testing::sorted;

constexpr uint32_t kU = kCgroupOptIsUnified;

const std::string kDocker = "4f1c2a9b7e3d5c6a8b9f0e1d2c3b4a5968778695a4b3c2d1e0f9e8d7c6b5a4f3";
const std::string kPodman = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
const std::string kPodUid = "0a1b2c3d_4e5f_6789_abcd_ef0123456789";
const std::string kCri = "1111222233334444555566667777888899990000aaaabbbbccccddddeeeeffff";
const std::string kPodUid2 = "5e6f7a8b-1c2d-4e3f-9a0b-c1d2e3f4a5b6";
const std::string kCri2 = "ffffeeeeddddccccbbbbaaaa0000999988887777666655554444333322221111";

// What Netdata's script prints for an unrecognised id: '/' -> '_', cut to
// 100 bytes; the chart id then turns '.' into '-'. Written out by hand.
std::string fallback_chart_id(std::string id_without_slash) {
  for (char& c : id_without_slash) {
    if (c == '/') c = '_';
  }
  std::string cut = id_without_slash.substr(0, 100);
  for (char& c : cut) {
    if (c == '.') c = '-';
  }
  return cut;
}

class ScannerV2 : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const std::string& id : ids_)
      host_.add(host_.unified(), id);
  }
  std::string procs(const std::string& id) const {
    return host_.unified() + (id == "/" ? "/" : id) + "/cgroup.procs";
  }
  uint64_t ino(const std::string& id) const {
    return FakeHost::ino(host_.unified() + (id == "/" ? "" : id));
  }
  CgroupItem expect(const std::string& id, const std::string& name, uint32_t options,
                    uint32_t enabled) const {
    return item(name, options, enabled, procs(id), ino(id));
  }

  FakeHost host_{HostKind::kV2};
  const std::string kube_pod_ =
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kPodUid + ".slice";
  const std::vector<std::string> ids_ = {
      "/init.scope/child",  // below init.scope: never walked
      "/system.slice/nginx.service",
      "/system.slice/docker-" + kDocker + ".scope",
      "/system.slice/run-r42.scope",
      "/system.slice/foo.slice/bar.service",
      "/user.slice/user-1000.slice/user@1000.service",
      "/user.slice/user-1000.slice/session-3.scope",
      "/machine.slice/libpod-" + kPodman + ".scope",
      kube_pod_ + "/cri-containerd-" + kCri + ".scope",
      "/kubepods/burstable/pod" + kPodUid2 + "/" + kCri2,
  };
};

TEST_F(ScannerV2, ItemsFollowNetdataNamingPatternsAndPaths) {
  auto scanner = Scanner::create(host_.config());
  ASSERT_TRUE(scanner.ok()) << scanner.error().message();
  EXPECT_EQ(scanner->layout().version, CgroupVersion::kV2);
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok()) << r.error().message();

  const std::string kube_ctr = kube_pod_ + "/cri-containerd-" + kCri + ".scope";
  const std::string kube2_pod = "/kubepods/burstable/pod" + kPodUid2;
  const std::string kube2_ctr = kube2_pod + "/" + kCri2;
  std::vector<CgroupItem> want = {
      // The root: "!/" disables it; Netdata's path join gives a double slash.
      item("cgroup_/", kU, 0, host_.unified() + "//cgroup.procs", ino("/")),
      expect("/init.scope", "cgroup_init-scope", kU, 0),
      expect("/system.slice", "cgroup_system-slice", kU, 0),
      expect("/system.slice/nginx.service", "systemd_nginx", kU | kCgroupOptSystemdService, 1),
      expect("/system.slice/docker-" + kDocker + ".scope",
             "cgroup_system-slice_docker-" + kDocker + "-scope", kU, 1),
      expect("/system.slice/run-r42.scope", "cgroup_system-slice_run-r42-scope", kU, 0),
      expect("/system.slice/foo.slice", "cgroup_system-slice/foo-slice", kU, 0),
      // Nested below a slice: not a service (pattern), not renamed, disabled.
      expect("/system.slice/foo.slice/bar.service", "cgroup_system-slice/foo-slice/bar-service", kU,
             0),
      expect("/user.slice", "cgroup_user-slice", kU, 0),
      expect("/user.slice/user-1000.slice", "cgroup_user-slice/user-1000-slice", kU, 0),
      expect("/user.slice/user-1000.slice/user@1000.service",
             "cgroup_user-slice/user-1000-slice/user_1000-service", kU, 0),
      expect("/user.slice/user-1000.slice/session-3.scope",
             "cgroup_user-slice_user-1000-slice_session-3-scope", kU, 0),
      expect("/machine.slice", "cgroup_machine-slice", kU, 0),
      expect("/machine.slice/libpod-" + kPodman + ".scope",
             "cgroup_machine-slice_libpod-" + kPodman + "-scope", kU, 1),
      expect("/kubepods.slice", "cgroup_kubepods-slice", kU, 0),
      expect("/kubepods.slice/kubepods-burstable.slice",
             "cgroup_kubepods-slice/kubepods-burstable-slice", kU, 0),
      expect(kube_pod_,
             "cgroup_kubepods-slice/kubepods-burstable-slice/kubepods-burstable-pod" + kPodUid +
                 "-slice",
             kU, 0),
      expect(kube_ctr, "cgroup_" + fallback_chart_id(kube_ctr.substr(1)), kU, 1),
      expect("/kubepods", "cgroup_kubepods", kU, 0),
      expect("/kubepods/burstable", "cgroup_kubepods/burstable", kU, 0),
      expect(kube2_pod, "cgroup_kubepods/burstable/pod" + kPodUid2, kU, 0),
      expect(kube2_ctr, "cgroup_" + fallback_chart_id(kube2_ctr.substr(1)), kU, 1),
  };
  EXPECT_EQ(sorted(*r->items), sorted(want));
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->generation, 1u);
  EXPECT_EQ(r->stats.cgroups_found, want.size());
  EXPECT_EQ(r->stats.cgroups_published, want.size());
  EXPECT_EQ(r->stats.skipped_by_limit, 0u);
  EXPECT_EQ(r->stats.skipped_by_depth, 0u);
}

TEST_F(ScannerV2, ServiceHashMatchesNetdataSimpleHash) {
  auto scanner = Scanner::create(host_.config());
  ASSERT_TRUE(scanner.ok());
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok());
  const CgroupItem* nginx = testing::find_item(*r->items, "systemd_nginx");
  ASSERT_NE(nginx, nullptr);
  EXPECT_EQ(nginx->hash, 0xE01A7E5Fu);  // the reference's worked example
}

TEST_F(ScannerV2, ContainerChartIdsAreCutAtTheScriptLimit) {
  auto scanner = Scanner::create(host_.config());
  ASSERT_TRUE(scanner.ok());
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok());
  const std::string name =
      "cgroup_" + fallback_chart_id(kube_pod_.substr(1) + "/cri-containerd-" + kCri + ".scope");
  EXPECT_EQ(name.size(), 7u + 100u);
  EXPECT_NE(testing::find_item(*r->items, name), nullptr);
}

TEST_F(ScannerV2, ParentsComeBeforeChildrenInDiscoveryOrder) {
  auto scanner = Scanner::create(host_.config());
  ASSERT_TRUE(scanner.ok());
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok());
  const auto& v = *r->items;
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(v.front().name, "cgroup_/");
  auto before = [&](const std::string& a, const std::string& b) {
    return testing::index_of(v, a) < testing::index_of(v, b) && testing::index_of(v, b) < v.size();
  };
  EXPECT_TRUE(before("cgroup_system-slice", "systemd_nginx"));
  EXPECT_TRUE(before("cgroup_kubepods", "cgroup_kubepods/burstable"));
  EXPECT_TRUE(before("cgroup_user-slice/user-1000-slice",
                     "cgroup_user-slice_user-1000-slice_session-3-scope"));
}

TEST_F(ScannerV2, MissingCgroupProcsMeansDisabledWithEmptyPath) {
  host_.add(host_.unified(), "/machine.slice/libpod-noprocs.scope", /*with_procs=*/false);
  auto scanner = Scanner::create(host_.config());
  ASSERT_TRUE(scanner.ok());
  auto r = scanner->scan();
  ASSERT_TRUE(r.ok());
  const CgroupItem* it = testing::find_item(*r->items, "cgroup_machine-slice_libpod-noprocs-scope");
  ASSERT_NE(it, nullptr);
  EXPECT_EQ(*it, item("cgroup_machine-slice_libpod-noprocs-scope", kU, 0, "",
                      ino("/machine.slice/libpod-noprocs.scope")));
}

TEST_F(ScannerV2, ForcedV1OnAV2HostFindsNoControllerTrees) {
  auto scanner = Scanner::create(host_.config(CgroupMode::kV1));
  ASSERT_TRUE(scanner.ok());
  auto r = scanner->scan();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::kNotFound);
}

}  // namespace
}  // namespace netipc::cgroups_provider
