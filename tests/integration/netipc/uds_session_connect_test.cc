// ClientSession::connect() over real sockets: every handshake outcome the
// client can meet (no server, each rejection, silence, abort, a server that
// hangs up or lies), and the server side's handshake deadline.
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "base/abort.h"
#include "netipc/session.h"
#include "netipc/uds.h"
#include "netipc/wire.h"
#include "test_support.h"
#include "uds_test_util.h"

namespace netipc {
namespace {

using namespace uds_test;  // NOLINT: test helpers

// ---- client handshake errors over a real socket ----

TEST(UdsSessionConnect, NoServerIsNotFound) {
  test::TempDir dir;
  EXPECT_EQ(ClientSession::connect(dir.path(), "nobody", ClientProposal{}).code(), Errc::kNotFound);
}

TEST(UdsSessionConnect, WrongTokenIsAuthFailedOnBothSides) {
  ServerPolicy pol;
  pol.auth_token = 0xABCDEF;
  BlockingServer srv(pol, echo);
  ClientProposal p;
  p.auth_token = 0xABCDEE;
  EXPECT_EQ(connect_to(srv, p).code(), Errc::kAuthFailed);
  srv.join();
  EXPECT_EQ(srv.handshake_codes(), std::vector<Errc>{Errc::kAuthFailed});
}

TEST(UdsSessionConnect, RightTokenIsAccepted) {
  ServerPolicy pol;
  pol.auth_token = 0xABCDEF;
  BlockingServer srv(pol, echo);
  ClientProposal p;
  p.auth_token = 0xABCDEF;
  auto c = connect_to(srv, p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->agreed().session_id, 1u);
  EXPECT_EQ(c->profile(), wire::kProfileUds);
  EXPECT_FALSE(c->uses_shm());
  call_echo(*c, 1, 8);
}

TEST(UdsSessionConnect, DisjointProfilesAreUnsupported) {
  BlockingServer srv(ServerPolicy{}, echo);
  ClientProposal p;
  p.supported_profiles = wire::kProfileShmHybrid;
  EXPECT_EQ(connect_to(srv, p).code(), Errc::kUnsupported);
}

TEST(UdsSessionConnect, RequestCeilingAboveTheServersIsLimitExceeded) {
  BlockingServer srv(ServerPolicy{}, echo);
  ClientProposal p;
  p.max_request_payload_bytes = 1025;
  EXPECT_EQ(connect_to(srv, p).code(), Errc::kLimitExceeded);
}

TEST(UdsSessionConnect, TinyPacketSizeIsIncompatible) {
  BlockingServer srv(ServerPolicy{}, echo);
  ClientProposal p;
  p.packet_size = 32;
  EXPECT_EQ(connect_to(srv, p).code(), Errc::kIncompatible);
}

TEST(UdsSessionConnect, ServerThatNeverAnswersTimesOut) {
  test::TempDir dir;
  auto l = UdsListener::listen(dir.path(), "mute");
  ASSERT_TRUE(l.ok());
  const auto start = Clock::now();
  auto c = ClientSession::connect(dir.path(), "mute", ClientProposal{}, deadline_in_ms(200));
  EXPECT_EQ(c.code(), Errc::kTimeout);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(195));
}

TEST(UdsSessionConnect, AbortDuringTheHandshakeIsAborted) {
  test::TempDir dir;
  auto l = UdsListener::listen(dir.path(), "mute");
  ASSERT_TRUE(l.ok());
  auto abort = AbortHandle::create();
  ASSERT_TRUE(abort.ok());
  std::thread t([&] { abort->abort(); });
  auto c = ClientSession::connect(dir.path(), "mute", ClientProposal{}, deadline_in_ms(10000),
                                  abort->fd());
  t.join();
  EXPECT_EQ(c.code(), Errc::kAborted);
}

TEST(UdsSessionConnect, ServerClosingWithoutAnAckIsAHandshakeFailure) {
  test::TempDir dir;
  auto l = UdsListener::listen(dir.path(), "closer");
  ASSERT_TRUE(l.ok());
  std::thread t([&] {
    pollfd p{l->fd(), POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return;
    auto fd = l->accept();
    if (!fd.ok()) return;
    pollfd q{fd->get(), POLLIN, 0};
    (void)::poll(&q, 1, 10000);  // read the HELLO's arrival, then hang up
  });
  auto c = ClientSession::connect(dir.path(), "closer", ClientProposal{}, deadline_in_ms(10000));
  t.join();
  // §5.7.2: "connection closed" and BAD_ENVELOPE are treated alike.
  EXPECT_EQ(c.code(), Errc::kBadEnvelope);
}

TEST(UdsSessionConnect, AckSelectingAProfileWeDidNotOfferIsAProtocolError) {
  test::TempDir dir;
  auto l = UdsListener::listen(dir.path(), "liar");
  ASSERT_TRUE(l.ok());
  std::thread t([&] {
    pollfd p{l->fd(), POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return;
    auto fd = l->accept();
    if (!fd.ok()) return;
    pollfd q{fd->get(), POLLIN, 0};
    if (::poll(&q, 1, 10000) != 1) return;
    uint8_t buf[128];
    (void)::recv(fd->get(), buf, sizeof buf, 0);
    wire::HelloAck a;
    a.server_supported_profiles = 0x03;
    a.intersection_profiles = 0x02;
    a.selected_profile = 0x02;
    a.agreed_max_request_payload_bytes = 1024;
    a.agreed_max_request_batch_items = 1;
    a.agreed_max_response_payload_bytes = 1024;
    a.agreed_max_response_batch_items = 1;
    a.agreed_packet_size = 4096;
    a.session_id = 1;
    uint8_t ack[wire::kHelloAckPacketLen];
    wire::encode_hello_ack_packet(a, wire::TransportStatus::kOk, ack);
    (void)::send(fd->get(), ack, sizeof ack, MSG_NOSIGNAL);
    (void)::poll(&q, 1, 10000);  // until the client hangs up
  });
  auto c = ClientSession::connect(dir.path(), "liar", ClientProposal{}, deadline_in_ms(10000));
  EXPECT_EQ(c.code(), Errc::kProtocol);  // and our end is closed, which ends the thread
  t.join();
}

TEST(UdsSessionConnect, ServerHandshakeTimesOutOnASilentClient) {
  test::TempDir dir;
  auto l = UdsListener::listen(dir.path(), "svc");
  ASSERT_TRUE(l.ok());
  auto c = uds_connect(dir.path(), "svc");
  ASSERT_TRUE(c.ok());
  pollfd p{l->fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  auto fd = l->accept();
  ASSERT_TRUE(fd.ok());
  const auto start = Clock::now();
  auto s = server_handshake_blocking(std::move(*fd), ServerPolicy{}, 1, deadline_in_ms(200));
  EXPECT_EQ(s.code(), Errc::kTimeout);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(195));
}

}  // namespace
}  // namespace netipc
