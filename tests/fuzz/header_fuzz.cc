// Fuzz target: the 32-byte outer message header decoder (docs/wire.md §2,
// §7.1). A decoded header must re-encode to exactly the bytes it came from.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "netipc/wire.h"

using netipc::ByteSpan;
namespace wire = netipc::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto h = wire::decode_header(ByteSpan(data, size));
  if (!h.ok()) {
    if (size >= wire::kHeaderLen && h.code() == netipc::Errc::kTruncated) std::abort();
    return 0;
  }
  if (size < wire::kHeaderLen) std::abort();
  if (h->kind < 1 || h->kind > 3) std::abort();
  uint8_t again[wire::kHeaderLen];
  wire::encode_header(*h, again);
  if (std::memcmp(again, data, wire::kHeaderLen) != 0) std::abort();
  (void)h->is_batch();
  return 0;
}

extern "C" void NetipcFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  for (uint16_t kind = 1; kind <= 3; ++kind) {
    wire::Header h;
    h.kind = kind;
    h.code = kind == 3 ? 1 : 2;
    h.flags = kind == 1 ? wire::kFlagBatch : 0;
    h.item_count = kind == 1 ? 3 : 1;
    h.payload_len = 48;
    h.message_id = 0x0102030405060708ull;
    std::vector<uint8_t> b(wire::kHeaderLen + 8, 0);
    wire::encode_header(h, b.data());
    out->push_back(b);
  }
}
