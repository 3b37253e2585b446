// netipc::uv::Server on real libuv loops, talked to over real sockets by
// ClientSession and by raw clients that break the rules on purpose.
// Request serving and its error statuses (netipc-levels.md §2.4), session
// ids, response-ceiling growth, hostile clients, the session limit, graceful
// stop and ServerThread with a host thread factory.
#include "netipc/uv/server.h"

#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "netipc/codec/increment.h"
#include "netipc/services.h"
#include "netipc/session.h"
#include "netipc/uds.h"
#include "netipc/uv/server_thread.h"
#include "netipc/wire.h"
#include "test_support.h"

namespace netipc {
namespace {

using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;
using test::TempDir;

constexpr uint16_t kIncrement = static_cast<uint16_t>(wire::Method::kIncrement);

int64_t deadline_in_ms(int64_t ms) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec + ms * 1000000;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

uv::ServerConfig base_config(const TempDir& dir, const std::string& service) {
  uv::ServerConfig c;
  c.run_dir = dir.path();
  c.service = service;
  c.method = kIncrement;
  return c;
}

std::unique_ptr<uv::ServerThread> start(uv::ServerConfig cfg,
                                        Handler h = make_increment_handler()) {
  auto st = uv::ServerThread::start(std::move(cfg), std::move(h));
  EXPECT_TRUE(st.ok()) << st.error().message();
  return st.ok() ? std::move(*st) : nullptr;
}

Result<ClientSession> connect(const uv::ServerConfig& cfg, ClientProposal p = {}) {
  return ClientSession::connect(cfg.run_dir, cfg.service, p, deadline_in_ms(5000));
}

// One INCREMENT call; a non-OK status comes back as its Errc.
Result<uint64_t> increment(ClientSession& c, uint64_t id, uint64_t v) {
  uint8_t p[8];
  codec::encode_increment(v, p);
  Status st = c.send_request(kIncrement, id, ByteSpan(p, 8), 1, deadline_in_ms(5000));
  if (!st.ok()) return st.error();
  auto r = c.receive_response(deadline_in_ms(5000));
  if (!r.ok()) return r.error();
  if (r->header.transport_status != 0) {
    return make_error(wire::errc_from_status(r->header.transport_status), "response status");
  }
  return codec::decode_increment(r->payload);
}

// A well-behaved client still gets answers.
void expect_served(const uv::ServerConfig& cfg) {
  auto c = connect(cfg);
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto v = increment(*c, 1, 41);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 42u);
}

// Waits until the peer closes `fd` (true) or the timeout passes (false).
// Fails the test if anything other than end-of-file arrives.
bool closed_by_peer(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return false;
  uint8_t buf[256];
  const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  EXPECT_LE(n, 0) << "expected the server to close, got " << n << " bytes";
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// A client that does the handshake by hand and then lets the test send
// whatever it likes (e.g. ignoring the agreed request ceiling).
struct RawClient {
  UdsConnection conn;
  wire::HelloAck ack;
};
Result<RawClient> raw_client(const uv::ServerConfig& cfg, ClientProposal p = {},
                             Limits outbound = {1 << 24, 1 << 16}) {
  auto fd = uds_connect(cfg.run_dir, cfg.service);
  if (!fd.ok()) return fd.error();
  if (p.packet_size == 0) p.packet_size = 65536;
  uint8_t hello[wire::kHelloPacketLen];
  wire::encode_hello_packet(make_hello(p), hello);
  if (::send(fd->get(), hello, sizeof hello, MSG_NOSIGNAL) != sizeof hello) {
    return make_error(Errc::kPeerGone, "send HELLO", errno);
  }
  pollfd pf{fd->get(), POLLIN, 0};
  if (::poll(&pf, 1, 5000) != 1) return make_error(Errc::kTimeout, "HELLO_ACK");
  uint8_t buf[128];
  const ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
  if (n <= 0) return make_error(Errc::kPeerGone, "HELLO_ACK");
  auto ack = client_read_ack(ByteSpan(buf, static_cast<size_t>(n)));
  if (!ack.ok()) return ack.error();
  RawClient c;
  c.ack = *ack;
  c.conn = UdsConnection(std::move(*fd));
  c.conn.configure(ack->agreed_packet_size, client_inbound_limits(*ack), outbound);
  return c;
}

wire::Header request(uint64_t id, uint16_t code = kIncrement, uint32_t items = 1) {
  wire::Header h;
  h.kind = static_cast<uint16_t>(wire::Kind::kRequest);
  h.code = code;
  h.message_id = id;
  h.item_count = items;
  h.flags = items >= 2 ? wire::kFlagBatch : 0;
  return h;
}

// ---- request serving ----

TEST(UvServer, AnswersASingleIncrement) {
  TempDir dir;
  auto cfg = base_config(dir, "inc");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  auto c = connect(cfg);
  ASSERT_TRUE(c.ok()) << c.error().message();
  auto v = increment(*c, 1, 41);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 42u);
  v = increment(*c, 2, UINT64_MAX);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 0u);
  EXPECT_EQ(srv->server().stats().requests, 2u);
}

