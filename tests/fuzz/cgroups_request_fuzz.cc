// Fuzzes the cgroups snapshot request decoder against its contract.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "netipc/codec/cgroups.h"

using netipc::ByteSpan;
using netipc::Errc;
using namespace netipc::codec;

namespace {

void check(bool cond) {
  if (!cond) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteSpan in(data, size);
  for (uint32_t mask : {kCgroupsLayoutsUpstream, kCgroupsLayoutsAll, 0xFFFFFFFFu, 0u}) {
    auto r = decode_cgroups_request(in, mask);
    if (size < kCgroupsRequestLen) {
      check(r.code() == Errc::kTruncated);
      continue;
    }
    const uint16_t layout = netipc::load_u16(data);
    const bool valid = netipc::load_u16(data + 2) == 0 && (cgroups_layout_bit(layout) & mask) != 0;
    check(r.ok() == valid);
    if (!valid) {
      check(r.code() == Errc::kBadLayout);
      continue;
    }
    check(*r == layout);
    uint8_t again[kCgroupsRequestLen];
    encode_cgroups_request(*r, again);
    auto round = decode_cgroups_request(ByteSpan(again, sizeof again), mask);
    check(round.ok() && *round == layout);
  }
  return 0;
}

extern "C" void NetipcFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  for (uint16_t layout : {kCgroupsLayoutBinary, kCgroupsLayoutProtobuf}) {
    std::vector<uint8_t> b(kCgroupsRequestLen);
    encode_cgroups_request(layout, b.data());
    out->push_back(b);
  }
}
