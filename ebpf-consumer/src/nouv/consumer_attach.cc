// Consumer::attach / detach when the project is built without the libuv
// adapter (NETIPC_WITH_LIBUV=OFF): only blocking refreshes are available.
#include "ebpf_consumer/consumer.h"
#include "netipc/snapshot_cache_client.h"

namespace netipc::ebpf {

struct Consumer::Attached {};

Consumer::~Consumer() = default;

Status Consumer::attach(uv_loop_t*, int, RefreshCallback) {
  return make_error(Errc::kUnsupported, "Consumer::attach: built without libuv");
}

Status Consumer::detach(std::function<void()>) {
  return make_error(Errc::kInvalidArgument, "Consumer::detach: not attached");
}

}  // namespace netipc::ebpf
