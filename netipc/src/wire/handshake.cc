#include "netipc/handshake.h"

namespace netipc {

using wire::TransportStatus;

namespace {

uint32_t highest_bit(uint32_t v) noexcept {
  if (v == 0) return 0;
  return 1u << (31 - __builtin_clz(v));
}

void fill_rejection(ServerDecision* d, TransportStatus status, const char* reason) noexcept {
  d->outcome = ServerDecision::Outcome::kReject;
  d->status = status;
  d->reason = reason;
  d->ack = wire::HelloAck{};  // all zero except layout_version = 1
  wire::encode_hello_ack_packet(d->ack, status, d->packet);
}

}  // namespace

uint32_t select_profile(uint32_t intersection, uint32_t client_preferred,
                        uint32_t server_preferred) noexcept {
  const uint32_t preferred = intersection & client_preferred & server_preferred;
  return highest_bit(preferred != 0 ? preferred : intersection);
}

ServerDecision server_handshake(const ServerPolicy& policy, ByteSpan packet,
                                uint64_t session_id) noexcept {
  ServerDecision d;
  auto header = wire::decode_header(packet);
  if (!header.ok()) {
    // A HELLO from a future protocol version gets a clear INCOMPATIBLE.
    const bool future_hello =
        header.code() == Errc::kBadVersion && packet.size >= wire::kHeaderLen &&
        load_u16(packet.data + 6) == wire::kHeaderLen &&
        load_u16(packet.data + 8) == static_cast<uint16_t>(wire::Kind::kControl) &&
        load_u16(packet.data + 12) == static_cast<uint16_t>(wire::ControlCode::kHello);
    if (future_hello) {
      fill_rejection(&d, TransportStatus::kIncompatible, "HELLO header version is not 1");
    } else {
      d.reason = "first packet is not a NetIPC message";
    }
    return d;
  }
  if (header->kind != static_cast<uint16_t>(wire::Kind::kControl) ||
      header->code != static_cast<uint16_t>(wire::ControlCode::kHello)) {
    d.reason = "first packet is not a HELLO";
    return d;
  }
  // The body is read from the received bytes, not from payload_len.
  auto hello = wire::decode_hello(packet.subspan(wire::kHeaderLen));
  if (!hello.ok()) {
    fill_rejection(&d, TransportStatus::kBadEnvelope, "HELLO body shorter than 44 bytes");
    return d;
  }
  d.hello = *hello;
  if (hello->layout_version != wire::kLayoutVersion) {
    fill_rejection(&d, TransportStatus::kIncompatible, "HELLO layout_version is not 1");
    return d;
  }
  if (hello->flags != 0 || hello->reserved != 0) {
    fill_rejection(&d, TransportStatus::kBadEnvelope, "HELLO flags or reserved field not zero");
    return d;
  }
  // Constant-time token comparison: no early exit on the first differing bit.
  const uint64_t diff = hello->auth_token ^ policy.auth_token;
  if (diff != 0) {
    fill_rejection(&d, TransportStatus::kAuthFailed, "auth token mismatch");
    return d;
  }
  const uint32_t intersection = hello->supported_profiles & policy.supported_profiles;
  if (intersection == 0) {
    fill_rejection(&d, TransportStatus::kUnsupported, "no common transport profile");
    return d;
  }
  const uint32_t selected =
      select_profile(intersection, hello->preferred_profiles, policy.preferred_profiles);
  if (hello->max_request_payload_bytes > policy.max_request_payload_bytes) {
    fill_rejection(&d, TransportStatus::kLimitExceeded,
                   "proposed request ceiling above the server maximum");
    return d;
  }
  const uint32_t packet_size =
      hello->packet_size < policy.packet_size ? hello->packet_size : policy.packet_size;
  if (packet_size <= wire::kHeaderLen) {
    fill_rejection(&d, TransportStatus::kIncompatible, "packet size 32 bytes or less");
    return d;
  }
  d.outcome = ServerDecision::Outcome::kAccept;
  d.status = TransportStatus::kOk;
  d.reason = "accepted";
  d.ack.server_supported_profiles = policy.supported_profiles;
  d.ack.intersection_profiles = intersection;
  d.ack.selected_profile = selected;
  d.ack.agreed_max_request_payload_bytes = hello->max_request_payload_bytes;
  d.ack.agreed_max_request_batch_items = hello->max_request_batch_items;
  d.ack.agreed_max_response_payload_bytes = policy.max_response_payload_bytes;
  d.ack.agreed_max_response_batch_items = hello->max_request_batch_items;
  d.ack.agreed_packet_size = packet_size;
  d.ack.session_id = session_id;
  wire::encode_hello_ack_packet(d.ack, TransportStatus::kOk, d.packet);
  return d;
}

wire::Hello make_hello(const ClientProposal& p) noexcept {
  wire::Hello h;
  h.supported_profiles = p.supported_profiles != 0 ? p.supported_profiles : wire::kProfileUds;
  h.preferred_profiles = p.preferred_profiles;
  h.max_request_payload_bytes =
      p.max_request_payload_bytes != 0 ? p.max_request_payload_bytes : wire::kMaxPayloadDefault;
  h.max_request_batch_items =
      p.max_request_batch_items != 0 ? p.max_request_batch_items : wire::kDefaultBatchItems;
  h.max_response_payload_bytes =
      p.max_response_payload_bytes != 0 ? p.max_response_payload_bytes : wire::kMaxPayloadDefault;
  h.max_response_batch_items = h.max_request_batch_items;
  h.auth_token = p.auth_token;
  h.packet_size = p.packet_size;
  return h;
}

Result<wire::HelloAck> client_read_ack(ByteSpan packet) noexcept {
  auto header = wire::decode_header(packet);
  if (!header.ok()) {
    if (header.code() == Errc::kBadVersion) return make_error(Errc::kIncompatible, "HELLO_ACK");
    return make_error(Errc::kProtocol, "HELLO_ACK header");
  }
  if (header->kind != static_cast<uint16_t>(wire::Kind::kControl) ||
      header->code != static_cast<uint16_t>(wire::ControlCode::kHelloAck)) {
    return make_error(Errc::kProtocol, "expected HELLO_ACK");
  }
  if (header->transport_status != static_cast<uint16_t>(TransportStatus::kOk)) {
    return make_error(wire::errc_from_status(header->transport_status), "handshake rejected");
  }
  auto ack = wire::decode_hello_ack(packet.subspan(wire::kHeaderLen));
  if (!ack.ok()) return make_error(Errc::kProtocol, "HELLO_ACK body");
  if (ack->layout_version != wire::kLayoutVersion) {
    return make_error(Errc::kIncompatible, "HELLO_ACK layout_version");
  }
  if (ack->flags != 0) return make_error(Errc::kProtocol, "HELLO_ACK flags");
  if (ack->agreed_packet_size <= wire::kHeaderLen) {
    return make_error(Errc::kProtocol, "HELLO_ACK packet size");
  }
  const uint32_t sel = ack->selected_profile;
  if (sel == 0 || (sel & (sel - 1)) != 0) {
    return make_error(Errc::kProtocol, "HELLO_ACK selected profile");
  }
  return *ack;
}

}  // namespace netipc
