#include "server/shm_service.h"

#include <vector>

#include "netipc/session.h"
#include "session/session_internal.h"
#include "transport/shm/channel.h"

namespace netipc {

ShmSessionEnd serve_shm_session(const ShmRegion& region, int uds_fd, const wire::HelloAck& ack,
                                uint16_t method, const Handler& handler,
                                const std::atomic<bool>& stop,
                                const std::function<void(uint32_t)>& on_grow) {
  ShmSessionEnd end;
  ShmChannel channel(region, ShmSide::kServer);
  Dispatcher dispatcher(method, &handler);
  const Limits in = server_inbound_limits(ack);
  // The whole request area, not just 32 + the agreed ceiling: a request
  // that fits the area (which is rounded up to 64) but exceeds the ceiling
  // is then answered with LIMIT_EXCEEDED, as on the socket, instead of
  // failing the receive and ending the session without an answer.
  std::vector<uint8_t> rx(channel.receive_capacity());
  uint8_t header[wire::kHeaderLen];
  auto stop_check = [&]() -> Errc {
    if (stop.load(std::memory_order_acquire)) return Errc::kAborted;
    if (detail::socket_peer_gone(uds_fd)) return Errc::kPeerGone;
    return Errc::kOk;
  };
  for (;;) {
    auto n = channel.receive(MutableByteSpan(rx.data(), rx.size()), 0, stop_check);
    if (!n.ok()) {
      end.reason = n.code();
      end.dropped = n.code() != Errc::kPeerGone && n.code() != Errc::kAborted;
      return end;
    }
    DispatchResult r;
    auto m = detail::validate_shm_message(rx.data(), *n, in);
    if (!m.ok()) {
      if (m.code() != Errc::kLimitExceeded || *n < wire::kHeaderLen) {
        end.reason = m.code();
        end.dropped = true;
        return end;
      }
      // Over the request ceiling: say so, then end the session.
      auto h = wire::decode_header(ByteSpan(rx.data(), *n));
      r = Dispatcher::status_only(*h, wire::TransportStatus::kLimitExceeded, true);
    } else if (m->header.kind != static_cast<uint16_t>(wire::Kind::kRequest)) {
      end.reason = Errc::kProtocol;
      end.dropped = true;
      return end;
    } else {
      ++end.requests;
      r = dispatcher.dispatch(*m, ack.agreed_max_response_payload_bytes);
    }
    if (r.grow_response_to != 0 && on_grow) on_grow(r.grow_response_to);
    wire::encode_header(r.header, header);
    Status st = channel.publish(ByteSpan(header, sizeof header), r.payload);
    if (!st.ok()) {
      end.reason = st.code();
      end.dropped = false;
      return end;
    }
    if (r.close_after_send) {
      end.reason = Errc::kOk;
      return end;
    }
  }
}

}  // namespace netipc
