// Pieces shared by netipc-cli's cgroups-snapshot commands
// (cmd_serve_snapshot.cc, cmd_snapshot.cc).
#pragma once

#include "cli_common.h"

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
// `status`.
void add_status_command(CLI::App* app, int* rc);

}  // namespace netipc::cli