TEST(UvServer, AnswersAnIncrementBatch) {
  TempDir dir;
  auto cfg = base_config(dir, "inc");
  cfg.max_request_payload_bytes = 16 * 100;
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  ClientProposal p;
  p.max_request_payload_bytes = 16 * 100;
  p.max_request_batch_items = 100;
  auto c = connect(cfg, p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  std::vector<uint64_t> in(100);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = i * 3;
  std::vector<uint8_t> payload;
  ASSERT_TRUE(codec::encode_increment_batch(in.data(), 100, &payload).ok());
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(payload), 100, deadline_in_ms(5000)).ok());
  auto r = c->receive_response(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status, 0);
  EXPECT_EQ(r->header.flags, wire::kFlagBatch);
  EXPECT_EQ(r->header.item_count, 100u);
  std::vector<uint64_t> out;
  ASSERT_TRUE(codec::decode_increment_batch(r->payload, 100, &out).ok());
  for (size_t i = 0; i < in.size(); ++i)
    EXPECT_EQ(out[i], in[i] + 1);
}

TEST(UvServer, SuccessiveSessionsGetIds1Then2Then3) {
  TempDir dir;
  auto cfg = base_config(dir, "ids");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  for (uint64_t want = 1; want <= 3; ++want) {
    auto c = connect(cfg);
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->agreed().session_id, want);
    ASSERT_TRUE(increment(*c, 1, want).ok());
  }
}

TEST(UvServer, SessionIdsStrictlyIncreaseAcrossARejectedHandshake) {
  TempDir dir;
  auto cfg = base_config(dir, "ids");
  cfg.auth_token = 0x77;
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  ClientProposal good;
  good.auth_token = 0x77;
  auto a = connect(cfg, good);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(connect(cfg).code(), Errc::kAuthFailed);
  auto b = connect(cfg, good);
  ASSERT_TRUE(b.ok());
  EXPECT_GT(b->agreed().session_id, a->agreed().session_id);
  EXPECT_TRUE(increment(*a, 1, 1).ok());
  EXPECT_TRUE(increment(*b, 1, 1).ok());
}

TEST(UvServer, AckOffersTheConfiguredCeilingsAndTheUdsProfile) {
  TempDir dir;
  auto cfg = base_config(dir, "acks");
  cfg.max_request_payload_bytes = 5000;
  cfg.max_response_payload_bytes = 7000;
  cfg.packet_size = 4096;
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  ClientProposal p;
  p.supported_profiles = wire::kProfileUds | wire::kProfileShmHybrid;
  p.max_request_payload_bytes = 5000;
  auto c = connect(cfg, p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->profile(), wire::kProfileUds);  // shared memory is not negotiated yet
  EXPECT_EQ(c->agreed().agreed_max_request_payload_bytes, 5000u);
  EXPECT_EQ(c->agreed().agreed_max_response_payload_bytes, 7000u);
  EXPECT_EQ(c->agreed().agreed_packet_size, 4096u);
  EXPECT_EQ(increment(*c, 1, 9).value(), 10u);
}

TEST(UvServer, WrongTokenIsRejectedAndCounted) {
  TempDir dir;
  auto cfg = base_config(dir, "auth");
  cfg.auth_token = 0x1234;
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  EXPECT_EQ(connect(cfg).code(), Errc::kAuthFailed);
  EXPECT_TRUE(test::wait_until([&] { return srv->server().stats().sessions_rejected == 1; }));
  EXPECT_EQ(srv->server().stats().sessions_accepted, 0u);
}

TEST(UvServer, UnservedMethodIsUnsupportedAndTheSessionGoesOn) {
  TempDir dir;
  auto cfg = base_config(dir, "unsup");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  auto c = connect(cfg);
  ASSERT_TRUE(c.ok());
  uint8_t p[8] = {};
  const uint16_t reverse = static_cast<uint16_t>(wire::Method::kStringReverse);
  ASSERT_TRUE(c->send_request(reverse, 1, ByteSpan(p, 8)).ok());
  auto r = c->receive_response(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status, static_cast<uint16_t>(wire::TransportStatus::kUnsupported));
  EXPECT_EQ(r->header.code, reverse);
  EXPECT_EQ(r->header.message_id, 1u);
  EXPECT_EQ(r->payload.size, 0u);
  auto v = increment(*c, 2, 1);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 2u);
}

