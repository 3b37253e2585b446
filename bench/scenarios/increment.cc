// INCREMENT ping-pong scenarios between two processes: the server is the
// production libuv server in a child process, the client a Level-1 session.
//   uds-ping-pong            one request in flight
//   uds-batch-ping-pong      batches of 2..1000 items (seeded random sizes)
//   uds-pipeline-d16         16 single requests in flight
//   uds-pipeline-batch-d16   16 batches in flight
//   shm-ping-pong            one request in flight, SHM_HYBRID
//   shm-batch-ping-pong      batches of 2..1000 items, SHM_HYBRID
// Throughput counts requests, or items for batch scenarios.
#include <uv.h>

#include <cstdio>
#include <random>
#include <vector>

#include "bench_common.h"
#include "netipc/codec/increment.h"
#include "netipc/services.h"
#include "netipc/session.h"
#include "netipc/uv/server.h"
#include "pair.h"

namespace netipc::bench {
namespace {

constexpr uint32_t kMaxBatch = 1000;
constexpr uint32_t kPayloadCeiling = kMaxBatch * 48 + 4096;  // upstream's benchmark sizing
constexpr uint16_t kMethod = static_cast<uint16_t>(wire::Method::kIncrement);

struct Shape {
  const char* name;
  uint32_t profiles;
  bool batch;
  int depth;
};

int serve_child(const std::string& dir, uint32_t profiles, int ready) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv::ServerConfig cfg;
  cfg.run_dir = dir;
  cfg.service = "bench";
  cfg.method = kMethod;
  cfg.supported_profiles = profiles;
  cfg.preferred_profiles = profiles;
  cfg.max_request_payload_bytes = kPayloadCeiling;
  cfg.max_response_payload_bytes = kPayloadCeiling;
  auto server = uv::Server::create(&loop, cfg, make_increment_handler());
  if (!server.ok()) {
    std::fprintf(stderr, "bench server: %s\n", server.error().message().c_str());
    return 1;
  }
  if (!serve_until_sigterm(&loop, server->get(), ready)) return 1;
  return uv_loop_close(&loop) == 0 ? 0 : 1;
}

// One request (or batch) in flight slot.
struct Slot {
  uint64_t sent_ns = 0;
  uint64_t first = 0;   // first value of the request
  uint32_t count = 1;   // items
};

// The client side of one run: requests (or batches) go out through slots,
// and every answer is checked against the values its request carried.
struct Traffic {
  Traffic(ClientSession* client_session, const Shape& run_shape)
      : session(client_session),
        shape(run_shape),
        slots(static_cast<size_t>(run_shape.depth) * 4) {}

  bool send_one() {
    const uint32_t n = shape.batch ? 2 + rng() % (kMaxBatch - 1) : 1;
    Slot& s = slots[next_id % slots.size()];
    s.first = next_value;
    s.count = n;
    if (n == 1) {
      payload.resize(8);
      codec::encode_increment(next_value, payload.data());
    } else {
      values.resize(n);
      for (uint32_t i = 0; i < n; ++i)
        values[i] = next_value + i;
      (void)codec::encode_increment_batch(values.data(), n, &payload);
    }
    next_value += n;
    s.sent_ns = now_ns();
    return session->send_request(kMethod, next_id++, ByteSpan(payload), n).ok();
  }

  bool receive_one() {
    auto m = session->receive_response(now_ns() + 5000000000ull);
    if (!m.ok() || m->header.transport_status != 0) return false;
    const Slot& s = slots[m->header.message_id % slots.size()];
    bool ok;
    if (s.count == 1) {
      auto v = codec::decode_increment(m->payload);
      ok = v.ok() && *v == s.first + 1;
    } else {
      ok = codec::decode_increment_batch(m->payload, m->header.item_count, &replies).ok() &&
           replies.size() == s.count && replies.back() == s.first + s.count;
    }
    lat.add(now_ns() - s.sent_ns);
    items += s.count;
    ++requests;
    return ok;
  }

