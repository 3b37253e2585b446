// Serving one shared-memory session: the loop a server's waiter thread runs
// after a handshake that selected SHM. It receives each request from the
// region (spin, then futex sleep in slices), dispatches it to the endpoint's
// handler and publishes the answer, until the client goes away (its socket
// hangs up), `stop` is set, or the session breaks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "netipc/dispatch.h"
#include "netipc/wire.h"
#include "transport/shm/region.h"

namespace netipc {

struct ShmSessionEnd {
  Errc reason = Errc::kOk;   // kPeerGone (client left), kAborted (stop), or the error
  bool dropped = false;      // closed for malformed traffic
  uint64_t requests = 0;
};

// Runs on the calling thread. `region` is the session's region (created by
// the server before its ACK); `uds_fd` the session's socket, watched for
// hang-up between wait slices. `on_grow` is called (on this thread) with a
// response size the server should learn after a LIMIT_EXCEEDED answer.
ShmSessionEnd serve_shm_session(const ShmRegion& region, int uds_fd, const wire::HelloAck& ack,
                                uint16_t method, const Handler& handler,
                                const std::atomic<bool>& stop,
                                const std::function<void(uint32_t)>& on_grow);

}  // namespace netipc
