// Fuzz target: the 32-byte chunk continuation header decoder
// (docs/wire.md §4.1, §4.3). A decoded header must re-encode to exactly
// the bytes it came from (flags are 0, the payload length is not).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "netipc/wire.h"

using netipc::ByteSpan;
namespace wire = netipc::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto c = wire::decode_chunk_header(ByteSpan(data, size));
  if (!c.ok()) return 0;
  if (size < wire::kHeaderLen || c->chunk_payload_len == 0) std::abort();
  uint8_t again[wire::kHeaderLen];
  wire::encode_chunk_header(*c, again);
  if (std::memcmp(again, data, wire::kHeaderLen) != 0) std::abort();
  // The chunk count of any message size at any packet size is computable.
  const uint32_t packet = c->total_message_len;
  const uint32_t n = wire::chunk_count_for(c->chunk_payload_len, packet);
  if (packet <= wire::kHeaderLen ? n != 0 : n == 0) std::abort();
  return 0;
}

extern "C" void NetipcFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  // The docs/wire.md §8 vector: message 7, total 1032, chunk 1 of 5, 224 bytes.
  wire::ChunkHeader c;
  c.message_id = 7;
  c.total_message_len = 1032;
  c.chunk_index = 1;
  c.chunk_count = 5;
  c.chunk_payload_len = 224;
  std::vector<uint8_t> b(wire::kHeaderLen);
  wire::encode_chunk_header(c, b.data());
  out->push_back(b);
  c.chunk_index = 4;
  c.chunk_payload_len = 104;
  wire::encode_chunk_header(c, b.data());
  b.resize(wire::kHeaderLen + 104, 0x5A);
  out->push_back(b);
}
