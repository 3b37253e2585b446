// Level-1 sessions over a real listener: ClientSession against
// server_handshake_blocking() on a server thread (or a server process).
// Chunked round trips with negotiated packet sizes, batches, pipelining
// (docs/wire.md §6.4, §9.8), limits, deadlines, abort and peer death. The
// client's handshake errors are in uds_session_connect_test.cc.
#include "netipc/session.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "base/abort.h"
#include "netipc/batch.h"
#include "netipc/codec/increment.h"
#include "netipc/uds.h"
#include "netipc/wire.h"
#include "test_support.h"
#include "uds_test_util.h"

namespace netipc {
namespace {

using namespace uds_test;  // NOLINT: test helpers

// ---- chunked round trips with negotiated packet sizes ----

TEST(UdsSessionChunking, SmallAgreedPacketSizeRoundTripsAllSizes) {
  BlockingServer srv(big_policy(256), echo);
  auto c = connect_to(srv, big_proposal(256));
  ASSERT_TRUE(c.ok()) << c.error().message();
  const uint32_t p = c->agreed().agreed_packet_size;
  ASSERT_EQ(p, 256u);
  uint64_t id = 1;
  for (size_t len : {size_t{p - 33}, size_t{p - 32}, size_t{p - 31}, size_t{0}, size_t{1 << 20},
                     size_t{4 << 20}}) {
    call_echo(*c, id++, len);
  }
}

TEST(UdsSessionChunking, DefaultPacketSizeRoundTripsAllSizes) {
  BlockingServer srv(big_policy(0), echo);
  auto c = connect_to(srv, big_proposal(0));
  ASSERT_TRUE(c.ok()) << c.error().message();
  const uint32_t p = c->agreed().agreed_packet_size;
  EXPECT_EQ(p, auto_packet_size(c->fd()));
  uint64_t id = 1;
  for (size_t len : {size_t{p - 33}, size_t{p - 32}, size_t{p - 31}, size_t{300000},
                     size_t{1 << 20}, size_t{4 << 20}}) {
    call_echo(*c, id++, len);
  }
}

TEST(UdsSessionChunking, AgreedPacketSizeIsTheSmallerSide) {
  {
    BlockingServer srv(big_policy(0), echo);
    auto c = connect_to(srv, big_proposal(300));
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->agreed().agreed_packet_size, 300u);
    call_echo(*c, 1, 5000);
  }
  {
    BlockingServer srv(big_policy(500), echo);
    auto c = connect_to(srv, big_proposal(0));
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->agreed().agreed_packet_size, 500u);
    call_echo(*c, 1, 5000);
  }
}

// ---- batches ----

struct SeenHeaders {
  std::mutex mu;
  std::vector<wire::Header> headers;
};

// Answers INCREMENT singles and batches; records the request headers.
BlockingServer::Body increment_server(SeenHeaders* seen) {
  return [seen](ServerSession& s) {
    std::vector<uint8_t> out;
    std::vector<uint64_t> values;
    for (;;) {
      auto m = s.conn.receive(deadline_in_ms(20000));
      if (!m.ok()) return;
      {
        std::lock_guard<std::mutex> lock(seen->mu);
        seen->headers.push_back(m->header);
      }
      wire::Header h = response_to(m->header);
      if (m->header.is_batch()) {
        if (!codec::answer_increment_batch(m->payload, m->header.item_count, &out).ok()) return;
      } else {
        auto v = codec::decode_increment(m->payload);
        if (!v.ok()) return;
        out.resize(8);
        codec::encode_increment(*v + 1, out.data());
      }
      if (!s.conn.send(h, ByteSpan(out), deadline_in_ms(20000)).ok()) return;
    }
  };
}

