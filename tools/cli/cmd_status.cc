// netipc-cli status: what a cgroups-snapshot endpoint serves, in a few
// lines: generation, item counts, encoded bytes per layout, the session the
// client was given and how long one fetch took.
//
// The service answers one request only (the snapshot), so the provider's own
// counters (hand-overs, sessions accepted, requests rejected) are not
// reachable from a client; inside Netdata they are the daemon's charts
// netdata.cgroups_snapshot_*. The bytes per layout are the snapshot encoded
// again here by the same codecs the provider uses (both layouts are
// deterministic, so they equal what the provider holds).
#include <time.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_common.h"
#include "netdata_locate.h"
#include "netipc/cgroups_snapshot_client.h"
#include "netipc/codec/cgroups.h"
#include "netipc/wire.h"
#include "snapshot_commands.h"

namespace netipc::cli {

namespace {

struct StatusOptions {
  EndpointOptions ep;
  bool netdata = false;
  bool json = false;
};

int run_status(StatusOptions o) {
  NetdataEndpoint daemon;
  if (const int rc = resolve_endpoint(o.netdata, &o.ep, &daemon); rc != 0) return rc;
  std::optional<CgroupsSnapshotClient> client;
  if (const int rc = make_snapshot_client(o.ep, 0, &client); rc != 0) return rc;
  const std::string where = o.ep.run_dir + "/" + o.ep.service + ".sock";
  const double t0 = monotonic_ms();
  auto snap = client->fetch();
  const double fetch_ms = monotonic_ms() - t0;
  if (!snap.ok()) {
    return fetch_failed("status", o.ep, o.netdata ? &daemon : nullptr, 0, snap.error());
  }
  const codec::CgroupsSnapshotViews& v = **snap;
  const CgroupsSnapshotClientStatus st = client->status();
  std::vector<CgroupItem> items;
  items.reserve(v.items.size());
  size_t enabled = 0, systemd = 0;
  for (const auto& it : v.items) {
    items.push_back(it.to_owned());
    enabled += it.enabled != 0;
    systemd += (it.options & kCgroupOptSystemdService) != 0;
  }
  uint64_t bytes[3] = {0, 0, 0};
  for (uint16_t layout : {codec::kCgroupsLayoutBinary, codec::kCgroupsLayoutProtobuf}) {
    std::vector<uint8_t> out;
    if (codec::encode_cgroups_snapshot(layout, items, v.systemd_enabled, v.generation, &out).ok()) {
      bytes[layout] = out.size();
    }
  }
  const char* transport = (st.client.selected_profile & wire::kProfileShmMask) != 0 ? "shm" : "uds";
  const char* stats_note =
      "not served by the cgroups-snapshot service (inside Netdata: the daemon's charts "
      "netdata.cgroups_snapshot_*)";

  if (o.json) {
    nlohmann::ordered_json doc;
    doc["endpoint"] = where;
    if (o.netdata) {
      doc["daemon_pid"] = daemon.pid;
      doc["run_dir_from"] = daemon.run_dir_from;
      doc["token_from"] = daemon.token_from;
    }
    doc["generation"] = v.generation;
    doc["item_count"] = v.items.size();
    doc["enabled_count"] = enabled;
    doc["systemd_service_count"] = systemd;
    doc["systemd_enabled"] = v.systemd_enabled;
    doc["layout"] = st.layout;
    doc["layout1_bytes"] = bytes[1];
    doc["layout2_bytes"] = bytes[2];
    doc["fetch_ms"] = fetch_ms;
    doc["transport"] = transport;
    doc["session_id"] = st.client.session_id;
    doc["packet_size"] = st.client.agreed_packet_size;
    doc["max_response_payload_bytes"] = st.client.agreed_max_response_payload_bytes;
    doc["provider_stats"] = stats_note;
    std::printf("%s\n", doc.dump(2).c_str());
    return 0;
  }
  std::printf("endpoint: %s\n", where.c_str());
  if (o.netdata) {
    std::printf("daemon: pid %d (run directory from %s; token from %s)\n", static_cast<int>(daemon.pid),
                daemon.run_dir_from.c_str(), daemon.token_from.c_str());
  }
  std::printf("generation: %llu\n", static_cast<unsigned long long>(v.generation));
  std::printf("items: %zu (%zu enabled, %zu systemd services)\n", v.items.size(), enabled, systemd);
  std::printf("systemd_enabled: %u\n", v.systemd_enabled);
  std::printf("bytes: layout 1 %llu, layout 2 %llu (served: layout %u)\n",
              static_cast<unsigned long long>(bytes[1]), static_cast<unsigned long long>(bytes[2]),
              st.layout);
  std::printf("fetch: %.2f ms\n", fetch_ms);
  std::printf("session: %s, id %llu, packet size %u, max response payload %u bytes\n", transport,
              static_cast<unsigned long long>(st.client.session_id), st.client.agreed_packet_size,
              st.client.agreed_max_response_payload_bytes);
  std::printf("provider stats: %s\n", stats_note);
  return 0;
}

}  // namespace

void add_status_command(CLI::App* app, int* rc) {
  auto o = std::make_shared<StatusOptions>();
  CLI::App* c = app->add_subcommand(
      "status",
      "Fetch one cgroups snapshot and summarise it: generation, item counts, bytes per layout, "
      "the session, fetch time");
  add_snapshot_endpoint_options(c, &o->ep, false);
  add_netdata_option(c, &o->netdata);
  c->add_flag("--json", o->json, "Print the same as one JSON object");
  c->add_option("--timeout-ms", o->ep.timeout_ms, "Connect and call timeout in ms (default 5000)")
      ->check(CLI::PositiveNumber);
  c->callback([o, rc] { *rc = run_status(*o); });
}

}  // namespace netipc::cli
