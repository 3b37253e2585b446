// --netdata: the endpoint of a running Netdata daemon's cgroups-snapshot
// service, found the way the daemon and its plugins find it.
//
// The daemon is the process named "netdata" whose parent is not one (its
// spawn server and plugins are its descendants). Its token is XXH3-64 of its
// invocation id, which the daemon takes from NETDATA_INVOCATION_ID, else from
// systemd's INVOCATION_ID, else makes up and exports to the plugins it
// spawns: so the id is read from the daemon's environment
// (/proc/PID/environ), else from any descendant's NETDATA_INVOCATION_ID. The
// run directory is NETDATA_RUN_DIR from the same environments, else the
// first of /run/netdata and /var/run/netdata holding the service's socket.
//
// For tests, NETIPC_CLI_NETDATA_NAME names the process to look for instead
// of "netdata" (a stand-in daemon started under another name).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace netipc::cli {

struct EndpointOptions;

struct NetdataEndpoint {
  pid_t pid = 0;
  std::string run_dir;
  std::string run_dir_from;  // where the run directory came from
  uint64_t token = 0;
  std::string token_from;  // which variable of which process
};

// Finds the daemon and its endpoint for `service`. `run_dir` non-empty is
// used as the run directory as given. On failure returns false with one
// line in *error saying what was missing and what to pass instead.
bool locate_netdata(const std::string& service, const std::string& run_dir, NetdataEndpoint* out,
                    std::string* error);

// Adds --netdata to a subcommand; `run_dir_option` and `service_option`
// become optional with it (check_endpoint_options enforces them without).
void add_netdata_option(CLI::App* app, bool* netdata);

// Completes `o` for --netdata (run directory, token as 0x hex) or checks
// that --run-dir and --service were given without it. Prints the error and
// returns the exit code (1: no daemon etc., 2: missing option) or 0.
int resolve_endpoint(bool netdata, EndpointOptions* o, NetdataEndpoint* found);

}  // namespace netipc::cli