TEST(UvServer, MalformedRequestIsBadEnvelopeThenTheSessionIsClosed) {
  TempDir dir;
  auto cfg = base_config(dir, "bad");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  auto c = connect(cfg);
  ASSERT_TRUE(c.ok());
  const uint8_t three[3] = {1, 2, 3};  // INCREMENT needs 8 bytes
  ASSERT_TRUE(c->send_request(kIncrement, 7, ByteSpan(three, 3)).ok());
  auto r = c->receive_response(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status, static_cast<uint16_t>(wire::TransportStatus::kBadEnvelope));
  EXPECT_EQ(r->header.message_id, 7u);
  EXPECT_EQ(r->payload.size, 0u);
  EXPECT_TRUE(closed_by_peer(c->fd(), 5000));
  expect_served(cfg);
}

TEST(UvServer, MalformedBatchDirectoryIsBadEnvelopeThenTheSessionIsClosed) {
  TempDir dir;
  auto cfg = base_config(dir, "badbatch");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  ClientProposal p;
  p.max_request_batch_items = 4;
  auto c = connect(cfg, p);
  ASSERT_TRUE(c.ok());
  Bytes payload(32, 0);
  store_u32(payload.data() + 8, 3);  // item 1 at a misaligned offset
  store_u32(payload.data() + 12, 8);
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(payload), 2).ok());
  auto r = c->receive_response(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status, static_cast<uint16_t>(wire::TransportStatus::kBadEnvelope));
  EXPECT_TRUE(closed_by_peer(c->fd(), 5000));
}

TEST(UvServer, RequestOverTheAgreedCeilingIsLimitExceededThenTheSessionIsClosed) {
  TempDir dir;
  auto cfg = base_config(dir, "big");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  auto c = raw_client(cfg);  // agrees on 1024 bytes, then ignores it
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->ack.agreed_max_request_payload_bytes, 1024u);
  const Bytes big(2000, 0);
  ASSERT_TRUE(c->conn.send(request(9), ByteSpan(big), deadline_in_ms(5000)).ok());
  auto r = c->conn.receive(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.kind, static_cast<uint16_t>(wire::Kind::kResponse));
  EXPECT_EQ(r->header.transport_status,
            static_cast<uint16_t>(wire::TransportStatus::kLimitExceeded));
  EXPECT_EQ(r->header.message_id, 9u);
  EXPECT_EQ(r->payload.size, 0u);
  EXPECT_TRUE(closed_by_peer(c->conn.fd(), 5000));
  expect_served(cfg);
}

TEST(UvServer, BatchOverTheAgreedItemCountIsLimitExceededThenTheSessionIsClosed) {
  TempDir dir;
  auto cfg = base_config(dir, "items");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  ClientProposal p;
  p.max_request_batch_items = 2;
  auto c = raw_client(cfg, p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  std::vector<uint64_t> in = {1, 2, 3};
  std::vector<uint8_t> payload;
  ASSERT_TRUE(codec::encode_increment_batch(in.data(), 3, &payload).ok());
  ASSERT_TRUE(c->conn.send(request(4, kIncrement, 3), ByteSpan(payload)).ok());
  auto r = c->conn.receive(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status,
            static_cast<uint16_t>(wire::TransportStatus::kLimitExceeded));
  EXPECT_TRUE(closed_by_peer(c->conn.fd(), 5000));
}

TEST(UvServer, HandlerFailureIsInternalErrorThenTheSessionIsClosed) {
  TempDir dir;
  auto cfg = base_config(dir, "fail");
  auto srv = start(cfg, [](ByteSpan, ResponseWriter&) -> Status {
    return make_error(Errc::kNoMemory, "handler");
  });
  ASSERT_TRUE(srv);
  auto c = connect(cfg);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(increment(*c, 3, 1).code(), Errc::kInternalError);
  EXPECT_TRUE(closed_by_peer(c->fd(), 5000));
}

TEST(UvServer, ResponseOverTheCeilingIsLimitExceededAndTheNextSessionGetsAGrownCeiling) {
  TempDir dir;
  auto cfg = base_config(dir, "grow");
  cfg.max_response_payload_bytes = 1024;
  auto srv = start(cfg, [](ByteSpan req, ResponseWriter& out) -> Status {
    auto v = codec::decode_increment(req);
    if (!v.ok()) return v.error();
    out.bytes().assign(5000, 0);  // an answer bigger than the first ceiling
    codec::encode_increment(*v + 1, out.bytes().data());
    return ok_status();
  });
  ASSERT_TRUE(srv);
  auto first = connect(cfg);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->agreed().agreed_max_response_payload_bytes, 1024u);
  EXPECT_EQ(increment(*first, 1, 1).code(), Errc::kLimitExceeded);
  EXPECT_TRUE(closed_by_peer(first->fd(), 5000));
  EXPECT_GE(srv->server().response_ceiling(), 5000u);

  auto second = connect(cfg);
  ASSERT_TRUE(second.ok());
  EXPECT_GE(second->agreed().agreed_max_response_payload_bytes, 5000u);
  EXPECT_EQ(second->agreed().agreed_max_response_payload_bytes, srv->server().response_ceiling());
  auto v = increment(*second, 1, 1);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 2u);
}