  ClientSession* session;
  const Shape& shape;
  std::mt19937 rng{42};
  std::vector<uint8_t> payload;
  std::vector<uint64_t> values, replies;
  std::vector<Slot> slots;
  LatencyRecorder lat;
  uint64_t next_id = 1, next_value = 0, items = 0, requests = 0;
};

int run_shape(const Options& o, const Shape& shape) {
  for (int rep = 0; rep < o.repetitions; ++rep) {
    const std::string dir = make_run_dir(o);
    ChildProcess child = ChildProcess::start(
        [&](int ready) { return serve_child(dir, shape.profiles, ready); }, server_cpu());
    if (!child.valid()) {
      std::fprintf(stderr, "netipc-bench: server child failed to start\n");
      return 1;
    }
    pin_to_cpu(client_cpu());
    ClientProposal p;
    p.supported_profiles = shape.profiles;
    p.preferred_profiles = shape.profiles;
    p.max_request_payload_bytes = kPayloadCeiling;
    p.max_request_batch_items = kMaxBatch;
    p.max_response_payload_bytes = kPayloadCeiling;
    auto session = ClientSession::connect(dir, "bench", p);
    if (!session.ok()) {
      std::fprintf(stderr, "netipc-bench: connect: %s\n", session.error().message().c_str());
      return 1;
    }
    Traffic t(&*session, shape);
    Window w(&child);
    const uint64_t start = now_ns();
    const uint64_t end = start + static_cast<uint64_t>(o.seconds * 1e9);
    bool ok = true;
    for (int i = 0; i < shape.depth && ok; ++i)
      ok = t.send_one();
    uint64_t sent = static_cast<uint64_t>(shape.depth);
    while (ok && now_ns() < end) {
      ok = t.receive_one();
      pace(start, sent, o.rate);
      if (ok) ok = t.send_one();
      ++sent;
    }
    RunResult r;
    r.scenario = shape.name;
    r.unit = shape.batch ? "items" : "requests";
    w.finish(&r, shape.batch ? t.items : t.requests);
    for (size_t i = 1; ok && i < session->in_flight() + 1;)
      ok = t.receive_one();  // drain
    if (!ok) {
      std::fprintf(stderr, "netipc-bench: %s: a call failed or answered wrongly\n", shape.name);
      return 1;
    }
    r.p50_us = t.lat.percentile_us(0.50);
    r.p95_us = t.lat.percentile_us(0.95);
    r.p99_us = t.lat.percentile_us(0.99);
    r.extra.integer("depth", shape.depth)
        .str("profile", wire::profile_name(session->profile()))
        .num("requests_per_s", r.throughput * static_cast<double>(t.requests) /
                                   static_cast<double>(t.items == 0 ? 1 : t.items));
    session = ClientSession();
    child.stop();
    if (o.run_dir.empty()) remove_tree(dir);
    report(r);
  }
  return 0;
}

}  // namespace

int run_increment_shape(const Options& o, const std::string& name) {
  static const Shape shapes[] = {
      {"uds-ping-pong", wire::kProfileUds, false, 1},
      {"uds-batch-ping-pong", wire::kProfileUds, true, 1},
      {"uds-pipeline-d16", wire::kProfileUds, false, 16},
      {"uds-pipeline-batch-d16", wire::kProfileUds, true, 16},
      {"shm-ping-pong", wire::kProfileUds | wire::kProfileShmHybrid, false, 1},
      {"shm-batch-ping-pong", wire::kProfileUds | wire::kProfileShmHybrid, true, 1},
  };
  for (const Shape& s : shapes) {
    if (name == s.name) return run_shape(o, s);
  }
  return 2;
}

NETIPC_BENCH_SCENARIO("uds-ping-pong", "INCREMENT, one request in flight, Unix socket",
                      [](const Options& o) { return run_increment_shape(o, "uds-ping-pong"); });
NETIPC_BENCH_SCENARIO("uds-batch-ping-pong", "INCREMENT batches of 2..1000 items, Unix socket",
                      [](const Options& o) {
                        return run_increment_shape(o, "uds-batch-ping-pong");
                      });
NETIPC_BENCH_SCENARIO("uds-pipeline-d16", "INCREMENT, 16 requests in flight, Unix socket",
                      [](const Options& o) { return run_increment_shape(o, "uds-pipeline-d16"); });
NETIPC_BENCH_SCENARIO("uds-pipeline-batch-d16", "INCREMENT batches, 16 in flight, Unix socket",
                      [](const Options& o) {
                        return run_increment_shape(o, "uds-pipeline-batch-d16");
                      });
NETIPC_BENCH_SCENARIO("shm-ping-pong", "INCREMENT, one request in flight, shared memory",
                      [](const Options& o) { return run_increment_shape(o, "shm-ping-pong"); });
NETIPC_BENCH_SCENARIO("shm-batch-ping-pong", "INCREMENT batches of 2..1000 items, shared memory",
                      [](const Options& o) {
                        return run_increment_shape(o, "shm-batch-ping-pong");
                      });

}  // namespace netipc::bench
