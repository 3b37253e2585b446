#include "netipc/services.h"

#include "netipc/codec/increment.h"

namespace netipc {

Handler make_increment_handler() {
  return [](ByteSpan request, ResponseWriter& out) -> Status {
    auto v = codec::decode_increment(request);
    if (!v.ok()) return v.error();
    auto& bytes = out.bytes();
    bytes.resize(codec::kIncrementLen);
    codec::encode_increment(codec::increment_reply(*v), bytes.data());
    return ok_status();
  };
}

}  // namespace netipc
