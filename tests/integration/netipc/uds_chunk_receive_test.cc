// The receiver rules of docs/wire.md §4.3 (§9.5), each on its own: a raw
// socket forges the packets of a 1000-byte message at packet size 256
// (5 packets: 224 + 224 + 224 + 224 + 104 payload bytes) and a
// UdsConnection must accept exactly the well-formed sequence.
#include <gtest/gtest.h>

#include "netipc/uds_connection.h"
#include "netipc/wire.h"
#include "uds_test_util.h"

namespace netipc {
namespace {

using namespace uds_test;  // NOLINT: test helpers

TEST(UdsChunkReceive, AcceptsAWellFormedChunkedMessage) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  for (uint32_t k = 1; k <= 3; ++k)
    send_packet(f.raw(), chunk_packet(7, kTotal, k, 5, kB, kB));
  send_packet(f.raw(), chunk_packet(7, kTotal, 4, 5, 104, 104));
  auto m = f.receive();
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->payload.size, kL);
  EXPECT_EQ(m->payload.data[0], 0xA5);
  EXPECT_EQ(m->payload.data[kL - 1], 0x5A);
}

TEST(UdsChunkReceive, RejectsWrongMessageId) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  send_packet(f.raw(), chunk_packet(8, kTotal, 1, 5, kB, kB));
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsSkippedIndex) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  send_packet(f.raw(), chunk_packet(7, kTotal, 2, 5, kB, kB));
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsDuplicatedIndex) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  send_packet(f.raw(), chunk_packet(7, kTotal, 1, 5, kB, kB));
  send_packet(f.raw(), chunk_packet(7, kTotal, 1, 5, kB, kB));
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsIndexZero) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  send_packet(f.raw(), chunk_packet(7, kTotal, 0, 5, kB, kB));
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsWrongChunkCount) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  send_packet(f.raw(), chunk_packet(7, kTotal, 1, 6, kB, kB));
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsWrongTotalMessageLen) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  send_packet(f.raw(), chunk_packet(7, kL, 1, 5, kB, kB));  // forgot the header's 32
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsChunkShorterThanItsDeclaredLength) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  send_packet(f.raw(), chunk_packet(7, kTotal, 1, 5, kB, 100));
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsShortNonFinalChunks) {
  // Self-consistent but short chunks: the message cannot be complete within
  // the chunk count the receiver computed from P.
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  for (uint32_t k = 1; k <= 4; ++k)
    send_packet(f.raw(), chunk_packet(7, kTotal, k, 5, 100, 100));
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsChunkLongerThanThePacketBody) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  send_packet(f.raw(), chunk_packet(7, kTotal, 1, 5, kB + 8, kB + 8));
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsFinalChunkLongerThanTheRemainder) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  for (uint32_t k = 1; k <= 3; ++k)
    send_packet(f.raw(), chunk_packet(7, kTotal, k, 5, kB, kB));
  send_packet(f.raw(), chunk_packet(7, kTotal, 4, 5, 112, 112));  // 8 bytes past L
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsFirstPacketLongerThanDeclared) {
  Forged f;
  send_packet(f.raw(), first_packet(7, 10, 20));
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsFirstPacketLongerThanThePacketSize) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB + 8));
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, RejectsFirstPacketShorterThanAHeader) {
  Forged f;
  send_packet(f.raw(), Bytes(31, 0));
  EXPECT_EQ(f.receive().code(), Errc::kTruncated);
}

TEST(UdsChunkReceive, RejectsFirstPacketWithBadMagic) {
  Forged f;
  Bytes p = first_packet(7, 8, 8);
  store_u32(p.data(), 0x12345678);
  send_packet(f.raw(), p);
  EXPECT_EQ(f.receive().code(), Errc::kBadMagic);
}

TEST(UdsChunkReceive, RejectsContinuationShorterThanAChunkHeader) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  send_packet(f.raw(), Bytes(20, 0));
  EXPECT_EQ(f.receive().code(), Errc::kTruncated);
}

TEST(UdsChunkReceive, RejectsContinuationWithMessageMagic) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  send_packet(f.raw(), first_packet(7, kL, kB));
  EXPECT_EQ(f.receive().code(), Errc::kBadMagic);
}

TEST(UdsChunkReceive, RejectsContinuationWithNonZeroFlags) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));
  Bytes c = chunk_packet(7, kTotal, 1, 5, kB, kB);
  store_u16(c.data() + 6, 1);
  send_packet(f.raw(), c);
  EXPECT_EQ(f.receive().code(), Errc::kProtocol);
}

TEST(UdsChunkReceive, NextMessageAfterACompleteOneIsReadFresh) {
  Forged f;
  send_packet(f.raw(), first_packet(1, 8, 8));
  send_packet(f.raw(), first_packet(2, 4, 4));
  auto a = f.receive();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->header.message_id, 1u);
  auto b = f.receive();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->header.message_id, 2u);
  EXPECT_EQ(b->payload.size, 4u);
}

}  // namespace
}  // namespace netipc
