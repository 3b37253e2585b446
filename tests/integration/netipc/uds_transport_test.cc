// UdsConnection over real SOCK_SEQPACKET socket pairs: the packet sequence
// of chunked sends (docs/wire.md §4.2), round trips, the directional
// limits (§7), deadlines, abort and a peer process dying. One end is a
// UdsConnection; the other is often a raw fd, so that the test sees and
// forges exact packets. The receiver's chunk rules are in
// uds_chunk_receive_test.cc.
#include "netipc/uds_connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "base/abort.h"
#include "netipc/uds.h"
#include "netipc/wire.h"
#include "test_support.h"
#include "uds_test_util.h"

namespace netipc {
namespace {

using namespace uds_test;  // NOLINT: test helpers

// ---- the packet sequence of a send (§4.2, §9.5) ----

class ChunkSequence : public ::testing::TestWithParam<uint32_t> {};

TEST_P(ChunkSequence, PacketsMatchTheSpecAtPacketSize256) {
  const uint32_t L = GetParam();
  auto sp = socket_pair();
  UdsConnection tx(std::move(sp.a));
  tx.configure(kP, Limits{1 << 20, 1}, Limits{1 << 20, 1});
  const Bytes payload = pattern(L);
  std::thread sender([&] { EXPECT_TRUE(tx.send(request_header(9), ByteSpan(payload)).ok()); });

  const uint32_t count = wire::chunk_count_for(L, kP);
  Bytes assembled;
  std::vector<size_t> sizes;
  for (uint32_t k = 0; k < count; ++k) {
    Bytes p = recv_packet(sp.b.get());
    ASSERT_GE(p.size(), 32u) << "packet " << k;
    sizes.push_back(p.size());
    if (k == 0) {
      auto h = wire::decode_header(ByteSpan(p));
      ASSERT_TRUE(h.ok());
      EXPECT_EQ(h->payload_len, L);  // the whole logical payload, not this packet's
      EXPECT_EQ(h->message_id, 9u);
    } else {
      auto c = wire::decode_chunk_header(ByteSpan(p));
      ASSERT_TRUE(c.ok()) << "packet " << k;
      EXPECT_EQ(c->message_id, 9u);
      EXPECT_EQ(c->total_message_len, 32 + L);
      EXPECT_EQ(c->chunk_index, k);
      EXPECT_EQ(c->chunk_count, count);
      EXPECT_EQ(c->chunk_payload_len, p.size() - 32);
    }
    assembled.insert(assembled.end(), p.begin() + 32, p.end());
  }
  sender.join();
  EXPECT_TRUE(nothing_pending(sp.b.get()));
  EXPECT_EQ(assembled, payload);
  // Every non-final packet is exactly P bytes; the final one carries the rest.
  for (size_t k = 0; k + 1 < sizes.size(); ++k)
    EXPECT_EQ(sizes[k], kP) << "packet " << k;
  const uint64_t before_last = L <= kB ? 0 : uint64_t{kB} * (count - 1);
  EXPECT_EQ(sizes.back(), 32 + L - before_last);
}

INSTANTIATE_TEST_SUITE_P(SpecSizes, ChunkSequence,
                         ::testing::Values(0u, 223u, 224u, 225u, 1000u, 10000u));

TEST(ChunkSequence, Payload224IsOnePacketOf256Bytes) {
  auto sp = socket_pair();
  UdsConnection tx(std::move(sp.a));
  tx.configure(kP, Limits{}, Limits{1 << 20, 1});
  const Bytes payload = pattern(224);
  ASSERT_TRUE(tx.send(request_header(1), ByteSpan(payload)).ok());
  EXPECT_EQ(recv_packet(sp.b.get()).size(), 256u);
  EXPECT_TRUE(nothing_pending(sp.b.get()));
}

TEST(ChunkSequence, Payload1000IsFivePacketsWithSpecSizes) {
  auto sp = socket_pair();
  UdsConnection tx(std::move(sp.a));
  tx.configure(kP, Limits{}, Limits{1 << 20, 1});
  const Bytes payload = pattern(1000);
  ASSERT_TRUE(tx.send(request_header(7), ByteSpan(payload)).ok());
  std::vector<size_t> sizes;
  for (int i = 0; i < 5; ++i)
    sizes.push_back(recv_packet(sp.b.get()).size());
  EXPECT_EQ(sizes, (std::vector<size_t>{256, 256, 256, 256, 32 + 104}));
  EXPECT_TRUE(nothing_pending(sp.b.get()));
}

// ---- round trips between two UdsConnections ----

void round_trip(uint32_t packet_size, size_t len) {
  auto sp = socket_pair();
  UdsConnection tx(std::move(sp.a)), rx(std::move(sp.b));
  const uint32_t limit = 8u << 20;
  tx.configure(packet_size, Limits{limit, 1}, Limits{limit, 1});
  rx.configure(packet_size, Limits{limit, 1}, Limits{limit, 1});
  const Bytes payload = pattern(len, static_cast<uint8_t>(len));
  Status sent;
  std::thread sender([&] { sent = tx.send(request_header(len + 1), ByteSpan(payload)); });
  auto m = rx.receive(deadline_in_ms(30000));
  sender.join();
  ASSERT_TRUE(sent.ok()) << sent.error().message();
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->header.payload_len, len);
  EXPECT_EQ(m->header.message_id, len + 1);
  ASSERT_EQ(m->payload.size, len);
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), m->payload.data));
}