TEST(UvServer, HandlerReportingLimitExceededGrowsTheCeilingForTheNextSession) {
  TempDir dir;
  auto cfg = base_config(dir, "grow2");
  cfg.max_response_payload_bytes = 1024;
  auto srv = start(cfg, [](ByteSpan, ResponseWriter&) -> Status {
    return make_error(Errc::kLimitExceeded, "answer does not fit");
  });
  ASSERT_TRUE(srv);
  auto c = connect(cfg);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(increment(*c, 1, 1).code(), Errc::kLimitExceeded);
  EXPECT_TRUE(closed_by_peer(c->fd(), 5000));
  auto next = connect(cfg);
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->agreed().agreed_max_response_payload_bytes, 1024u);
}

TEST(UvServer, AnnouncedResponseSizeRaisesTheCeilingOfferedToNewSessions) {
  TempDir dir;
  auto cfg = base_config(dir, "announce");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  auto before = connect(cfg);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->agreed().agreed_max_response_payload_bytes, 65536u);
  srv->server().announce_response_size(100000);  // from the test thread: any thread may
  EXPECT_GE(srv->server().response_ceiling(), 100000u);
  auto after = connect(cfg);
  ASSERT_TRUE(after.ok());
  EXPECT_GE(after->agreed().agreed_max_response_payload_bytes, 100000u);
  EXPECT_EQ(before->agreed().agreed_max_response_payload_bytes, 65536u);  // fixed for life
  EXPECT_TRUE(increment(*before, 1, 1).ok());
  EXPECT_TRUE(increment(*after, 1, 1).ok());
}

TEST(UvServer, AnnouncedSizeNeverShrinksTheCeiling) {
  TempDir dir;
  auto cfg = base_config(dir, "shrink");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  srv->server().announce_response_size(10);
  EXPECT_EQ(srv->server().response_ceiling(), 65536u);
}

TEST(UvServer, AnnouncedSizeIsCappedByTheGrowthCeiling) {
  TempDir dir;
  auto cfg = base_config(dir, "cap");
  cfg.response_growth_ceiling = 200000;
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  srv->server().announce_response_size(50u << 20);
  EXPECT_EQ(srv->server().response_ceiling(), 200000u);
  auto c = connect(cfg);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->agreed().agreed_max_response_payload_bytes, 200000u);
}

// ---- hostile clients ----

TEST(UvServerHostile, SilentClientIsClosedAfterTheHandshakeTimeoutWhileOthersAreServed) {
  TempDir dir;
  auto cfg = base_config(dir, "silent");
  cfg.handshake_timeout_ms = 200;
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  const auto start_time = Clock::now();
  auto silent = uds_connect(cfg.run_dir, cfg.service);
  ASSERT_TRUE(silent.ok());
  expect_served(cfg);
  EXPECT_TRUE(closed_by_peer(silent->get(), 5000));
  EXPECT_GE(Clock::now() - start_time, std::chrono::milliseconds(195));
  EXPECT_TRUE(test::wait_until([&] { return srv->server().stats().sessions_dropped >= 1; }));
  expect_served(cfg);
}

TEST(UvServerHostile, GarbageInsteadOfHelloIsClosedWithoutReplyWhileOthersAreServed) {
  TempDir dir;
  auto cfg = base_config(dir, "garbage");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  auto g = uds_connect(cfg.run_dir, cfg.service);
  ASSERT_TRUE(g.ok());
  uint8_t junk[40];
  for (size_t i = 0; i < sizeof junk; ++i)
    junk[i] = static_cast<uint8_t>(i * 29 + 3);
  ASSERT_EQ(::send(g->get(), junk, sizeof junk, MSG_NOSIGNAL), 40);
  EXPECT_TRUE(closed_by_peer(g->get(), 5000));  // no ACK bytes before the close
  expect_served(cfg);
}

