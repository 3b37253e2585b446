// Shared helpers of the cgroups-snapshot service tests: deterministic item
// sets, a snapshot server (SnapshotPublisher + uv::ServerThread, sizes
// announced as the provider does), typed-client configs and field-by-field
// comparison of decoded views with the served items.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cgroups_provider/publisher.h"
#include "netipc/cgroup_item.h"
#include "netipc/cgroups_snapshot_client.h"
#include "netipc/codec/cgroups.h"
#include "netipc/uv/server.h"
#include "netipc/uv/server_thread.h"
#include "netipc/wire.h"
#include "test_support.h"

namespace netipc::snapshot_test {

inline constexpr uint32_t kUds = wire::kProfileUds;
inline constexpr uint32_t kShm = wire::kProfileUds | wire::kProfileShmHybrid;
inline constexpr uint16_t kSnapshotMethod = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);

// Production-shaped items (container scopes under kubepods, systemd
// services); every field differs between items.
inline std::vector<CgroupItem> make_items(size_t n, uint32_t salt = 0) {
  std::vector<CgroupItem> items(n);
  char buf[200];
  for (size_t i = 0; i < n; ++i) {
    CgroupItem& it = items[i];
    if (i % 7 == 3) {
      std::snprintf(buf, sizeof buf, "systemd_svc%zu_%u.service", i, salt);
      it.name = buf;
      std::snprintf(buf, sizeof buf, "/sys/fs/cgroup/system.slice/svc%zu_%u.service/cgroup.procs",
                    i, salt);
      it.options = kCgroupOptSystemdService;
    } else {
      std::snprintf(buf, sizeof buf, "cgroup_k8s_ns%02zu_pod%08zx_c%zu_%u", i % 64, i * 2654435761u,
                    i % 3, salt);
      it.name = buf;
      std::snprintf(buf, sizeof buf,
                    "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/"
                    "kubepods-burstable-pod%08zx.slice/cri-containerd-%016zx.scope/cgroup.procs",
                    i * 2654435761u, i * 0x9E3779B97F4A7C15u);
      it.options = kCgroupOptIsUnified;
    }
    it.path = buf;
    it.hash = fnv1a32(it.name);
    it.enabled = (i % 5 == 0) ? 0 : 1;
    it.cgroup_id = 100000 + i * 3 + salt;
  }
  return items;
}

inline std::shared_ptr<const std::vector<CgroupItem>> share(std::vector<CgroupItem> items) {
  return std::make_shared<const std::vector<CgroupItem>>(std::move(items));
}

// A cgroups-snapshot endpoint as the provider runs it: the publisher's
// handler on a libuv server thread, every new size announced.
struct SnapshotServer {
  std::unique_ptr<cgroups_provider::SnapshotPublisher> publisher;
  std::unique_ptr<uv::ServerThread> thread;

  uv::Server& server() { return thread->server(); }
  void stop() {
    if (thread) thread->stop(1000);
    if (publisher) publisher->set_size_listener(nullptr);
    thread.reset();
  }
  ~SnapshotServer() { stop(); }
};

inline uv::ServerConfig snapshot_server_config(const std::string& dir, const std::string& service,
                                               uint32_t profiles) {
  uv::ServerConfig cfg;
  cfg.run_dir = dir;
  cfg.service = service;
  cfg.method = kSnapshotMethod;
  cfg.supported_profiles = profiles;
  cfg.preferred_profiles = profiles & wire::kProfileShmMask;
  return cfg;
}

// Publishes `items` (generation first_generation + 1 when non-empty) and
// starts serving. Empty unique_ptr members on failure (the test fails).
inline std::unique_ptr<SnapshotServer> start_snapshot_server(
    const uv::ServerConfig& cfg, std::shared_ptr<const std::vector<CgroupItem>> items,
    uint64_t first_generation = 1, uint32_t systemd_enabled = 1) {
  auto s = std::make_unique<SnapshotServer>();
  s->publisher = std::make_unique<cgroups_provider::SnapshotPublisher>(first_generation);
  auto pub = s->publisher->publish(std::move(items), systemd_enabled);
  EXPECT_TRUE(pub.ok()) << pub.error().message();
  auto t = uv::ServerThread::start(cfg, s->publisher->handler());
  EXPECT_TRUE(t.ok()) << t.error().message();
  if (!t.ok()) return s;
  s->thread = std::move(*t);
  uv::Server* srv = &s->thread->server();
  s->publisher->set_size_listener([srv](uint64_t bytes) { srv->announce_response_size(bytes); });
  return s;
}

inline CgroupsSnapshotClientConfig client_config(const std::string& dir, const std::string& service,
                                                 uint32_t profiles, uint16_t layout = 0) {
  CgroupsSnapshotClientConfig c;
  c.run_dir = dir;
  c.service = service;
  c.layout = layout;
  c.supported_profiles = profiles;
  c.preferred_profiles = profiles & wire::kProfileShmMask;
  return c;
}

// Every field of every item; cgroup ids only travel in layout 2.
inline void expect_items_equal(const codec::CgroupsSnapshotViews& got,
                               const std::vector<CgroupItem>& want, uint16_t layout) {
  ASSERT_EQ(got.items.size(), want.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < want.size() && mismatches < 5; ++i) {
    const CgroupItemView& g = got.items[i];
    const CgroupItem& w = want[i];
    const uint64_t id = layout == codec::kCgroupsLayoutProtobuf ? w.cgroup_id : 0;
    const bool same = g.hash == w.hash && g.options == w.options && g.enabled == w.enabled &&
                      g.name == w.name && g.path == w.path && g.cgroup_id == id;
    if (!same) {
      ++mismatches;
      ADD_FAILURE() << "item " << i << " differs: got " << g.name << " " << g.path << " id "
                    << g.cgroup_id << ", want " << w.name << " " << w.path << " id " << id;
    }
  }
}

}  // namespace netipc::snapshot_test