TEST(UdsConnectionRoundTrip, AroundThePacketBoundaryAtPacketSize256) {
  for (size_t len : {kP - 33, kP - 32, kP - 31}) {
    SCOPED_TRACE(len);
    round_trip(kP, len);
  }
}

TEST(UdsConnectionRoundTrip, OneMebibyteAtPacketSize256) {
  round_trip(kP, 1 << 20);
}

TEST(UdsConnectionRoundTrip, ThreeHundredThousandBytesAtTheAutoPacketSize) {
  // Larger than SO_SNDBUF - 32, so chunked at the auto size: proves the A.4
  // clamp (a raw SO_SNDBUF packet size would fail with EMSGSIZE).
  auto sp = socket_pair();
  const uint32_t p = auto_packet_size(sp.a.get());
  ASSERT_LT(p, 300000u);
  round_trip(p, 300000);
}

TEST(UdsConnectionRoundTrip, AroundThePacketBoundaryAtTheAutoPacketSize) {
  auto sp = socket_pair();
  const uint32_t p = auto_packet_size(sp.a.get());
  for (size_t len : {p - 33, p - 32, p - 31}) {
    SCOPED_TRACE(len);
    round_trip(p, len);
  }
}

TEST(UdsConnectionRoundTrip, FourMebibytesAtTheAutoPacketSize) {
  auto sp = socket_pair();
  round_trip(auto_packet_size(sp.a.get()), 4 << 20);
}

TEST(UdsConnectionRoundTrip, NonBlockingFaceSendsAcrossAFullSocket) {
  auto sp = socket_pair();
  UdsConnection tx(std::move(sp.a)), rx(std::move(sp.b));
  tx.configure(4096, Limits{1 << 20, 1}, Limits{1 << 20, 1});
  rx.configure(4096, Limits{1 << 20, 1}, Limits{1 << 20, 1});
  const Bytes payload = pattern(1 << 20);
  ASSERT_TRUE(tx.start_send(request_header(3), ByteSpan(payload)).ok());
  EXPECT_TRUE(tx.send_pending());
  EXPECT_EQ(tx.start_send(request_header(4), ByteSpan(payload)).code(), Errc::kInvalidArgument);
  auto first = tx.continue_send();
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(*first) << "1 MiB cannot fit an idle socket buffer";
  std::thread reader([&] {
    for (;;) {
      auto m = rx.try_receive();
      if (m.ok()) {
        ASSERT_EQ(m->payload.size, payload.size());
        EXPECT_TRUE(std::equal(payload.begin(), payload.end(), m->payload.data));
        return;
      }
      ASSERT_EQ(m.code(), Errc::kNotReady) << m.error().message();
      pollfd p{rx.fd(), POLLIN, 0};
      ASSERT_EQ(::poll(&p, 1, 10000), 1);
    }
  });
  for (;;) {
    auto done = tx.continue_send();
    ASSERT_TRUE(done.ok()) << done.error().message();
    if (*done) break;
    pollfd p{tx.fd(), POLLOUT, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1);
  }
  EXPECT_FALSE(tx.send_pending());
  reader.join();
}

TEST(UdsConnectionRoundTrip, TryReceiveWithNothingPendingIsNotReady) {
  auto sp = socket_pair();
  UdsConnection rx = receiver(std::move(sp.a));
  EXPECT_EQ(rx.try_receive().code(), Errc::kNotReady);
}

// ---- inbound limits (§7.2): refused on the header, before allocating ----