TEST(UvServerHostile, OversizedGarbagePacketIsClosedWhileOthersAreServed) {
  TempDir dir;
  auto cfg = base_config(dir, "garbage2");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  auto g = uds_connect(cfg.run_dir, cfg.service);
  ASSERT_TRUE(g.ok());
  Bytes junk(100000, 0xFF);
  ASSERT_EQ(::send(g->get(), junk.data(), junk.size(), MSG_NOSIGNAL), 100000);
  EXPECT_TRUE(closed_by_peer(g->get(), 5000));
  expect_served(cfg);
}

TEST(UvServerHostile, GarbageAfterTheHandshakeClosesOnlyThatSession) {
  TempDir dir;
  auto cfg = base_config(dir, "garbage3");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  auto normal = connect(cfg);
  ASSERT_TRUE(normal.ok());
  auto g = raw_client(cfg);
  ASSERT_TRUE(g.ok());
  uint8_t junk[40];
  std::memset(junk, 0x42, sizeof junk);
  ASSERT_EQ(::send(g->conn.fd(), junk, sizeof junk, MSG_NOSIGNAL), 40);
  EXPECT_TRUE(closed_by_peer(g->conn.fd(), 5000));
  EXPECT_EQ(increment(*normal, 1, 41).value(), 42u);
}

TEST(UvServerHostile, ResponseKindFromAClientClosesThatSession) {
  TempDir dir;
  auto cfg = base_config(dir, "kind");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  auto g = raw_client(cfg);
  ASSERT_TRUE(g.ok());
  wire::Header h = request(1);
  h.kind = static_cast<uint16_t>(wire::Kind::kResponse);
  uint8_t p[8] = {};
  ASSERT_TRUE(g->conn.send(h, ByteSpan(p, 8)).ok());
  EXPECT_TRUE(closed_by_peer(g->conn.fd(), 5000));
  expect_served(cfg);
}

TEST(UvServerHostile, ClientProcessDyingMidMessageDoesNotDisturbOthers) {
  TempDir dir;
  auto cfg = base_config(dir, "dies");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  auto normal = connect(cfg);
  ASSERT_TRUE(normal.ok());
  test::Child dying = test::Child::fork_fn([&cfg] {
    ClientProposal p;
    p.packet_size = 64;  // 1000 bytes = 1 + 31 packets
    auto c = raw_client(cfg, p);
    if (!c.ok()) return 1;
    Bytes first(64, 0);
    wire::Header h = request(1);
    h.payload_len = 1000;
    wire::encode_header(h, first.data());
    if (::send(c->conn.fd(), first.data(), first.size(), MSG_NOSIGNAL) != 64) return 2;
    return 0;  // exits with the rest of the message unsent
  });
  ASSERT_TRUE(dying.valid());
  EXPECT_EQ(dying.wait(), 0);
  EXPECT_EQ(increment(*normal, 1, 41).value(), 42u);
  expect_served(cfg);
  EXPECT_TRUE(test::wait_until([&] { return srv->server().stats().sessions_accepted == 3; }));
}

TEST(UvServerHostile, AThousandConcurrentSessionsAndOneMoreAreAllServed) {
  constexpr int kClients = 1000;
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  const rlim_t need = 2 * kClients + 200;
  if (rl.rlim_cur < need) {
    rlimit raised = rl;
    raised.rlim_cur = std::min<rlim_t>(rl.rlim_max, need);
    ::setrlimit(RLIMIT_NOFILE, &raised);
    ::getrlimit(RLIMIT_NOFILE, &raised);
    if (raised.rlim_cur < need) {
      GTEST_SKIP() << "SKIPPED LOUDLY: RLIMIT_NOFILE hard limit " << rl.rlim_max << " is below the "
                   << need << " descriptors this test needs";
    }
  }
  TempDir dir;
  auto cfg = base_config(dir, "many");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  const auto t0 = Clock::now();

  // Connect everyone (retrying while the 16-deep backlog is full) and send
  // every HELLO before reading any ACK: all handshakes are in flight at once.
  std::vector<UniqueFd> fds;
  fds.reserve(kClients);
  uint8_t hello[wire::kHelloPacketLen];
  ClientProposal p;
  p.packet_size = 65536;
  wire::encode_hello_packet(make_hello(p), hello);
  for (int i = 0; i < kClients; ++i) {
    Result<UniqueFd> fd = make_error(Errc::kNotReady);
    ASSERT_TRUE(test::wait_until([&] {
      fd = uds_connect(cfg.run_dir, cfg.service);
      return fd.code() != Errc::kNotReady;
    })) << "client "
        << i;
    ASSERT_TRUE(fd.ok()) << fd.error().message();
    ASSERT_EQ(::send(fd->get(), hello, sizeof hello, MSG_NOSIGNAL), 76);
    fds.push_back(std::move(*fd));
  }
  expect_served(cfg);  // the extra, well-behaved client

  std::vector<UdsConnection> conns;
  conns.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    pollfd pf{fds[i].get(), POLLIN, 0};
    ASSERT_EQ(::poll(&pf, 1, 10000), 1) << "client " << i;
    uint8_t buf[128];
    const ssize_t n = ::recv(fds[i].get(), buf, sizeof buf, 0);
    ASSERT_EQ(n, 80) << "client " << i;
    auto ack = client_read_ack(ByteSpan(buf, 80));
    ASSERT_TRUE(ack.ok()) << "client " << i << ": " << ack.error().message();
    conns.emplace_back(std::move(fds[i]));
    conns.back().configure(ack->agreed_packet_size, client_inbound_limits(*ack),
                           client_outbound_limits(*ack));
  }
  // Every session then makes one call, all in flight together.
  for (int i = 0; i < kClients; ++i) {
    uint8_t v[8];
    codec::encode_increment(i, v);
    ASSERT_TRUE(conns[i].send(request(1), ByteSpan(v, 8), deadline_in_ms(5000)).ok());
  }
  expect_served(cfg);
  for (int i = 0; i < kClients; ++i) {
    auto r = conns[i].receive(deadline_in_ms(10000));
    ASSERT_TRUE(r.ok()) << "client " << i << ": " << r.error().message();
    ASSERT_EQ(r->header.transport_status, 0);
    EXPECT_EQ(codec::decode_increment(r->payload).value(), static_cast<uint64_t>(i) + 1);
  }
  EXPECT_EQ(srv->server().stats().sessions_accepted, static_cast<uint64_t>(kClients) + 2);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(10));
}

