// The netipc-cgroups-provider daemon: scanner + CgroupsProvider on a libuv
// loop, rescans on a timer (the scan itself on the provider's encoder
// thread), SIGINT/SIGTERM through the loop.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cgroups_provider/cgroup_root.h"

namespace netipc::provider_daemon {

inline constexpr double kDefaultRescanSeconds = 10;
// Netdata allows 1000 by default; a standalone provider serves hosts with
// tens of thousands of containers. 100,000 cgroups publish about 25 MB per
// layout with container-length names (docs/provider.md, sizing).
inline constexpr size_t kDefaultMaxCgroups = 100000;

struct DaemonOptions {
  std::string cgroup_root;
  std::string run_dir;
  std::string service = "cgroups-snapshot";
  double rescan_seconds = kDefaultRescanSeconds;
  size_t max_cgroups = kDefaultMaxCgroups;
  uint64_t auth_token = 0;
  // Peers also allowed to connect, besides this process's euid and root.
  std::vector<uid_t> allow_uids;
  mode_t socket_mode = 0600;  // 0660: the socket's group may connect (uids still checked)
  std::string transport = "uds";
  bool verbose = false;  // log every rescan, not only the ones that changed something
};

// Runs until SIGINT/SIGTERM; prints READY on stdout once serving. Returns the
// process exit code (0 after a clean stop, 1 on a runtime failure).
int run_daemon(const DaemonOptions& options, const cgroups_provider::CgroupRoot& root);

// Installs the daemon's log sink: one line per message on stderr with a UTC
// timestamp, "netipc-cgroups-provider", the level and the message.
void install_log_sink();

}  // namespace netipc::provider_daemon
