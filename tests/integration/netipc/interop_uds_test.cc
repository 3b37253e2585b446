// Interoperability over UDS SEQPACKET between the project's implementation
// and the independent spec peer (tests/support/spec_peer.h), both ways:
//   - project ClientSession -> SpecServer
//   - SpecClient -> project servers: a Level-1 server assembled below from
//     UdsListener + server_handshake_blocking + UdsConnection, and the
//     Level-2 uv::ServerThread (most tests run on both)
// plus checks that the spec peer itself reproduces the spec's byte vectors
// and rejects every forgery the project must reject, so that agreeing with
// it means agreeing with the spec. See docs/interop.md.
//
// Real sockets throughout; two tests put the peer in a forked process.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "netipc/abort.h"
#include "netipc/batch.h"
#include "netipc/codec/cgroups.h"
#include "netipc/dispatch.h"
#include "netipc/handshake.h"
#include "netipc/result.h"
#include "netipc/services.h"
#include "netipc/session.h"
#include "netipc/uds.h"
#include "netipc/uds_connection.h"
#include "netipc/uv/server.h"
#include "netipc/uv/server_thread.h"
#include "netipc/wire.h"
#include "spec_peer.h"
#include "test_support.h"

namespace netipc {
namespace {

namespace sp = spec_peer;
using test::TempDir;

constexpr uint64_t kToken = 0xBE4C400000C0FFEEull;

// SO_SNDBUF of a fresh SEQPACKET socket: what both sides read by default.
uint32_t default_sndbuf() {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  int v = 0;
  socklen_t len = sizeof v;
  ::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len);
  ::close(fd);
  return static_cast<uint32_t>(v);
}

int64_t in_ms(int ms) {
  return sp::deadline_after(ms);
}

std::vector<uint8_t> u64_bytes(uint64_t v) {
  return sp::u64_payload(v);
}

// A batch of INCREMENT values built with the project's BatchWriter.
std::vector<uint8_t> project_batch(const std::vector<uint64_t>& values) {
  std::vector<uint8_t> out;
  wire::BatchWriter w(&out, static_cast<uint32_t>(values.size()));
  for (uint64_t v : values)
    store_u64(w.add_uninitialized(8), v);
  w.finish();
  return out;
}

std::vector<uint64_t> iota_values(size_t n, uint64_t from) {
  std::vector<uint64_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = from + i * 3;
  return v;
}

sp::Snapshot sample_snapshot() {  // codec §2.6 items plus long and empty strings
  sp::Snapshot s;
  s.systemd_enabled = 1;
  s.generation = 999;
  s.items = {{100, 0, 1, "init.scope", "/sys/fs/cgroup/init.scope"},
             {200, 0x02, 0, "system.slice/docker-abc.scope",
              "/sys/fs/cgroup/system.slice/docker-abc.scope"},
             {300, 0, 1, "", ""},
             {fnv1a32("cgroup_machine"), 0x4, 1, std::string(300, 'm'), std::string(1000, 'p')}};
  return s;
}

// codec §2.6: the first three sample_snapshot() items, 266 bytes.
constexpr const char* kSnapshotVector =
    "01000000 03000000 01000000 00000000 e7030000 00000000 00000000 45000000"
    "48000000 6b000000 b8000000 22000000 01000000 64000000 00000000 01000000"
    "20000000 0a000000 2b000000 19000000 696e6974 2e73636f 7065002f 7379732f"
    "66732f63 67726f75 702f696e 69742e73 636f7065 00000000 01000000 c8000000"
    "02000000 00000000 20000000 1d000000 3e000000 2c000000 73797374 656d2e73"
    "6c696365 2f646f63 6b65722d 6162632e 73636f70 65002f73 79732f66 732f6367"
    "726f7570 2f737973 74656d2e 736c6963 652f646f 636b6572 2d616263 2e73636f"
    "70650000 00000000 01000000 2c010000 00000000 01000000 20000000 00000000"
    "21000000 00000000 0000";

// ---- The oracle itself reproduces the spec's vectors ----

TEST(SpecPeerSelfCheck, EncodersReproduceSpecVectors) {
  sp::Hello h;
  h.supported = 0x03;
  h.preferred = 0x02;
  h.max_response_payload = 65536;
  h.auth_token = 0x1122334455667788ull;
  h.packet_size = 212992;
  EXPECT_EQ(sp::to_hex(sp::hello_packet(h)),
            sp::to_hex(sp::from_hex(
                "4350494e 01002000 03000000 01000000 2c000000 01000000 00000000 00000000"
                "01000000 03000000 02000000 00040000 01000000 00000100 01000000 00000000"
                "88776655 44332211 00400300")));
  sp::Policy policy;
  policy.supported = 0x03;
  policy.preferred = 0x02;
  policy.packet_size = 212992;
  policy.auth_token = h.auth_token;
  sp::HelloAck ack;
  ASSERT_EQ(sp::negotiate(policy, h, 1, &ack), sp::kStatusOk);
  EXPECT_EQ(sp::to_hex(sp::ack_packet(ack, sp::kStatusOk)),
            sp::to_hex(sp::from_hex(
                "4350494e 01002000 03000000 02000000 30000000 01000000 00000000 00000000"
                "01000000 03000000 03000000 02000000 00040000 01000000 00000100 01000000"
                "00400300 00000000 01000000 00000000")));
  sp::Bytes reject = sp::ack_packet(sp::rejection_ack(), sp::kStatusAuthFailed);
  EXPECT_EQ(sp::rd32(reject.data() + 12), 0x00020002u);
  EXPECT_EQ(sp::to_hex(sp::Bytes(reject.begin() + 32, reject.end())), sp::to_hex([] {
              sp::Bytes b(48, 0);
              b[0] = 1;
              return b;
            }()));
  EXPECT_EQ(
      sp::to_hex(sp::make_batch({sp::u64_payload(1), sp::u64_payload(2), sp::u64_payload(3)})),
      sp::to_hex(sp::from_hex("00000000 08000000 08000000 08000000 10000000 08000000"
                              "01000000 00000000 02000000 00000000 03000000 00000000")));
  EXPECT_EQ(sp::to_hex(sp::make_batch({{'a', 'b', 'c'}, {'d', 'e'}})),
            sp::to_hex(sp::from_hex("00000000 03000000 08000000 02000000 61626300 00000000"
                                    "64650000 00000000")));
  EXPECT_EQ(sp::to_hex(sp::reverse_payload("hello")),
            sp::to_hex(sp::from_hex("08000000 05000000 68656c6c 6f00")));
  sp::Snapshot s = sample_snapshot();
  s.items.pop_back();
  EXPECT_EQ(sp::to_hex(sp::snapshot_payload(s)), sp::to_hex(sp::from_hex(kSnapshotVector)));
  sp::Snapshot back;
  ASSERT_EQ(sp::read_snapshot(sp::from_hex(kSnapshotVector), &back), "");
  EXPECT_TRUE(back.items == s.items);
  EXPECT_EQ(sp::to_hex(sp::snapshot_payload(sp::Snapshot{0, 42, {}})),
            sp::to_hex(sp::from_hex("01000000 00000000 00000000 00000000 2a000000 00000000")));
}

TEST(SpecPeerSelfCheck, NegotiationFollowsTheSelectionRule) {
  auto select = [](uint32_t cs, uint32_t cp, uint32_t ss, uint32_t spref) {
    sp::Policy p;
    p.supported = ss;
    p.preferred = spref;
    sp::Hello h;
    h.supported = cs;
    h.preferred = cp;
    h.packet_size = 4096;
    sp::HelloAck a;
    return sp::negotiate(p, h, 1, &a) == sp::kStatusOk ? a.selected : 0;
  };
  EXPECT_EQ(select(0x03, 0x02, 0x03, 0x00), 0x02u);
  EXPECT_EQ(select(0x03, 0x01, 0x03, 0x01), 0x01u);
  EXPECT_EQ(select(0x07, 0x00, 0x07, 0x00), 0x04u);
  EXPECT_EQ(select(0x03, 0x03, 0x03, 0x03), 0x02u);
}

TEST(SpecPeerSelfCheck, LinkChunksLikeTheWireSpecExample) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  sp::UdsLink a(sv[0]);
  sp::UdsLink b(sv[1]);
  a.set_packet_size(256);
  b.set_packet_size(256);
  sp::Header h;
  h.kind = sp::kKindRequest;
  h.code = sp::kMethodStringReverse;
  h.message_id = 7;
  sp::Bytes payload(1000);
  for (size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<uint8_t>(i * 7);
  ASSERT_EQ(a.send(h, payload), "");  // P = 256, L = 1000 (wire §4.2 example)
  std::vector<size_t> sizes;
  sp::Bytes second;
  for (int k = 0; k < 5; ++k) {
    sp::Bytes pkt;
    ASSERT_EQ(b.receive_packet(&pkt, 1000), "");
    sizes.push_back(pkt.size());
    if (k == 1) second.assign(pkt.begin(), pkt.begin() + 32);
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{256, 256, 256, 256, 136}));
  EXPECT_EQ(sp::to_hex(second),
            sp::to_hex(sp::from_hex("4b48434e 01000000 07000000 00000000 08040000 01000000"
                                    "05000000 e0000000")));
  for (size_t len : {0, 223, 224, 225, 1000, 10000}) {
    SCOPED_TRACE(len);
    ASSERT_EQ(a.send(h, sp::Bytes(len, 0x5A)), "");
    sp::Message m;
    ASSERT_EQ(b.receive(&m, 1000), "");
    EXPECT_EQ(m.payload, sp::Bytes(len, 0x5A));
    EXPECT_EQ(b.last_packet_sizes().size(), len <= 224 ? 1u : 1 + (len - 224 + 223) / 224);
  }
}

