// cgroups-snapshot fetches between two processes: the server is the
// provider's SnapshotPublisher on the production libuv server in a child
// process (sizes announced, nothing configured), the client the typed
// blocking CgroupsSnapshotClient (zero configuration but the transport).
//   snapshot-baseline          16 items, Unix socket
//   snapshot-shm               16 items, shared memory
//   snapshot-large --items N   N items (default 100000), both transports
//                              unless --transport uds|shm
// Every scenario runs layouts 1 and 2 unless --layout picks one; one JSON
// line per (transport, layout, repetition).
//
// Latency is request-to-decoded: from fetch() sending the request to every
// item decoded into views (a full round trip plus decode), one fetch in
// flight. The first fetch of each run (connect, buffer growth) is not
// sampled; it is reported as first_fetch_us, with the client thread's minor
// page faults during it (first_fetch_page_faults; page_faults_per_fetch for
// the sampled ones: first touches of memory), page_fault_us, one first-touch
// fault on this machine measured right after, and first_fetch_faults_us,
// their product: the part of the first fetch that is the kernel's faults.
// The first fetch is taken apart: first_connect_us (connect, handshake and,
// over SHM, the region's creation and attachment), first_call_us (request
// sent to the whole response received), first_decode_us; the server
// process's minor faults during the connect (server_connect_page_faults) and
// during the first call (server_first_call_page_faults; per steady fetch:
// server_page_faults_per_fetch), and the server's CPU time in the first
// call (server_first_call_cpu_us). Over UDS, raw_first_transfer_us and
// raw_steady_transfer_us are the same payload over a bare socketpair
// between two fresh processes: the kernel's share of a first transfer.
// min_us is the fastest fetch
// (on a shared machine the closest to an uncontended one). Reference:
// memcpy_us, one memcpy of the response payload on this machine, the floor
// of any copy.
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"
#include "bench_items.h"
#include "cgroups_provider/publisher.h"
#include "netipc/cgroups_snapshot_client.h"
#include "netipc/codec/cgroups.h"
#include "netipc/codec/cgroups_pb.h"
#include "netipc/uv/server.h"
#include "netipc/wire.h"
#include "pair.h"

namespace netipc::bench {
namespace {

// Minor page faults of the calling thread so far (first touches of memory).
long thread_minor_faults() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

// Minor faults and CPU time (user + system, microseconds) of a whole
// process so far, from /proc/<pid>/stat; zeros when unreadable.
struct ProcCounters {
  long minflt = 0;
  double cpu_us = 0;
};

ProcCounters proc_counters(pid_t pid) {
  ProcCounters c;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "re");
  if (f == nullptr) return c;
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the command name (which may contain spaces) in ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return c;
  unsigned long minflt = 0;
  // state ppid pgrp session tty tpgid flags minflt
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %lu", &minflt) == 1) {
    c.minflt = static_cast<long>(minflt);
  }
  // CPU time from every thread's schedstat (nanoseconds; the tick-based
  // utime/stime are too coarse for one call).
  std::snprintf(path, sizeof path, "/proc/%d/task", static_cast<int>(pid));
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(path, ec)) {
    FILE* t = std::fopen((task.path() / "schedstat").c_str(), "re");
    if (t == nullptr) continue;
    unsigned long long run_ns = 0;
    if (std::fscanf(t, "%llu", &run_ns) == 1) c.cpu_us += static_cast<double>(run_ns) / 1e3;
    std::fclose(t);
  }
  return c;
}

// The machine's cost of one first-touch page fault: 16 MiB of fresh
// anonymous memory touched once a page, in microseconds per fault.
double page_fault_us() {
  constexpr size_t kBytes = size_t{16} << 20;
  void* p = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  const long f0 = thread_minor_faults();
  const uint64_t t0 = now_ns();
  for (size_t off = 0; off < kBytes; off += static_cast<size_t>(page))
    static_cast<volatile char*>(p)[off] = 1;
  const uint64_t t1 = now_ns();
  const long faults = thread_minor_faults() - f0;
  ::munmap(p, kBytes);
  return faults > 0 ? static_cast<double>(t1 - t0) / 1e3 / static_cast<double>(faults) : 0;
}

constexpr uint32_t kUds = wire::kProfileUds;
constexpr uint32_t kShm = wire::kProfileUds | wire::kProfileShmHybrid;

