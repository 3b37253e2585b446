// Fuzz target: the server's handshake decision on an arbitrary first packet
// (docs/wire.md §5.5-§5.7), through server_handshake(). Whatever the
// input: the reply packet must be a well-formed HELLO_ACK that the client
// side reads back as the same outcome, and a rejection's payload must be
// all zero except layout_version.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "netipc/handshake.h"
#include "netipc/wire.h"

using netipc::ByteSpan;
using netipc::Errc;
using netipc::ServerDecision;
namespace wire = netipc::wire;

namespace {

void check(const netipc::ServerPolicy& policy, const uint8_t* data, size_t size) {
  const ServerDecision d = netipc::server_handshake(policy, ByteSpan(data, size), 5);
  if (d.outcome == ServerDecision::Outcome::kCloseSilent) return;
  auto back = netipc::client_read_ack(ByteSpan(d.packet, sizeof d.packet));
  if (d.outcome == ServerDecision::Outcome::kReject) {
    if (d.status == wire::TransportStatus::kOk) std::abort();
    if (back.ok() || back.code() != wire::errc_from_status(static_cast<uint16_t>(d.status))) {
      std::abort();
    }
    if (netipc::load_u16(d.packet + wire::kHeaderLen) != 1) std::abort();
    for (size_t i = wire::kHeaderLen + 2; i < sizeof d.packet; ++i) {
      if (d.packet[i] != 0) std::abort();
    }
    return;
  }
  // Accepted: the ACK must satisfy every client check and the negotiation rules.
  if (!back.ok()) std::abort();
  const wire::HelloAck& a = *back;
  const uint32_t sel = a.selected_profile;
  if ((sel & a.intersection_profiles) != sel) std::abort();
  if ((a.intersection_profiles & ~policy.supported_profiles) != 0) std::abort();
  if (a.agreed_max_request_payload_bytes > policy.max_request_payload_bytes) std::abort();
  if (a.agreed_max_response_payload_bytes != policy.max_response_payload_bytes) std::abort();
  if (a.agreed_max_response_batch_items != a.agreed_max_request_batch_items) std::abort();
  if (a.agreed_packet_size > policy.packet_size) std::abort();
  if (a.session_id != 5) std::abort();
  if (d.hello.auth_token != policy.auth_token) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  netipc::ServerPolicy open;
  check(open, data, size);
  netipc::ServerPolicy shm;
  shm.supported_profiles = 0x07;
  shm.preferred_profiles = 0x02;
  shm.max_request_payload_bytes = 1 << 20;
  shm.packet_size = 4096;
  shm.auth_token = 0x1122334455667788ull;
  check(shm, data, size);
  return 0;
}

extern "C" void NetipcFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  wire::Hello h;  // defaults: UDS only, 1024/1, token 0
  h.packet_size = 65536;
  std::vector<uint8_t> p(wire::kHelloPacketLen);
  wire::encode_hello_packet(h, p.data());
  out->push_back(p);
  // The docs/wire.md §8 vector: 0x03/0x02, resp 65536, token, packet 212992.
  h.supported_profiles = 0x03;
  h.preferred_profiles = 0x02;
  h.max_response_payload_bytes = 65536;
  h.auth_token = 0x1122334455667788ull;
  h.packet_size = 212992;
  wire::encode_hello_packet(h, p.data());
  out->push_back(p);
  h.packet_size = 33;
  h.max_request_payload_bytes = 1 << 20;
  wire::encode_hello_packet(h, p.data());
  out->push_back(p);
}
