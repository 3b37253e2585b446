// Pieces shared by netipc-cli's cgroups-snapshot commands
// (cmd_serve_snapshot.cc, cmd_snapshot.cc).
#pragma once

#include <optional>
#include <string>

#include "cli_common.h"
#include "netipc/cgroups_snapshot_client.h"

namespace CLI {
class App;
}

namespace netipc::cli {

// --run-dir, --service (required unless `required` is false: the command
// then checks them itself, see resolve_endpoint), --auth-token,
// --invocation-id, --transport.
void add_snapshot_endpoint_options(CLI::App* app, EndpointOptions* o, bool required = true);
// `serve cgroups-snapshot`.
void add_serve_snapshot_command(CLI::App* serve, int* rc);
struct NetdataEndpoint;

// Makes *out a snapshot client for the endpoint: token from --auth-token or
// --invocation-id, transport, timeouts; `layout` 0 = automatic. Returns 0,
// or prints the error and returns exit code 1.
int make_snapshot_client(const EndpointOptions& ep, int layout,
                         std::optional<CgroupsSnapshotClient>* out);
// Prints the one line for a failed fetch ("<what> from <socket> failed: ..."
// or the specific cause: no server, token refused (naming where a --netdata
// token came from when `daemon` is set), no answer, layout 2 refused).
// Returns exit code 1.
int fetch_failed(const std::string& what, const EndpointOptions& ep, const NetdataEndpoint* daemon,
                 int layout, const Error& e);

// `status`.
void add_status_command(CLI::App* app, int* rc);

}  // namespace netipc::cli
