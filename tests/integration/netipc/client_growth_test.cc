// The blocking Level-2 client's payload sizes against a scripted server:
// response and request ceilings learned by growing (invisible to the
// caller, bounded in attempts; docs/levels.md §1.5, §1.7 and §2.2), and
// chunked messages both ways.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "client_test_util.h"
#include "netipc/client.h"

namespace netipc::test {
namespace {

TEST_F(ClientTest, ResponseGrowthUntilTheHintIsLargeEnoughIsInvisible) {
  // The server offers the client's own hint as its response ceiling and
  // answers LIMIT_EXCEEDED until that hint reaches 256 KiB.
  constexpr uint32_t kNeed = 262144;
  auto server = serve(basic_policy(), limit_exceeded_until_ceiling(kNeed, 200000, 0x5a),
                      ceiling_from_client_hint());
  Client c = make(config());
  auto b = u64_bytes(1);
  auto r = c.call(ByteSpan(b));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->payload.size, 200000u);
  EXPECT_EQ(r->payload.data[199999], 0x5a);
  EXPECT_EQ(server->ack_response_ceilings(), (std::vector<uint32_t>{65536, 131072, 262144}));
  const ClientStatus s = c.status();
  EXPECT_EQ(s.learned_response_payload_bytes, kNeed);
  EXPECT_EQ(s.reconnect_count, 2u);
  EXPECT_EQ(s.error_count, 0u);
  EXPECT_EQ(s.call_count, 1u);
  for (const auto& seen : server->seen())
    EXPECT_EQ(seen.header.message_id, 1u);
  // The learned size lives on: the next session starts with it.
  c.reset();
  EXPECT_TRUE(c.call(ByteSpan(b)).ok());
  EXPECT_EQ(server->ack_response_ceilings().back(), kNeed);
}

// A server whose response ceiling starts at 1024 and doubles after each
// overflow (server learned size, docs/levels.md §2.2), for the overflow loop
// of docs/levels.md §1.5.
struct GrowingServer {
  std::atomic<uint32_t> ceiling{1024};
  uint32_t need = 0;
  TestServer::Handler handler() {
    return [this](const wire::Header&, ByteSpan, const wire::HelloAck& ack) {
      if (need > ack.agreed_max_response_payload_bytes) {
        uint32_t want = 2 * ack.agreed_max_response_payload_bytes;
        if (want > (1u << 20)) want = 1u << 20;
        if (want > ceiling) ceiling = want;
        return Reply::status_then_close(wire::TransportStatus::kLimitExceeded);
      }
      return Reply::ok(std::vector<uint8_t>(need, 1));
    };
  }
  TestServer::PolicyHook hook() {
    return [this](const wire::Hello&, ServerPolicy* p) { p->max_response_payload_bytes = ceiling; };
  }
};

TEST_F(ClientTest, OverflowGrowthSucceedsOnTheSeventhAttempt) {
  GrowingServer g;
  g.need = 40000;
  auto server = serve(basic_policy(), g.handler(), g.hook());
  Client c = make(config());
  auto b = u64_bytes(1);
  auto r = c.call(ByteSpan(b));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->payload.size, 40000u);
  EXPECT_EQ(server->requests(), 7);
  EXPECT_EQ(server->ack_response_ceilings(),
            (std::vector<uint32_t>{1024, 2048, 4096, 8192, 16384, 32768, 65536}));
}

TEST_F(ClientTest, OverflowGrowthGivesUpAfterEightAttempts) {
  GrowingServer g;
  g.need = 150000;
  auto server = serve(basic_policy(), g.handler(), g.hook());
  Client c = make(config());
  auto b = u64_bytes(1);
  auto r = c.call(ByteSpan(b));
  EXPECT_EQ(r.code(), Errc::kLimitExceeded);
  EXPECT_EQ(server->requests(), 8);
  EXPECT_EQ(c.state(), ClientState::kBroken);
  EXPECT_EQ(c.status().error_count, 1u);
}

TEST_F(ClientTest, ServerThatCannotGrowFailsAfterTwoAttempts) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan, const wire::HelloAck&) {
    return Reply::status_then_close(wire::TransportStatus::kLimitExceeded);  // 100 KiB > 64 KiB
  });
  Client c = make(config());
  auto b = u64_bytes(1);
  EXPECT_EQ(c.call(ByteSpan(b)).code(), Errc::kLimitExceeded);
  EXPECT_EQ(server->requests(), 2);
  EXPECT_EQ(c.status().learned_response_payload_bytes, 131072u);
}

TEST_F(ClientTest, LargeRequestGrowsTheProposalAndReconnects) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan p, const wire::HelloAck&) {
    return Reply::ok(std::vector<uint8_t>(p.data, p.data + p.size));  // echo
  });
  Client c = make(config());
  EXPECT_EQ(increment(c, 1), 1u);  // echo; connects with the default 1024 proposal
  std::vector<uint8_t> big(3000, 7);
  auto r = c.call(ByteSpan(big));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->payload.size, 3000u);
  EXPECT_EQ(server->requests(), 2);  // the oversized request was never sent early
  const ClientStatus s = c.status();
  EXPECT_EQ(s.learned_request_payload_bytes, 4096u);
  EXPECT_EQ(s.agreed_max_request_payload_bytes, 4096u);
  EXPECT_EQ(s.reconnect_count, 1u);
}

TEST_F(ClientTest, RequestOverTheServerMaximumFailsWhenTheReconnectIsRejected) {
  ServerPolicy p = basic_policy();
  p.max_request_payload_bytes = 1024;
  auto server = serve(p);
  Client c = make(config());
  EXPECT_EQ(increment(c, 1), 2u);
  std::vector<uint8_t> big(1025, 1);
  EXPECT_EQ(c.call(ByteSpan(big)).code(), Errc::kLimitExceeded);
  EXPECT_EQ(c.state(), ClientState::kDisconnected);
  EXPECT_EQ(server->requests(), 1);
}

TEST_F(ClientTest, ChunkedRequestAndResponseRoundTrip) {
  ServerPolicy p = basic_policy();
  p.max_request_payload_bytes = 1u << 20;
  p.max_response_payload_bytes = 1u << 20;
  auto server = serve(p, [](const wire::Header&, ByteSpan in, const wire::HelloAck&) {
    std::vector<uint8_t> out(in.data, in.data + in.size);
    for (auto& b : out)
      b = static_cast<uint8_t>(b ^ 0xff);
    return Reply::ok(std::move(out));
  });
  ClientConfig cfg = config();
  cfg.max_request_payload_bytes = 1u << 20;
  cfg.max_response_payload_bytes = 1u << 20;
  Client c = make(cfg);
  std::vector<uint8_t> big(700000);
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<uint8_t>(i * 31);
  auto r = c.call(ByteSpan(big));
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->payload.size, big.size());
  for (size_t i = 0; i < big.size(); i += 4099) {
    ASSERT_EQ(r->payload.data[i], static_cast<uint8_t>(big[i] ^ 0xff)) << i;
  }
}

}  // namespace
}  // namespace netipc::test
