// Shared helpers of the handshake unit tests (handshake_*_test.cc): a
// server policy and a matching HELLO to vary field by field, the server's
// decision on them, and the exact bytes of a rejection (docs/wire.md §5.7).
// Header-only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "codec_test_util.h"
#include "netipc/bytes.h"
#include "netipc/handshake.h"
#include "netipc/wire.h"

namespace netipc::handshake_test {

using wire::TransportStatus;

inline constexpr uint64_t kToken = 0x1122334455667788ull;
inline constexpr uint64_t kSessionId = 42;

inline ServerPolicy policy() {
  ServerPolicy p;
  p.supported_profiles = wire::kProfileUds;
  p.preferred_profiles = 0;
  p.max_request_payload_bytes = 4096;
  p.max_response_payload_bytes = 65536;
  p.packet_size = 65536;
  p.auth_token = kToken;
  return p;
}

inline wire::Hello hello() {
  wire::Hello h;
  h.supported_profiles = wire::kProfileUds;
  h.max_request_payload_bytes = 1024;
  h.max_request_batch_items = 1;
  h.max_response_payload_bytes = 1024;
  h.max_response_batch_items = 1;
  h.auth_token = kToken;
  h.packet_size = 212960;
  return h;
}

inline std::vector<uint8_t> packet(const wire::Hello& h) {
  std::vector<uint8_t> p(wire::kHelloPacketLen);
  wire::encode_hello_packet(h, p.data());
  return p;
}

inline ServerDecision decide(const ServerPolicy& pol, const std::vector<uint8_t>& pkt) {
  return server_handshake(pol, ByteSpan(pkt), kSessionId);
}
inline ServerDecision decide(const ServerPolicy& pol, const wire::Hello& h) {
  return decide(pol, packet(h));
}

// The agreed values the server sends for `h` under `pol`, expecting it to
// accept (a rejection fails the test and returns zeros).
inline wire::HelloAck accepted(const wire::Hello& h, const ServerPolicy& pol = policy()) {
  const ServerDecision d = decide(pol, h);
  EXPECT_EQ(d.outcome, ServerDecision::Outcome::kAccept) << d.reason;
  return d.ack;
}

// hello() with `change` applied, e.g. hello_with([](wire::Hello& h) { h.flags = 1; }).
template <typename Change>
wire::Hello hello_with(Change change) {
  wire::Hello h = hello();
  change(h);
  return h;
}

inline std::vector<uint8_t> ack_bytes(const ServerDecision& d) {
  return std::vector<uint8_t>(d.packet, d.packet + sizeof d.packet);
}

// The 80 bytes of a rejection (§5.7): HELLO_ACK header with `status`, a
// payload that is all zero except layout_version = 1.
inline std::vector<uint8_t> expected_rejection(TransportStatus status) {
  using codec_test::u16_at;
  using codec_test::u32_at;
  using codec_test::u64_at;
  return codec_test::with_fields(
      std::vector<uint8_t>(wire::kHelloAckPacketLen, 0),
      {u32_at(0, 0x4E495043), u16_at(4, 1), u16_at(6, 32), u16_at(8, 3), u16_at(10, 0),
       u16_at(12, 2), u16_at(14, static_cast<uint16_t>(status)), u32_at(16, 48), u32_at(20, 1),
       u64_at(24, 0), u16_at(32, 1)});
}

inline void expect_rejected(const ServerDecision& d, TransportStatus status) {
  EXPECT_EQ(d.outcome, ServerDecision::Outcome::kReject);
  EXPECT_EQ(d.status, status);
  EXPECT_EQ(ack_bytes(d), expected_rejection(status));
  EXPECT_EQ(d.ack.session_id, 0u);
}

}  // namespace netipc::handshake_test
