#include "netipc/wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "netipc/batch.h"

namespace netipc::wire {
namespace {

std::vector<uint8_t> hex(const std::string& s) {
  std::vector<uint8_t> out;
  std::string digits;
  for (char c : s) {
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

TEST(Wire, IncrementRequestMatchesSpecVector) {
  const auto expected = hex(
      "4350494e 01002000 01000000 01000000  08000000 01000000 01000000 00000000"
      "29000000 00000000");
  std::vector<uint8_t> msg(40);
  Header h;
  h.kind = static_cast<uint16_t>(Kind::kRequest);
  h.code = static_cast<uint16_t>(Method::kIncrement);
  h.payload_len = 8;
  h.message_id = 1;
  encode_header(h, msg.data());
  store_u64(msg.data() + 32, 41);
  EXPECT_EQ(msg, expected);
  auto d = decode_header(ByteSpan(msg));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, 1);
  EXPECT_EQ(d->code, 1);
  EXPECT_EQ(d->payload_len, 8u);
  EXPECT_EQ(d->item_count, 1u);
  EXPECT_EQ(d->message_id, 1u);
}

TEST(Wire, HelloMatchesSpecVector) {
  const auto expected = hex(
      "4350494e 01002000 03000000 01000000  2c000000 01000000 00000000 00000000"
      "01000000 03000000 02000000 00040000  01000000 00000100 01000000 00000000"
      "88776655 44332211 00400300");
  Hello h;
  h.supported_profiles = 3;
  h.preferred_profiles = 2;
  h.max_request_payload_bytes = 1024;
  h.max_request_batch_items = 1;
  h.max_response_payload_bytes = 65536;
  h.max_response_batch_items = 1;
  h.auth_token = 0x1122334455667788ull;
  h.packet_size = 212992;
  std::vector<uint8_t> pkt(kHelloPacketLen);
  encode_hello_packet(h, pkt.data());
  EXPECT_EQ(pkt, expected);
  auto back = decode_hello(ByteSpan(pkt).subspan(32));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->auth_token, h.auth_token);
  EXPECT_EQ(back->packet_size, 212992u);
}

}  // namespace
}  // namespace netipc::wire
