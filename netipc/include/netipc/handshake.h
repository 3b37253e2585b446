// The NetIPC v1 handshake as pure functions: no I/O, so every row of the
// negotiation matrix and every rejection rule is testable byte for byte.
// See docs/wire.md §5.
//
// Deliberate, wire-compatible deviations from upstream (docs/wire.md):
//  - the auth token is checked before the profile intersection, so an
//    unauthenticated peer learns nothing about the server's profiles;
//  - a HELLO whose body is short or has non-zero flags/reserved fields is
//    answered with BAD_ENVELOPE before the server closes (upstream closes
//    silently; clients treat both alike).
#pragma once

#include <cstdint>

#include "netipc/bytes.h"
#include "netipc/result.h"
#include "netipc/wire.h"

namespace netipc {

// What the server offers on one accept. Zero values are NOT defaulted here:
// callers resolve defaults first (server config), so this is exact.
struct ServerPolicy {
  uint32_t supported_profiles = wire::kProfileUds;
  uint32_t preferred_profiles = 0;
  uint32_t max_request_payload_bytes = wire::kMaxPayloadDefault;
  uint32_t max_response_payload_bytes = wire::kServiceResponseDefault;
  uint32_t packet_size = wire::kPacketSizeFallback;  // this side's packet size
  uint64_t auth_token = 0;
};

// The server's answer to one received HELLO packet.
struct ServerDecision {
  enum class Outcome : uint8_t {
    kAccept,       // send `packet` (OK ACK); session established with `ack`
    kReject,       // send `packet` (rejection ACK), then close
    kCloseSilent,  // close without reply
  };
  Outcome outcome = Outcome::kCloseSilent;
  wire::TransportStatus status = wire::TransportStatus::kOk;
  wire::HelloAck ack;     // agreed values (zero payload on rejection)
  wire::Hello hello;      // what the client proposed (valid when decoded)
  uint8_t packet[wire::kHelloAckPacketLen] = {};
  const char* reason = "";  // human-readable cause for logs
};

// Profile selection rule: highest bit of (intersection & client preferred &
// server preferred) if non-zero, else highest bit of the intersection.
uint32_t select_profile(uint32_t intersection, uint32_t client_preferred,
                        uint32_t server_preferred) noexcept;

// Decides the answer to `packet` (the whole first packet: header + HELLO).
ServerDecision server_handshake(const ServerPolicy& policy, ByteSpan packet,
                                uint64_t session_id) noexcept;

// What the client proposes. Zero fields take the spec defaults.
struct ClientProposal {
  uint32_t supported_profiles = 0;          // 0 -> UDS only
  uint32_t preferred_profiles = 0;
  uint32_t max_request_payload_bytes = 0;   // 0 -> 1024
  uint32_t max_request_batch_items = 0;     // 0 -> 1
  uint32_t max_response_payload_bytes = 0;  // 0 -> 1024
  uint64_t auth_token = 0;
  uint32_t packet_size = 0;  // must be resolved (SO_SNDBUF - 32) before encoding
};
wire::Hello make_hello(const ClientProposal& p) noexcept;

// The client's reading of the HELLO_ACK packet: the agreed values, or the
// error the rejection maps to (kAuthFailed, kUnsupported, kIncompatible,
// kLimitExceeded, kBadEnvelope, kProtocol).
Result<wire::HelloAck> client_read_ack(ByteSpan packet) noexcept;

}  // namespace netipc