TEST(UvServerHostile, SessionsActiveReturnsToZeroWhenEveryClientHasGone) {
  // stats() is documented as callable from any thread (server_thread.h).
  TempDir dir;
  auto cfg = base_config(dir, "active");
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  {
    auto a = connect(cfg);
    auto b = connect(cfg);
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(b.ok());
    auto silent = uds_connect(cfg.run_dir, cfg.service);
    ASSERT_TRUE(silent.ok());
    EXPECT_TRUE(test::wait_until([&] { return srv->server().stats().sessions_active == 3; }));
  }
  EXPECT_TRUE(test::wait_until([&] { return srv->server().stats().sessions_active == 0; }));
  EXPECT_EQ(srv->server().stats().sessions_accepted, 2u);
}

// ---- session limit ----

TEST(UvServerLimits, ThirdClientOverMaxSessionsGetsALimitExceededRejection) {
  TempDir dir;
  auto cfg = base_config(dir, "limit");
  cfg.max_sessions = 2;
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  auto a = connect(cfg);
  auto b = connect(cfg);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(connect(cfg).code(), Errc::kLimitExceeded);
  EXPECT_EQ(increment(*a, 1, 1).value(), 2u);
  EXPECT_EQ(increment(*b, 1, 2).value(), 3u);
  // A freed slot is usable again.
  a = Result<ClientSession>(make_error(Errc::kPeerGone));
  Result<ClientSession> c = make_error(Errc::kNotReady);
  EXPECT_TRUE(test::wait_until([&] {
    c = connect(cfg);
    return c.ok();
  }));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(increment(*c, 1, 3).value(), 4u);
  EXPECT_EQ(increment(*b, 2, 4).value(), 5u);
}

// ---- graceful stop on a host loop ----

// A uv::Server on a loop that runs in its own thread; the test stops it
// through a uv_async_t, the only thread-safe way into the loop.
struct HostLoop {
  uv_loop_t loop{};
  uv_async_t stop_async{};
  std::unique_ptr<uv::Server> server;
  std::thread thread;
  std::atomic<int> done_calls{0};
  std::atomic<bool> node_gone_at_done{false};
  std::atomic<int> handler_calls{0};
  std::atomic<int> handler_calls_at_done{-1};
  uint32_t stop_deadline_ms = 1000;
  int run_rc = -1;

  Status start(uv::ServerConfig cfg, Handler inner) {
    EXPECT_EQ(uv_loop_init(&loop), 0);
    Handler counted = [this, inner](ByteSpan req, ResponseWriter& out) {
      handler_calls.fetch_add(1);
      return inner(req, out);
    };
    auto s = uv::Server::create(&loop, std::move(cfg), std::move(counted));
    if (!s.ok()) return s.error();
    server = std::move(*s);
    stop_async.data = this;
    uv_async_init(&loop, &stop_async, [](uv_async_t* a) {
      auto* self = static_cast<HostLoop*>(a->data);
      self->server->stop(self->stop_deadline_ms, [self] {
        self->done_calls.fetch_add(1);
        self->node_gone_at_done = !exists(self->path);
        self->handler_calls_at_done = self->handler_calls.load();
      });
      uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_async), nullptr);
    });
    path = server->socket_path();
    thread = std::thread([this] { run_rc = uv_run(&loop, UV_RUN_DEFAULT); });
    return ok_status();
  }
  void request_stop() { uv_async_send(&stop_async); }
  void join() {
    if (thread.joinable()) thread.join();
  }
  std::string path;
};