int serve_child(const std::string& dir, uint32_t profiles,
                const std::shared_ptr<const std::vector<CgroupItem>>& items, int ready) {
  cgroups_provider::SnapshotPublisher publisher;
  if (!publisher.publish(items).ok()) return 1;
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv::ServerConfig cfg;
  cfg.run_dir = dir;
  cfg.service = "snapshot";
  cfg.method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  cfg.supported_profiles = profiles;
  cfg.preferred_profiles = profiles & wire::kProfileShmMask;
  auto server = uv::Server::create(&loop, cfg, publisher.handler());
  if (!server.ok()) {
    std::fprintf(stderr, "bench server: %s\n", server.error().message().c_str());
    return 1;
  }
  uv::Server* srv = server->get();
  publisher.set_size_listener([srv](uint64_t bytes) { srv->announce_response_size(bytes); });
  if (!serve_until_sigterm(&loop, srv, ready)) return 1;
  publisher.set_size_listener(nullptr);
  server->reset();
  return uv_loop_close(&loop) == 0 ? 0 : 1;
}

// The kernel's own share of a first transfer: `bytes` sent in packets of
// `packet` bytes over a fresh SOCK_SEQPACKET socketpair from a fresh child
// process to this thread, both sides' buffers touched beforehand (no user
// page faults), pinned as the benchmark's two sides. first_us is the first
// transfer, steady_us the median of the next three. No NetIPC code runs.
struct RawTransfer {
  double first_us = 0;
  double steady_us = 0;
};

