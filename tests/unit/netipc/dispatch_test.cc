// Server-side dispatch (netipc/src/server/dispatch.cc) of batch requests:
// a handler with a batch handler answers a batch in one call, with the same
// reply bytes and the same statuses as the per-item path; a malformed
// directory never reaches it; its failures map to transport statuses.
#include "netipc/dispatch.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "netipc/batch.h"
#include "netipc/codec/increment.h"
#include "netipc/services.h"
#include "netipc/wire.h"

namespace netipc {
namespace {

constexpr uint16_t kMethod = static_cast<uint16_t>(wire::Method::kIncrement);
constexpr uint32_t kCeiling = 1u << 20;

Message batch_request(const std::vector<uint8_t>& payload, uint32_t items, uint64_t id = 7) {
  Message m;
  m.header.kind = static_cast<uint16_t>(wire::Kind::kRequest);
  m.header.code = kMethod;
  m.header.flags = wire::kFlagBatch;
  m.header.item_count = items;
  m.header.message_id = id;
  m.header.payload_len = static_cast<uint32_t>(payload.size());
  m.payload = ByteSpan(payload);
  return m;
}

// A batch of INCREMENT items with the given lengths (at least 8: a value,
// then filler bytes that the answer ignores); item i carries 1000 + i.
std::vector<uint8_t> increment_items(const std::vector<uint32_t>& lengths) {
  std::vector<uint8_t> out;
  wire::BatchWriter w(&out, static_cast<uint32_t>(lengths.size()));
  for (size_t i = 0; i < lengths.size(); ++i) {
    uint8_t* p = w.add_uninitialized(lengths[i]);
    std::memset(p, 0xEE, lengths[i]);
    if (lengths[i] >= 8) store_u64(p, 1000 + i);
  }
  w.finish();
  return out;
}

// The INCREMENT handler without its batch handler: batches go item by item.
Handler per_item_increment() {
  return Handler(make_increment_handler().item());
}

struct Reply {
  wire::Header header;
  std::vector<uint8_t> payload;
  bool close = false;
  uint32_t grow = 0;
};

Reply run(const Handler& h, const Message& m, uint32_t ceiling = kCeiling) {
  Dispatcher d(kMethod, &h);
  DispatchResult r = d.dispatch(m, ceiling);
  return Reply{r.header, std::vector<uint8_t>(r.payload.data, r.payload.data + r.payload.size),
               r.close_after_send, r.grow_response_to};
}

// The batch handler and the per-item path give the same reply, byte for
// byte, and it holds v + 1 for every item.
void expect_same_answers(const std::vector<uint32_t>& lengths) {
  const auto req = increment_items(lengths);
  const Message m = batch_request(req, static_cast<uint32_t>(lengths.size()));
  const Reply whole = run(make_increment_handler(), m);
  const Reply split = run(per_item_increment(), m);
  ASSERT_EQ(whole.header.transport_status, static_cast<uint16_t>(wire::TransportStatus::kOk));
  EXPECT_EQ(whole.header.flags, wire::kFlagBatch);
  EXPECT_EQ(whole.header.item_count, lengths.size());
  EXPECT_EQ(whole.header.message_id, 7u);
  EXPECT_EQ(whole.header.payload_len, whole.payload.size());
  EXPECT_FALSE(whole.close);
  EXPECT_EQ(whole.payload, split.payload);
  std::vector<uint64_t> values;
  ASSERT_TRUE(codec::decode_increment_batch(ByteSpan(whole.payload),
                                            static_cast<uint32_t>(lengths.size()), &values)
                  .ok());
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(values[i], 1001 + i) << "item " << i;
}

TEST(DispatchBatch, BatchHandlerAnswersLikeThePerItemPathForMixedItemSizes) {
  expect_same_answers({8, 9, 15, 16, 8, 31, 8, 64, 13});
}

TEST(DispatchBatch, BatchHandlerAnswersTwoItems) {
  expect_same_answers({8, 8});
}

TEST(DispatchBatch, BatchHandlerAnswersAThousandItemsOfRandomSizes) {
  std::mt19937 rng(42);
  std::vector<uint32_t> lengths(1000);
  for (auto& l : lengths)
    l = 8 + rng() % 40;
  expect_same_answers(lengths);
}

TEST(DispatchBatch, ASingleItemWithTheBatchFlagIsServedAsASingleRequest) {
  // item_count 1 is not a batch (docs/wire.md): the payload is the item.
  std::vector<uint8_t> req(8);
  store_u64(req.data(), 41);
  const Reply r = run(make_increment_handler(), batch_request(req, 1));
  ASSERT_EQ(r.header.transport_status, static_cast<uint16_t>(wire::TransportStatus::kOk));
  EXPECT_EQ(r.header.flags, 0);
  ASSERT_EQ(r.payload.size(), 8u);
  EXPECT_EQ(load_u64(r.payload.data()), 42u);
}

TEST(DispatchBatch, ReusedDispatcherAnswersASmallBatchAfterALargeOneExactly) {
  const Handler h = make_increment_handler();
  Dispatcher d(kMethod, &h);
  const auto big = increment_items(std::vector<uint32_t>(500, 13));
  ASSERT_EQ(d.dispatch(batch_request(big, 500), kCeiling).header.transport_status, 0);
  const auto small = increment_items({8, 8, 8});
  DispatchResult r = d.dispatch(batch_request(small, 3), kCeiling);
  ASSERT_EQ(r.header.transport_status, 0);
  std::vector<uint8_t> expected;
  ASSERT_TRUE(codec::answer_increment_batch(ByteSpan(small), 3, &expected).ok());
  EXPECT_EQ(std::vector<uint8_t>(r.payload.data, r.payload.data + r.payload.size), expected);
}

TEST(DispatchBatch, AShortItemFailsTheWholeBatchWithBadEnvelopeOnBothPaths) {
  for (size_t k : {size_t{0}, size_t{4}, size_t{9}}) {
    std::vector<uint32_t> lengths(10, 8);
    lengths[k] = 7;
    const auto req = increment_items(lengths);
    for (const Handler& h : {make_increment_handler(), per_item_increment()}) {
      const Reply r = run(h, batch_request(req, 10));
      EXPECT_EQ(r.header.transport_status,
                static_cast<uint16_t>(wire::TransportStatus::kBadEnvelope))
          << "short item " << k;
      EXPECT_TRUE(r.payload.empty());
      EXPECT_TRUE(r.close);
    }
  }
}

TEST(DispatchBatch, AMalformedDirectoryNeverReachesTheBatchHandler) {
  int calls = 0;
  const Handler h(make_increment_handler().item(),
                  [&calls](const wire::BatchView&, ResponseWriter&) {
                    ++calls;
                    return ok_status();
                  });
  auto misaligned = increment_items({8, 8, 8});
  store_u32(misaligned.data() + 8, 9);
  auto past_end = increment_items({8, 8, 8});
  store_u32(past_end.data() + 16, 24);
  std::vector<uint8_t> no_room(12);  // shorter than 2 entries
  for (const auto* req : {&misaligned, &past_end, &no_room}) {
    const uint32_t items = req == &no_room ? 2 : 3;
    const Reply r = run(h, batch_request(*req, items));
    EXPECT_EQ(r.header.transport_status,
              static_cast<uint16_t>(wire::TransportStatus::kBadEnvelope));
    EXPECT_TRUE(r.close);
  }
  EXPECT_EQ(calls, 0);
}

TEST(DispatchBatch, BatchHandlerErrorsMapToTransportStatuses) {
  const auto req = increment_items({8, 8});
  struct Case {
    Errc code;
    wire::TransportStatus status;
  };
  for (const Case c : {Case{Errc::kTruncated, wire::TransportStatus::kBadEnvelope},
                       Case{Errc::kLimitExceeded, wire::TransportStatus::kLimitExceeded},
                       Case{Errc::kNoMemory, wire::TransportStatus::kInternalError}}) {
    const Handler h(make_increment_handler().item(),
                    [&c](const wire::BatchView&, ResponseWriter&) -> Status {
                      return make_error(c.code, "planted");
                    });
    const Reply r = run(h, batch_request(req, 2), 4096);
    EXPECT_EQ(r.header.transport_status, static_cast<uint16_t>(c.status));
    EXPECT_TRUE(r.close);
    EXPECT_TRUE(r.payload.empty());
    EXPECT_EQ(r.grow, c.code == Errc::kLimitExceeded ? 8192u : 0u);
  }
}

TEST(DispatchBatch, BatchReplyOverTheCeilingIsLimitExceededWithTheSizeToLearn) {
  const auto req = increment_items(std::vector<uint32_t>(100, 8));  // reply: 1600 bytes
  const Reply r = run(make_increment_handler(), batch_request(req, 100), 1024);
  EXPECT_EQ(r.header.transport_status,
            static_cast<uint16_t>(wire::TransportStatus::kLimitExceeded));
  EXPECT_EQ(r.grow, 2048u);
  EXPECT_TRUE(r.close);
}

TEST(DispatchBatch, ABatchHandlerThatWritesNoDirectoryIsAnInternalError) {
  const Handler h(make_increment_handler().item(),
                  [](const wire::BatchView&, ResponseWriter& out) -> Status {
                    out.bytes().assign(8, 0);  // 3 items need 24 directory bytes
                    return ok_status();
                  });
  const Reply r = run(h, batch_request(increment_items({8, 8, 8}), 3));
  EXPECT_EQ(r.header.transport_status,
            static_cast<uint16_t>(wire::TransportStatus::kInternalError));
  EXPECT_TRUE(r.close);
}

TEST(DispatchBatch, ABatchHandlerThatWritesNothingAfterAGoodReplyDoesNotResendIt) {
  bool write = true;
  const Handler h(make_increment_handler().item(),
                  [&write](const wire::BatchView& request, ResponseWriter& out) -> Status {
                    EXPECT_TRUE(out.bytes().empty());
                    if (write) return codec::answer_increment_batch(request, &out.bytes());
                    return ok_status();
                  });
  Dispatcher d(kMethod, &h);
  const auto req = increment_items(std::vector<uint32_t>(50, 8));
  ASSERT_EQ(d.dispatch(batch_request(req, 50), kCeiling).header.transport_status, 0);
  write = false;
  DispatchResult r = d.dispatch(batch_request(req, 50), kCeiling);
  EXPECT_EQ(r.header.transport_status,
            static_cast<uint16_t>(wire::TransportStatus::kInternalError));
  EXPECT_TRUE(r.close_after_send);
}

TEST(DispatchBatch, APerItemLambdaIsAHandlerWithoutABatchHandler) {
  int calls = 0;
  const Handler h = [&calls](ByteSpan, ResponseWriter& out) -> Status {
    ++calls;
    out.bytes().assign(3, 'x');
    return ok_status();
  };
  EXPECT_TRUE(static_cast<bool>(h));
  EXPECT_FALSE(static_cast<bool>(h.batch()));
  const Reply r = run(h, batch_request(increment_items({8, 8, 8, 8}), 4));
  ASSERT_EQ(r.header.transport_status, 0);
  EXPECT_EQ(calls, 4);
  auto view = wire::BatchView::parse(ByteSpan(r.payload), 4);
  ASSERT_TRUE(view.ok());
  for (uint32_t i = 0; i < 4; ++i)
    EXPECT_EQ(view->item(i).as_chars(), "xxx");
}

TEST(DispatchBatch, AHandlerNeedsAnItemHandler) {
  EXPECT_FALSE(static_cast<bool>(Handler()));
  EXPECT_FALSE(static_cast<bool>(Handler(nullptr)));
  EXPECT_FALSE(static_cast<bool>(
      Handler(ItemHandler(), [](const wire::BatchView&, ResponseWriter&) { return ok_status(); })));
  EXPECT_TRUE(static_cast<bool>(make_increment_handler().batch()));
}

}  // namespace
}  // namespace netipc