TEST(UvServerStop, StopCompletesRemovesTheNodeAndLeavesTheLoopClosable) {
  TempDir dir;
  auto cfg = base_config(dir, "stop");
  HostLoop host;
  ASSERT_TRUE(host.start(cfg, make_increment_handler()).ok());
  ASSERT_TRUE(exists(host.path));
  auto idle = connect(cfg);  // a session that is connected while the server stops
  ASSERT_TRUE(idle.ok());
  expect_served(cfg);
  host.request_stop();
  host.join();  // uv_run returns only once every handle of the server is closed
  EXPECT_EQ(host.run_rc, 0);
  EXPECT_EQ(host.done_calls.load(), 1);
  EXPECT_TRUE(host.node_gone_at_done.load());
  EXPECT_FALSE(exists(host.path));
  // Nothing is left on the loop, and it closes cleanly.
  EXPECT_EQ(uv_run(&host.loop, UV_RUN_NOWAIT), 0);
  EXPECT_EQ(uv_loop_close(&host.loop), 0);
  // The idle session was closed; new clients find nobody.
  EXPECT_TRUE(closed_by_peer(idle->fd(), 5000));
  EXPECT_EQ(connect(cfg).code(), Errc::kNotFound);
  // No handler ran after `done`.
  EXPECT_EQ(host.handler_calls.load(), host.handler_calls_at_done.load());
  host.server.reset();
}

TEST(UvServerStop, ResponseInProgressIsCompletedBeforeTheSessionCloses) {
  TempDir dir;
  auto cfg = base_config(dir, "drain");
  cfg.max_response_payload_bytes = 8 << 20;
  HostLoop host;
  host.stop_deadline_ms = 10000;
  ASSERT_TRUE(host.start(cfg,
                         [](ByteSpan, ResponseWriter& out) -> Status {
                           out.bytes().assign(4 << 20, 0x3C);  // far bigger than a socket buffer
                           return ok_status();
                         })
                  .ok());
  auto c = connect(cfg);
  ASSERT_TRUE(c.ok());
  uint8_t v[8] = {};
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(v, 8)).ok());
  // The server is now blocked on our full socket, mid-response.
  ASSERT_TRUE(test::wait_until([&] { return host.handler_calls.load() == 1; }));
  host.request_stop();
  auto r = c->receive_response(deadline_in_ms(10000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.transport_status, 0);
  EXPECT_EQ(r->payload.size, 4u << 20);
  host.join();
  EXPECT_EQ(host.done_calls.load(), 1);
  EXPECT_TRUE(closed_by_peer(c->fd(), 5000));
  EXPECT_EQ(uv_loop_close(&host.loop), 0);
  host.server.reset();
}

TEST(UvServerStop, ResponseStillInProgressAtTheDeadlineIsCutOff) {
  TempDir dir;
  auto cfg = base_config(dir, "cut");
  cfg.max_response_payload_bytes = 8 << 20;
  HostLoop host;
  host.stop_deadline_ms = 100;
  ASSERT_TRUE(host.start(cfg,
                         [](ByteSpan, ResponseWriter& out) -> Status {
                           out.bytes().assign(4 << 20, 0x3C);
                           return ok_status();
                         })
                  .ok());
  auto c = connect(cfg);
  ASSERT_TRUE(c.ok());
  uint8_t v[8] = {};
  ASSERT_TRUE(c->send_request(kIncrement, 1, ByteSpan(v, 8)).ok());
  ASSERT_TRUE(test::wait_until([&] { return host.handler_calls.load() == 1; }));
  const auto t0 = Clock::now();
  host.request_stop();
  host.join();  // we never read, so only the deadline ends the session
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(95));
  EXPECT_EQ(host.done_calls.load(), 1);
  EXPECT_EQ(c->receive_response(deadline_in_ms(10000)).code(), Errc::kPeerGone);
  EXPECT_EQ(uv_loop_close(&host.loop), 0);
  host.server.reset();
}