RawTransfer raw_seqpacket_transfer(size_t bytes, size_t packet) {
  RawTransfer out;
  int sv[2];
  if (bytes == 0 || packet == 0 ||
      ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return out;
  }
  constexpr int kRounds = 4;
  ChildProcess child = ChildProcess::start(
      [&](int ready) {
        ::close(sv[0]);
        std::vector<uint8_t> buf(bytes, 1);
        char c = 1;
        if (::write(ready, &c, 1) != 1) return 1;
        for (int r = 0; r < kRounds; ++r) {
          if (::read(sv[1], &c, 1) != 1) return 1;
          for (size_t off = 0; off < bytes; off += packet) {
            if (::send(sv[1], buf.data() + off, std::min(packet, bytes - off), 0) < 0) return 1;
          }
        }
        return 0;
      },
      server_cpu());
  ::close(sv[1]);
  std::vector<uint8_t> rx(bytes, 0);
  std::vector<double> t;
  for (int r = 0; r < kRounds && child.valid(); ++r) {
    const uint64_t t0 = now_ns();
    if (::write(sv[0], "g", 1) != 1) break;
    size_t got = 0;
    while (got < bytes) {
      const ssize_t n = ::recv(sv[0], rx.data() + got, std::min(packet, bytes - got), 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got != bytes) break;
    t.push_back(static_cast<double>(now_ns() - t0) / 1e3);
  }
  ::close(sv[0]);
  child.stop();
  if (t.size() == kRounds) {
    out.first_us = t[0];
    std::sort(t.begin() + 1, t.end());
    out.steady_us = t[2];
  }
  return out;
}

// Median of five memcpy runs of `bytes`, in microseconds.
double memcpy_us(size_t bytes) {
  std::vector<uint8_t> a(bytes, 1), b(bytes, 0);
  std::vector<double> t;
  for (int i = 0; i < 5; ++i) {
    const uint64_t t0 = now_ns();
    std::memcpy(b.data(), a.data(), bytes);
    t.push_back(static_cast<double>(now_ns() - t0) / 1e3);
    a[i] = b[bytes / 2];  // keep the copies observable
  }
  std::sort(t.begin(), t.end());
  return t[2];
}

struct Run {
  std::string scenario;
  uint32_t profiles;
  uint16_t layout;
};

Result<CgroupsSnapshotClient> connect_client(const std::string& dir, const Run& run) {
  CgroupsSnapshotClientConfig cfg;
  cfg.run_dir = dir;
  cfg.service = "snapshot";
  cfg.layout = run.layout;
  cfg.supported_profiles = run.profiles;
  cfg.preferred_profiles = run.profiles & wire::kProfileShmMask;
  return CgroupsSnapshotClient::create(cfg);
}

// What one fetch moves: the transport, the payload and the bytes on the
// wire, request and response messages with their headers (and, over UDS,
// one 32-byte header per extra packet).
void add_wire_fields(RunResult* r, const Run& run, size_t n, uint64_t payload, uint64_t fetches,
                     const CgroupsSnapshotClientStatus& st) {
  const uint64_t packet = st.client.agreed_packet_size;
  uint64_t packets = 1;
  const bool shm = (st.client.selected_profile & wire::kProfileShmMask) != 0;
  if (!shm && packet > wire::kHeaderLen && payload + wire::kHeaderLen > packet) {
    packets = (payload + (packet - wire::kHeaderLen) - 1) / (packet - wire::kHeaderLen);
  }
  r->extra.integer("items", static_cast<int64_t>(n))
      .integer("layout", run.layout)
      .str("transport", shm ? "shm" : "uds")
      .str("latency_is", "request sent to every item decoded")
      .integer("fetches", static_cast<int64_t>(fetches))
      .integer("response_payload_bytes", static_cast<int64_t>(payload))
      .integer("wire_bytes_per_fetch",
               static_cast<int64_t>(wire::kHeaderLen + codec::kCgroupsRequestLen + payload +
                                    packets * wire::kHeaderLen))
      .integer("uds_packets", static_cast<int64_t>(shm ? 0 : packets))
      .integer("ack_response_ceiling",
               static_cast<int64_t>(st.client.agreed_max_response_payload_bytes))
      .integer("reconnects", static_cast<int64_t>(st.client.reconnect_count));
}

int run_one(const Options& o, const Run& run,
            const std::shared_ptr<const std::vector<CgroupItem>>& items) {
  const size_t n = items->size();
  const uint64_t payload = run.layout == 1 ? codec::cgroups_snapshot_v1_size(*items)
                                           : codec::cgroups_snapshot_v2_size(*items, 1, 2);
  const double copy_us = memcpy_us(payload);
  for (int rep = 0; rep < o.repetitions; ++rep) {
    const std::string dir = make_run_dir(o);
    ChildProcess child = ChildProcess::start(
        [&](int ready) { return serve_child(dir, run.profiles, items, ready); }, server_cpu());
    if (!child.valid()) {
      std::fprintf(stderr, "netipc-bench: server child failed to start\n");
      return 1;
    }
    pin_to_cpu(client_cpu());
    auto client = connect_client(dir, run);
    if (!client.ok()) {
      std::fprintf(stderr, "netipc-bench: %s\n", client.error().message().c_str());
      return 1;
    }
    auto check = [&](const Result<const codec::CgroupsSnapshotViews*>& r) {
      return r.ok() && (*r)->items.size() == n &&
             (n == 0 || (*r)->items.back().name == items->back().name);
    };
    // The first fetch in its three parts: connect, call, decode.
    const long faults0 = thread_minor_faults();
    const ProcCounters s0 = proc_counters(child.pid());
    const uint64_t f0 = now_ns();
    client->connect();
    const uint64_t f1 = now_ns();
    const ProcCounters s1 = proc_counters(child.pid());
    const long faults1 = thread_minor_faults();
    auto first_payload = client->call();
    const uint64_t f2 = now_ns();
    const ProcCounters s2 = proc_counters(child.pid());
    const long faults2 = thread_minor_faults();
    auto first_views = std::make_unique<codec::CgroupsSnapshotViews>();
    const bool first_ok = first_payload.ok() &&
                          client->decode(*first_payload, first_views.get()).ok() &&
                          check(static_cast<const codec::CgroupsSnapshotViews*>(first_views.get()));
    const uint64_t f3 = now_ns();
    const long faults3 = thread_minor_faults();
    if (!first_ok) {
      std::fprintf(stderr, "netipc-bench: %s: first fetch failed\n", run.scenario.c_str());
      return 1;
    }
    const double first_us = static_cast<double>(f3 - f0) / 1e3;
    const long first_faults = faults3 - faults0;
    const double fault_us = page_fault_us();
    const long steady_faults0 = thread_minor_faults();
    const ProcCounters steady_server0 = proc_counters(child.pid());
    LatencyRecorder lat(1 << 16);
    uint64_t fetches = 0;
    bool ok = true;
    Window w(&child);
    const uint64_t start = now_ns();
    const uint64_t end = start + static_cast<uint64_t>(o.seconds * 1e9);
    // At least 10 samples even when one fetch takes longer than --seconds/10.
    while (ok && (now_ns() < end || fetches < 10)) {
      pace(start, fetches, o.rate);
      const uint64_t t0 = now_ns();
      // fetch() in its two halves, decoding into the first fetch's views.
      auto response = client->call();
      ok = response.ok() && client->decode(*response, first_views.get()).ok() &&
           check(static_cast<const codec::CgroupsSnapshotViews*>(first_views.get()));
      lat.add(now_ns() - t0);
      ++fetches;
    }
    const long steady_faults = thread_minor_faults() - steady_faults0;
    const long steady_server_faults = proc_counters(child.pid()).minflt - steady_server0.minflt;
    RunResult r;
    r.scenario = run.scenario;
    r.unit = "fetches";
    w.finish(&r, fetches);
    const CgroupsSnapshotClientStatus st = client->status();
    const bool shm = (st.client.selected_profile & wire::kProfileShmMask) != 0;
    if (!ok || st.client.reconnect_count != 0 || st.client.connect_count != 1 ||
        st.layout != run.layout) {
      std::fprintf(stderr,
                   "netipc-bench: %s: a fetch failed or needed a reconnect (connects %llu, "
                   "reconnects %llu)\n",
                   run.scenario.c_str(), static_cast<unsigned long long>(st.client.connect_count),
                   static_cast<unsigned long long>(st.client.reconnect_count));
      return 1;
    }
    r.p50_us = lat.percentile_us(0.50);
    r.p95_us = lat.percentile_us(0.95);
    r.p99_us = lat.percentile_us(0.99);
    add_wire_fields(&r, run, n, payload, fetches, st);
    r.extra.num("min_us", lat.percentile_us(0.0))
        .num("first_fetch_us", first_us)
        .integer("first_fetch_page_faults", first_faults)
        .num("page_fault_us", fault_us)
        .num("first_fetch_faults_us", fault_us * static_cast<double>(first_faults))
        .num("first_over_p50", r.p50_us > 0 ? first_us / r.p50_us : 0)
        .num("first_connect_us", static_cast<double>(f1 - f0) / 1e3)
        .num("first_call_us", static_cast<double>(f2 - f1) / 1e3)
        .num("first_decode_us", static_cast<double>(f3 - f2) / 1e3)
        .integer("first_connect_page_faults", faults1 - faults0)
        .integer("first_call_page_faults", faults2 - faults1)
        .integer("first_decode_page_faults", faults3 - faults2)
        .integer("server_connect_page_faults", s1.minflt - s0.minflt)
        .integer("server_first_call_page_faults", s2.minflt - s1.minflt)
        .num("server_first_call_cpu_us", s2.cpu_us - s1.cpu_us)
        .num("server_page_faults_per_fetch",
             fetches > 0 ? static_cast<double>(steady_server_faults) / static_cast<double>(fetches)
                         : 0)
        .num("page_faults_per_fetch",
             fetches > 0 ? static_cast<double>(steady_faults) / static_cast<double>(fetches) : 0)
        .num("memcpy_us", copy_us)
        .num("p50_over_memcpy", copy_us > 0 ? r.p50_us / copy_us : 0);
    client = make_error(Errc::kAborted, "done");  // close the session before the server
    child.stop();
    if (!shm && st.client.agreed_packet_size > wire::kHeaderLen) {
      // After the run, so that it cannot warm the kernel for the first fetch.
      const RawTransfer raw =
          raw_seqpacket_transfer(payload, st.client.agreed_packet_size - wire::kHeaderLen);
      r.extra.num("raw_first_transfer_us", raw.first_us)
          .num("raw_steady_transfer_us", raw.steady_us);
    }
    if (o.run_dir.empty()) remove_tree(dir);
    report(r);
  }
  return 0;
}

int run_scenario(const Options& o, const std::string& name, size_t default_items,
                 const std::vector<uint32_t>& default_transports) {
  if (o.layout != 0 && o.layout != 1 && o.layout != 2) {
    std::fprintf(stderr, "netipc-bench: --layout must be 1 or 2\n");
    return 2;
  }
  std::vector<uint32_t> transports = default_transports;
  auto t = o.extra.find("transport");
  if (t != o.extra.end()) {
    if (t->second == "uds") {
      transports = {kUds};
    } else if (t->second == "shm") {
      transports = {kShm};
    } else {
      std::fprintf(stderr, "netipc-bench: --transport must be uds or shm\n");
      return 2;
    }
  }
  const size_t n = o.items != 0 ? o.items : default_items;
  auto items = std::make_shared<const std::vector<CgroupItem>>(netdata_items(n));
  const std::string scenario = name == "snapshot-large" ? name + "/" + std::to_string(n) : name;
  for (uint32_t profiles : transports) {
    for (uint16_t layout : {uint16_t{1}, uint16_t{2}}) {
      if (o.layout != 0 && o.layout != layout) continue;
      const int rc = run_one(o, Run{scenario, profiles, layout}, items);
      if (rc != 0) return rc;
    }
  }
  return 0;
}

}  // namespace

NETIPC_BENCH_SCENARIO("snapshot-baseline",
                      "cgroups snapshot, 16 items, Unix socket; request-to-decoded per layout",
                      [](const Options& o) {
                        return run_scenario(o, "snapshot-baseline", 16, {kUds});
                      });
NETIPC_BENCH_SCENARIO("snapshot-shm",
                      "cgroups snapshot, 16 items, shared memory; request-to-decoded per layout",
                      [](const Options& o) { return run_scenario(o, "snapshot-shm", 16, {kShm}); });
NETIPC_BENCH_SCENARIO("snapshot-large",
                      "cgroups snapshot of --items N (default 100000), --transport uds|shm "
                      "(default both), per layout",
                      [](const Options& o) {
                        return run_scenario(o, "snapshot-large", 100000, {kUds, kShm});
                      });

}  // namespace netipc::bench
