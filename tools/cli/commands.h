// Registration of netipc-cli subcommands. Each adds its leaves under the
// given parents and stores its exit status in *rc when it runs.
#pragma once

namespace CLI {
class App;
}

namespace netipc::cli {

void add_increment_commands(CLI::App* serve, CLI::App* call, int* rc);
// `serve cgroups-snapshot` under `serve`, and the top-level `snapshot`.
void add_snapshot_commands(CLI::App* app, CLI::App* serve, int* rc);
void add_cache_command(CLI::App* app, int* rc);

}  // namespace netipc::cli
