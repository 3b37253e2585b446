// NetIPC v1 wire format: constants, the 32-byte outer header, the 32-byte
// chunk continuation header, HELLO and HELLO_ACK. Pure bytes, no I/O.
// Normative source: docs/wire.md. Host byte order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "netipc/bytes.h"
#include "netipc/result.h"

namespace netipc::wire {

inline constexpr uint32_t kMsgMagic = 0x4E495043;    // "NIPC"
inline constexpr uint32_t kChunkMagic = 0x4E43484B;  // "NCHK"
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderLen = 32;
inline constexpr size_t kHelloLen = 44;
inline constexpr size_t kHelloAckLen = 48;
inline constexpr uint32_t kAlignment = 8;
inline constexpr uint16_t kLayoutVersion = 1;

// Payload ceilings (defaults, not protocol limits).
inline constexpr uint32_t kMaxPayloadDefault = 1024;
inline constexpr uint32_t kMaxPayloadCap = 1u << 20;  // zero-config growth ceiling
inline constexpr uint32_t kServiceResponseDefault = 65536;
inline constexpr uint32_t kMinPayloadBuffer = 1024;
inline constexpr uint32_t kDefaultBatchItems = 1;
inline constexpr uint32_t kPacketSizeFallback = 65536;

enum class Kind : uint16_t { kRequest = 1, kResponse = 2, kControl = 3 };

inline constexpr uint16_t kFlagBatch = 0x0001;

enum class TransportStatus : uint16_t {
  kOk = 0,
  kBadEnvelope = 1,
  kAuthFailed = 2,
  kIncompatible = 3,
  kUnsupported = 4,
  kLimitExceeded = 5,
  kInternalError = 6,
};
const char* transport_status_name(uint16_t status) noexcept;
// Maps a non-OK status to the error a caller sees (kProtocol for unknown).
Errc errc_from_status(uint16_t status) noexcept;

enum class ControlCode : uint16_t { kHello = 1, kHelloAck = 2 };

enum class Method : uint16_t {
  kIncrement = 1,
  kCgroupsSnapshot = 2,
  kStringReverse = 3,
  kCgroupsLookup = 4,
  kAppsLookup = 5,
};

// Profile bits (POSIX).
inline constexpr uint32_t kProfileUds = 0x01;
inline constexpr uint32_t kProfileShmHybrid = 0x02;
inline constexpr uint32_t kProfileShmFutex = 0x04;
inline constexpr uint32_t kProfileShmWaitAddr = 0x08;  // Windows only; never offered here
inline constexpr uint32_t kProfileShmMask = kProfileShmHybrid | kProfileShmFutex;
inline constexpr uint32_t kProfilesPosix = kProfileUds | kProfileShmMask;
const char* profile_name(uint32_t profile) noexcept;

// Outer message header (32 bytes).
struct Header {
  uint16_t kind = 0;
  uint16_t flags = 0;
  uint16_t code = 0;
  uint16_t transport_status = 0;
  uint32_t payload_len = 0;
  uint32_t item_count = 1;
  uint64_t message_id = 0;

  bool is_batch() const { return (flags & kFlagBatch) != 0 && item_count >= 2; }
};

// Writes magic, version, header_len and the fields: exactly 32 bytes.
void encode_header(const Header& h, uint8_t* out) noexcept;
// Validates length (>= 32), magic, version, header_len and kind, in that
// order; unknown flag bits are accepted.
Result<Header> decode_header(ByteSpan bytes) noexcept;

// Chunk continuation header (32 bytes).
struct ChunkHeader {
  uint64_t message_id = 0;
  uint32_t total_message_len = 0;
  uint32_t chunk_index = 0;
  uint32_t chunk_count = 0;
  uint32_t chunk_payload_len = 0;
};
void encode_chunk_header(const ChunkHeader& c, uint8_t* out) noexcept;
// Validates length, magic, version, flags == 0 and chunk_payload_len != 0.
Result<ChunkHeader> decode_chunk_header(ByteSpan bytes) noexcept;

// Number of packets for a logical message (header + payload_len bytes) at
// packet size `packet_size` (> 32): 1 when it fits, else
// 1 + ceil((payload_len - B) / B) with B = packet_size - 32.
uint32_t chunk_count_for(uint32_t payload_len, uint32_t packet_size) noexcept;

// HELLO payload (44 bytes).
struct Hello {
  uint16_t layout_version = kLayoutVersion;
  uint16_t flags = 0;
  uint32_t supported_profiles = kProfileUds;
  uint32_t preferred_profiles = 0;
  uint32_t max_request_payload_bytes = kMaxPayloadDefault;
  uint32_t max_request_batch_items = kDefaultBatchItems;
  uint32_t max_response_payload_bytes = kMaxPayloadDefault;
  uint32_t max_response_batch_items = kDefaultBatchItems;
  uint32_t reserved = 0;
  uint64_t auth_token = 0;
  uint32_t packet_size = 0;
};
void encode_hello(const Hello& h, uint8_t* out) noexcept;  // 44 bytes
// Reads the 44 bytes (fewer -> kTruncated). Semantic checks belong to the
// handshake (handshake.h).
Result<Hello> decode_hello(ByteSpan payload) noexcept;

// HELLO_ACK payload (48 bytes).
struct HelloAck {
  uint16_t layout_version = kLayoutVersion;
  uint16_t flags = 0;
  uint32_t server_supported_profiles = 0;
  uint32_t intersection_profiles = 0;
  uint32_t selected_profile = 0;
  uint32_t agreed_max_request_payload_bytes = 0;
  uint32_t agreed_max_request_batch_items = 0;
  uint32_t agreed_max_response_payload_bytes = 0;
  uint32_t agreed_max_response_batch_items = 0;
  uint32_t agreed_packet_size = 0;
  uint32_t reserved = 0;
  uint64_t session_id = 0;
};
void encode_hello_ack(const HelloAck& a, uint8_t* out) noexcept;  // 48 bytes
Result<HelloAck> decode_hello_ack(ByteSpan payload) noexcept;

// Whole control packets: header + payload, as sent on the socket.
inline constexpr size_t kHelloPacketLen = kHeaderLen + kHelloLen;        // 76
inline constexpr size_t kHelloAckPacketLen = kHeaderLen + kHelloAckLen;  // 80
void encode_hello_packet(const Hello& h, uint8_t* out) noexcept;
void encode_hello_ack_packet(const HelloAck& a, TransportStatus status, uint8_t* out) noexcept;

}  // namespace netipc::wire
