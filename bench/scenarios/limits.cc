// Raw-limit probes: what this machine can do with no protocol at all, so
// NetIPC results can be given as ratios measured in the same run.
//   limits-socketpair: 40-byte SEQPACKET ping-pong, blocking write/read
//   limits-futex:      futex sleep/wake ping-pong over shared memory
//   limits-spin:       pure spinning on shared memory (the ceiling for SHM)
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <new>

#include "bench_common.h"
#include "pair.h"
#include "probes.h"

namespace netipc::bench {
namespace {

constexpr size_t kMsg = 40;  // an INCREMENT message: header + u64

long futex(std::atomic<uint32_t>* word, int op, uint32_t val, const timespec* ts) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, val, ts, nullptr, 0);
}

struct Shared {
  alignas(64) std::atomic<uint32_t> ping{0};
  alignas(64) std::atomic<uint32_t> pong{0};
  alignas(64) std::atomic<uint32_t> stop{0};
};

// Waits until *word != seen: spins `spin` times, then sleeps on the futex.
uint32_t wait_change(std::atomic<uint32_t>* word, uint32_t seen, int spin, bool use_futex,
                     std::atomic<uint32_t>* stop) {
  for (;;) {
    for (int i = 0; i < spin; ++i) {
      uint32_t v = word->load(std::memory_order_acquire);
      if (v != seen) return v;
      __builtin_ia32_pause();
    }
    uint32_t v = word->load(std::memory_order_acquire);
    if (v != seen || stop->load(std::memory_order_relaxed) != 0) return v;
    if (use_futex) {
      timespec ts{0, 100000000};
      futex(word, FUTEX_WAIT, seen, &ts);
    }
  }
}

RunResult shared_memory_probe(const Options& o, bool use_futex) {
  RunResult r;
  r.scenario = use_futex ? "limits-futex" : "limits-spin";
  void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
  if (mem == MAP_FAILED) return r;
  auto* sh = new (mem) Shared();
  const int spin = use_futex ? 0 : 1 << 20;
  ChildProcess child = ChildProcess::start(
      [&](int ready) {
        char c = 1;
        if (write(ready, &c, 1) != 1) return 1;
        uint32_t seen = 0;
        for (;;) {
          seen = wait_change(&sh->ping, seen, spin, use_futex, &sh->stop);
          if (sh->stop.load(std::memory_order_relaxed) != 0) return 0;
          sh->pong.store(seen, std::memory_order_release);
          if (use_futex) futex(&sh->pong, FUTEX_WAKE, 1, nullptr);
        }
      },
      server_cpu());
  LatencyRecorder lat;
  Window w(&child);
  const uint64_t start = now_ns();
  const uint64_t end = start + static_cast<uint64_t>(o.seconds * 1e9);
  uint64_t ops = 0;
  for (uint64_t t = start; t < end;) {
    pace(start, ops, o.rate);
    const uint64_t t0 = now_ns();
    const uint32_t next = static_cast<uint32_t>(ops + 1);
    sh->ping.store(next, std::memory_order_release);
    if (use_futex) futex(&sh->ping, FUTEX_WAKE, 1, nullptr);
    while (sh->pong.load(std::memory_order_acquire) != next) {
      wait_change(&sh->pong, next - 1, spin, use_futex, &sh->stop);
    }
    ++ops;
    t = now_ns();
    lat.add(t - t0);
  }
  w.finish(&r, ops);
  sh->stop.store(1);
  sh->ping.fetch_add(1);
  futex(&sh->ping, FUTEX_WAKE, 1, nullptr);
  child.stop();
  munmap(mem, sizeof(Shared));
  r.p50_us = lat.percentile_us(0.50);
  r.p95_us = lat.percentile_us(0.95);
  r.p99_us = lat.percentile_us(0.99);
  return r;
}

int run_limits(const Options& o) {
  for (int rep = 0; rep < o.repetitions; ++rep) {
    report(probe_socketpair(o));
    report(probe_futex(o));
    if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) report(probe_spin(o));
  }
  return 0;
}

}  // namespace

RunResult probe_socketpair(const Options& o) {
  RunResult r;
  r.scenario = "limits-socketpair";
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return r;
  ChildProcess child = ChildProcess::start(
      [&](int ready) {
        close(sv[0]);
        char c = 1;
        if (write(ready, &c, 1) != 1) return 1;
        uint8_t buf[kMsg];
        for (;;) {
          ssize_t n = read(sv[1], buf, sizeof buf);
          if (n <= 0) return 0;
          if (write(sv[1], buf, static_cast<size_t>(n)) != n) return 0;
        }
      },
      server_cpu());
  close(sv[1]);
  LatencyRecorder lat;
  uint8_t buf[kMsg] = {};
  Window w(&child);
  const uint64_t start = now_ns();
  const uint64_t end = start + static_cast<uint64_t>(o.seconds * 1e9);
  uint64_t ops = 0;
  for (uint64_t t = start; t < end; ++ops) {
    pace(start, ops, o.rate);
    const uint64_t t0 = now_ns();
    if (write(sv[0], buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) break;
    if (read(sv[0], buf, sizeof buf) <= 0) break;
    t = now_ns();
    lat.add(t - t0);
  }
  w.finish(&r, ops);
  close(sv[0]);
  r.p50_us = lat.percentile_us(0.50);
  r.p95_us = lat.percentile_us(0.95);
  r.p99_us = lat.percentile_us(0.99);
  return r;
}

RunResult probe_futex(const Options& o) { return shared_memory_probe(o, true); }
RunResult probe_spin(const Options& o) { return shared_memory_probe(o, false); }

NETIPC_BENCH_SCENARIO("limits",
                      "raw socketpair, futex and spin ping-pong probes (the machine's limits)",
                      run_limits);

}  // namespace netipc::bench