void batch_call(ClientSession& c, uint64_t id, uint32_t n) {
  SCOPED_TRACE(n);
  std::vector<uint64_t> in(n);
  for (uint32_t i = 0; i < n; ++i)
    in[i] = uint64_t{i} * 1000 + 7;
  std::vector<uint8_t> payload;
  if (n == 1) {
    payload.resize(8);
    codec::encode_increment(in[0], payload.data());
  } else {
    ASSERT_TRUE(codec::encode_increment_batch(in.data(), n, &payload).ok());
  }
  ASSERT_TRUE(c.send_request(kIncrement, id, ByteSpan(payload), n, deadline_in_ms(10000)).ok());
  auto r = c.receive_response(deadline_in_ms(10000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::vector<uint64_t> out;
  if (n == 1) {
    EXPECT_EQ(r->header.flags, 0);
    EXPECT_EQ(r->header.item_count, 1u);
    auto v = codec::decode_increment(r->payload);
    ASSERT_TRUE(v.ok());
    out.push_back(*v);
  } else {
    EXPECT_EQ(r->header.flags, wire::kFlagBatch);
    EXPECT_EQ(r->header.item_count, n);
    ASSERT_TRUE(codec::decode_increment_batch(r->payload, n, &out).ok());
  }
  ASSERT_EQ(out.size(), n);
  for (uint32_t i = 0; i < n; ++i)
    EXPECT_EQ(out[i], in[i] + 1) << "item " << i;
}

TEST(UdsSessionBatch, BatchesOfOneTwoAndAThousandItemsRoundTrip) {
  SeenHeaders seen;
  ServerPolicy pol;
  pol.max_request_payload_bytes = 64 << 10;
  pol.max_response_payload_bytes = 64 << 10;
  BlockingServer srv(pol, increment_server(&seen));
  ClientProposal p;
  p.max_request_payload_bytes = 64 << 10;
  p.max_request_batch_items = 1000;
  auto c = connect_to(srv, p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->agreed().agreed_max_request_batch_items, 1000u);
  EXPECT_EQ(c->agreed().agreed_max_response_batch_items, 1000u);
  batch_call(*c, 1, 1);
  batch_call(*c, 2, 2);
  batch_call(*c, 3, 1000);
  c = ClientSession();  // the server sees the client leave
  srv.join();
  std::lock_guard<std::mutex> lock(seen.mu);
  ASSERT_EQ(seen.headers.size(), 3u);
  // A one-item call travels unbatched (§3.1, §9.4).
  EXPECT_EQ(seen.headers[0].flags, 0);
  EXPECT_EQ(seen.headers[0].item_count, 1u);
  EXPECT_EQ(seen.headers[0].payload_len, 8u);
  EXPECT_EQ(seen.headers[1].flags, wire::kFlagBatch);
  EXPECT_EQ(seen.headers[1].item_count, 2u);
  EXPECT_EQ(seen.headers[1].payload_len, 32u);
  EXPECT_EQ(seen.headers[2].item_count, 1000u);
  EXPECT_EQ(seen.headers[2].payload_len, 16000u);
}

TEST(UdsSessionBatch, BatchOverTheAgreedItemCountIsRefusedLocally) {
  SeenHeaders seen;
  ServerPolicy pol;
  pol.max_request_payload_bytes = 64 << 10;
  BlockingServer srv(pol, increment_server(&seen));
  ClientProposal p;
  p.max_request_payload_bytes = 64 << 10;
  p.max_request_batch_items = 4;
  auto c = connect_to(srv, p);
  ASSERT_TRUE(c.ok());
  std::vector<uint64_t> in(5, 1);
  std::vector<uint8_t> payload;
  ASSERT_TRUE(codec::encode_increment_batch(in.data(), 5, &payload).ok());
  EXPECT_EQ(c->send_request(kIncrement, 1, ByteSpan(payload), 5).code(), Errc::kLimitExceeded);
  EXPECT_EQ(c->in_flight(), 0u);
  batch_call(*c, 2, 4);  // the session still works
  c = ClientSession();
  srv.join();
  std::lock_guard<std::mutex> lock(seen.mu);
  ASSERT_EQ(seen.headers.size(), 1u);
  EXPECT_EQ(seen.headers[0].message_id, 2u);
}

// ---- pipelining (§6.4, §9.8) ----

TEST(UdsSessionPipelining, SixteenRequestsAnsweredInReverseOrderAreAllMatched) {
  constexpr int kN = 16;
  BlockingServer srv(ServerPolicy{}, [](ServerSession& s) {
    std::vector<Message> held;
    std::vector<Bytes> payloads;
    std::vector<wire::Header> headers;
    for (int i = 0; i < kN; ++i) {
      auto m = s.conn.receive(deadline_in_ms(10000));
      if (!m.ok()) return;
      headers.push_back(m->header);
      payloads.emplace_back(m->payload.data, m->payload.data + m->payload.size);
    }
    for (int i = kN - 1; i >= 0; --i) {
      if (!s.conn.send(response_to(headers[i]), ByteSpan(payloads[i])).ok()) return;
    }
    echo(s);
  });
  auto c = connect_to(srv, ClientProposal{});
  ASSERT_TRUE(c.ok()) << c.error().message();
  for (uint64_t id = 1; id <= kN; ++id) {
    uint8_t v[8];
    codec::encode_increment(id * 100, v);
    ASSERT_TRUE(c->send_request(kIncrement, id, ByteSpan(v, 8)).ok()) << id;
  }
  EXPECT_EQ(c->in_flight(), static_cast<size_t>(kN));
  std::vector<uint64_t> order;
  for (int i = 0; i < kN; ++i) {
    auto r = c->receive_response(deadline_in_ms(10000));
    ASSERT_TRUE(r.ok()) << r.error().message();
    auto v = codec::decode_increment(r->payload);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, r->header.message_id * 100);  // the payload belongs to that id
    order.push_back(r->header.message_id);
  }
  EXPECT_EQ(c->in_flight(), 0u);
  std::vector<uint64_t> reversed;
  for (uint64_t id = kN; id >= 1; --id)
    reversed.push_back(id);
  EXPECT_EQ(order, reversed);
  call_echo(*c, 100, 8);  // the session goes on
}

TEST(UdsSessionPipelining, DuplicateInFlightIdIsRefusedLocally) {
  SeenHeaders seen;
  BlockingServer srv(ServerPolicy{}, increment_server(&seen));
  auto c = connect_to(srv, ClientProposal{});
  ASSERT_TRUE(c.ok());
  uint8_t v[8];
  codec::encode_increment(1, v);
  ASSERT_TRUE(c->send_request(kIncrement, 5, ByteSpan(v, 8)).ok());
  EXPECT_EQ(c->send_request(kIncrement, 5, ByteSpan(v, 8)).code(), Errc::kInvalidArgument);
  EXPECT_EQ(c->in_flight(), 1u);
  auto r = c->receive_response(deadline_in_ms(10000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->header.message_id, 5u);
  // Once answered, the id may be used again.
  ASSERT_TRUE(c->send_request(kIncrement, 5, ByteSpan(v, 8)).ok());
  ASSERT_TRUE(c->receive_response(deadline_in_ms(10000)).ok());
  c = ClientSession();
  srv.join();
  std::lock_guard<std::mutex> lock(seen.mu);
  EXPECT_EQ(seen.headers.size(), 2u);  // the refused duplicate never left the client
}

TEST(UdsSessionPipelining, ResponseWithAnUnknownIdBreaksTheSession) {
  BlockingServer srv(ServerPolicy{}, [](ServerSession& s) {
    auto m = s.conn.receive(deadline_in_ms(10000));
    if (!m.ok()) return;
    wire::Header h = response_to(m->header);
    h.message_id += 1000;
    (void)s.conn.send(h, m->payload);
    (void)s.conn.receive(deadline_in_ms(10000));  // wait for the client to leave
  });
  auto c = connect_to(srv, ClientProposal{});
  ASSERT_TRUE(c.ok());
  uint8_t v[8] = {};
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(v, 8)).ok());
  ASSERT_TRUE(c->send_request(kIncrement, 2, ByteSpan(v, 8)).ok());
  EXPECT_EQ(c->receive_response(deadline_in_ms(10000)).code(), Errc::kProtocol);
  EXPECT_EQ(c->in_flight(), 0u);  // every pending call failed with it
}

