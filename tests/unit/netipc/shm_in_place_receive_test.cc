// Responses read in place from shared memory (ShmChannel::
// receive_in_place_until, used by client sessions to avoid copying large
// snapshots) and the readers that must tolerate a peer writing out of turn:
// BatchView::item() re-checks each entry against the payload.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "netipc/batch.h"
#include "test_support.h"
#include "transport/shm/shm.h"

namespace netipc {
namespace {

struct Fixture {
  Fixture() : fd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    auto r = ShmRegion::create(fd.get(), "inplace", 1, 1024 + 32, (1 << 20) + 32);
    if (r) region = std::move(*r);
  }
  test::TempDir dir;
  UniqueFd fd;
  ShmRegion region;
};

ChannelOptions no_spin() {
  ChannelOptions o;
  o.spin_tries = -1;
  return o;
}

TEST(ShmInPlaceReceive, ResponseIsReadWhereTheServerPublishedItWithoutACopy) {
  Fixture f;
  ASSERT_TRUE(f.region.valid());
  ShmChannel server(f.region, ShmSide::kServer, no_spin());
  ShmChannel client(f.region, ShmSide::kClient, no_spin());
  std::vector<uint8_t> buf(64);
  const uint8_t request[4] = {2, 0, 0, 0};

  for (uint8_t round = 1; round <= 3; ++round) {
    ASSERT_TRUE(client.publish(ByteSpan(request, 4)).ok());
    ASSERT_TRUE(server.receive(MutableByteSpan(buf), 1000).ok());
    std::vector<uint8_t> response(300000, round);
    ASSERT_TRUE(server.publish(ByteSpan(response)).ok());

    auto got = client.receive_in_place_until(0);
    ASSERT_TRUE(got.ok()) << got.error().message();
    ASSERT_EQ(got->size, response.size());
    // Inside the response area of the mapping: nothing was copied.
    const uint8_t* area = f.region.base() + f.region.layout().response_offset;
    EXPECT_EQ(got->data, area);
    EXPECT_EQ(std::memcmp(got->data, response.data(), response.size()), 0);
  }
  EXPECT_EQ(client.consumed_count(), 3u);
}

TEST(ShmInPlaceReceive, TimeoutAndStopConsumeNothing) {
  Fixture f;
  ASSERT_TRUE(f.region.valid());
  ShmChannel server(f.region, ShmSide::kServer, no_spin());
  ShmChannel client(f.region, ShmSide::kClient, no_spin());
  const uint8_t request[4] = {1, 0, 0, 0};
  ASSERT_TRUE(client.publish(ByteSpan(request, 4)).ok());

  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const int64_t soon = int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec + 20 * 1000000;
  auto t = client.receive_in_place_until(soon);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.code(), Errc::kTimeout);
  auto s = client.receive_in_place_until(0, [] { return true; });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Errc::kAborted);
  EXPECT_EQ(client.consumed_count(), 0u);

  // The answer that comes later is still the next message.
  std::vector<uint8_t> buf(64);
  ASSERT_TRUE(server.receive(MutableByteSpan(buf), 1000).ok());
  const uint8_t answer[3] = {7, 8, 9};
  ASSERT_TRUE(server.publish(ByteSpan(answer, 3)).ok());
  auto got = client.receive_in_place_until(0);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size, 3u);
  EXPECT_EQ(got->data[2], 9);
}

TEST(BatchViewInPlace, AnEntryChangedAfterParseYieldsAnEmptySpanNotBytesOutsideThePayload) {
  std::vector<uint8_t> payload;
  wire::BatchWriter w(&payload, 2);
  const uint8_t a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  w.add(ByteSpan(a, 8));
  w.add(ByteSpan(a, 8));
  w.finish();
  auto view = wire::BatchView::parse(ByteSpan(payload), 2);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->item(1).size, 8u);

  // A peer rewrites the directory after it was validated.
  store_u32(payload.data() + 8, 0x7FFFFFF8);  // offset far past the end
  store_u32(payload.data() + 12, 8);
  EXPECT_EQ(view->item(1).size, 0u);
  EXPECT_EQ(view->item(1).data, nullptr);
  store_u32(payload.data() + 8, 8);
  store_u32(payload.data() + 12, 0xFFFFFFFF);  // length past the end
  EXPECT_EQ(view->item(1).size, 0u);
  EXPECT_EQ(view->item(0).size, 8u);  // untouched entries still read
  EXPECT_EQ(view->item(2).size, 0u);  // out of range index
}

}  // namespace
}  // namespace netipc
