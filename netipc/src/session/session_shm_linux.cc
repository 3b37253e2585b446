// The shared-memory half of ClientSession: attach after an ACK that
// selected SHM, then one request in flight through the region.
#include <fcntl.h>
#include <poll.h>

#include "netipc/session.h"
#include "session/session_internal.h"
#include "sys_linux.h"
#include "transport/shm/channel.h"

namespace netipc {

struct ClientSession::ShmState {
  // Declaration order matters: the channel is destroyed before the region.
  ShmRegion region;
  ShmChannel channel;
  uint8_t header[wire::kHeaderLen] = {};
};

// Defined here, where ShmState is complete.
ClientSession::ClientSession() = default;
ClientSession::ClientSession(ClientSession&&) noexcept = default;
ClientSession& ClientSession::operator=(ClientSession&&) noexcept = default;
ClientSession::~ClientSession() = default;

namespace detail {

Result<Message> validate_shm_message(const uint8_t* data, uint32_t len, const Limits& limits) {
  auto h = wire::decode_header(ByteSpan(data, len));
  if (!h.ok()) return h.error();
  if (uint64_t{h->payload_len} + wire::kHeaderLen != len) {
    return make_error(Errc::kProtocol, "SHM message length differs from its header");
  }
  if (h->payload_len > limits.max_payload || h->item_count > limits.max_items) {
    return make_error(Errc::kLimitExceeded, "SHM message over the negotiated ceiling");
  }
  return Message{*h, ByteSpan(data + wire::kHeaderLen, h->payload_len)};
}

bool socket_peer_gone(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

bool fd_signalled(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
}

}  // namespace detail

namespace {

const char* attach_reason(Errc code) {
  switch (code) {
    case Errc::kNotFound: return "SHM attach: region file not found";
    case Errc::kPermission: return "SHM attach: region file refused (symlink or permissions)";
    case Errc::kNotReady: return "SHM attach: region not initialised in time";
    case Errc::kBadMagic: return "SHM attach: bad region magic";
    case Errc::kBadVersion: return "SHM attach: unsupported region version";
    case Errc::kBadHeaderLen: return "SHM attach: bad region header length";
    case Errc::kBadLayout: return "SHM attach: region areas do not fit the file";
    case Errc::kNoSpace: return "SHM attach: region not backed (store full)";
    case Errc::kAborted: return "SHM attach: aborted";
    default: return "SHM attach failed";
  }
}

}  // namespace

Status ClientSession::attach_shm(const std::string& run_dir, const std::string& service,
                                 int64_t deadline_ns, int abort_fd) {
  UniqueFd dir(::open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return make_error(Errc::kShmUnavailable, "SHM attach: open run dir", errno);
  AttachRetryPolicy policy;
  if (deadline_ns != 0) {
    const int64_t left_ms = (deadline_ns - detail::monotonic_ns()) / 1000000;
    policy.bound_ms = static_cast<uint32_t>(left_ms < 1 ? 1 : (left_ms > 5000 ? 5000 : left_ms));
  }
  auto stop = [abort_fd] { return detail::fd_signalled(abort_fd); };
  auto region = ShmRegion::attach_with_retry(dir.get(), service, ack_.session_id, policy, stop);
  if (!region.ok()) {
    return make_error(Errc::kShmUnavailable, attach_reason(region.code()),
                      region.error().sys_errno);
  }
  auto state = std::make_unique<ShmState>();
  state->region = std::move(*region);
  state->channel = ShmChannel(state->region, ShmSide::kClient);
  if (state->channel.send_capacity() < wire::kHeaderLen + uint64_t{ack_.agreed_max_request_payload_bytes}) {
    return make_error(Errc::kShmUnavailable, "SHM attach: request area below the agreed ceiling");
  }
  // No receive buffer: responses are read where the server published them
  // (see shm_receive()).
  shm_ = std::move(state);
  return ok_status();
}

Status ClientSession::shm_send(const wire::Header& header, ByteSpan payload) {
  const Limits out = client_outbound_limits(ack_);
  if (payload.size > out.max_payload || header.item_count > out.max_items) {
    return make_error(Errc::kLimitExceeded, "outbound message over the negotiated ceiling");
  }
  wire::Header h = header;
  h.payload_len = static_cast<uint32_t>(payload.size);
  wire::encode_header(h, shm_->header);
  return shm_->channel.publish(ByteSpan(shm_->header, sizeof shm_->header), payload);
}

Result<Message> ClientSession::shm_receive(int64_t deadline_ns, int abort_fd) {
  const int uds = conn_.fd();
  auto stop = [abort_fd, uds]() -> Errc {
    if (detail::fd_signalled(abort_fd)) return Errc::kAborted;
    if (detail::socket_peer_gone(uds)) return Errc::kPeerGone;
    return Errc::kOk;
  };
  // In place, without a copy: the server writes its area again only after
  // our next request, and a Message is valid only until the next call
  // (send). For a 100k-item snapshot this saves a copy of ~18 MB per call
  // and a private buffer of the response area's size. The header and the
  // codecs read each length once and bound it, so a server that writes out
  // of turn can corrupt only its own answer.
  auto span = shm_->channel.receive_in_place_until(deadline_ns, stop);
  if (!span.ok()) return span.error();
  return detail::validate_shm_message(span->data, static_cast<uint32_t>(span->size),
                                      client_inbound_limits(ack_));
}

}  // namespace netipc