TEST(SpecPeerSelfCheck, SpecClientAndSpecServerAgree) {
  TempDir dir;
  const std::string service = test::unique_service("self");
  sp::ServerConfig config;
  config.policy.max_request_payload = 16000;
  config.policy.packet_size = 256;
  config.snapshot = sample_snapshot();
  std::string problem;
  auto server = sp::SpecServer::start(dir.path(), service, config, &problem);
  ASSERT_NE(server, nullptr) << problem;
  auto c = sp::SpecClient::connect(dir.path(), service, &problem);
  ASSERT_NE(c, nullptr) << problem;
  sp::Hello h = c->default_hello();
  h.max_request_payload = 16000;
  h.max_request_items = h.max_response_items = 1000;
  ASSERT_EQ(c->handshake(h), "");
  uint64_t v = 0;
  ASSERT_EQ(c->increment(1, &v), "");
  EXPECT_EQ(v, 2u);
  std::vector<uint64_t> got;
  ASSERT_EQ(c->increment_batch(iota_values(625, 1), &got), "");
  EXPECT_EQ(got[624], 1 + 624 * 3 + 1u);
  std::string text(10000, 'x');
  for (size_t i = 0; i < text.size(); ++i)
    text[i] = static_cast<char>('a' + i % 26);
  std::string reversed;
  ASSERT_EQ(c->reverse(text, &reversed), "");
  EXPECT_EQ(reversed, std::string(text.rbegin(), text.rend()));
  sp::Snapshot snap;
  ASSERT_EQ(c->snapshot(&snap), "");
  EXPECT_TRUE(snap.items == sample_snapshot().items);
  EXPECT_TRUE(server->log().violations.empty());
}

// transports A.4.3: with the raw SO_SNDBUF that upstream advertises on both
// ends, a message that needs chunking cannot be sent at all. This is why the
// project advertises SO_SNDBUF - 32.
TEST(SpecPeerSelfCheck, RawSndbufPacketSizeCannotCarryLargeMessages) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  sp::UdsLink a(sv[0]);
  sp::UdsLink b(sv[1]);
  ASSERT_EQ(a.sndbuf(), default_sndbuf());
  sp::Header h;
  h.kind = sp::kKindRequest;
  h.code = sp::kMethodIncrement;
  h.message_id = 1;
  a.set_packet_size(a.sndbuf());
  const std::string raw = a.send(h, sp::Bytes(300000, 1));
  EXPECT_NE(raw.find("Message too long"), std::string::npos) << raw;
  a.set_packet_size(a.sndbuf() - 32);
  b.set_packet_size(a.sndbuf() - 32);
  std::thread sender([&] { EXPECT_EQ(a.send(h, sp::Bytes(300000, 1)), ""); });
  sp::Message m;
  EXPECT_EQ(b.receive(&m, 10000), "");
  sender.join();
  EXPECT_EQ(m.payload.size(), 300000u);
}

// ---- Project client against the spec server ----

class SpecServerTest : public ::testing::Test {
 protected:
  void start(sp::ServerConfig config) {
    std::string problem;
    server_ = sp::SpecServer::start(dir_.path(), service_, std::move(config), &problem);
    ASSERT_NE(server_, nullptr) << problem;
  }
  Result<ClientSession> connect(const ClientProposal& p) {
    return ClientSession::connect(dir_.path(), service_, p, in_ms(5000));
  }
  // One INCREMENT round trip through the project client.
  Result<uint64_t> increment(ClientSession& c, uint64_t id, uint64_t v) {
    NETIPC_RETURN_IF_ERROR(c.send_request(1, id, ByteSpan(u64_bytes(v)), 1, in_ms(5000)));
    auto m = c.receive_response(in_ms(5000));
    if (!m.ok()) return m.error();
    if (m->header.message_id != id || m->payload.size != 8) return make_error(Errc::kProtocol);
    return load_u64(m->payload.data);
  }
  void expect_no_violations() {
    for (const auto& v : server_->log().violations)
      ADD_FAILURE() << "spec server saw: " << v;
  }

  TempDir dir_;
  std::string service_ = test::unique_service("interop");
  std::unique_ptr<sp::SpecServer> server_;
};

sp::ServerConfig spec_config(uint32_t packet_size = 0) {
  sp::ServerConfig c;
  c.policy.supported = wire::kProfileUds;
  c.policy.max_request_payload = 65536;
  c.policy.max_response_payload = 65536;
  c.policy.packet_size = packet_size;
  c.policy.auth_token = kToken;
  c.snapshot = sample_snapshot();
  return c;
}

ClientProposal proposal(uint32_t max_request = 4096, uint32_t items = 1) {
  ClientProposal p;
  p.auth_token = kToken;
  p.max_request_payload_bytes = max_request;
  p.max_request_batch_items = items;
  p.max_response_payload_bytes = 65536;
  return p;
}

TEST_F(SpecServerTest, ProjectClientHelloMatchesSpecFieldByField) {
  start(spec_config());
  ClientProposal p = proposal(4096, 17);
  p.supported_profiles = wire::kProfileUds;
  p.preferred_profiles = wire::kProfileUds;
  p.max_response_payload_bytes = 70000;
  auto c = connect(p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  const auto log = server_->log();
  ASSERT_EQ(log.hello_packets.size(), 1u);
  sp::Hello expected;
  expected.supported = 0x01;
  expected.preferred = 0x01;
  expected.max_request_payload = 4096;
  expected.max_request_items = 17;
  expected.max_response_payload = 70000;
  expected.max_response_items = 17;
  expected.auth_token = kToken;
  expected.packet_size = default_sndbuf() - 32;  // transports A.4.3: SO_SNDBUF - 32
  EXPECT_EQ(sp::to_hex(log.hello_packets[0]), sp::to_hex(sp::hello_packet(expected)));
  expect_no_violations();
}

TEST_F(SpecServerTest, ProjectClientAdoptsEveryHelloAckField) {
  sp::ServerConfig config = spec_config(5000);
  config.policy.supported = 0x07;
  config.policy.preferred = 0x02;
  config.policy.max_request_payload = 8192;
  config.policy.max_response_payload = 70000;
  config.first_session_id = 0x1122334455667788ull;
  start(config);
  ClientProposal p = proposal(4096, 17);
  p.max_response_payload_bytes = 1024;  // a hint the server overrides
  auto c = connect(p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  const wire::HelloAck& a = c->agreed();
  EXPECT_EQ(a.layout_version, 1);
  EXPECT_EQ(a.flags, 0);
  EXPECT_EQ(a.server_supported_profiles, 0x07u);
  EXPECT_EQ(a.intersection_profiles, 0x01u);
  EXPECT_EQ(a.selected_profile, 0x01u);
  EXPECT_EQ(a.agreed_max_request_payload_bytes, 4096u);
  EXPECT_EQ(a.agreed_max_request_batch_items, 17u);
  EXPECT_EQ(a.agreed_max_response_payload_bytes, 70000u);
  EXPECT_EQ(a.agreed_max_response_batch_items, 17u);
  EXPECT_EQ(a.agreed_packet_size, 5000u);
  EXPECT_EQ(a.reserved, 0u);
  EXPECT_EQ(a.session_id, 0x1122334455667788ull);
  EXPECT_FALSE(c->uses_shm());
  // The session runs on the agreed values: 5000-byte packets, 70000 inbound.
  auto v = increment(*c, 1, 7);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 8u);
}

TEST_F(SpecServerTest, ProjectClientAgreesOnTheSmallerPacketSize) {
  start(spec_config(0));  // the spec server advertises raw SO_SNDBUF, as upstream does
  ClientProposal p = proposal();
  p.packet_size = 3000;
  auto c = connect(p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->agreed().agreed_packet_size, 3000u);
}

TEST_F(SpecServerTest, ProjectClientSingleIncrementMatchesSpecVector) {
  start(spec_config());
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto v = increment(*c, 1, 41);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 42u);
  auto wrap = increment(*c, 2, UINT64_MAX);
  ASSERT_TRUE(wrap.ok()) << wrap.error().message();
  EXPECT_EQ(*wrap, 0u);
  const auto log = server_->log();
  ASSERT_EQ(log.requests.size(), 2u);
  sp::Bytes wire_bytes(32);
  sp::put_header(log.requests[0].header, wire_bytes.data());
  wire_bytes.insert(wire_bytes.end(), log.requests[0].payload.begin(),
                    log.requests[0].payload.end());
  EXPECT_EQ(sp::to_hex(wire_bytes),
            sp::to_hex(sp::from_hex("4350494e 01002000 01000000 01000000 08000000 01000000"
                                    "01000000 00000000 29000000 00000000")));
  expect_no_violations();
}