TEST(UdsInboundLimits, PayloadLenOverTheLimitIsLimitExceededFromTheHeaderAlone) {
  Forged f;
  f.rx.configure(kP, Limits{1000, 4}, Limits{1000, 4});
  // Only the header arrives: a receiver that waited for (or allocated) the
  // declared payload would time out instead.
  send_packet(f.raw(), first_packet(11, 1001, 0));
  auto m = f.receive();
  EXPECT_EQ(m.code(), Errc::kLimitExceeded);
  EXPECT_EQ(f.rx.last_header().message_id, 11u);
  EXPECT_EQ(f.rx.last_header().payload_len, 1001u);
}

TEST(UdsInboundLimits, FourGibibyteDeclarationIsRefusedWithoutAllocating) {
  Forged f;
  f.rx.configure(kP, Limits{1000, 4}, Limits{1000, 4});
  send_packet(f.raw(), first_packet(12, 0xFFFFFFFF - 32, kB));
  EXPECT_EQ(f.receive().code(), Errc::kLimitExceeded);
}

TEST(UdsInboundLimits, PayloadLenAtTheLimitIsAccepted) {
  Forged f;
  f.rx.configure(kP, Limits{200, 4}, Limits{200, 4});
  send_packet(f.raw(), first_packet(13, 200, 200));
  auto m = f.receive();
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->payload.size, 200u);
}

TEST(UdsInboundLimits, ItemCountOverTheLimitIsLimitExceeded) {
  Forged f;
  f.rx.configure(kP, Limits{1000, 4}, Limits{1000, 4});
  send_packet(f.raw(), first_packet(14, 40, 40, 5));
  EXPECT_EQ(f.receive().code(), Errc::kLimitExceeded);
  EXPECT_EQ(f.rx.last_header().item_count, 5u);
}

TEST(UdsInboundLimits, ItemCountAtTheLimitIsAccepted) {
  Forged f;
  f.rx.configure(kP, Limits{1000, 4}, Limits{1000, 4});
  send_packet(f.raw(), first_packet(15, 40, 40, 4));
  EXPECT_TRUE(f.receive().ok());
}

// ---- outbound limits (§7.7, A.5 rule 1): refused locally, nothing sent ----

TEST(UdsOutboundLimits, PayloadOverTheCeilingIsLimitExceededAndNothingIsSent) {
  auto sp = socket_pair();
  UdsConnection tx(std::move(sp.a));
  tx.configure(kP, Limits{}, Limits{1000, 4});
  const Bytes payload = pattern(1001);
  EXPECT_EQ(tx.send(request_header(1), ByteSpan(payload)).code(), Errc::kLimitExceeded);
  EXPECT_EQ(tx.start_send(request_header(1), ByteSpan(payload)).code(), Errc::kLimitExceeded);
  EXPECT_FALSE(tx.send_pending());
  EXPECT_TRUE(nothing_pending(sp.b.get()));
  // The connection still works for a message within the ceiling.
  const Bytes ok = pattern(1000);
  ASSERT_TRUE(tx.send(request_header(2), ByteSpan(ok)).ok());
  Bytes first = recv_packet(sp.b.get());
  auto h = wire::decode_header(ByteSpan(first));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->message_id, 2u);
}

TEST(UdsOutboundLimits, ItemCountOverTheCeilingIsLimitExceededAndNothingIsSent) {
  auto sp = socket_pair();
  UdsConnection tx(std::move(sp.a));
  tx.configure(kP, Limits{}, Limits{1000, 4});
  const Bytes payload = pattern(80);
  EXPECT_EQ(tx.send(request_header(1, 5), ByteSpan(payload)).code(), Errc::kLimitExceeded);
  EXPECT_TRUE(nothing_pending(sp.b.get()));
}

// ---- deadlines, abort, peer death (docs/transport.md A.6) ----

