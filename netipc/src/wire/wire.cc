#include "netipc/wire.h"

namespace netipc::wire {

const char* transport_status_name(uint16_t status) noexcept {
  switch (static_cast<TransportStatus>(status)) {
    case TransportStatus::kOk: return "OK";
    case TransportStatus::kBadEnvelope: return "BAD_ENVELOPE";
    case TransportStatus::kAuthFailed: return "AUTH_FAILED";
    case TransportStatus::kIncompatible: return "INCOMPATIBLE";
    case TransportStatus::kUnsupported: return "UNSUPPORTED";
    case TransportStatus::kLimitExceeded: return "LIMIT_EXCEEDED";
    case TransportStatus::kInternalError: return "INTERNAL_ERROR";
  }
  return "UNKNOWN_STATUS";
}

Errc errc_from_status(uint16_t status) noexcept {
  switch (static_cast<TransportStatus>(status)) {
    case TransportStatus::kOk: return Errc::kOk;
    case TransportStatus::kBadEnvelope: return Errc::kBadEnvelope;
    case TransportStatus::kAuthFailed: return Errc::kAuthFailed;
    case TransportStatus::kIncompatible: return Errc::kIncompatible;
    case TransportStatus::kUnsupported: return Errc::kUnsupported;
    case TransportStatus::kLimitExceeded: return Errc::kLimitExceeded;
    case TransportStatus::kInternalError: return Errc::kInternalError;
  }
  return Errc::kProtocol;
}

const char* profile_name(uint32_t profile) noexcept {
  switch (profile) {
    case kProfileUds: return "UDS_SEQPACKET";
    case kProfileShmHybrid: return "SHM_HYBRID";
    case kProfileShmFutex: return "SHM_FUTEX";
    case kProfileShmWaitAddr: return "SHM_WAITADDR";
    default: return "NONE";
  }
}

void encode_header(const Header& h, uint8_t* out) noexcept {
  store_u32(out + 0, kMsgMagic);
  store_u16(out + 4, kVersion);
  store_u16(out + 6, static_cast<uint16_t>(kHeaderLen));
  store_u16(out + 8, h.kind);
  store_u16(out + 10, h.flags);
  store_u16(out + 12, h.code);
  store_u16(out + 14, h.transport_status);
  store_u32(out + 16, h.payload_len);
  store_u32(out + 20, h.item_count);
  store_u64(out + 24, h.message_id);
}

Result<Header> decode_header(ByteSpan b) noexcept {
  if (b.size < kHeaderLen) return make_error(Errc::kTruncated, "message header");
  if (load_u32(b.data) != kMsgMagic) return make_error(Errc::kBadMagic, "message header");
  if (load_u16(b.data + 4) != kVersion) return make_error(Errc::kBadVersion, "message header");
  if (load_u16(b.data + 6) != kHeaderLen) {
    return make_error(Errc::kBadHeaderLen, "message header");
  }
  Header h;
  h.kind = load_u16(b.data + 8);
  if (h.kind < static_cast<uint16_t>(Kind::kRequest) ||
      h.kind > static_cast<uint16_t>(Kind::kControl)) {
    return make_error(Errc::kBadKind, "message header");
  }
  h.flags = load_u16(b.data + 10);
  h.code = load_u16(b.data + 12);
  h.transport_status = load_u16(b.data + 14);
  h.payload_len = load_u32(b.data + 16);
  h.item_count = load_u32(b.data + 20);
  h.message_id = load_u64(b.data + 24);
  return h;
}

void encode_chunk_header(const ChunkHeader& c, uint8_t* out) noexcept {
  store_u32(out + 0, kChunkMagic);
  store_u16(out + 4, kVersion);
  store_u16(out + 6, 0);
  store_u64(out + 8, c.message_id);
  store_u32(out + 16, c.total_message_len);
  store_u32(out + 20, c.chunk_index);
  store_u32(out + 24, c.chunk_count);
  store_u32(out + 28, c.chunk_payload_len);
}

Result<ChunkHeader> decode_chunk_header(ByteSpan b) noexcept {
  if (b.size < kHeaderLen) return make_error(Errc::kTruncated, "chunk header");
  if (load_u32(b.data) != kChunkMagic) return make_error(Errc::kBadMagic, "chunk header");
  if (load_u16(b.data + 4) != kVersion) return make_error(Errc::kBadVersion, "chunk header");
  if (load_u16(b.data + 6) != 0) return make_error(Errc::kProtocol, "chunk header flags");
  ChunkHeader c;
  c.message_id = load_u64(b.data + 8);
  c.total_message_len = load_u32(b.data + 16);
  c.chunk_index = load_u32(b.data + 20);
  c.chunk_count = load_u32(b.data + 24);
  c.chunk_payload_len = load_u32(b.data + 28);
  if (c.chunk_payload_len == 0) return make_error(Errc::kProtocol, "empty chunk");
  return c;
}

uint32_t chunk_count_for(uint32_t payload_len, uint32_t packet_size) noexcept {
  if (packet_size <= kHeaderLen) return 0;
  const uint64_t body = packet_size - kHeaderLen;
  if (kHeaderLen + uint64_t{payload_len} <= packet_size) return 1;
  const uint64_t rest = payload_len - body;
  return static_cast<uint32_t>(1 + (rest + body - 1) / body);
}

void encode_hello(const Hello& h, uint8_t* out) noexcept {
  store_u16(out + 0, h.layout_version);
  store_u16(out + 2, h.flags);
  store_u32(out + 4, h.supported_profiles);
  store_u32(out + 8, h.preferred_profiles);
  store_u32(out + 12, h.max_request_payload_bytes);
  store_u32(out + 16, h.max_request_batch_items);
  store_u32(out + 20, h.max_response_payload_bytes);
  store_u32(out + 24, h.max_response_batch_items);
  store_u32(out + 28, h.reserved);
  store_u64(out + 32, h.auth_token);
  store_u32(out + 40, h.packet_size);
}

Result<Hello> decode_hello(ByteSpan b) noexcept {
  if (b.size < kHelloLen) return make_error(Errc::kTruncated, "HELLO");
  Hello h;
  h.layout_version = load_u16(b.data + 0);
  h.flags = load_u16(b.data + 2);
  h.supported_profiles = load_u32(b.data + 4);
  h.preferred_profiles = load_u32(b.data + 8);
  h.max_request_payload_bytes = load_u32(b.data + 12);
  h.max_request_batch_items = load_u32(b.data + 16);
  h.max_response_payload_bytes = load_u32(b.data + 20);
  h.max_response_batch_items = load_u32(b.data + 24);
  h.reserved = load_u32(b.data + 28);
  h.auth_token = load_u64(b.data + 32);
  h.packet_size = load_u32(b.data + 40);
  return h;
}

void encode_hello_ack(const HelloAck& a, uint8_t* out) noexcept {
  store_u16(out + 0, a.layout_version);
  store_u16(out + 2, a.flags);
  store_u32(out + 4, a.server_supported_profiles);
  store_u32(out + 8, a.intersection_profiles);
  store_u32(out + 12, a.selected_profile);
  store_u32(out + 16, a.agreed_max_request_payload_bytes);
  store_u32(out + 20, a.agreed_max_request_batch_items);
  store_u32(out + 24, a.agreed_max_response_payload_bytes);
  store_u32(out + 28, a.agreed_max_response_batch_items);
  store_u32(out + 32, a.agreed_packet_size);
  store_u32(out + 36, a.reserved);
  store_u64(out + 40, a.session_id);
}

Result<HelloAck> decode_hello_ack(ByteSpan b) noexcept {
  if (b.size < kHelloAckLen) return make_error(Errc::kTruncated, "HELLO_ACK");
  HelloAck a;
  a.layout_version = load_u16(b.data + 0);
  a.flags = load_u16(b.data + 2);
  a.server_supported_profiles = load_u32(b.data + 4);
  a.intersection_profiles = load_u32(b.data + 8);
  a.selected_profile = load_u32(b.data + 12);
  a.agreed_max_request_payload_bytes = load_u32(b.data + 16);
  a.agreed_max_request_batch_items = load_u32(b.data + 20);
  a.agreed_max_response_payload_bytes = load_u32(b.data + 24);
  a.agreed_max_response_batch_items = load_u32(b.data + 28);
  a.agreed_packet_size = load_u32(b.data + 32);
  a.reserved = load_u32(b.data + 36);
  a.session_id = load_u64(b.data + 40);
  return a;
}

void encode_hello_packet(const Hello& h, uint8_t* out) noexcept {
  Header hdr;
  hdr.kind = static_cast<uint16_t>(Kind::kControl);
  hdr.code = static_cast<uint16_t>(ControlCode::kHello);
  hdr.payload_len = kHelloLen;
  encode_header(hdr, out);
  encode_hello(h, out + kHeaderLen);
}

void encode_hello_ack_packet(const HelloAck& a, TransportStatus status, uint8_t* out) noexcept {
  Header hdr;
  hdr.kind = static_cast<uint16_t>(Kind::kControl);
  hdr.code = static_cast<uint16_t>(ControlCode::kHelloAck);
  hdr.transport_status = static_cast<uint16_t>(status);
  hdr.payload_len = kHelloAckLen;
  encode_header(hdr, out);
  encode_hello_ack(a, out + kHeaderLen);
}

}  // namespace netipc::wire