TEST_F(SpecServerTest, ProjectClientBatchIncrementsFrom2To1000Items) {
  start(spec_config());
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  uint64_t id = 1;
  for (size_t n : {2, 3, 7, 64, 333, 999, 1000}) {
    SCOPED_TRACE(n);
    const auto values = iota_values(n, n * 1000);
    const auto payload = project_batch(values);
    ASSERT_EQ(payload.size(), 16 * n);  // codec §3 rule 4
    ASSERT_TRUE(c->send_request(1, id, ByteSpan(payload), static_cast<uint32_t>(n)).ok());
    auto m = c->receive_response(in_ms(5000));
    ASSERT_TRUE(m.ok()) << m.error().message();
    EXPECT_EQ(m->header.message_id, id++);
    EXPECT_EQ(m->header.flags, wire::kFlagBatch);
    ASSERT_EQ(m->header.item_count, n);
    auto view = wire::BatchView::parse(m->payload, m->header.item_count);
    ASSERT_TRUE(view.ok()) << view.error().message();
    for (uint32_t i = 0; i < n; ++i) {
      ASSERT_EQ(view->item(i).size, 8u);
      EXPECT_EQ(load_u64(view->item(i).data), values[i] + 1);
    }
  }
  expect_no_violations();
}

TEST_F(SpecServerTest, ProjectClientChunksRequestsAndReassemblesChunkedResponses) {
  start(spec_config(256));
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->agreed().agreed_packet_size, 256u);
  const auto values = iota_values(625, 5);  // 10000-byte request and response
  const auto payload = project_batch(values);
  ASSERT_TRUE(c->send_request(1, 9, ByteSpan(payload), 625).ok());
  auto m = c->receive_response(in_ms(5000));
  ASSERT_TRUE(m.ok()) << m.error().message();
  ASSERT_EQ(m->payload.size, 10000u);
  auto view = wire::BatchView::parse(m->payload, m->header.item_count);
  ASSERT_TRUE(view.ok());
  for (uint32_t i = 0; i < 625; ++i)
    EXPECT_EQ(load_u64(view->item(i).data), values[i] + 1);
  // wire §4.2: B = 224, 1 + ceil((10000 - 224) / 224) = 45 packets, each
  // checked by the spec server's reassembly (every non-final packet 256 B).
  const auto log = server_->log();
  ASSERT_EQ(log.request_packets.size(), 1u);
  EXPECT_EQ(log.request_packets[0], 45u);
  expect_no_violations();
}

TEST_F(SpecServerTest, ProjectClientRoundTrips300000BytesAtAutoPacketSize) {
  // The spec server advertises raw SO_SNDBUF like upstream; the project's
  // SO_SNDBUF - 32 wins the min() and the kernel accepts every packet.
  sp::ServerConfig config = spec_config(0);
  config.policy.max_request_payload = 300000;
  config.policy.max_response_payload = 300000;
  start(config);
  ClientProposal p = proposal(300000, 18750);
  p.max_response_payload_bytes = 300000;
  auto c = connect(p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->agreed().agreed_packet_size, default_sndbuf() - 32);
  const auto values = iota_values(18750, 1);  // 300000-byte payload
  const auto payload = project_batch(values);
  ASSERT_EQ(payload.size(), 300000u);
  Status st = c->send_request(1, 1, ByteSpan(payload), 18750, in_ms(10000));
  ASSERT_TRUE(st.ok()) << st.error().message();
  auto m = c->receive_response(in_ms(10000));
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto view = wire::BatchView::parse(m->payload, m->header.item_count);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(load_u64(view->item(18749).data), values[18749] + 1);
  EXPECT_EQ(server_->log().request_packets.at(0), 2u);
  expect_no_violations();
}

TEST_F(SpecServerTest, ProjectClientMatchesPipelinedResponsesAnsweredInReverse) {
  sp::ServerConfig config = spec_config();
  config.reverse_batch = 5;
  start(config);
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  for (uint64_t id = 1; id <= 5; ++id) {
    ASSERT_TRUE(c->send_request(1, id, ByteSpan(u64_bytes(id * 10))).ok());
  }
  EXPECT_EQ(c->in_flight(), 5u);
  std::vector<uint64_t> order;
  for (int i = 0; i < 5; ++i) {
    auto m = c->receive_response(in_ms(5000));
    ASSERT_TRUE(m.ok()) << m.error().message();
    order.push_back(m->header.message_id);
    EXPECT_EQ(load_u64(m->payload.data), m->header.message_id * 10 + 1);
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{5, 4, 3, 2, 1}));
  EXPECT_EQ(c->in_flight(), 0u);
}

TEST_F(SpecServerTest, ProjectClientReportsProtocolErrorOnWrongMessageId) {
  sp::ServerConfig config = spec_config();
  config.misbehaviour = sp::Misbehaviour::kWrongMessageId;
  start(config);
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->send_request(1, 3, ByteSpan(u64_bytes(1))).ok());
  auto m = c->receive_response(in_ms(5000));
  EXPECT_EQ(m.code(), Errc::kProtocol);
  EXPECT_EQ(c->in_flight(), 0u);
}

TEST_F(SpecServerTest, ProjectClientRejectsGarbageResponse) {
  sp::ServerConfig config = spec_config();
  config.misbehaviour = sp::Misbehaviour::kGarbage;
  start(config);
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(u64_bytes(1))).ok());
  auto m = c->receive_response(in_ms(5000));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.code(), Errc::kBadMagic);
  EXPECT_EQ(m.error().action(), Action::kMalformedPeer);
}

TEST_F(SpecServerTest, ProjectClientReportsPeerGoneWhenServerClosesMidMessage) {
  sp::ServerConfig config = spec_config(256);
  config.misbehaviour = sp::Misbehaviour::kCloseMidMessage;
  start(config);
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  const auto payload = project_batch(iota_values(100, 1));  // 1600-byte response
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(payload), 100).ok());
  auto m = c->receive_response(in_ms(5000));
  EXPECT_EQ(m.code(), Errc::kPeerGone);
}

TEST_F(SpecServerTest, ProjectClientTimesOutWhenServerStallsAfterFirstChunk) {
  sp::ServerConfig config = spec_config(256);
  config.misbehaviour = sp::Misbehaviour::kStallAfterFirstChunk;
  start(config);
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  const auto payload = project_batch(iota_values(100, 1));
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(payload), 100).ok());
  const auto t0 = std::chrono::steady_clock::now();
  auto m = c->receive_response(in_ms(300));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(m.code(), Errc::kTimeout);
  EXPECT_GE(took, std::chrono::milliseconds(290));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(SpecServerTest, ProjectClientAbortsStalledChunkedReceive) {
  sp::ServerConfig config = spec_config(256);
  config.misbehaviour = sp::Misbehaviour::kStallAfterFirstChunk;
  start(config);
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto abort = AbortHandle::create();
  ASSERT_TRUE(abort.ok());
  const auto payload = project_batch(iota_values(100, 1));
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(payload), 100).ok());
  auto readable = [&] {
    pollfd p{c->fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  };
  // The first chunk is queued; the server sends nothing more. Once the
  // client has consumed it, it is mid-message: abort then.
  ASSERT_TRUE(test::wait_until(readable));
  std::thread aborter([&] {
    test::wait_until([&] { return !readable(); });
    abort->abort();
  });
  auto m = c->receive_response(0, abort->fd());
  aborter.join();
  EXPECT_EQ(m.code(), Errc::kAborted);
}

TEST_F(SpecServerTest, ProjectClientTimesOutWhenServerNeverAnswers) {
  sp::ServerConfig config = spec_config();
  config.misbehaviour = sp::Misbehaviour::kNeverAnswer;
  start(config);
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(u64_bytes(1))).ok());
  auto m = c->receive_response(in_ms(200));
  EXPECT_EQ(m.code(), Errc::kTimeout);
  ASSERT_TRUE(test::wait_until([&] { return server_->log().requests.size() == 1; }));
}

