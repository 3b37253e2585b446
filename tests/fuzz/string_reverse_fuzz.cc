// Fuzzes the STRING_REVERSE decoder: its result stays inside the input, and
// a decoded string survives the server's reversal and a second decode.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "netipc/codec/string_reverse.h"

using netipc::ByteSpan;
using namespace netipc::codec;

namespace {

void check(bool cond) {
  if (!cond) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = decode_string_reverse(ByteSpan(data, size));
  if (!s.ok()) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(s->data());
  check(p == data + kStringReverseOffset && p + s->size() < data + size);
  check(p[s->size()] == 0);
  std::vector<uint8_t> reply;
  check(encode_string_reversed(*s, &reply).ok());
  check(reply.size() == string_reverse_size(s->size()));
  auto r = decode_string_reverse(ByteSpan(reply));
  check(r.ok());
  std::string expected(*s);
  std::reverse(expected.begin(), expected.end());
  check(*r == expected);
  return 0;
}

extern "C" void NetipcFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  for (const char* s : {"hello", "", "a longer string with spaces"}) {
    std::vector<uint8_t> b;
    if (encode_string_reverse(s, &b).ok()) out->push_back(b);
  }
}
