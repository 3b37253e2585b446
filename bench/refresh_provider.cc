// The consumer-refresh benchmark's provider side.
#include "refresh_provider.h"

#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <vector>

#include "cgroups_provider/publisher.h"
#include "netipc/uv/server.h"
#include "netipc/wire.h"
#include "pair.h"

namespace netipc::bench::refresh_provider {

std::string procs_path(const std::string& dir, size_t i) {
  return dir + "/" + std::to_string(i) + ".procs";
}

namespace {

std::vector<CgroupItem> make_items(const std::string& dir, size_t n) {
  std::vector<CgroupItem> items(n);
  char buf[128];
  for (size_t i = 0; i < n; ++i) {
    CgroupItem& it = items[i];
    std::snprintf(buf, sizeof buf, "cgroup_k8s_ns%02zu_pod_%08zx_c%zu", i % 64, i * 2654435761u,
                  i % 3);
    it.name = buf;
    it.path = procs_path(dir, i);
    it.hash = fnv1a32(it.name);
    it.options = (i % 5 == 0) ? kCgroupOptSystemdService : kCgroupOptIsUnified;
    it.enabled = 1;
    it.cgroup_id = 4096 + i;
  }
  return items;
}

}  // namespace

// The cgroup.procs stand-ins live on tmpfs when there is one (/dev/shm),
// like cgroupfs, a memory file system: the apply phase then measures the
// consumer, not a disk file system's open path.
std::string make_procs_dir(const std::string& run_dir) {
  char tmpl[] = "/dev/shm/netipc-bench-procs-XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) return tmpl;
  const std::string d = run_dir + "/procs";
  ::mkdir(d.c_str(), 0755);
  return d;
}

// One small cgroup.procs per item: 1-4 PIDs.
bool write_procs(const std::string& dir, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    std::ofstream f(procs_path(dir, i));
    for (size_t k = 0; k <= i % 4; ++k)
      f << (1000 + i * 4 + k) << "\n";
    if (!f) return false;
  }
  return true;
}

int serve_child(const std::string& dir, const std::string& procs, size_t n, int ready) {
  cgroups_provider::SnapshotPublisher publisher;
  if (!publisher.publish(std::make_shared<const std::vector<CgroupItem>>(make_items(procs, n)))
           .ok()) {
    return 1;
  }
  malloc_trim(0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv::ServerConfig cfg;
  cfg.run_dir = dir;
  cfg.service = "cgroups-snapshot";
  cfg.method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  auto server = uv::Server::create(&loop, cfg, publisher.handler());
  if (!server.ok()) {
    std::fprintf(stderr, "bench server: %s\n", server.error().message().c_str());
    return 1;
  }
  uv::Server* srv = server->get();
  publisher.set_size_listener([srv](uint64_t bytes) { srv->announce_response_size(bytes); });
  srv->announce_response_size(
      std::max(publisher.current()->layout1->size(), publisher.current()->layout2->size()));
  if (!serve_until_sigterm(&loop, srv, ready)) return 1;
  publisher.set_size_listener(nullptr);
  server->reset();
  return uv_loop_close(&loop) == 0 ? 0 : 1;
}

}  // namespace netipc::bench::refresh_provider