TEST_F(SpecServerTest, ProjectClientMapsAuthFailedRejection) {
  start(spec_config());
  ClientProposal p = proposal();
  p.auth_token = kToken + 1;
  EXPECT_EQ(connect(p).code(), Errc::kAuthFailed);
}

TEST_F(SpecServerTest, ProjectClientMapsUnsupportedRejection) {
  sp::ServerConfig config = spec_config();
  config.policy.supported = wire::kProfileShmHybrid;  // nothing in common with UDS only
  start(config);
  EXPECT_EQ(connect(proposal()).code(), Errc::kUnsupported);
}

TEST_F(SpecServerTest, ProjectClientMapsIncompatibleRejection) {
  start(spec_config(32));  // agreed packet size 32 -> INCOMPATIBLE
  EXPECT_EQ(connect(proposal()).code(), Errc::kIncompatible);
}

TEST_F(SpecServerTest, ProjectClientMapsLimitExceededRejection) {
  sp::ServerConfig config = spec_config();
  config.policy.max_request_payload = 2048;
  start(config);
  EXPECT_EQ(connect(proposal(2049)).code(), Errc::kLimitExceeded);
}

// Forged HELLO_ACKs (wire §5.8): each is refused with its own error.
struct ForgedAck {
  const char* name;
  std::function<void(sp::Bytes*)> edit;
  Errc expected;
};
void PrintTo(const ForgedAck& p, std::ostream* os) {
  *os << p.name;
}

class ForgedAckTest : public SpecServerTest, public ::testing::WithParamInterface<ForgedAck> {};

TEST_P(ForgedAckTest, ProjectClientRefusesForgedAck) {
  sp::ServerConfig config = spec_config();
  config.mutate_ack = GetParam().edit;
  start(config);
  EXPECT_EQ(connect(proposal()).code(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Interop, ForgedAckTest,
    ::testing::Values(
        ForgedAck{"HeaderVersion2", [](sp::Bytes* b) { sp::wr16(b->data() + 4, 2); },
                  Errc::kIncompatible},
        ForgedAck{"LayoutVersion2", [](sp::Bytes* b) { sp::wr16(b->data() + 32, 2); },
                  Errc::kIncompatible},
        ForgedAck{"NonZeroFlags", [](sp::Bytes* b) { sp::wr16(b->data() + 34, 1); },
                  Errc::kProtocol},
        ForgedAck{"PacketSize32", [](sp::Bytes* b) { sp::wr32(b->data() + 64, 32); },
                  Errc::kProtocol},
        ForgedAck{"UnknownStatus", [](sp::Bytes* b) { sp::wr16(b->data() + 14, 77); },
                  Errc::kProtocol},
        ForgedAck{"InternalErrorStatus", [](sp::Bytes* b) { sp::wr16(b->data() + 14, 6); },
                  Errc::kInternalError},
        ForgedAck{"KindResponse", [](sp::Bytes* b) { sp::wr16(b->data() + 8, 2); },
                  Errc::kProtocol},
        ForgedAck{"UnofferedProfile", [](sp::Bytes* b) { sp::wr32(b->data() + 44, 0x02); },
                  Errc::kProtocol},
        ForgedAck{"TruncatedBody", [](sp::Bytes* b) { b->resize(60); }, Errc::kProtocol},
        ForgedAck{"BadMagic", [](sp::Bytes* b) { (*b)[0] ^= 0xFF; }, Errc::kProtocol},
        // Not checked by upstream clients (wire §5.8 rule 4): accepted.
        ForgedAck{"NonZeroReservedIsIgnored", [](sp::Bytes* b) { sp::wr32(b->data() + 68, 9); },
                  Errc::kOk}),
    [](const ::testing::TestParamInfo<ForgedAck>& p) { return std::string(p.param.name); });

// Forged responses (wire §2.2, §6.1, §7.2): what the project client makes of them.
struct ForgedResponse {
  const char* name;
  std::function<void(sp::Message*)> edit;
  Errc expected;  // kOk: accepted
};
void PrintTo(const ForgedResponse& p, std::ostream* os) {
  *os << p.name;
}

class ForgedResponseTest : public SpecServerTest,
                           public ::testing::WithParamInterface<ForgedResponse> {};

TEST_P(ForgedResponseTest, ProjectClientJudgesForgedResponse) {
  sp::ServerConfig config = spec_config();
  config.policy.max_response_payload = 1024;
  config.mutate_response = GetParam().edit;
  start(config);
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->agreed().agreed_max_response_payload_bytes, 1024u);
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(u64_bytes(5))).ok());
  auto m = c->receive_response(in_ms(5000));
  EXPECT_EQ(m.code(), GetParam().expected);
  if (m.ok()) {
    EXPECT_EQ(load_u64(m->payload.data), 6u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Interop, ForgedResponseTest,
    ::testing::Values(
        ForgedResponse{"UnknownFlagBitsAreIgnored",
                       [](sp::Message* m) { m->header.flags = 0x8000; }, Errc::kOk},
        ForgedResponse{"PayloadOverAgreedCeiling", [](sp::Message* m) { m->payload.resize(1025); },
                       Errc::kLimitExceeded},
        ForgedResponse{"ItemCountOverAgreedCeiling",
                       [](sp::Message* m) { m->header.item_count = 2; }, Errc::kLimitExceeded},
        ForgedResponse{"KindRequest", [](sp::Message* m) { m->header.kind = sp::kKindRequest; },
                       Errc::kProtocol},
        ForgedResponse{"KindControl", [](sp::Message* m) { m->header.kind = sp::kKindControl; },
                       Errc::kProtocol}),
    [](const ::testing::TestParamInfo<ForgedResponse>& p) { return std::string(p.param.name); });

TEST_F(SpecServerTest, ProjectClientTreatsCloseWithoutAckAsHandshakeFailure) {
  sp::ServerConfig config = spec_config();
  config.misbehaviour = sp::Misbehaviour::kCloseBeforeAck;
  start(config);
  auto c = connect(proposal());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.code(), Errc::kBadEnvelope);  // wire §5.7 rule 2: closed == BAD_ENVELOPE
}

TEST_F(SpecServerTest, ProjectClientDecodesSpecSnapshotLayout1) {
  start(spec_config());
  auto c = connect(proposal());
  ASSERT_TRUE(c.ok()) << c.error().message();
  uint8_t req[codec::kCgroupsRequestLen];
  codec::encode_cgroups_request(codec::kCgroupsLayoutBinary, req);
  ASSERT_TRUE(c->send_request(2, 1, ByteSpan(req, sizeof req)).ok());
  auto m = c->receive_response(in_ms(5000));
  ASSERT_TRUE(m.ok()) << m.error().message();
  codec::CgroupsSnapshotViews views;
  Status st = codec::decode_cgroups_snapshot_v1(m->payload, &views);
  ASSERT_TRUE(st.ok()) << st.error().message();
  const sp::Snapshot expected = sample_snapshot();
  EXPECT_EQ(views.generation, expected.generation);
  EXPECT_EQ(views.systemd_enabled, expected.systemd_enabled);
  ASSERT_EQ(views.items.size(), expected.items.size());
  for (size_t i = 0; i < views.items.size(); ++i) {
    const sp::CgroupEntry got{views.items[i].hash, views.items[i].options, views.items[i].enabled,
                              std::string(views.items[i].name), std::string(views.items[i].path)};
    EXPECT_TRUE(got == expected.items[i]) << "item " << i;
  }
  expect_no_violations();  // the request was exactly 01 00 00 00
}

