// Requests whose item_count is 0, or 1 with BATCH set, over a real socket:
// a request is directory-framed only when BATCH is set and item_count >= 2,
// so these are single requests: the whole payload goes to the handler and
// the answer is a single response (flags 0, item_count 1). docs/wire.md.
#include <gtest/gtest.h>

#include "netipc/codec/increment.h"
#include "uv_test_util.h"

namespace netipc {
namespace {

using namespace uv_test;  // NOLINT: test helpers
using UvServerItemCount = UvServerTest;

// Sends one INCREMENT of 41 with the given header fields and returns the
// response.
Result<Message> call(RawClient& c, uint64_t id, uint32_t item_count, uint16_t flags) {
  wire::Header h = request(id);
  h.item_count = item_count;
  h.flags = flags;
  uint8_t p[8];
  codec::encode_increment(41, p);
  Status st = c.conn.send(h, ByteSpan(p, 8), deadline_in_ms(5000));
  if (!st.ok()) return st.error();
  return c.conn.receive(deadline_in_ms(5000));
}

TEST_F(UvServerItemCount, ZeroItemsOrABatchOfOneIsAnsweredAsASingleRequest) {
  ASSERT_TRUE(start_server());
  auto c = raw_client(cfg_);
  ASSERT_TRUE(c.ok()) << c.error().message();
  struct Case {
    uint32_t item_count;
    uint16_t flags;
  };
  uint64_t id = 1;
  for (const Case k : {Case{0, 0}, Case{0, wire::kFlagBatch}, Case{1, wire::kFlagBatch}}) {
    SCOPED_TRACE(testing::Message() << "item_count " << k.item_count << " flags " << k.flags);
    auto r = call(*c, id, k.item_count, k.flags);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->header.transport_status, 0);
    EXPECT_EQ(r->header.message_id, id);
    EXPECT_EQ(r->header.item_count, 1u);
    EXPECT_EQ(r->header.flags, 0);
    EXPECT_EQ(codec::decode_increment(r->payload).value(), 42u);
    ++id;
  }
  // The same session goes on with an ordinary request.
  auto r = call(*c, id, 1, 0);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(codec::decode_increment(r->payload).value(), 42u);
  EXPECT_EQ(server().stats().sessions_dropped, 0u);
}

}  // namespace
}  // namespace netipc
