// A cgroups-snapshot provider process for the C ABI test: serves the items
// of a tab-separated file (name, path, options, enabled, cgroup id; one
// item per line) on {run_dir}/{service}.sock until SIGTERM/SIGINT, and
// re-reads the file on SIGHUP. Prints "READY" once it listens and
// "PUBLISHED <generation>" after every (re)load, each on its own line.
// Misbehaviour on request: SIGUSR1 makes it answer with bytes that are not
// a snapshot, SIGUSR2 makes it answer 1 s late; SIGHUP (after the reload)
// returns to normal service. Each switch prints "MODE <n>".
//
// Usage: snapshot_provider_helper RUN_DIR SERVICE AUTH_TOKEN_HEX ITEMS_FILE
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cgroups_provider/publisher.h"
#include "netipc/bytes.h"
#include "netipc/uv/server.h"
#include "netipc/wire.h"

namespace {

using netipc::CgroupItem;

bool read_items(const std::string& file, std::vector<CgroupItem>* items) {
  std::ifstream in(file);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream f(line);
    CgroupItem it;
    std::string options, enabled, id;
    if (!std::getline(f, it.name, '\t') || !std::getline(f, it.path, '\t') ||
        !std::getline(f, options, '\t') || !std::getline(f, enabled, '\t') ||
        !std::getline(f, id)) {
      return false;
    }
    it.hash = netipc::fnv1a32(it.name);
    it.options = static_cast<uint32_t>(std::strtoul(options.c_str(), nullptr, 0));
    it.enabled = static_cast<uint32_t>(std::strtoul(enabled.c_str(), nullptr, 0));
    it.cgroup_id = std::strtoull(id.c_str(), nullptr, 0);
    items->push_back(std::move(it));
  }
  return true;
}

enum Mode : int { kServe = 0, kGarbage = 1, kSlow = 2 };

struct Helper {
  std::string items_file;
  netipc::cgroups_provider::SnapshotPublisher publisher{1};
  std::unique_ptr<netipc::uv::Server> server;
  uv_signal_t hup{}, term{}, intr{}, usr1{}, usr2{};
  std::atomic<int> mode{kServe};

  void set_mode(int m) {
    mode.store(m);
    std::printf("MODE %d\n", m);
    std::fflush(stdout);
  }
  netipc::Handler handler() {
    netipc::Handler serve = publisher.handler();
    return [this, serve](netipc::ByteSpan request, netipc::ResponseWriter& out) {
      switch (mode.load()) {
        case kGarbage:
          out.bytes().assign({0x1A, 0xFF, 0xFF, 0xFF});  // a truncated protobuf field
          return netipc::ok_status();
        case kSlow:
          std::this_thread::sleep_for(std::chrono::seconds(1));  // a stuck provider
          return serve(request, out);
        default:
          return serve(request, out);
      }
    };
  }

  bool load() {
    std::vector<CgroupItem> items;
    if (!read_items(items_file, &items)) {
      std::fprintf(stderr, "helper: cannot read %s\n", items_file.c_str());
      return false;
    }
    auto r =
        publisher.publish(std::make_shared<const std::vector<CgroupItem>>(std::move(items)), 1);
    if (!r.ok()) return false;
    std::printf("PUBLISHED %" PRIu64 "\n", r->generation);
    std::fflush(stdout);
    return true;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s RUN_DIR SERVICE AUTH_TOKEN_HEX ITEMS_FILE\n", argv[0]);
    return 2;
  }
  Helper h;
  h.items_file = argv[4];
  uv_loop_t loop;
  uv_loop_init(&loop);
  netipc::uv::ServerConfig cfg;
  cfg.run_dir = argv[1];
  cfg.service = argv[2];
  cfg.method = static_cast<uint16_t>(netipc::wire::Method::kCgroupsSnapshot);
  cfg.auth_token = std::strtoull(argv[3], nullptr, 16);
  auto server = netipc::uv::Server::create(&loop, cfg, h.handler());
  if (!server.ok()) {
    std::fprintf(stderr, "helper: %s\n", server.error().message().c_str());
    return 1;
  }
  h.server = std::move(*server);
  netipc::uv::Server* srv = h.server.get();
  h.publisher.set_size_listener([srv](uint64_t bytes) { srv->announce_response_size(bytes); });
  if (!h.load()) return 1;

  uv_signal_init(&loop, &h.hup);
  uv_signal_init(&loop, &h.term);
  uv_signal_init(&loop, &h.intr);
  uv_signal_init(&loop, &h.usr1);
  uv_signal_init(&loop, &h.usr2);
  h.hup.data = h.term.data = h.intr.data = h.usr1.data = h.usr2.data = &h;
  uv_signal_start(
      &h.hup,
      [](uv_signal_t* s, int) {
        auto* self = static_cast<Helper*>(s->data);
        self->load();
        self->set_mode(kServe);
      },
      SIGHUP);
  uv_signal_start(
      &h.usr1, [](uv_signal_t* s, int) { static_cast<Helper*>(s->data)->set_mode(kGarbage); },
      SIGUSR1);
  uv_signal_start(
      &h.usr2, [](uv_signal_t* s, int) { static_cast<Helper*>(s->data)->set_mode(kSlow); },
      SIGUSR2);
  auto stop = [](uv_signal_t* s, int) {
    auto* self = static_cast<Helper*>(s->data);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->hup), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->term), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->intr), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->usr1), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->usr2), nullptr);
    self->server->stop(500, [] {});
  };
  uv_signal_start(&h.term, stop, SIGTERM);
  uv_signal_start(&h.intr, stop, SIGINT);
  std::printf("READY\n");
  std::fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  h.server.reset();
  return uv_loop_close(&loop) == 0 ? 0 : 1;
}