TEST_F(SpecServerTest, ProjectClientTalksToSpecServerInAnotherProcess) {
  const std::string dir = dir_.path();
  const std::string service = service_;
  test::Child child = test::Child::fork_fn([&] {
    std::string problem;
    auto server = sp::SpecServer::start(dir, service, spec_config(256), &problem);
    if (server == nullptr) return 1;
    (void)!::write(STDOUT_FILENO, "ready\n", 6);
    for (;;)
      ::pause();  // killed by the parent
  });
  ASSERT_TRUE(child.valid());
  ASSERT_TRUE(child.wait_for_line("ready"));
  auto c = connect(proposal(16000, 1000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto v = increment(*c, 1, 41);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 42u);
  const auto values = iota_values(500, 7);  // chunked both ways at 256
  const auto payload = project_batch(values);
  ASSERT_TRUE(c->send_request(1, 2, ByteSpan(payload), 500).ok());
  auto m = c->receive_response(in_ms(5000));
  ASSERT_TRUE(m.ok()) << m.error().message();
  auto view = wire::BatchView::parse(m->payload, m->header.item_count);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(load_u64(view->item(499).data), values[499] + 1);
}

// ---- Spec client against the project's servers ----
//
// Two project servers: Level1Server, assembled here from UdsListener +
// server_handshake_blocking + UdsConnection (INCREMENT and CGROUPS_SNAPSHOT
// on one endpoint), and the Level-2 netipc::uv::ServerThread with the
// project's handlers (one method per endpoint). Most tests run on both.

enum class ServerKind { kLevel1, kUv };
std::string kind_name(ServerKind k) {
  return k == ServerKind::kLevel1 ? "Level1" : "Uv";
}
void PrintTo(ServerKind k, std::ostream* os) {
  *os << kind_name(k);
}

class ProjectEndpoint {
 public:
  virtual ~ProjectEndpoint() = default;
  virtual const std::string& problem() const = 0;
  // Stops the server (joining its thread, so the count is final and read
  // without racing the server), then returns how many sessions it ended
  // because of what the client sent.
  virtual uint64_t stop_and_count_dropped() = 0;
};

std::vector<CgroupItem> project_items(const sp::Snapshot& s) {
  std::vector<CgroupItem> items;
  for (const auto& e : s.items)
    items.push_back({e.hash, e.options, e.enabled, e.name, e.path, 0});
  return items;
}

// A server assembled from the project's Level-1 pieces: UdsListener,
// server_handshake_blocking and UdsConnection. Serves INCREMENT (single and
// batch, v + 1) and CGROUPS_SNAPSHOT (layout 1) from a thread, one session
// at a time. Session ids count from 1, one per accepted connection.
class Level1Server : public ProjectEndpoint {
 public:
  Level1Server(const std::string& run_dir, const std::string& service, const ServerPolicy& policy,
               const sp::Snapshot& snapshot)
      : policy_(policy), snapshot_(snapshot) {
    auto l = UdsListener::listen(run_dir, service);
    auto a = AbortHandle::create();
    if (!l.ok() || !a.ok()) {
      problem_ = l.ok() ? a.error().message() : l.error().message();
      return;
    }
    listener_ = std::move(*l);
    stop_ = std::move(*a);
    thread_ = std::thread([this] { run(); });
  }
  ~Level1Server() override { stop(); }
  void stop() {
    stop_.abort();
    if (thread_.joinable()) thread_.join();
  }
  const std::string& problem() const override { return problem_; }
  uint64_t stop_and_count_dropped() override {
    stop();
    return receive_errors().size();
  }
  // Handshake outcome per accepted connection.
  std::vector<Errc> handshakes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return handshakes_;
  }
  // Session-ending receive errors other than the client leaving.
  std::vector<Errc> receive_errors() const {
    std::lock_guard<std::mutex> lock(mu_);
    return receive_errors_;
  }

 private:
  void run() {
    uint64_t next_session = 1;
    for (;;) {
      pollfd fds[2] = {{listener_.fd(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) return;
      auto fd = listener_.accept();
      if (!fd.ok()) continue;
      auto s = server_handshake_blocking(std::move(*fd), policy_, next_session++, in_ms(5000));
      {
        std::lock_guard<std::mutex> lock(mu_);
        handshakes_.push_back(s.code());
      }
      if (s.ok()) serve(s->conn);
    }
  }

  void serve(UdsConnection& conn) {
    std::vector<uint8_t> out;
    for (;;) {
      auto m = conn.receive(0, stop_.fd());
      if (!m.ok()) {
        if (m.code() == Errc::kLimitExceeded) (void)reply_status(conn, conn.last_header(), 5);
        if (m.code() != Errc::kPeerGone && m.code() != Errc::kAborted) {
          std::lock_guard<std::mutex> lock(mu_);
          receive_errors_.push_back(m.code());
        }
        return;  // the session ends (wire §7.2, §7.6)
      }
      if (m->header.kind != static_cast<uint16_t>(wire::Kind::kRequest)) return;  // wire §6.1
      wire::Header h;
      h.kind = static_cast<uint16_t>(wire::Kind::kResponse);
      h.code = m->header.code;
      h.message_id = m->header.message_id;
      const uint16_t status = handle(*m, &h, &out);
      if (status != 0) {
        if (!reply_status(conn, m->header, status).ok()) return;
        continue;
      }
      Status sent = conn.send(h, ByteSpan(out), 0, stop_.fd());
      if (sent.code() == Errc::kLimitExceeded) sent = reply_status(conn, m->header, 5);
      if (!sent.ok()) return;
    }
  }

  // Error responses: empty payload, item_count 1, flags 0 (wire §6.2).
  Status reply_status(UdsConnection& conn, const wire::Header& req, uint16_t status) {
    wire::Header h;
    h.kind = static_cast<uint16_t>(wire::Kind::kResponse);
    h.code = req.code;
    h.message_id = req.message_id;
    h.transport_status = status;
    return conn.send(h, ByteSpan(), 0, stop_.fd());
  }

  uint16_t handle(const Message& m, wire::Header* h, std::vector<uint8_t>* out) {
    if (m.header.code == 1 && m.header.is_batch()) {
      auto view = wire::BatchView::parse(m.payload, m.header.item_count);
      if (!view.ok()) return 1;
      wire::BatchWriter w(out, view->size());
      for (uint32_t i = 0; i < view->size(); ++i) {
        if (view->item(i).size < 8) return 1;
        store_u64(w.add_uninitialized(8), load_u64(view->item(i).data) + 1);
      }
      w.finish();
      h->flags = wire::kFlagBatch;
      h->item_count = m.header.item_count;
      return 0;
    }
    if (m.header.code == 1) {
      if (m.payload.size < 8) return 1;
      out->resize(8);
      store_u64(out->data(), load_u64(m.payload.data) + 1);
      return 0;
    }
    if (m.header.code == 2) {
      if (!codec::decode_cgroups_request(m.payload, codec::kCgroupsLayoutsUpstream).ok()) return 1;
      Status st = codec::encode_cgroups_snapshot_v1(
          project_items(snapshot_), snapshot_.systemd_enabled, snapshot_.generation, out);
      return st.ok() ? 0 : 5;
    }
    return 4;  // UNSUPPORTED
  }

  ServerPolicy policy_;
  sp::Snapshot snapshot_;
  std::string problem_;
  UdsListener listener_;
  AbortHandle stop_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Errc> handshakes_;
  std::vector<Errc> receive_errors_;
};

Handler snapshot_handler(const sp::Snapshot& s) {
  auto items = std::make_shared<const std::vector<CgroupItem>>(project_items(s));
  return [items, systemd = s.systemd_enabled, gen = s.generation](ByteSpan req,
                                                                  ResponseWriter& out) -> Status {
    auto layout = codec::decode_cgroups_request(req, codec::kCgroupsLayoutsUpstream);
    if (!layout.ok()) return layout.error();
    return codec::encode_cgroups_snapshot_v1(*items, systemd, gen, &out.bytes());
  };
}

class UvEndpoint : public ProjectEndpoint {
 public:
  UvEndpoint(const std::string& run_dir, const std::string& service, const ServerPolicy& policy,
             uint16_t method, const sp::Snapshot& snapshot) {
    uv::ServerConfig c;
    c.run_dir = run_dir;
    c.service = service;
    c.method = method;
    c.supported_profiles = policy.supported_profiles;
    c.preferred_profiles = policy.preferred_profiles;
    c.max_request_payload_bytes = policy.max_request_payload_bytes;
    c.max_response_payload_bytes = policy.max_response_payload_bytes;
    c.auth_token = policy.auth_token;
    c.packet_size = policy.packet_size;
    auto t =
        uv::ServerThread::start(c, method == sp::kMethodCgroupsSnapshot ? snapshot_handler(snapshot)
                                                                        : make_increment_handler());
    if (t.ok()) {
      thread_ = std::move(*t);
    } else {
      problem_ = t.error().message();
    }
  }
  const std::string& problem() const override { return problem_; }
  uint64_t stop_and_count_dropped() override {
    thread_->stop();
    return thread_->server().stats().sessions_dropped;
  }
  // Documented as safe from any thread (uv/server_thread.h).
  uv::ServerStats stats() const { return thread_->server().stats(); }

 private:
  std::string problem_;
  std::unique_ptr<uv::ServerThread> thread_;
};

std::unique_ptr<ProjectEndpoint> start_project_server(ServerKind kind, const std::string& run_dir,
                                                      const std::string& service,
                                                      const ServerPolicy& policy, uint16_t method,
                                                      const sp::Snapshot& snapshot) {
  if (kind == ServerKind::kLevel1) {
    return std::make_unique<Level1Server>(run_dir, service, policy, snapshot);
  }
  return std::make_unique<UvEndpoint>(run_dir, service, policy, method, snapshot);
}

std::unique_ptr<sp::SpecClient> spec_connect(const TempDir& dir, const std::string& service) {
  std::string problem;
  auto c = sp::SpecClient::connect(dir.path(), service, &problem);
  EXPECT_NE(c, nullptr) << problem;
  return c;
}

ServerPolicy project_policy() {
  ServerPolicy p;
  p.supported_profiles = wire::kProfileUds;
  p.max_request_payload_bytes = 300000;
  p.max_response_payload_bytes = 300000;
  p.packet_size = 0;  // auto: SO_SNDBUF - 32 of the accepted socket
  p.auth_token = kToken;
  return p;
}

// Base of the fixtures that run a project server; kind() picks which.
class ProjectServerFixture : public ::testing::Test {
 protected:
  virtual ServerKind kind() const = 0;
  void start(const ServerPolicy& policy, uint16_t method = sp::kMethodIncrement,
             const sp::Snapshot& snapshot = sample_snapshot()) {
    server_ = start_project_server(kind(), dir_.path(), service_, policy, method, snapshot);
    ASSERT_EQ(server_->problem(), "");
  }
  std::unique_ptr<sp::SpecClient> client() { return spec_connect(dir_, service_); }
  sp::Hello hello(const sp::SpecClient& c, uint32_t max_request = 1024, uint32_t items = 1) {
    sp::Hello h = c.default_hello();  // packet size = raw SO_SNDBUF, as upstream
    h.auth_token = kToken;
    h.max_request_payload = max_request;
    h.max_request_items = items;
    h.max_response_items = items;
    h.max_response_payload = 300000;
    return h;
  }

  TempDir dir_;
  std::string service_ = test::unique_service("interop");
  std::unique_ptr<ProjectEndpoint> server_;
};

class ProjectServerTest : public ProjectServerFixture,
                          public ::testing::WithParamInterface<ServerKind> {
 protected:
  ServerKind kind() const override { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Interop, ProjectServerTest,
                         ::testing::Values(ServerKind::kLevel1, ServerKind::kUv),
                         [](const ::testing::TestParamInfo<ServerKind>& p) {
                           return kind_name(p.param);
                         });

// uv::ServerThread documents stats() as callable from any thread, but
// ServerImpl::stats() (netipc/src/uv/server.cc) reads sessions_.size(), an
// unordered_set that the loop thread inserts into and erases from, without
// synchronization. Under ThreadSanitizer this test reports that data race;
// other builds cannot see it and pass.
TEST(UvServerThreadTest, StatsCanBeReadFromAnotherThreadWhileSessionsComeAndGo) {
  TempDir dir;
  const std::string service = test::unique_service("stats");
  UvEndpoint server(dir.path(), service, project_policy(), sp::kMethodIncrement, sample_snapshot());
  ASSERT_EQ(server.problem(), "");
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load())
      (void)server.stats();
  });
  auto churn = [&] {
    for (uint64_t i = 0; i < 20; ++i) {
      auto c = spec_connect(dir, service);
      ASSERT_NE(c, nullptr);
      sp::Hello h = c->default_hello();
      h.auth_token = kToken;
      ASSERT_EQ(c->handshake(h), "");
      uint64_t v = 0;
      ASSERT_EQ(c->increment(i, &v), "");
    }
  };
  churn();
  done.store(true);
  reader.join();
  EXPECT_EQ(server.stop_and_count_dropped(), 0u);
  EXPECT_EQ(server.stats().sessions_accepted, 20u);
}

