#include "netipc/services.h"

#include <utility>

#include "netipc/codec/increment.h"

namespace netipc {

Handler make_increment_handler() {
  ItemHandler item = [](ByteSpan request, ResponseWriter& out) -> Status {
    auto v = codec::decode_increment(request);
    if (!v.ok()) return v.error();
    auto& bytes = out.bytes();
    bytes.resize(codec::kIncrementLen);
    codec::encode_increment(codec::increment_reply(*v), bytes.data());
    return ok_status();
  };
  // Batches in one call: no per-item dispatch, and the reply is laid out
  // once for its known size.
  auto batch = [](const wire::BatchView& request, ResponseWriter& out) -> Status {
    return codec::answer_increment_batch(request, &out.bytes());
  };
  return Handler(std::move(item), std::move(batch));
}

}  // namespace netipc
