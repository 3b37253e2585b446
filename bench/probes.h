// The raw-limit probes, callable from other scenarios (the matrix).
#pragma once

#include "bench_common.h"

namespace netipc::bench {

RunResult probe_socketpair(const Options& o);
RunResult probe_futex(const Options& o);
RunResult probe_spin(const Options& o);

}  // namespace netipc::bench
