// Pieces shared by netipc-cli's cgroups-snapshot commands
// (cmd_serve_snapshot.cc, cmd_snapshot.cc).
#pragma once

#include "cli_common.h"

namespace CLI {
class App;
}

namespace netipc::cli {

// --run-dir, --service, --auth-token, --transport.
void add_snapshot_endpoint_options(CLI::App* app, EndpointOptions* o);
// `serve cgroups-snapshot`.
void add_serve_snapshot_command(CLI::App* serve, int* rc);

}  // namespace netipc::cli
