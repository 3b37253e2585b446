// The blocking Level-2 client against the independent spec peer
// (tests/support/spec_peer.h): no spec violation in single, batch and
// chunked calls; the peer's misbehaviours map to distinct errors; a bad
// HELLO_ACK and a capped peer are refused.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client_test_util.h"
#include "netipc/client.h"
#include "spec_peer.h"

namespace netipc::test {
namespace {

class ClientSpecPeerTest : public ClientTest {
 protected:
  std::unique_ptr<spec_peer::SpecServer> start(spec_peer::ServerConfig sc) {
    std::string problem;
    auto s = spec_peer::SpecServer::start(dir_.path(), service_, std::move(sc), &problem);
    EXPECT_NE(s, nullptr) << problem;
    return s;
  }
};

TEST_F(ClientSpecPeerTest, SpecPeerFindsNoViolationInSingleBatchAndChunkedCalls) {
  spec_peer::ServerConfig sc;
  sc.policy.max_request_payload = 1u << 20;
  sc.policy.max_response_payload = 1u << 20;
  sc.policy.packet_size = 0;  // raw SO_SNDBUF, as upstream advertises
  auto server = start(std::move(sc));
  ClientConfig cfg = config();
  cfg.max_request_batch_items = 64;
  Client inc = make(cfg);
  EXPECT_EQ(increment(inc, 41), 42u);
  std::vector<std::vector<uint8_t>> storage;
  std::vector<ByteSpan> items;
  for (uint64_t i = 0; i < 64; ++i)
    storage.push_back(u64_bytes(i * 3));
  for (const auto& b : storage)
    items.emplace_back(b);
  auto batch = inc.call_batch(items);
  ASSERT_TRUE(batch.ok()) << batch.error().message();
  for (uint32_t i = 0; i < 64; ++i)
    EXPECT_EQ(load_u64(batch->item(i).data), i * 3 + 1u);
  inc.reset();  // one session at a time at the spec server

  // STRING_REVERSE with 300 kB each way: chunked in both directions at the
  // agreed packet size (min of our SO_SNDBUF - 32 and the peer's raw value).
  cfg = config();
  cfg.method = static_cast<uint16_t>(wire::Method::kStringReverse);
  Client rev = make(cfg);
  std::string text(300000, 'a');
  for (size_t i = 0; i < text.size(); ++i)
    text[i] = static_cast<char>('a' + i % 26);
  const spec_peer::Bytes req = spec_peer::reverse_payload(text);
  auto r = rev.call(ByteSpan(req.data(), req.size()));
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::string back;
  EXPECT_EQ(spec_peer::read_reverse(
                spec_peer::Bytes(r->payload.data, r->payload.data + r->payload.size), &back),
            "");
  EXPECT_EQ(back, std::string(text.rbegin(), text.rend()));
  EXPECT_GT(rev.status().learned_request_payload_bytes, 300000u);
  rev.reset();

  const spec_peer::ServerLog log = server->log();
  EXPECT_TRUE(log.violations.empty()) << log.violations.front();
  ASSERT_GE(log.requests.size(), 3u);
  EXPECT_EQ(log.requests[0].header.message_id, 1u);
  EXPECT_EQ(log.requests[1].header.message_id, 2u);
  EXPECT_EQ(log.requests[1].header.item_count, 64u);
  EXPECT_GT(log.request_packets.back(), 1u);  // the reverse request was chunked
}

TEST_F(ClientSpecPeerTest, SpecPeerMisbehavioursMapToDistinctErrors) {
  using spec_peer::Misbehaviour;
  struct Case {
    Misbehaviour m;
    Errc expected;
    size_t requests;
    ClientState state;
  };
  const Case cases[] = {
      {Misbehaviour::kWrongMessageId, Errc::kProtocol, 2, ClientState::kBroken},
      {Misbehaviour::kCloseMidMessage, Errc::kPeerGone, 2, ClientState::kBroken},
      {Misbehaviour::kStallAfterFirstChunk, Errc::kTimeout, 1, ClientState::kBroken},
      {Misbehaviour::kGarbage, Errc::kBadMagic, 2, ClientState::kBroken},
      {Misbehaviour::kCloseBeforeAck, Errc::kBadEnvelope, 0, ClientState::kDisconnected},
  };
  for (const Case& c : cases) {
    service_ = unique_service("mb");
    spec_peer::ServerConfig sc;
    sc.misbehaviour = c.m;
    sc.policy.max_request_payload = 1u << 20;
    sc.policy.max_response_payload = 1u << 20;
    sc.policy.packet_size = 4096;  // the 10 kB response is chunked
    auto server = start(std::move(sc));
    ClientConfig cfg = config();
    cfg.method = static_cast<uint16_t>(wire::Method::kStringReverse);
    cfg.max_request_payload_bytes = 16384;
    Client client = make(cfg);
    const spec_peer::Bytes req = spec_peer::reverse_payload(std::string(10000, 'x'));
    auto r = client.call(ByteSpan(req.data(), req.size()), 1, 300);
    EXPECT_EQ(r.code(), c.expected) << static_cast<int>(c.m) << ": " << errc_name(r.code());
    EXPECT_EQ(client.state(), c.state) << static_cast<int>(c.m);
    const spec_peer::ServerLog log = server->log();
    EXPECT_EQ(log.requests.size(), c.requests) << static_cast<int>(c.m);
    EXPECT_TRUE(log.violations.empty()) << log.violations.front();
  }
}

TEST_F(ClientSpecPeerTest, AckSelectingAProfileWeNeverOfferedIsAProtocolError) {
  spec_peer::ServerConfig sc;
  sc.mutate_ack = [](spec_peer::Bytes* ack) {
    spec_peer::wr32(ack->data() + spec_peer::kHeaderSize + 12, 0x02);  // selected_profile
  };
  auto server = start(std::move(sc));
  Client c = make(config());
  Errc err = Errc::kOk;
  increment(c, 1, &err);
  EXPECT_EQ(err, Errc::kProtocol);
  EXPECT_EQ(c.state(), ClientState::kDisconnected);
}

TEST_F(ClientSpecPeerTest, CappedSpecPeerFailsAnOversizedAnswerAfterTwoAttempts) {
  spec_peer::ServerConfig sc;
  sc.policy.max_response_payload = 65536;  // a typed server's default, never grown
  for (int i = 0; i < 1500; ++i) {         // about 130 kB encoded
    spec_peer::CgroupEntry e;
    e.hash = static_cast<uint32_t>(i);
    e.name = "cgroup-" + std::to_string(i);
    e.path = "/sys/fs/cgroup/" + e.name;
    sc.snapshot.items.push_back(e);
  }
  auto server = start(std::move(sc));
  ClientConfig cfg = config();
  cfg.method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  Client c = make(cfg);
  const spec_peer::Bytes req = spec_peer::snapshot_request();
  EXPECT_EQ(c.call(ByteSpan(req.data(), req.size())).code(), Errc::kLimitExceeded);
  c.reset();
  const auto log = server->log();
  EXPECT_EQ(log.requests.size(), 2u);
  EXPECT_TRUE(log.violations.empty());
}

}  // namespace
}  // namespace netipc::test
