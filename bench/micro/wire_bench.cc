// Micro benchmarks: outer header, chunk header and handshake encode/decode.
#include <benchmark/benchmark.h>

#include "netipc/handshake.h"
#include "netipc/wire.h"

namespace netipc {
namespace {

void BM_HeaderEncode(benchmark::State& state) {
  uint8_t buf[wire::kHeaderLen];
  wire::Header h;
  h.kind = 1;
  h.code = 1;
  h.payload_len = 8;
  for (auto _ : state) {
    h.message_id++;
    wire::encode_header(h, buf);
    benchmark::DoNotOptimize(buf);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HeaderEncode);

void BM_HeaderDecode(benchmark::State& state) {
  uint8_t buf[wire::kHeaderLen];
  wire::Header h;
  h.kind = 2;
  h.payload_len = 8;
  wire::encode_header(h, buf);
  for (auto _ : state) {
    auto d = wire::decode_header(ByteSpan(buf, sizeof buf));
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HeaderDecode);

void BM_ChunkHeaderRoundTrip(benchmark::State& state) {
  uint8_t buf[wire::kHeaderLen];
  wire::ChunkHeader c{7, 1032, 1, 5, 224};
  for (auto _ : state) {
    wire::encode_chunk_header(c, buf);
    auto d = wire::decode_chunk_header(ByteSpan(buf, sizeof buf));
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChunkHeaderRoundTrip);

void BM_HelloEncode(benchmark::State& state) {
  ClientProposal p;
  p.supported_profiles = 3;
  p.packet_size = 212960;
  uint8_t buf[wire::kHelloPacketLen];
  for (auto _ : state) {
    wire::encode_hello_packet(make_hello(p), buf);
    benchmark::DoNotOptimize(buf);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HelloEncode);

void BM_ServerHandshake(benchmark::State& state) {
  ClientProposal p;
  p.supported_profiles = 3;
  p.preferred_profiles = 2;
  p.packet_size = 212960;
  uint8_t hello[wire::kHelloPacketLen];
  wire::encode_hello_packet(make_hello(p), hello);
  ServerPolicy policy;
  policy.supported_profiles = 3;
  policy.packet_size = 212960;
  uint64_t sid = 1;
  for (auto _ : state) {
    ServerDecision d = server_handshake(policy, ByteSpan(hello, sizeof hello), sid++);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ServerHandshake);

void BM_ClientReadAck(benchmark::State& state) {
  ServerPolicy policy;
  policy.packet_size = 212960;
  ClientProposal p;
  p.packet_size = 212960;
  uint8_t hello[wire::kHelloPacketLen];
  wire::encode_hello_packet(make_hello(p), hello);
  ServerDecision d = server_handshake(policy, ByteSpan(hello, sizeof hello), 1);
  for (auto _ : state) {
    auto a = client_read_ack(ByteSpan(d.packet, sizeof d.packet));
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClientReadAck);

}  // namespace
}  // namespace netipc