TEST(UdsSessionPipelining, NonResponseMessageIsAProtocolError) {
  BlockingServer srv(ServerPolicy{}, [](ServerSession& s) {
    auto m = s.conn.receive(deadline_in_ms(10000));
    if (!m.ok()) return;
    wire::Header h = response_to(m->header);
    h.kind = static_cast<uint16_t>(wire::Kind::kRequest);
    (void)s.conn.send(h, m->payload);
    (void)s.conn.receive(deadline_in_ms(10000));
  });
  auto c = connect_to(srv, ClientProposal{});
  ASSERT_TRUE(c.ok());
  uint8_t v[8] = {};
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(v, 8)).ok());
  EXPECT_EQ(c->receive_response(deadline_in_ms(10000)).code(), Errc::kProtocol);
  EXPECT_EQ(c->in_flight(), 0u);
}

// ---- limits ----

TEST(UdsSessionLimits, RequestOverTheAgreedCeilingIsRefusedLocallyAndNothingIsSent) {
  SeenHeaders seen;
  BlockingServer srv(ServerPolicy{}, increment_server(&seen));
  auto c = connect_to(srv, ClientProposal{});  // request ceiling 1024
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->agreed().agreed_max_request_payload_bytes, 1024u);
  const Bytes big(1025, 0);
  EXPECT_EQ(c->send_request(kIncrement, 1, ByteSpan(big)).code(), Errc::kLimitExceeded);
  EXPECT_EQ(c->in_flight(), 0u);
  batch_call(*c, 2, 1);
  c = ClientSession();
  srv.join();
  std::lock_guard<std::mutex> lock(seen.mu);
  ASSERT_EQ(seen.headers.size(), 1u);
  EXPECT_EQ(seen.headers[0].message_id, 2u);
}

