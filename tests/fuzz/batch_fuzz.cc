// Fuzzes Level-1 batch parsing (netipc::wire::BatchView) and the INCREMENT
// batch codec on top of it. Input: a u32 item_count, then the payload.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "netipc/batch.h"
#include "netipc/codec/increment.h"

using netipc::ByteSpan;
using netipc::Errc;
using namespace netipc::codec;

namespace {

void check(bool cond) {
  if (!cond) std::abort();
}

std::vector<uint8_t> with_count(uint32_t count, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out(4);
  netipc::store_u32(out.data(), count);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint32_t count = netipc::load_u32(data);
  const ByteSpan payload(data + 4, size - 4);
  auto batch = netipc::wire::BatchView::parse(payload, count);
  std::vector<uint64_t> values;
  const netipc::Status decoded = decode_increment_batch(payload, count, &values);
  std::vector<uint8_t> reply;
  const netipc::Status answered = answer_increment_batch(payload, count, &reply);
  if (!batch.ok()) {
    check(decoded.code() == batch.code() && answered.code() == batch.code());
    return 0;
  }
  check(batch->size() == count);
  bool all_long_enough = true;
  for (uint32_t i = 0; i < count; ++i) {
    const ByteSpan item = batch->item(i);
    check(item.data >= payload.data + uint64_t{8} * count);
    check(item.data + item.size <= payload.data + payload.size);
    if (item.size < kIncrementLen) all_long_enough = false;
  }
  check(decoded.ok() == all_long_enough && answered.ok() == all_long_enough);
  if (!all_long_enough) {
    check(decoded.code() == Errc::kTruncated && values.empty());
    return 0;
  }
  // The reply is a canonical batch of v + 1 for every item, in order.
  check(reply.size() == size_t{16} * count);
  std::vector<uint64_t> replied;
  check(decode_increment_batch(ByteSpan(reply), count, &replied).ok());
  check(replied.size() == values.size());
  for (size_t i = 0; i < values.size(); ++i)
    check(replied[i] == increment_reply(values[i]));
  return 0;
}

extern "C" void NetipcFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  std::vector<uint8_t> b;
  const uint64_t values[] = {1, 2, 3};
  if (encode_increment_batch(values, 3, &b).ok()) out->push_back(with_count(3, b));
  const uint64_t many[] = {0, UINT64_MAX, 41, 7, 8, 9, 10, 11};
  if (encode_increment_batch(many, 8, &b).ok()) out->push_back(with_count(8, b));
  // Items "abc" and "de" (docs/wire.md §8).
  std::vector<uint8_t> text;
  netipc::wire::BatchWriter w(&text, 2);
  const uint8_t abc[] = {'a', 'b', 'c'};
  const uint8_t de[] = {'d', 'e'};
  w.add(ByteSpan(abc, 3));
  w.add(ByteSpan(de, 2));
  w.finish();
  out->push_back(with_count(2, text));
}