// Level 1 only: the vector selects SHM_HYBRID, which this test does not serve.
TEST(Level1ServerTest, ProjectServerAckMatchesWireSpecVector) {
  ServerPolicy p;
  p.supported_profiles = 0x03;
  p.preferred_profiles = 0x02;
  p.max_request_payload_bytes = 1024;
  p.max_response_payload_bytes = 65536;
  p.packet_size = 212992;
  p.auth_token = 0x1122334455667788ull;
  TempDir dir;
  const std::string service = test::unique_service("vector");
  Level1Server server(dir.path(), service, p, sample_snapshot());
  ASSERT_EQ(server.problem(), "");
  auto c = spec_connect(dir, service);
  ASSERT_NE(c, nullptr);
  const sp::Bytes hello_vector = sp::from_hex(
      "4350494e 01002000 03000000 01000000 2c000000 01000000 00000000 00000000"
      "01000000 03000000 02000000 00040000 01000000 00000100 01000000 00000000"
      "88776655 44332211 00400300");
  ASSERT_EQ(c->link().send_packet(hello_vector), "");
  sp::Bytes raw;
  uint16_t status = 0xFFFF;
  sp::HelloAck ack;
  ASSERT_EQ(c->receive_ack(&raw, &status, &ack), "");
  EXPECT_EQ(sp::to_hex(raw),
            sp::to_hex(sp::from_hex("4350494e 01002000 03000000 02000000 30000000 01000000"
                                    "00000000 00000000 01000000 03000000 03000000 02000000"
                                    "00040000 01000000 00000100 01000000 00400300 00000000"
                                    "01000000 00000000")));
}

TEST_P(ProjectServerTest, ProjectServerAckCarriesEveryNegotiatedField) {
  ServerPolicy p = project_policy();
  p.max_request_payload_bytes = 8192;
  p.max_response_payload_bytes = 70000;
  start(p);
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c, 4096, 17);
  h.max_response_payload = 1;  // a hint: the server answers with its own ceiling
  ASSERT_EQ(c->send_hello(h), "");
  sp::Bytes raw;
  uint16_t status = 0xFFFF;
  sp::HelloAck ack;
  ASSERT_EQ(c->receive_ack(&raw, &status, &ack), "");
  sp::HelloAck expected;
  expected.server_supported = 0x01;
  expected.intersection = 0x01;
  expected.selected = 0x01;
  expected.max_request_payload = 4096;
  expected.max_request_items = 17;
  expected.max_response_payload = 70000;
  expected.max_response_items = 17;
  expected.packet_size = default_sndbuf() - 32;  // min(raw SO_SNDBUF, SO_SNDBUF - 32)
  expected.session_id = 1;
  EXPECT_EQ(sp::to_hex(raw), sp::to_hex(sp::ack_packet(expected, sp::kStatusOk)));
}

TEST_P(ProjectServerTest, ProjectServerAssignsSessionIdsFromOneStrictlyIncreasing) {
  start(project_policy());
  std::vector<uint64_t> ids;
  for (int i = 0; i < 4; ++i) {
    auto c = client();
    ASSERT_NE(c, nullptr);
    sp::HelloAck ack;
    ASSERT_EQ(c->handshake(hello(*c), &ack), "");
    uint64_t v = 0;
    ASSERT_EQ(c->increment(i, &v), "");  // the session works before the next one
    EXPECT_EQ(v, static_cast<uint64_t>(i) + 1);
    ids.push_back(ack.session_id);
  }
  ASSERT_EQ(ids.front(), 1u);
  for (size_t i = 1; i < ids.size(); ++i)
    EXPECT_GT(ids[i], ids[i - 1]);
}

TEST_P(ProjectServerTest, ProjectServerAnswersSpecClientSingleAndBatchIncrements) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c, 16000, 1000)), "");
  uint64_t v = 0;
  ASSERT_EQ(c->increment(41, &v), "");
  EXPECT_EQ(v, 42u);
  ASSERT_EQ(c->increment(UINT64_MAX, &v), "");
  EXPECT_EQ(v, 0u);
  for (size_t n : {2, 3, 7, 64, 333, 999, 1000}) {
    SCOPED_TRACE(n);
    const auto values = iota_values(n, n);
    std::vector<uint64_t> got;
    ASSERT_EQ(c->increment_batch(values, &got), "");  // also checks canonical framing
    ASSERT_EQ(got.size(), n);
    for (size_t i = 0; i < n; ++i)
      EXPECT_EQ(got[i], values[i] + 1);
  }
  EXPECT_EQ(server_->stop_and_count_dropped(), 0u);
}

TEST_P(ProjectServerTest, ProjectServerReassemblesChunkedRequestsAndChunksReplies) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c, 16000, 1000);
  h.packet_size = 256;
  sp::HelloAck ack;
  ASSERT_EQ(c->handshake(h, &ack), "");
  ASSERT_EQ(ack.packet_size, 256u);
  const auto values = iota_values(625, 11);  // 10000 bytes each way
  std::vector<uint64_t> got;
  ASSERT_EQ(c->increment_batch(values, &got), "");
  for (size_t i = 0; i < values.size(); ++i)
    ASSERT_EQ(got[i], values[i] + 1);
  // wire §4.2: 45 packets, every non-final one exactly 256 bytes, the last
  // 32 + (10000 - 44 * 224) = 176.
  std::vector<size_t> expected(44, 256);
  expected.push_back(176);
  EXPECT_EQ(c->link().last_packet_sizes(), expected);
  EXPECT_EQ(server_->stop_and_count_dropped(), 0u);
}