TEST(UdsSessionLimits, ResponseOverTheAgreedCeilingIsLimitExceeded) {
  ServerPolicy pol;
  pol.max_response_payload_bytes = 1000;
  BlockingServer srv(pol, [](ServerSession& s) {
    auto m = s.conn.receive(deadline_in_ms(10000));
    if (!m.ok()) return;
    // A misbehaving server that ignores its own agreed ceiling.
    s.conn.configure(s.conn.packet_size(), s.conn.inbound(), Limits{1 << 20, 1});
    const Bytes big(1001, 1);
    (void)s.conn.send(response_to(m->header), ByteSpan(big));
    (void)s.conn.receive(deadline_in_ms(10000));
  });
  auto c = connect_to(srv, ClientProposal{});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->agreed().agreed_max_response_payload_bytes, 1000u);
  uint8_t v[8] = {};
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(v, 8)).ok());
  EXPECT_EQ(c->receive_response(deadline_in_ms(10000)).code(), Errc::kLimitExceeded);
}

TEST(UdsSessionLimits, ServerRefusesARequestOverItsInboundCeiling) {
  std::atomic<int> code{-1};
  BlockingServer srv(ServerPolicy{}, [&code](ServerSession& s) {
    code = static_cast<int>(s.conn.receive(deadline_in_ms(10000)).code());
  });
  // A raw client that ignores the agreed request ceiling of 1024.
  auto fd = uds_connect(srv.dir(), srv.service());
  ASSERT_TRUE(fd.ok());
  wire::Hello h = make_hello(ClientProposal{});
  h.packet_size = 65536;
  uint8_t hello[wire::kHelloPacketLen];
  wire::encode_hello_packet(h, hello);
  ASSERT_EQ(::send(fd->get(), hello, sizeof hello, MSG_NOSIGNAL), 76);
  pollfd p{fd->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  uint8_t ack[128];
  ASSERT_EQ(::recv(fd->get(), ack, sizeof ack, 0), 80);
  ASSERT_TRUE(client_read_ack(ByteSpan(ack, 80)).ok());
  Bytes msg(32 + 2000, 0);
  wire::Header rh;
  rh.kind = static_cast<uint16_t>(wire::Kind::kRequest);
  rh.code = kIncrement;
  rh.payload_len = 2000;
  rh.message_id = 1;
  wire::encode_header(rh, msg.data());
  ASSERT_EQ(::send(fd->get(), msg.data(), msg.size(), MSG_NOSIGNAL), 2032);
  srv.join();
  EXPECT_EQ(code.load(), static_cast<int>(Errc::kLimitExceeded));
}

// ---- deadlines, abort, peer death ----

TEST(UdsSessionDeadline, ServerStallingAfterTheFirstChunkTimesOutWithinTheDeadline) {
  std::atomic<bool> client_done{false};
  BlockingServer srv(big_policy(256), [&client_done](ServerSession& s) {
    auto m = s.conn.receive(deadline_in_ms(10000));
    if (!m.ok()) return;
    // The first packet of a 1000-byte response, then silence.
    Bytes first(256, 0);
    wire::Header h = response_to(m->header);
    h.payload_len = 1000;
    wire::encode_header(h, first.data());
    (void)::send(s.conn.fd(), first.data(), first.size(), MSG_NOSIGNAL);
    test::wait_until([&] { return client_done.load(); }, std::chrono::seconds(20));
  });
  auto c = connect_to(srv, big_proposal(256));
  ASSERT_TRUE(c.ok());
  uint8_t v[8] = {};
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(v, 8)).ok());
  const auto start = Clock::now();
  auto r = c->receive_response(deadline_in_ms(300));
  const auto elapsed = Clock::now() - start;
  client_done = true;
  EXPECT_EQ(r.code(), Errc::kTimeout);
  EXPECT_GE(elapsed, std::chrono::milliseconds(295));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(UdsSessionAbort, AbortFromAnotherThreadEndsAWaitingCallWithAborted) {
  std::atomic<bool> client_done{false};
  BlockingServer srv(ServerPolicy{}, [&client_done](ServerSession& s) {
    (void)s.conn.receive(deadline_in_ms(10000));  // never answers
    test::wait_until([&] { return client_done.load(); }, std::chrono::seconds(20));
  });
  auto c = connect_to(srv, ClientProposal{});
  ASSERT_TRUE(c.ok());
  auto abort = AbortHandle::create();
  ASSERT_TRUE(abort.ok());
  uint8_t v[8] = {};
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(v, 8)).ok());
  std::thread t([&] { abort->abort(); });
  auto r = c->receive_response(deadline_in_ms(10000), abort->fd());
  t.join();
  client_done = true;
  EXPECT_EQ(r.code(), Errc::kAborted);
  EXPECT_EQ(c->in_flight(), 1u);  // Level 2 decides what happens to the call
}

