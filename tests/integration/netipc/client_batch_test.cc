// The blocking Level-2 client's batches against a scripted server: order
// kept from 2 to 1000 items, a one-item batch sent as a plain message, the
// configured item ceiling enforced locally, a malformed batch response.
#include <gtest/gtest.h>

#include <vector>

#include "client_test_util.h"
#include "netipc/client.h"

namespace netipc::test {
namespace {

TEST_F(ClientTest, BatchesOfTwoToAThousandItemsKeepTheirOrder) {
  auto server = serve();
  ClientConfig cfg = config();
  cfg.max_request_batch_items = 1000;
  Client c = make(cfg);
  for (uint32_t n : {2u, 3u, 17u, 100u, 999u, 1000u}) {
    std::vector<std::vector<uint8_t>> storage;
    std::vector<ByteSpan> items;
    for (uint32_t i = 0; i < n; ++i)
      storage.push_back(u64_bytes(uint64_t{n} * 10000 + i));
    for (const auto& s : storage)
      items.emplace_back(s);
    auto r = c.call_batch(items);
    ASSERT_TRUE(r.ok()) << n << ": " << r.error().message();
    ASSERT_EQ(r->size(), n);
    for (uint32_t i = 0; i < n; ++i) {
      ASSERT_EQ(r->item(i).size, 8u);
      EXPECT_EQ(load_u64(r->item(i).data), uint64_t{n} * 10000 + i + 1);
    }
    EXPECT_EQ(increment(c, n), n + 1u);  // mixed single and batch calls
  }
  const auto seen = server->seen();
  EXPECT_EQ(seen[0].header.flags, wire::kFlagBatch);
  EXPECT_EQ(seen[0].header.item_count, 2u);
  EXPECT_EQ(seen[1].header.flags, 0);
  // 1000 items need 16000 bytes: the request proposal grew once.
  EXPECT_EQ(c.status().learned_request_payload_bytes, 16384u);
  EXPECT_EQ(c.status().connect_count, 1u);
}

TEST_F(ClientTest, OneItemBatchTravelsAsAPlainMessage) {
  auto server = serve();
  Client c = make(config());
  auto one = u64_bytes(5);
  auto r = c.call_batch({ByteSpan(one)});
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(load_u64(r->item(0).data), 6u);
  const auto seen = server->seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].header.flags, 0);
  EXPECT_EQ(seen[0].header.item_count, 1u);
  EXPECT_EQ(c.call_batch({}).code(), Errc::kInvalidArgument);
}

TEST_F(ClientTest, BatchLargerThanTheConfiguredItemCeilingIsRefusedLocally) {
  auto server = serve();
  ClientConfig cfg = config();
  cfg.max_request_batch_items = 4;
  Client c = make(cfg);
  std::vector<uint8_t> v = u64_bytes(1);
  std::vector<ByteSpan> items(5, ByteSpan(v));
  EXPECT_EQ(c.call_batch(items).code(), Errc::kLimitExceeded);
  EXPECT_EQ(server->connections(), 0);
  items.resize(4);
  EXPECT_TRUE(c.call_batch(items).ok());
}

TEST_F(ClientTest, MalformedBatchResponseIsRetriedThenFails) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan, const wire::HelloAck&) {
    return Reply::ok(std::vector<uint8_t>(8, 0));  // too short for a 2-entry directory
  });
  ClientConfig cfg = config();
  cfg.max_request_batch_items = 2;
  Client c = make(cfg);
  std::vector<uint8_t> v = u64_bytes(1);
  EXPECT_EQ(c.call_batch({ByteSpan(v), ByteSpan(v)}).code(), Errc::kBadItemCount);
  EXPECT_EQ(server->requests(), 2);
  EXPECT_EQ(c.state(), ClientState::kBroken);
}

}  // namespace
}  // namespace netipc::test
