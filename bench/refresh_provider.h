// The provider side of the consumer-refresh benchmark: N cgroup items whose
// paths are cgroup.procs stand-ins, served by a SnapshotPublisher on the
// production libuv server.
#pragma once

#include <cstddef>
#include <string>

namespace netipc::bench::refresh_provider {

// The directory for the cgroup.procs stand-ins: on tmpfs when there is one
// (/dev/shm), else under `run_dir`.
std::string make_procs_dir(const std::string& run_dir);

// Where item `i`'s cgroup.procs stand-in is in `dir`.
std::string procs_path(const std::string& dir, size_t i);

// One small cgroup.procs per item (1-4 PIDs) in `dir`; false on a write error.
bool write_procs(const std::string& dir, size_t n);

// The child process's body: serves `n` items on `dir`'s cgroups-snapshot
// endpoint until SIGTERM; writes one byte to `ready` once serving. Returns
// the exit code.
int serve_child(const std::string& dir, const std::string& procs, size_t n, int ready);

}  // namespace netipc::bench::refresh_provider
