// netipc-cli serve cgroups-snapshot: serves a fixed set of cgroup items
// (read from a JSON file) through the provider's SnapshotPublisher and the
// libuv server, until SIGINT/SIGTERM.
#include <uv.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cgroups_provider/publisher.h"
#include "cli_common.h"
#include "commands.h"
#include "items_file.h"
#include "netipc/uv/server.h"
#include "netipc/wire.h"
#include "snapshot_commands.h"

namespace netipc::cli {

namespace {

struct ServeOptions {
  EndpointOptions ep;
  std::string items_file;
  uint64_t generation = 1;
  uint32_t systemd_enabled = 1;
};

// A publisher whose current snapshot is `items` at exactly `generation`.
// (A publisher starts at an empty snapshot and advances the generation
// only when the content changes.)
Result<std::unique_ptr<cgroups_provider::SnapshotPublisher>> make_publisher(
    std::vector<CgroupItem> items, uint32_t systemd_enabled, uint64_t generation) {
  auto shared = std::make_shared<const std::vector<CgroupItem>>(std::move(items));
  auto pub = std::make_unique<cgroups_provider::SnapshotPublisher>(generation - 1);
  auto out = pub->publish(shared, systemd_enabled);
  if (!out.ok()) return out.error();
  if (!out->changed) {
    // Same content as the initial empty snapshot: start there instead.
    pub = std::make_unique<cgroups_provider::SnapshotPublisher>(generation);
  }
  return pub;
}

int serve_snapshot(const ServeOptions& o) {
  std::vector<CgroupItem> items;
  std::string problem;
  if (!read_items_file(o.items_file, &items, &problem)) {
    std::fprintf(stderr, "netipc-cli: %s: %s\n", o.items_file.c_str(), problem.c_str());
    return 2;
  }
  auto token = endpoint_token(o.ep);
  if (!token.ok()) return fail(token.error().what);
  const size_t count = items.size();
  auto publisher = make_publisher(std::move(items), o.systemd_enabled, o.generation);
  if (!publisher.ok()) return fail("cannot encode the snapshot", publisher.error());
  cgroups_provider::SnapshotPublisher& pub = **publisher;

  uv::ServerConfig cfg;
  cfg.run_dir = o.ep.run_dir;
  cfg.service = o.ep.service;
  cfg.method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  cfg.auth_token = *token;
  cfg.listener.allowed_uids = allowed_uid_set(o.ep.allow_uids);
  cfg.listener.socket_mode = socket_mode_of(o.ep.socket_mode);
  transport_profiles(o.ep.transport, &cfg.supported_profiles, &cfg.preferred_profiles);
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto server = uv::Server::create(&loop, cfg, pub.handler());
  if (!server.ok()) {
    uv_run(&loop, UV_RUN_NOWAIT);  // closes what a failed create() had registered
    uv_loop_close(&loop);
    return fail("cannot serve " + o.ep.run_dir + "/" + o.ep.service + ".sock", server.error());
  }
  uv::Server* srv = server->get();
  // The HELLO_ACK response ceiling must cover the snapshot: no client
  // needs a growth round, whatever its size.
  pub.set_size_listener([srv](uint64_t bytes) { srv->announce_response_size(bytes); });
  auto snap = pub.current();
  std::fprintf(stderr,
               "netipc-cli: serving %zu items, generation %llu (layout 1: %zu bytes, layout 2: "
               "%zu bytes; response ceiling %u)\n",
               count, static_cast<unsigned long long>(snap->generation), snap->layout1->size(),
               snap->layout2->size(), srv->response_ceiling());
  run_until_signal(
      &loop,
      [] {
        std::printf("READY\n");
        std::fflush(stdout);
      },
      [srv] { srv->stop(1000, [] {}); });
  pub.set_size_listener(nullptr);
  server->reset();
  const int rc = uv_loop_close(&loop);
  return rc == 0 ? 0 : fail("event loop did not close cleanly");
}

}  // namespace

void add_serve_snapshot_command(CLI::App* serve, int* rc) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* s = serve->add_subcommand(
      "cgroups-snapshot",
      "Serve CGROUPS_SNAPSHOT (layouts 1 and 2) for the items in a JSON file until "
      "SIGINT/SIGTERM; prints READY once listening");
  s->add_option("--items", o->items_file,
                "JSON array of objects: name, path (strings), options, enabled (u32; enabled "
                "may be true/false), optional hash (u32, default FNV-1a 32 of name) and "
                "cgroup_id (u64, default 0)")
      ->required();
  s->add_option("--generation", o->generation, "Generation of the served snapshot (default 1)");
  s->add_option("--systemd-enabled", o->systemd_enabled,
                "systemd_enabled field of the snapshot, 0 or 1 (default 1)")
      ->check(CLI::IsMember({0, 1}));
  add_snapshot_endpoint_options(s, &o->ep);
  add_allow_uid_option(s, &o->ep);
  s->callback([o, rc] { *rc = serve_snapshot(*o); });
}

}  // namespace netipc::cli