TEST(UdsReceiveDeadline, PeerStallingAfterTheFirstChunkTimesOutWithinTheDeadline) {
  Forged f;
  send_packet(f.raw(), first_packet(7, kL, kB));  // 4 more packets never come
  const auto start = Clock::now();
  auto m = f.rx.receive(deadline_in_ms(300));
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(m.code(), Errc::kTimeout);
  EXPECT_GE(elapsed, std::chrono::milliseconds(295));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(UdsReceiveDeadline, SilentPeerTimesOutWithinTheDeadline) {
  Forged f;
  const auto start = Clock::now();
  auto m = f.rx.receive(deadline_in_ms(200));
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(m.code(), Errc::kTimeout);
  EXPECT_GE(elapsed, std::chrono::milliseconds(195));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(UdsReceiveDeadline, DeadlineAlreadyPassedTimesOutAtOnce) {
  Forged f;
  EXPECT_EQ(f.rx.receive(now_ns() - 1).code(), Errc::kTimeout);
}

TEST(UdsAbort, AbortFromAnotherThreadEndsABlockedReceiveWithAborted) {
  Forged f;
  auto abort = AbortHandle::create();
  ASSERT_TRUE(abort.ok());
  send_packet(f.raw(), first_packet(7, kL, kB));  // a message in progress
  std::thread t([&] { abort->abort(); });
  const auto start = Clock::now();
  auto m = f.rx.receive(deadline_in_ms(10000), abort->fd());
  t.join();
  EXPECT_EQ(m.code(), Errc::kAborted);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(abort->aborted());
}

TEST(UdsAbort, ClearedHandleNoLongerAborts) {
  Forged f;
  auto abort = AbortHandle::create();
  ASSERT_TRUE(abort.ok());
  abort->abort();
  EXPECT_EQ(f.rx.receive(deadline_in_ms(5000), abort->fd()).code(), Errc::kAborted);
  abort->clear();
  EXPECT_FALSE(abort->aborted());
  send_packet(f.raw(), first_packet(3, 8, 8));
  auto m = f.rx.receive(deadline_in_ms(5000), abort->fd());
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->header.message_id, 3u);
}

TEST(UdsAbort, AbortEndsABlockedSendWithAborted) {
  auto sp = socket_pair();
  UdsConnection tx(std::move(sp.a));
  tx.configure(4096, Limits{}, Limits{4 << 20, 1});
  auto abort = AbortHandle::create();
  ASSERT_TRUE(abort.ok());
  const Bytes payload = pattern(4 << 20);  // far more than the socket buffer; nobody reads
  std::thread t([&] { abort->abort(); });
  Status st = tx.send(request_header(1), ByteSpan(payload), deadline_in_ms(10000), abort->fd());
  t.join();
  EXPECT_EQ(st.code(), Errc::kAborted);
  EXPECT_FALSE(tx.send_pending());
}

TEST(UdsSendDeadline, SendToAPeerThatNeverReadsTimesOut) {
  auto sp = socket_pair();
  UdsConnection tx(std::move(sp.a));
  tx.configure(4096, Limits{}, Limits{4 << 20, 1});
  const Bytes payload = pattern(4 << 20);
  const auto start = Clock::now();
  Status st = tx.send(request_header(1), ByteSpan(payload), deadline_in_ms(200));
  EXPECT_EQ(st.code(), Errc::kTimeout);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(195));
}

TEST(UdsPeerGone, PeerProcessDyingMidMessageIsPeerGone) {
  auto sp = socket_pair();
  const int raw = sp.b.get();
  const int mine = sp.a.get();
  // A real process holds the other end, sends the first of five packets and dies.
  test::Child peer = test::Child::fork_fn([raw, mine] {
    ::close(mine);
    Bytes p = first_packet(7, kL, kB);
    return ::send(raw, p.data(), p.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(p.size()) ? 0 : 1;
  });
  ASSERT_TRUE(peer.valid());
  sp.b.reset();  // only the child holds the peer end now
  UdsConnection rx = receiver(std::move(sp.a));
  auto m = rx.receive(deadline_in_ms(10000));
  EXPECT_EQ(m.code(), Errc::kPeerGone);
  EXPECT_EQ(peer.wait(), 0);
}

TEST(UdsPeerGone, PeerClosingBeforeAnyMessageIsPeerGone) {
  auto sp = socket_pair();
  UdsConnection rx = receiver(std::move(sp.a));
  sp.b.reset();
  EXPECT_EQ(rx.receive(deadline_in_ms(5000)).code(), Errc::kPeerGone);
}

TEST(UdsPeerGone, SendingToAClosedPeerIsPeerGone) {
  auto sp = socket_pair();
  UdsConnection tx(std::move(sp.a));
  tx.configure(kP, Limits{}, Limits{1 << 20, 1});
  sp.b.reset();
  const Bytes payload = pattern(8);
  EXPECT_EQ(tx.send(request_header(1), ByteSpan(payload)).code(), Errc::kPeerGone);
}

}  // namespace
}  // namespace netipc
