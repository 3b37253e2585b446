// netipc-cli snapshot: fetches a cgroups snapshot with the typed client and
// prints it as a table or as JSON.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_common.h"
#include "commands.h"
#include "netipc/cgroups_snapshot_client.h"
#include "netdata_locate.h"
#include "netipc/wire.h"
#include "snapshot_commands.h"

namespace netipc::cli {

namespace {

struct SnapshotOptions {
  EndpointOptions ep;
  bool netdata = false;
  int layout = 0;  // 0 = automatic
  bool json = false;
};

const char* transport_name(uint32_t profile) {
  return (profile & wire::kProfileShmMask) != 0 ? "shm" : "uds";
}

void print_table(const codec::CgroupsSnapshotViews& v, uint16_t layout, uint32_t profile) {
  std::printf("generation: %llu\n", static_cast<unsigned long long>(v.generation));
  std::printf("items: %zu\n", v.items.size());
  std::printf("systemd_enabled: %u\n", v.systemd_enabled);
  std::printf("layout: %u\n", layout);
  std::printf("transport: %s\n", transport_name(profile));
  size_t name_w = 4, path_w = 4;
  for (const auto& it : v.items) {
    name_w = std::max(name_w, it.name.size());
    path_w = std::max(path_w, it.path.size());
  }
  const bool ids = layout == codec::kCgroupsLayoutProtobuf;
  const int nw = static_cast<int>(name_w), pw = static_cast<int>(path_w);
  if (ids) {
    std::printf("%-10s  %-10s  %-7s  %-*s  %-*s  %s\n", "HASH", "OPTIONS", "ENABLED", nw, "NAME",
                pw, "PATH", "CGROUP_ID");
  } else {
    std::printf("%-10s  %-10s  %-7s  %-*s  %s\n", "HASH", "OPTIONS", "ENABLED", nw, "NAME", "PATH");
  }
  for (const auto& it : v.items) {
    const std::string name(it.name), path(it.path);
    if (ids) {
      std::printf("0x%08x  0x%08x  %-7u  %-*s  %-*s  %llu\n", it.hash, it.options, it.enabled, nw,
                  name.c_str(), pw, path.c_str(), static_cast<unsigned long long>(it.cgroup_id));
    } else {
      std::printf("0x%08x  0x%08x  %-7u  %-*s  %s\n", it.hash, it.options, it.enabled, nw,
                  name.c_str(), path.c_str());
    }
  }
}

// The `items` array has the format `serve cgroups-snapshot --items` reads.
void print_json(const codec::CgroupsSnapshotViews& v, uint16_t layout, uint32_t profile) {
  using json = nlohmann::ordered_json;
  json doc;
  doc["generation"] = v.generation;
  doc["systemd_enabled"] = v.systemd_enabled;
  doc["layout"] = layout;
  doc["transport"] = transport_name(profile);
  doc["item_count"] = v.items.size();
  json items = json::array();
  for (const auto& it : v.items) {
    json o;
    o["hash"] = it.hash;
    o["options"] = it.options;
    o["enabled"] = it.enabled;
    o["name"] = std::string(it.name);
    o["path"] = std::string(it.path);
    if (layout == codec::kCgroupsLayoutProtobuf) o["cgroup_id"] = it.cgroup_id;
    items.push_back(std::move(o));
  }
  doc["items"] = std::move(items);
  // Invalid UTF-8 in a name or path is replaced, not fatal.
  const std::string text = doc.dump(2, ' ', false, json::error_handler_t::replace);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
}

int fetch_snapshot(SnapshotOptions o) {
  NetdataEndpoint daemon;
  if (const int rc = resolve_endpoint(o.netdata, &o.ep, &daemon); rc != 0) return rc;
  std::optional<CgroupsSnapshotClient> client;
  if (const int rc = make_snapshot_client(o.ep, o.layout, &client); rc != 0) return rc;
  auto snap = client->fetch();
  if (!snap.ok()) {
    return fetch_failed("snapshot", o.ep, o.netdata ? &daemon : nullptr, o.layout, snap.error());
  }
  const CgroupsSnapshotClientStatus st = client->status();
  if (o.json) {
    print_json(**snap, st.layout, st.client.selected_profile);
  } else {
    print_table(**snap, st.layout, st.client.selected_profile);
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int make_snapshot_client(const EndpointOptions& ep, int layout,
                         std::optional<CgroupsSnapshotClient>* out) {
  auto token = endpoint_token(ep);
  if (!token.ok()) return fail(token.error().what);
  CgroupsSnapshotClientConfig cfg;
  cfg.run_dir = ep.run_dir;
  cfg.service = ep.service;
  cfg.auth_token = *token;
  cfg.layout = static_cast<uint16_t>(layout);
  transport_profiles(ep.transport, &cfg.supported_profiles, &cfg.preferred_profiles);
  cfg.call_timeout_ms = ep.timeout_ms;
  cfg.connect_timeout_ms = ep.timeout_ms;
  auto client = CgroupsSnapshotClient::create(cfg);
  if (!client.ok()) return fail("invalid endpoint", client.error());
  out->emplace(std::move(*client));
  return 0;
}

int fetch_failed(const std::string& what, const EndpointOptions& ep, const NetdataEndpoint* daemon,
                 int layout, const Error& e) {
  const std::string where = ep.run_dir + "/" + ep.service + ".sock";
  switch (e.code) {
    case Errc::kNotFound:
      return fail("no server at " + where, e);
    case Errc::kAuthFailed:
      if (daemon != nullptr) {
        return fail("the daemon at " + where + " refused the token derived from " +
                        daemon->token_from,
                    e);
      }
      return fail("server rejected the auth token", e);
    case Errc::kTimeout:
      return fail("no answer from " + where, e);
    case Errc::kBadEnvelope:
      if (layout == codec::kCgroupsLayoutProtobuf) {
        return fail("server at " + where + " does not serve layout 2", e);
      }
      return fail(what + " from " + where + " failed", e);
    default:
      return fail(what + " from " + where + " failed", e);
  }
}

void add_snapshot_endpoint_options(CLI::App* app, EndpointOptions* o, bool required) {
  CLI::Option* run_dir =
      app->add_option("--run-dir", o->run_dir, "Directory holding the endpoint's socket");
  CLI::Option* service = app->add_option("--service", o->service, "Service name ([A-Za-z0-9._-]+)");
  if (required) {
    run_dir->required();
    service->required();
  }
  CLI::Option* token =
      app->add_option("--auth-token", o->auth_token_hex, "Shared secret, 0x-prefixed hex (default 0)")
          ->check(CLI::Validator(auth_token_check, "0xHEX", "auth token"));
  add_invocation_id_option(app, o, token);
  app->add_option("--transport", o->transport,
                  "uds (Unix socket only) or shm (shared memory preferred, Unix socket "
                  "fallback); default uds")
      ->check(CLI::IsMember({"uds", "shm"}));
}

void add_snapshot_commands(CLI::App* app, CLI::App* serve, int* rc) {
  add_serve_snapshot_command(serve, rc);
  add_status_command(app, rc);

  auto o = std::make_shared<SnapshotOptions>();
  CLI::App* c = app->add_subcommand(
      "snapshot",
      "Fetch a cgroups snapshot; print generation, item count, layout and transport, then "
      "one row per item (hash, options, enabled, name, path, and cgroup id in layout 2)");
  add_snapshot_endpoint_options(c, &o->ep, false);
  add_netdata_option(c, &o->netdata);
  c->add_option("--layout", o->layout,
                "1 (NetIPC v1 binary) or 2 (protobuf, with cgroup ids); default: 2, falling "
                "back to 1 when the server rejects it")
      ->check(CLI::IsMember({1, 2}));
  c->add_flag("--json", o->json,
              "Print JSON: generation, systemd_enabled, layout, transport, item_count and items "
              "(hash, options, enabled, name, path, cgroup_id in layout 2)");
  c->add_option("--timeout-ms", o->ep.timeout_ms, "Connect and call timeout in ms (default 5000)")
      ->check(CLI::PositiveNumber);
  c->callback([o, rc] { *rc = fetch_snapshot(*o); });
}

}  // namespace netipc::cli