TEST_P(ProjectServerTest, ProjectServerRoundTrips300000BytesWithUpstreamSizedHello) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c, 300000, 18750);
  ASSERT_EQ(h.packet_size, default_sndbuf());  // what an upstream client proposes
  sp::HelloAck ack;
  ASSERT_EQ(c->handshake(h, &ack), "");
  EXPECT_EQ(ack.packet_size, default_sndbuf() - 32);
  const auto values = iota_values(18750, 3);
  std::vector<uint64_t> got;
  ASSERT_EQ(c->increment_batch(values, &got), "");
  EXPECT_EQ(got.back(), values.back() + 1);
  EXPECT_EQ(c->link().last_packet_sizes().size(), 2u);
}

TEST_P(ProjectServerTest, ProjectServerServesAtMinimalPacketSize33) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c);
  h.packet_size = 33;  // wire §9.6: 33 is accepted; one payload byte per packet
  sp::HelloAck ack;
  ASSERT_EQ(c->handshake(h, &ack), "");
  ASSERT_EQ(ack.packet_size, 33u);
  uint64_t v = 0;
  ASSERT_EQ(c->increment(99, &v), "");
  EXPECT_EQ(v, 100u);
  EXPECT_EQ(c->link().last_packet_sizes(), std::vector<size_t>(8, 33));
}

TEST_P(ProjectServerTest, ProjectServerAnswersPipelinedSpecRequests) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c)), "");
  for (uint64_t id = 1; id <= 5; ++id) {
    sp::Header h;
    h.kind = sp::kKindRequest;
    h.code = sp::kMethodIncrement;
    h.message_id = id;
    ASSERT_EQ(c->link().send(h, sp::u64_payload(id * 100)), "");
  }
  for (uint64_t id = 1; id <= 5; ++id) {
    sp::Message m;
    ASSERT_EQ(c->link().receive(&m, 5000), "");
    EXPECT_EQ(m.header.kind, sp::kKindResponse);
    EXPECT_EQ(m.header.message_id, id);
    EXPECT_EQ(sp::rd64(m.payload.data()), id * 100 + 1);
  }
}

TEST_P(ProjectServerTest, ProjectServerAnswersOverCeilingRequestWithLimitExceeded) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c, 1024)), "");
  sp::Header h;
  h.kind = sp::kKindRequest;
  h.code = sp::kMethodIncrement;
  h.message_id = 77;
  ASSERT_EQ(c->link().send(h, sp::Bytes(1032, 0)), "");  // 8 bytes over the agreed 1024
  sp::Message m;
  ASSERT_EQ(c->link().receive(&m, 5000), "");
  EXPECT_EQ(m.header.message_id, 77u);
  EXPECT_EQ(m.header.status, sp::kStatusLimitExceeded);
  EXPECT_TRUE(m.payload.empty());
  EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
}

TEST_P(ProjectServerTest, ProjectServerAnswersOverItemCountRequestWithLimitExceeded) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c, 16000, 10)), "");
  std::vector<sp::Bytes> items(11, sp::u64_payload(1));  // one item over the agreed 10
  sp::Header h;
  h.kind = sp::kKindRequest;
  h.code = sp::kMethodIncrement;
  h.flags = sp::kFlagBatch;
  h.item_count = 11;
  h.message_id = 5;
  ASSERT_EQ(c->link().send(h, sp::make_batch(items)), "");
  sp::Message m;
  ASSERT_EQ(c->link().receive(&m, 5000), "");
  EXPECT_EQ(m.header.message_id, 5u);
  EXPECT_EQ(m.header.status, sp::kStatusLimitExceeded);
  EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
}

struct Rejection {
  const char* name;
  std::function<void(sp::Hello*)> edit;
  uint16_t status;
};
void PrintTo(const Rejection& p, std::ostream* os) {
  *os << p.name;
}

class ProjectServerRejectionTest
    : public ProjectServerFixture,
      public ::testing::WithParamInterface<std::tuple<Rejection, ServerKind>> {
 protected:
  ServerKind kind() const override { return std::get<1>(GetParam()); }
  const Rejection& rejection() const { return std::get<0>(GetParam()); }
};

TEST_P(ProjectServerRejectionTest, RejectionAckIsZeroExceptLayoutVersionThenCloses) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c);
  rejection().edit(&h);
  ASSERT_EQ(c->send_hello(h), "");
  sp::Bytes raw;
  uint16_t status = 0xFFFF;
  sp::HelloAck ack;
  ASSERT_EQ(c->receive_ack(&raw, &status, &ack), "");
  EXPECT_EQ(status, rejection().status);
  EXPECT_EQ(sp::to_hex(raw), sp::to_hex(sp::ack_packet(sp::rejection_ack(), rejection().status)));
  EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
}

INSTANTIATE_TEST_SUITE_P(
    Interop, ProjectServerRejectionTest,
    ::testing::Combine(
        ::testing::Values(Rejection{"WrongToken", [](sp::Hello* h) { h->auth_token ^= 1; },
                                    sp::kStatusAuthFailed},
                          Rejection{"NoCommonProfile", [](sp::Hello* h) { h->supported = 0x08; },
                                    sp::kStatusUnsupported},
                          Rejection{"LayoutVersion2", [](sp::Hello* h) { h->layout_version = 2; },
                                    sp::kStatusIncompatible},
                          Rejection{"PacketSize32", [](sp::Hello* h) { h->packet_size = 32; },
                                    sp::kStatusIncompatible},
                          Rejection{"RequestCeilingAboveServerMax",
                                    [](sp::Hello* h) { h->max_request_payload = 300001; },
                                    sp::kStatusLimitExceeded}),
        ::testing::Values(ServerKind::kLevel1, ServerKind::kUv)),
    [](const ::testing::TestParamInfo<std::tuple<Rejection, ServerKind>>& p) {
      return std::string(std::get<0>(p.param).name) + "_" + kind_name(std::get<1>(p.param));
    });

TEST_P(ProjectServerTest, ProjectServerAnswersHeaderVersion2HelloWithIncompatible) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->send_hello(hello(*c), 2), "");
  sp::Bytes raw;
  uint16_t status = 0xFFFF;
  sp::HelloAck ack;
  ASSERT_EQ(c->receive_ack(&raw, &status, &ack), "");
  EXPECT_EQ(status, sp::kStatusIncompatible);
  EXPECT_EQ(sp::to_hex(raw), sp::to_hex(sp::ack_packet(sp::rejection_ack(), status)));
  EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
}

TEST_P(ProjectServerTest, ProjectServerAcceptsHelloWithZeroPayloadLenLikeUpstream) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Bytes pkt = sp::hello_packet(hello(*c));
  sp::wr32(pkt.data() + 16, 0);  // wire §5.5 step 2: the body is read from the bytes
  ASSERT_EQ(c->link().send_packet(pkt), "");
  sp::Bytes raw;
  uint16_t status = 0xFFFF;
  sp::HelloAck ack;
  ASSERT_EQ(c->receive_ack(&raw, &status, &ack), "");
  EXPECT_EQ(status, sp::kStatusOk);
  EXPECT_EQ(ack.session_id, 1u);
}

TEST_P(ProjectServerTest, ProjectServerNeverAcceptsHelloWithNonZeroReserved) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = hello(*c);
  h.reserved = 1;
  ASSERT_EQ(c->send_hello(h), "");
  // Upstream closes silently; a C++ server may send BAD_ENVELOPE first (wire §5.7).
  sp::Bytes raw;
  const std::string got = c->link().receive_packet(&raw, 5000);
  if (got.empty()) {
    ASSERT_GE(raw.size(), 16u);
    EXPECT_EQ(sp::rd16(raw.data() + 14), sp::kStatusBadEnvelope);
    EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
  } else {
    EXPECT_EQ(got, sp::kPeerClosed);
  }
}

TEST_P(ProjectServerTest, ProjectServerSnapshotDecodesWithSpecPeer) {
  start(project_policy(), sp::kMethodCgroupsSnapshot);
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c)), "");
  sp::Snapshot got;
  ASSERT_EQ(c->snapshot(&got), "");  // also checks the canonical encoding
  const sp::Snapshot expected = sample_snapshot();
  EXPECT_EQ(got.generation, expected.generation);
  EXPECT_EQ(got.systemd_enabled, expected.systemd_enabled);
  EXPECT_TRUE(got.items == expected.items);
}

