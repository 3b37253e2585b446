// Payload codec micro benchmarks: cgroups snapshot encode/decode in both
// layouts at 16 .. 100000 items, against the generated protobuf classes as
// the reference for layout 2. Buffers are reused across iterations, as the
// server and the consumer cache do.
//
// Rows: codec-v1-encode/N, codec-v1-decode/N (parse + every item),
// codec-v2-encode/N, codec-v2-decode/N (zero-copy wire reader),
// codec-v2-generated-serialize/N (SerializeToArray of a prebuilt message,
// i.e. without the cost of building it), codec-v2-generated-parse/N
// (ParseFromArray on an Arena).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/arena.h>

#include "bench_items.h"
#include "netipc/codec/cgroups.h"
#include "netipc/codec/cgroups_pb.h"
#include "netipc/codec/increment.h"

#if __has_include("netipc/cgroups_snapshot.pb.h")
#include "netipc/cgroups_snapshot.pb.h"
#else
#include "proto/netipc/cgroups_snapshot.pb.h"
#endif

namespace {

using netipc::ByteSpan;
using netipc::CgroupItem;
using namespace netipc::codec;

// The production-shaped mix every benchmark shares (bench_items.h).
std::vector<CgroupItem> corpus(size_t n) {
  return netipc::bench::netdata_items(n);
}

const std::vector<CgroupItem>& cached_corpus(size_t n) {
  static std::vector<std::pair<size_t, std::vector<CgroupItem>>> cache;
  for (const auto& c : cache) {
    if (c.first == n) return c.second;
  }
  cache.emplace_back(n, corpus(n));
  return cache.back().second;
}

void set_rates(benchmark::State& state, size_t bytes, size_t items) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * items));
  state.counters["payload_bytes"] = static_cast<double>(bytes);
}

void v1_encode(benchmark::State& state) {
  const auto& items = cached_corpus(static_cast<size_t>(state.range(0)));
  std::vector<uint8_t> buf;
  for (auto _ : state) {
    if (!encode_cgroups_snapshot_v1(items, 1, 1, &buf).ok()) state.SkipWithError("encode");
    benchmark::DoNotOptimize(buf.data());
  }
  set_rates(state, buf.size(), items.size());
}

void v1_decode(benchmark::State& state) {
  const auto& items = cached_corpus(static_cast<size_t>(state.range(0)));
  std::vector<uint8_t> buf;
  if (!encode_cgroups_snapshot_v1(items, 1, 1, &buf).ok()) state.SkipWithError("encode");
  CgroupsSnapshotViews views;
  for (auto _ : state) {
    if (!decode_cgroups_snapshot_v1(ByteSpan(buf), &views).ok()) state.SkipWithError("decode");
    benchmark::DoNotOptimize(views.items.data());
  }
  set_rates(state, buf.size(), items.size());
}

void v2_encode(benchmark::State& state) {
  const auto& items = cached_corpus(static_cast<size_t>(state.range(0)));
  std::vector<uint8_t> buf;
  for (auto _ : state) {
    if (!encode_cgroups_snapshot_v2(items, 1, 1, &buf).ok()) state.SkipWithError("encode");
    benchmark::DoNotOptimize(buf.data());
  }
  set_rates(state, buf.size(), items.size());
}

void v2_decode(benchmark::State& state) {
  const auto& items = cached_corpus(static_cast<size_t>(state.range(0)));
  std::vector<uint8_t> buf;
  if (!encode_cgroups_snapshot_v2(items, 1, 1, &buf).ok()) state.SkipWithError("encode");
  CgroupsSnapshotViews views;
  for (auto _ : state) {
    if (!decode_cgroups_snapshot_v2(ByteSpan(buf), &views).ok()) state.SkipWithError("decode");
    benchmark::DoNotOptimize(views.items.data());
  }
  set_rates(state, buf.size(), items.size());
}

netipc::pb::CgroupsSnapshot to_pb(const std::vector<CgroupItem>& items) {
  netipc::pb::CgroupsSnapshot m;
  m.set_generation(1);
  m.set_systemd_enabled(1);
  for (const auto& it : items) {
    auto* p = m.add_items();
    p->set_hash(it.hash);
    p->set_options(it.options);
    p->set_enabled(it.enabled);
    p->set_name(it.name);
    p->set_path(it.path);
    p->set_cgroup_id(it.cgroup_id);
  }
  return m;
}

void v2_generated_serialize(benchmark::State& state) {
  const auto& items = cached_corpus(static_cast<size_t>(state.range(0)));
  const netipc::pb::CgroupsSnapshot m = to_pb(items);
  std::vector<uint8_t> buf;
  for (auto _ : state) {
    buf.resize(m.ByteSizeLong());
    if (!m.SerializeToArray(buf.data(), static_cast<int>(buf.size()))) {
      state.SkipWithError("serialize");
    }
    benchmark::DoNotOptimize(buf.data());
  }
  set_rates(state, buf.size(), items.size());
}

void v2_generated_parse(benchmark::State& state) {
  const auto& items = cached_corpus(static_cast<size_t>(state.range(0)));
  std::vector<uint8_t> buf;
  if (!encode_cgroups_snapshot_v2(items, 1, 1, &buf).ok()) state.SkipWithError("encode");
  for (auto _ : state) {
    google::protobuf::Arena arena;
    auto* m = google::protobuf::Arena::CreateMessage<netipc::pb::CgroupsSnapshot>(&arena);
    if (!m->ParseFromArray(buf.data(), static_cast<int>(buf.size()))) {
      state.SkipWithError("parse");
    }
    benchmark::DoNotOptimize(m);
  }
  set_rates(state, buf.size(), items.size());
}

void increment_batch_answer(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  std::vector<uint64_t> values(n, 41);
  std::vector<uint8_t> req;
  std::vector<uint8_t> resp;
  if (!encode_increment_batch(values.data(), n, &req).ok()) state.SkipWithError("encode");
  for (auto _ : state) {
    if (!answer_increment_batch(ByteSpan(req), n, &resp).ok()) state.SkipWithError("answer");
    benchmark::DoNotOptimize(resp.data());
  }
  set_rates(state, req.size(), n);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int n : {16, 1000, 10000, 100000})
    b->Arg(n);
  b->Unit(benchmark::kMicrosecond);
}

BENCHMARK(v1_encode)->Name("codec-v1-encode")->Apply(sizes);
BENCHMARK(v1_decode)->Name("codec-v1-decode")->Apply(sizes);
BENCHMARK(v2_encode)->Name("codec-v2-encode")->Apply(sizes);
BENCHMARK(v2_decode)->Name("codec-v2-decode")->Apply(sizes);
BENCHMARK(v2_generated_serialize)->Name("codec-v2-generated-serialize")->Apply(sizes);
BENCHMARK(v2_generated_parse)->Name("codec-v2-generated-parse")->Apply(sizes);
BENCHMARK(increment_batch_answer)
    ->Name("codec-increment-batch-answer")
    ->Arg(1000)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
