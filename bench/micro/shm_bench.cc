// Micro benchmarks of the SHM data plane: in-process round trips (client
// publish + receive, server thread receive + publish) on one real region
// file, under each waiting policy, next to a raw futex ping-pong probe on the
// same machine. Latency is per ROUND TRIP (wall time / iterations).
//
//   shm-ping-pong/default       spin (auto budget) + wake skipping
//   shm-ping-pong/upstream      spin + FUTEX_WAKE on every publication
//   shm-ping-pong/futex-only    no spinning, wake skipping
//   shm-ping-pong/futex-upstream no spinning, always wake (upstream, no spin)
//   futex-ping-pong             raw probe: two words, wait/wake, no library
//
// Counters: wakes/rt (FUTEX_WAKE calls per round trip, both sides),
// waits/rt (FUTEX_WAIT calls), server_cpu (server thread CPU / wall, 1.0 =
// one core) and client_cpu likewise.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>

#include "transport/shm/shm.h"

namespace netipc {
namespace {

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double wall_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// A private run directory: /dev/shm when present (tmpfs, like /run).
struct RunDir {
  RunDir() {
    char tmpl[] = "/dev/shm/nipcbenchXXXXXX";
    char fallback[] = "/tmp/nipcbenchXXXXXX";
    const char* p = ::mkdtemp(tmpl);
    if (p == nullptr) p = ::mkdtemp(fallback);
    if (p == nullptr) std::abort();
    path = p;
    fd = ::open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  ~RunDir() {
    ::close(fd);
    ::rmdir(path.c_str());
  }
  std::string path;
  int fd = -1;
};

constexpr uint64_t kQuit = ~uint64_t{0};

ByteSpan bytes_of(const uint64_t& v) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(&v), 8);
}

void run_shm(benchmark::State& state, ChannelOptions opts) {
  RunDir dir;
  {
    auto region = ShmRegion::create(dir.fd, "bench", 1, 64 + 32, 64 + 32);
    if (!region) {
      state.SkipWithError(region.error().message().c_str());
      return;
    }
    ShmChannel server(*region, ShmSide::kServer, opts);
    ShmChannel client(*region, ShmSide::kClient, opts);
    std::atomic<double> server_cpu{0};
    std::thread t([&] {
      const double c0 = thread_cpu_s();
      uint8_t buf[64];
      for (;;) {
        auto r = server.receive(MutableByteSpan(buf, sizeof buf), 10000);
        if (!r) break;
        const uint64_t v = load_u64(buf);
        const uint64_t next = v == kQuit ? kQuit : v + 1;
        if (!server.publish(bytes_of(next)).ok() || v == kQuit) break;
      }
      server_cpu = thread_cpu_s() - c0;
    });
    uint8_t buf[64];
    uint64_t i = 0;
    const double w0 = wall_s(), c0 = thread_cpu_s();
    for (auto _ : state) {
      if (!client.publish(bytes_of(i)).ok()) {
        state.SkipWithError("publish failed");
        break;
      }
      auto r = client.receive(MutableByteSpan(buf, sizeof buf), 10000);
      if (!r || load_u64(buf) != i + 1) {
        state.SkipWithError("receive failed");
        break;
      }
      ++i;
    }
    const double wall = wall_s() - w0, client_cpu = thread_cpu_s() - c0;
    (void)client.publish(bytes_of(kQuit));
    (void)client.receive(MutableByteSpan(buf, sizeof buf), 10000);
    t.join();
    const double n = static_cast<double>(state.iterations());
    const ChannelStats& cs = client.stats();
    const ChannelStats& ss = server.stats();
    state.counters["wakes/rt"] = static_cast<double>(cs.wakes_sent + ss.wakes_sent) / n;
    state.counters["waits/rt"] = static_cast<double>(cs.futex_waits + ss.futex_waits) / n;
    state.counters["client_cpu"] = client_cpu / wall;
    state.counters["server_cpu"] = server_cpu.load() / wall;
    state.SetItemsProcessed(state.iterations());
  }
}

void BM_ShmPingPongDefault(benchmark::State& state) {
  run_shm(state, {});
}

void BM_ShmPingPongUpstream(benchmark::State& state) {
  ChannelOptions o;
  o.always_wake = true;
  run_shm(state, o);
}

void BM_ShmPingPongFutexOnly(benchmark::State& state) {
  ChannelOptions o;
  o.spin_tries = -1;
  run_shm(state, o);
}

void BM_ShmPingPongFutexUpstream(benchmark::State& state) {
  ChannelOptions o;
  o.spin_tries = -1;
  o.always_wake = true;
  run_shm(state, o);
}

BENCHMARK(BM_ShmPingPongDefault)->Name("shm-ping-pong/default")->UseRealTime();
BENCHMARK(BM_ShmPingPongUpstream)->Name("shm-ping-pong/upstream")->UseRealTime();
BENCHMARK(BM_ShmPingPongFutexOnly)->Name("shm-ping-pong/futex-only")->UseRealTime();
BENCHMARK(BM_ShmPingPongFutexUpstream)->Name("shm-ping-pong/futex-upstream")->UseRealTime();

// Raw-limit probe: the cheapest possible futex ping-pong (two counters, one
// each way, always wait and wake). The ratio to it is what carries across
// machines.
long futex(uint32_t* w, int op, uint32_t v) {
  return ::syscall(SYS_futex, w, op, v, nullptr, nullptr, 0);
}

void BM_RawFutexPingPong(benchmark::State& state) {
  alignas(64) uint32_t ping = 0;
  alignas(64) uint32_t pong = 0;
  std::atomic<bool> done{false};
  std::thread t([&] {
    uint32_t seen = 0;
    for (;;) {
      uint32_t v;
      while ((v = __atomic_load_n(&ping, __ATOMIC_ACQUIRE)) == seen)
        futex(&ping, FUTEX_WAIT, seen);
      seen = v;
      __atomic_fetch_add(&pong, 1, __ATOMIC_RELEASE);
      futex(&pong, FUTEX_WAKE, 1);
      if (done.load(std::memory_order_acquire)) break;
    }
  });
  uint32_t seen = 0;
  for (auto _ : state) {
    __atomic_fetch_add(&ping, 1, __ATOMIC_RELEASE);
    futex(&ping, FUTEX_WAKE, 1);
    uint32_t v;
    while ((v = __atomic_load_n(&pong, __ATOMIC_ACQUIRE)) == seen)
      futex(&pong, FUTEX_WAIT, seen);
    seen = v;
  }
  done.store(true, std::memory_order_release);
  __atomic_fetch_add(&ping, 1, __ATOMIC_RELEASE);
  futex(&ping, FUTEX_WAKE, 1);
  t.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawFutexPingPong)->Name("futex-ping-pong")->UseRealTime();

}  // namespace
}  // namespace netipc
