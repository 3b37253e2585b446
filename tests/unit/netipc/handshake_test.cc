// The server's side of the handshake as a pure function (docs/wire.md §5):
// an accepted HELLO, every row of the negotiation matrix (ceilings, batch
// items, packet size), and profile selection (§5.4). Rejections are in
// handshake_rejection_test.cc, the client's side in handshake_client_test.cc.
#include "netipc/handshake.h"

#include <gtest/gtest.h>

#include <vector>

#include "handshake_test_util.h"
#include "netipc/wire.h"

namespace netipc {
namespace {

using Outcome = ServerDecision::Outcome;
using handshake_test::accepted;
using handshake_test::decide;
using handshake_test::expect_rejected;
using handshake_test::hello;
using handshake_test::kSessionId;
using handshake_test::kToken;
using handshake_test::packet;
using handshake_test::policy;
using wire::TransportStatus;

// ---- accepted HELLO: the negotiation matrix, row by row ----

TEST(ServerHandshake, AcceptsMatchingHelloWithOkAck) {
  auto d = decide(policy(), hello());
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.status, TransportStatus::kOk);
  auto h = wire::decode_header(ByteSpan(d.packet, sizeof d.packet));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->kind, 3);
  EXPECT_EQ(h->code, 2);
  EXPECT_EQ(h->flags, 0);
  EXPECT_EQ(h->transport_status, 0);
  EXPECT_EQ(h->payload_len, 48u);
  EXPECT_EQ(h->item_count, 1u);
  EXPECT_EQ(h->message_id, 0u);
}

TEST(ServerHandshake, AckPacketEncodesTheDecidedValues) {
  auto d = decide(policy(), hello());
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  auto a = wire::decode_hello_ack(ByteSpan(d.packet, sizeof d.packet).subspan(32));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->layout_version, 1);
  EXPECT_EQ(a->flags, 0);
  EXPECT_EQ(a->reserved, 0u);
  EXPECT_EQ(a->server_supported_profiles, d.ack.server_supported_profiles);
  EXPECT_EQ(a->intersection_profiles, d.ack.intersection_profiles);
  EXPECT_EQ(a->selected_profile, d.ack.selected_profile);
  EXPECT_EQ(a->agreed_max_request_payload_bytes, d.ack.agreed_max_request_payload_bytes);
  EXPECT_EQ(a->agreed_max_request_batch_items, d.ack.agreed_max_request_batch_items);
  EXPECT_EQ(a->agreed_max_response_payload_bytes, d.ack.agreed_max_response_payload_bytes);
  EXPECT_EQ(a->agreed_max_response_batch_items, d.ack.agreed_max_response_batch_items);
  EXPECT_EQ(a->agreed_packet_size, d.ack.agreed_packet_size);
  EXPECT_EQ(a->session_id, kSessionId);
}

TEST(ServerHandshake, ReturnsTheClientProposal) {
  auto h = hello();
  h.max_request_batch_items = 9;
  auto d = decide(policy(), h);
  ASSERT_EQ(d.outcome, Outcome::kAccept);
  EXPECT_EQ(d.hello.max_request_batch_items, 9u);
  EXPECT_EQ(d.hello.auth_token, kToken);
  EXPECT_EQ(d.hello.packet_size, 212960u);
}

TEST(ServerHandshake, AckCarriesTheGivenSessionId) {
  auto pkt = packet(hello());
  EXPECT_EQ(server_handshake(policy(), ByteSpan(pkt), 1).ack.session_id, 1u);
  EXPECT_EQ(server_handshake(policy(), ByteSpan(pkt), 0xABCDEF).ack.session_id, 0xABCDEFu);
}

TEST(ServerHandshake, AckReportsServerProfilesAndTheIntersection) {
  auto pol = policy();
  pol.supported_profiles = 0x03;
  auto h = hello();
  h.supported_profiles = 0x05;
  const wire::HelloAck ack = accepted(h, pol);
  EXPECT_EQ(ack.server_supported_profiles, 0x03u);
  EXPECT_EQ(ack.intersection_profiles, 0x01u);
  EXPECT_EQ(ack.selected_profile, 0x01u);
}

TEST(ServerHandshake, RequestCeilingBelowServerMaxIsEchoedUnchanged) {
  auto h = hello();
  h.max_request_payload_bytes = 100;
  EXPECT_EQ(accepted(h).agreed_max_request_payload_bytes, 100u);
}

TEST(ServerHandshake, RequestCeilingEqualToServerMaxIsAccepted) {
  auto h = hello();
  h.max_request_payload_bytes = policy().max_request_payload_bytes;
  EXPECT_EQ(accepted(h).agreed_max_request_payload_bytes, policy().max_request_payload_bytes);
}

TEST(ServerHandshake, RequestCeilingOneAboveServerMaxIsLimitExceeded) {
  auto h = hello();
  h.max_request_payload_bytes = policy().max_request_payload_bytes + 1;
  expect_rejected(decide(policy(), h), TransportStatus::kLimitExceeded);
}

TEST(ServerHandshake, ResponseCeilingIsTheServersWhateverTheHintBelow) {
  auto h = hello();
  h.max_response_payload_bytes = 16;
  EXPECT_EQ(accepted(h).agreed_max_response_payload_bytes, 65536u);
}