TEST(UvServerStop, CreateRequiresAMethodAndAHandler) {
  TempDir dir;
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  auto cfg = base_config(dir, "args");
  cfg.method = 0;
  EXPECT_EQ(uv::Server::create(&loop, cfg, make_increment_handler()).code(),
            Errc::kInvalidArgument);
  cfg.method = kIncrement;
  EXPECT_EQ(uv::Server::create(&loop, cfg, Handler()).code(), Errc::kInvalidArgument);
  EXPECT_EQ(uv::Server::create(nullptr, cfg, make_increment_handler()).code(),
            Errc::kInvalidArgument);
  EXPECT_FALSE(exists(dir.file("args.sock")));
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

// ---- ServerThread ----

// Runs in a child process: a failed ServerThread::start() must return its
// error, not crash (known library bug: the half-built ServerThread's
// destructor calls stop() on a never-initialised uv_async_t; see
// netipc/src/uv/server_thread.cc, Server::create failure path).
TEST(UvServerThreadDeathTest, SecondServerOnALiveEndpointIsAddrInUse) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int code = 3;
        {
          TempDir dir;
          auto cfg = base_config(dir, "twice");
          auto first = uv::ServerThread::start(cfg, make_increment_handler());
          if (first.ok()) {
            auto second = uv::ServerThread::start(cfg, make_increment_handler());
            code = second.code() == Errc::kAddrInUse ? 0 : 1;
            auto c = connect(cfg);  // the first server still serves
            if (!c.ok() || !increment(*c, 1, 41).ok()) code = 4;
          }
        }
        std::_Exit(code);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(UvServerThread, StartsOnOneThreadAndStopsFromAnother) {
  TempDir dir;
  auto cfg = base_config(dir, "threads");
  std::unique_ptr<uv::ServerThread> srv;
  std::thread starter([&] { srv = start(cfg); });
  starter.join();
  ASSERT_TRUE(srv);
  expect_served(cfg);
  const std::string path = srv->server().socket_path();
  std::thread stopper([&] { srv->stop(); });
  stopper.join();
  EXPECT_FALSE(exists(path));
  EXPECT_EQ(connect(cfg).code(), Errc::kNotFound);
  srv->stop();  // a second stop is harmless
  srv.reset();
}

TEST(UvServerThread, DestructorStopsARunningServer) {
  TempDir dir;
  auto cfg = base_config(dir, "dtor");
  std::string path;
  {
    auto srv = start(cfg);
    ASSERT_TRUE(srv);
    path = srv->server().socket_path();
    expect_served(cfg);
  }
  EXPECT_FALSE(exists(path));
}

TEST(UvServerThread, UsesTheHostThreadFactoryOnceAndJoinsOnce) {
  TempDir dir;
  auto cfg = base_config(dir, "factory");
  std::atomic<int> starts{0}, joins{0};
  std::string started_name;
  const uv::ThreadFactory base = uv::std_thread_factory();
  uv::ThreadFactory f;
  f.start = [&](const char* name, std::function<void()> body) {
    ++starts;
    started_name = name;
    return base.start(name, std::move(body));
  };
  f.join = [&](void* handle) {
    ++joins;
    base.join(handle);
  };
  std::mutex mu;
  std::string handler_thread_name;
  auto h = [&](ByteSpan req, ResponseWriter& out) {
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    {
      std::lock_guard<std::mutex> lock(mu);
      handler_thread_name = name;
    }
    return make_increment_handler()(req, out);
  };
  auto srv = uv::ServerThread::start(cfg, h, f, "nipc-test-srv");
  ASSERT_TRUE(srv.ok()) << srv.error().message();
  EXPECT_EQ(starts.load(), 1);
  EXPECT_EQ(started_name, "nipc-test-srv");
  expect_served(cfg);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(handler_thread_name, "nipc-test-srv");  // the handler ran on that thread
  }
  EXPECT_EQ(joins.load(), 0);
  (*srv)->stop();
  EXPECT_EQ(joins.load(), 1);
  srv->reset();
  EXPECT_EQ(starts.load(), 1);
  EXPECT_EQ(joins.load(), 1);
}

TEST(UvServerThread, FactoryFailureIsReportedAndFreesTheEndpoint) {
  TempDir dir;
  auto cfg = base_config(dir, "nothread");
  std::atomic<int> joins{0};
  uv::ThreadFactory f;
  f.start = [](const char*, std::function<void()>) -> Result<void*> {
    return make_error(Errc::kNoMemory, "no threads today");
  };
  f.join = [&](void*) { ++joins; };
  auto srv = uv::ServerThread::start(cfg, make_increment_handler(), f);
  EXPECT_EQ(srv.code(), Errc::kNoMemory);
  EXPECT_EQ(joins.load(), 0);
  EXPECT_FALSE(exists(dir.file("nothread.sock")));
  auto again = start(cfg);  // the endpoint is free for a working server
  ASSERT_TRUE(again);
  expect_served(cfg);
}

}  // namespace
}  // namespace netipc
