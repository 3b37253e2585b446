// Fuzz target: the client's reading of an arbitrary HELLO_ACK packet
// (docs/wire.md §5.8), through client_read_ack(). An accepted ACK must
// carry exactly one selected profile, a usable packet size and layout 1.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "netipc/handshake.h"
#include "netipc/wire.h"

using netipc::ByteSpan;
using netipc::Errc;
namespace wire = netipc::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto a = netipc::client_read_ack(ByteSpan(data, size));
  if (!a.ok()) {
    if (a.code() == Errc::kOk) std::abort();
    return 0;
  }
  if (size < wire::kHelloAckPacketLen) std::abort();
  const uint32_t sel = a->selected_profile;
  if (sel == 0 || (sel & (sel - 1)) != 0) std::abort();
  if (a->agreed_packet_size <= wire::kHeaderLen) std::abort();
  if (a->layout_version != 1 || a->flags != 0) std::abort();
  auto h = wire::decode_header(ByteSpan(data, size));
  if (!h.ok() || h->transport_status != 0 || h->kind != 3 || h->code != 2) std::abort();
  return 0;
}

extern "C" void NetipcFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  // The OK vector of docs/wire.md §8.
  wire::HelloAck a;
  a.server_supported_profiles = 0x03;
  a.intersection_profiles = 0x03;
  a.selected_profile = 0x02;
  a.agreed_max_request_payload_bytes = 1024;
  a.agreed_max_request_batch_items = 1;
  a.agreed_max_response_payload_bytes = 65536;
  a.agreed_max_response_batch_items = 1;
  a.agreed_packet_size = 212992;
  a.session_id = 1;
  std::vector<uint8_t> p(wire::kHelloAckPacketLen);
  wire::encode_hello_ack_packet(a, wire::TransportStatus::kOk, p.data());
  out->push_back(p);
  // Every rejection status with the all-zero payload.
  for (uint16_t s = 1; s <= 6; ++s) {
    wire::encode_hello_ack_packet(wire::HelloAck{}, static_cast<wire::TransportStatus>(s),
                                  p.data());
    out->push_back(p);
  }
}