TEST_P(ProjectServerTest, ProjectServerSnapshotMatchesCodecSpecVector) {
  sp::Snapshot s = sample_snapshot();
  s.items.pop_back();  // exactly the codec §2.6 items
  start(project_policy(), sp::kMethodCgroupsSnapshot, s);
  auto c = client();
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->handshake(hello(*c)), "");
  sp::Message m;
  ASSERT_EQ(c->call(sp::kMethodCgroupsSnapshot, sp::snapshot_request(), 1, &m), "");
  EXPECT_EQ(sp::to_hex(m.payload), sp::to_hex(sp::from_hex(kSnapshotVector)));
}

TEST_P(ProjectServerTest, ProjectServerServesSpecClientInAnotherProcess) {
  start(project_policy());
  const std::string dir = dir_.path();
  const std::string service = service_;
  test::Child child = test::Child::fork_fn([&]() -> int {
    std::string problem;
    auto c = sp::SpecClient::connect(dir, service, &problem);
    if (c == nullptr) return 2;
    sp::Hello h = c->default_hello();
    h.auth_token = kToken;
    h.max_request_payload = 16000;
    h.max_request_items = h.max_response_items = 1000;
    h.packet_size = 512;
    uint64_t v = 0;
    std::vector<uint64_t> got;
    if (!c->handshake(h).empty() || !c->increment(1, &v).empty() || v != 2) return 3;
    if (!c->increment_batch(iota_values(900, 1), &got).empty() || got[899] != 1 + 899 * 3 + 1) {
      return 4;
    }
    return 0;
  });
  ASSERT_TRUE(child.valid());
  EXPECT_EQ(child.wait(), 0);
  EXPECT_EQ(server_->stop_and_count_dropped(), 0u);
}

// ---- Forged chunk sequences, both directions (wire §4.3, §9.5) ----
//
// A 62-item INCREMENT batch is 992 bytes: at P = 256 that is five packets
// (224 + 224 + 224 + 224 + 96 payload bytes). Each forgery edits them.
struct ChunkForgery {
  const char* name;
  std::function<void(std::vector<sp::Bytes>*)> edit;
};
void PrintTo(const ChunkForgery& p, std::ostream* os) {
  *os << p.name;
}

constexpr uint32_t kForgeryItems = 62;

std::vector<ChunkForgery> chunk_forgeries() {
  using P = std::vector<sp::Bytes>;
  return {
      {"ChunkWithOtherMessageId", [](P* p) { sp::wr64((*p)[1].data() + 8, 999); }},
      {"SkippedChunkIndex", [](P* p) { p->erase(p->begin() + 1); }},
      {"DuplicatedChunkIndex", [](P* p) { p->insert(p->begin() + 1, (*p)[1]); }},
      {"WrongChunkCount", [](P* p) { sp::wr32((*p)[1].data() + 24, 6); }},
      {"WrongTotalMessageLen",
       [](P* p) { sp::wr32((*p)[1].data() + 16, sp::rd32((*p)[1].data() + 16) + 8); }},
      {"BadChunkMagic", [](P* p) { (*p)[1][0] ^= 0xFF; }},
      {"ChunkVersion2", [](P* p) { sp::wr16((*p)[1].data() + 4, 2); }},
      {"ChunkFlagsNonZero", [](P* p) { sp::wr16((*p)[1].data() + 6, 1); }},
      {"ZeroChunkPayloadLen",
       [](P* p) {
         (*p)[1].resize(32);
         sp::wr32((*p)[1].data() + 28, 0);
       }},
      {"ShortNonFinalChunk",
       [](P* p) {
         (*p)[1].resize(32 + 100);
         sp::wr32((*p)[1].data() + 28, 100);
       }},
      {"OverlongChunk",
       [](P* p) {
         (*p)[1].resize((*p)[1].size() + 50, 0);
         sp::wr32((*p)[1].data() + 28, static_cast<uint32_t>((*p)[1].size() - 32));
       }},
      {"ChunksPastPayloadLen",
       [](P* p) {
         p->back().resize(p->back().size() + 8, 0);
         sp::wr32(p->back().data() + 28, static_cast<uint32_t>(p->back().size() - 32));
       }},
      {"FirstPacketLongerThanDeclared", [](P* p) { sp::wr32((*p)[0].data() + 16, 100); }},
      {"LastChunkWithWrongChunkCount", [](P* p) { sp::wr32((*p)[4].data() + 24, 4); }},
  };
}

class ChunkForgeryTest : public ::testing::TestWithParam<ChunkForgery> {
 protected:
  TempDir dir_;
  std::string service_ = test::unique_service("forge");
};

// The oracle is at least as strict as the project: it rejects every forgery.
TEST_P(ChunkForgeryTest, SpecPeerRejectsForgedChunkSequence) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  sp::UdsLink a(sv[0]);
  sp::UdsLink b(sv[1]);
  b.set_packet_size(256);
  std::vector<sp::Bytes> items;
  for (uint64_t v : iota_values(kForgeryItems, 1))
    items.push_back(sp::u64_payload(v));
  sp::Header h;
  h.kind = sp::kKindResponse;
  h.code = sp::kMethodIncrement;
  h.flags = sp::kFlagBatch;
  h.item_count = kForgeryItems;
  h.message_id = 1;
  auto packets = sp::packetize(h, sp::make_batch(items), 256);
  ASSERT_EQ(packets.size(), 5u);
  GetParam().edit(&packets);
  ASSERT_EQ(a.send_packets(packets), "");
  sp::Message m;
  const std::string problem = b.receive(&m, 1000);
  EXPECT_NE(problem, "");
  EXPECT_NE(problem, sp::kTimedOut);
}

TEST_P(ChunkForgeryTest, ProjectClientRejectsForgedChunkedResponse) {
  sp::ServerConfig config = spec_config(256);
  config.policy.max_request_payload = 16000;
  config.mutate_packets = [edit = GetParam().edit](std::vector<sp::Bytes>* p) {
    if (p->size() == 5) edit(p);
  };
  std::string problem;
  auto server = sp::SpecServer::start(dir_.path(), service_, config, &problem);
  ASSERT_NE(server, nullptr) << problem;
  auto c = ClientSession::connect(dir_.path(), service_, proposal(16000, 1000), in_ms(5000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  const auto payload = project_batch(iota_values(kForgeryItems, 1));
  ASSERT_TRUE(c->send_request(1, 1, ByteSpan(payload), kForgeryItems).ok());
  auto m = c->receive_response(in_ms(2000));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().action(), Action::kMalformedPeer) << m.error().message();
  EXPECT_EQ(c->in_flight(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Interop, ChunkForgeryTest, ::testing::ValuesIn(chunk_forgeries()),
                         [](const ::testing::TestParamInfo<ChunkForgery>& p) {
                           return std::string(p.param.name);
                         });

class ProjectServerChunkForgeryTest
    : public ProjectServerFixture,
      public ::testing::WithParamInterface<std::tuple<ChunkForgery, ServerKind>> {
 protected:
  ServerKind kind() const override { return std::get<1>(GetParam()); }
};

TEST_P(ProjectServerChunkForgeryTest, ProjectServerDropsSessionOnForgedChunkedRequest) {
  start(project_policy());
  auto c = client();
  ASSERT_NE(c, nullptr);
  sp::Hello h = c->default_hello();
  h.auth_token = kToken;
  h.max_request_payload = 16000;
  h.max_request_items = h.max_response_items = 1000;
  h.packet_size = 256;
  ASSERT_EQ(c->handshake(h), "");
  std::vector<sp::Bytes> items;
  for (uint64_t v : iota_values(kForgeryItems, 1))
    items.push_back(sp::u64_payload(v));
  sp::Header req;
  req.kind = sp::kKindRequest;
  req.code = sp::kMethodIncrement;
  req.flags = sp::kFlagBatch;
  req.item_count = kForgeryItems;
  req.message_id = 1;
  auto packets = sp::packetize(req, sp::make_batch(items), 256);
  ASSERT_EQ(packets.size(), 5u);
  std::get<0>(GetParam()).edit(&packets);
  // The server may hang up before the last packets: their send result is moot.
  (void)c->link().send_packets(packets);
  // No response: the session ends (wire §4.3 rule 5, §7.6).
  EXPECT_EQ(c->link().wait_closed(5000), sp::kPeerClosed);
  EXPECT_EQ(server_->stop_and_count_dropped(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Interop, ProjectServerChunkForgeryTest,
    ::testing::Combine(::testing::ValuesIn(chunk_forgeries()),
                       ::testing::Values(ServerKind::kLevel1, ServerKind::kUv)),
    [](const ::testing::TestParamInfo<std::tuple<ChunkForgery, ServerKind>>& p) {
      return std::string(std::get<0>(p.param).name) + "_" + kind_name(std::get<1>(p.param));
    });

}  // namespace
}  // namespace netipc