TEST(ServerHandshake, ResponseCeilingIsTheServersWhateverTheHintAbove) {
  auto h = hello();
  h.max_response_payload_bytes = 0xFFFFFFFF;
  EXPECT_EQ(accepted(h).agreed_max_response_payload_bytes, 65536u);
}

TEST(ServerHandshake, BatchItemsAreEchoedWithoutServerCap) {
  auto h = hello();
  h.max_request_batch_items = 1000000;
  EXPECT_EQ(accepted(h).agreed_max_request_batch_items, 1000000u);
}

TEST(ServerHandshake, ResponseBatchItemsEqualRequestBatchItemsIgnoringTheHint) {
  auto h = hello();
  h.max_request_batch_items = 7;
  h.max_response_batch_items = 500;
  const wire::HelloAck ack = accepted(h);
  EXPECT_EQ(ack.agreed_max_request_batch_items, 7u);
  EXPECT_EQ(ack.agreed_max_response_batch_items, 7u);
}

TEST(ServerHandshake, PacketSizeIsTheClientsWhenSmaller) {
  auto h = hello();
  h.packet_size = 4096;
  EXPECT_EQ(accepted(h).agreed_packet_size, 4096u);
}

TEST(ServerHandshake, PacketSizeIsTheServersWhenSmaller) {
  auto pol = policy();
  pol.packet_size = 1000;
  EXPECT_EQ(accepted(hello(), pol).agreed_packet_size, 1000u);
}

TEST(ServerHandshake, ClientPacketSize32IsIncompatible) {
  auto h = hello();
  h.packet_size = 32;
  expect_rejected(decide(policy(), h), TransportStatus::kIncompatible);
}

TEST(ServerHandshake, ClientPacketSize33IsAccepted) {
  auto h = hello();
  h.packet_size = 33;
  EXPECT_EQ(accepted(h).agreed_packet_size, 33u);
}

TEST(ServerHandshake, ServerPacketSize32IsIncompatible) {
  auto pol = policy();
  pol.packet_size = 32;
  expect_rejected(decide(pol, hello()), TransportStatus::kIncompatible);
}

TEST(ServerHandshake, ClientPacketSize0IsIncompatible) {
  auto h = hello();
  h.packet_size = 0;
  expect_rejected(decide(policy(), h), TransportStatus::kIncompatible);
}

// ---- profile selection (§5.4) ----

TEST(SelectProfile, ClientPrefersShmServerHasNoPreferenceSelectsShmHybrid) {
  // client 0x03/0x02 vs server 0x03/0 -> 0x02.
  EXPECT_EQ(select_profile(0x03, 0x02, 0x00), 0x02u);
}

TEST(SelectProfile, BothPreferBaselineSelectsBaseline) {
  EXPECT_EQ(select_profile(0x03, 0x01, 0x01), 0x01u);
}

TEST(SelectProfile, NoPreferencesSelectsHighestCommonBit) {
  EXPECT_EQ(select_profile(0x07, 0x00, 0x00), 0x04u);
}

TEST(SelectProfile, BothPreferringBothSelectsShmHybrid) {
  EXPECT_EQ(select_profile(0x03, 0x03, 0x03), 0x02u);
}

TEST(SelectProfile, OnlyOneSidePreferringBaselineSelectsShmHybrid) {
  EXPECT_EQ(select_profile(0x03, 0x01, 0x00), 0x02u);
  EXPECT_EQ(select_profile(0x03, 0x00, 0x01), 0x02u);
}

TEST(SelectProfile, PreferenceOutsideTheIntersectionIsIgnored) {
  EXPECT_EQ(select_profile(0x01, 0x02, 0x02), 0x01u);
}

TEST(SelectProfile, EmptyIntersectionSelectsNothing) {
  EXPECT_EQ(select_profile(0, 0x01, 0x01), 0u);
}

TEST(ServerHandshake, SelectsShmHybridFor03Prefer02Against03NoPreference) {
  auto pol = policy();
  pol.supported_profiles = 0x03;
  auto h = hello();
  h.supported_profiles = 0x03;
  h.preferred_profiles = 0x02;
  const wire::HelloAck ack = accepted(h, pol);
  EXPECT_EQ(ack.intersection_profiles, 0x03u);
  EXPECT_EQ(ack.selected_profile, 0x02u);
}

TEST(ServerHandshake, SelectsBaselineWhenBothPreferIt) {
  auto pol = policy();
  pol.supported_profiles = 0x03;
  pol.preferred_profiles = 0x01;
  auto h = hello();
  h.supported_profiles = 0x03;
  h.preferred_profiles = 0x01;
  EXPECT_EQ(accepted(h, pol).selected_profile, 0x01u);
}

TEST(ServerHandshake, SelectsShmFutexFor07Against07WithoutPreferences) {
  auto pol = policy();
  pol.supported_profiles = 0x07;
  auto h = hello();
  h.supported_profiles = 0x07;
  const wire::HelloAck ack = accepted(h, pol);
  EXPECT_EQ(ack.intersection_profiles, 0x07u);
  EXPECT_EQ(ack.selected_profile, 0x04u);
}

}  // namespace
}  // namespace netipc