TEST(UdsSessionPeerGone, ServerProcessDyingMidResponseIsPeerGone) {
  test::TempDir dir;
  const std::string svc = test::unique_service("p");
  test::Child server = test::Child::fork_fn([&] {
    auto l = UdsListener::listen(dir.path(), svc);
    if (!l.ok()) return 1;
    std::printf("READY\n");
    std::fflush(stdout);
    pollfd p{l->fd(), POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return 2;
    auto fd = l->accept();
    if (!fd.ok()) return 3;
    auto s = server_handshake_blocking(std::move(*fd), big_policy(256), 1, deadline_in_ms(10000));
    if (!s.ok()) return 4;
    auto m = s->conn.receive(deadline_in_ms(10000));
    if (!m.ok()) return 5;
    Bytes first(256, 0);
    wire::Header h = response_to(m->header);
    h.payload_len = 1000;
    wire::encode_header(h, first.data());
    (void)::send(s->conn.fd(), first.data(), first.size(), MSG_NOSIGNAL);
    return 0;  // the process exits with 4 packets of the response unsent
  });
  ASSERT_TRUE(server.valid());
  ASSERT_TRUE(server.wait_for_line("READY"));
  auto c = ClientSession::connect(dir.path(), svc, big_proposal(256), deadline_in_ms(10000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  uint8_t v[8] = {};
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(v, 8)).ok());
  EXPECT_EQ(c->receive_response(deadline_in_ms(10000)).code(), Errc::kPeerGone);
  EXPECT_EQ(c->in_flight(), 0u);
  EXPECT_EQ(server.wait(), 0);
}

}  // namespace
}  // namespace netipc
