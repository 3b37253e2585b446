// The blocking Level-2 client's connection lifecycle against real sockets and
// a scripted server thread (or a server process, where a kill is the point):
// creation and config defaults, finding a server, sticky states, reconnects,
// the one retry, timeouts and abort (docs/levels.md Part 1).
// Payload growth is in client_growth_test.cc, batches in client_batch_test.cc,
// the allocation check in client_allocation_test.cc, the spec peer in
// client_spec_peer_test.cc.
#include "netipc/client.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "client_test_util.h"
#include "test_support.h"

namespace netipc::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Number of open socket descriptors of this process.
int open_sockets() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    char target[64] = {};
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t len = readlink(link.c_str(), target, sizeof target - 1);
    if (len > 0 && std::strncmp(target, "socket:", 7) == 0) ++n;
  }
  closedir(d);
  return n;
}

TEST_F(ClientTest, CreateTouchesNoSocketAndCallWithoutServerFailsNotFound) {
  const int sockets_before = open_sockets();
  Client c = make(config());
  EXPECT_EQ(open_sockets(), sockets_before);
  EXPECT_EQ(c.state(), ClientState::kDisconnected);
  EXPECT_FALSE(c.ready());
  struct stat st {};
  EXPECT_NE(::stat((dir_.path() + "/" + service_ + ".sock").c_str(), &st), 0);

  const auto t0 = Clock::now();
  auto b = u64_bytes(1);
  auto r = c.call(ByteSpan(b));
  EXPECT_LT(Clock::now() - t0, milliseconds(1000));
  EXPECT_EQ(r.code(), Errc::kNotFound);
  EXPECT_EQ(c.state(), ClientState::kNotFound);
  EXPECT_EQ(open_sockets(), sockets_before);  // the failed attempt left nothing open
  const ClientStatus s = c.status();
  EXPECT_EQ(s.connect_count, 0u);
  EXPECT_EQ(s.error_count, 1u);
  EXPECT_EQ(s.call_count, 0u);
}

TEST_F(ClientTest, CreateRejectsBadConfig) {
  ClientConfig c = config();
  c.service = "bad/name";
  EXPECT_EQ(Client::create(c).code(), Errc::kInvalidArgument);
  c = config();
  c.method = 0;
  EXPECT_EQ(Client::create(c).code(), Errc::kInvalidArgument);
  c = config();
  c.run_dir = "/" + std::string(120, 'd');
  EXPECT_EQ(Client::create(c).code(), Errc::kPathTooLong);
}

TEST_F(ClientTest, ConfigZeroValuesTakeDocumentedDefaults) {
  Client c = make(config());
  const ClientConfig& r = c.config();
  EXPECT_EQ(r.supported_profiles, wire::kProfileUds);
  EXPECT_EQ(r.max_request_payload_bytes, 1024u);
  EXPECT_EQ(r.max_request_batch_items, 1u);
  EXPECT_EQ(r.max_response_payload_bytes, 65536u);
  EXPECT_EQ(r.call_timeout_ms, 30000);
  EXPECT_EQ(r.connect_timeout_ms, 5000);
  EXPECT_EQ(c.status().learned_response_payload_bytes, 65536u);
}

TEST_F(ClientTest, ServerAppearingLaterIsFoundByTheNextCall) {
  Client c = make(config());
  Errc err = Errc::kOk;
  increment(c, 1, &err);
  EXPECT_EQ(err, Errc::kNotFound);
  auto server = serve();
  EXPECT_EQ(increment(c, 41, &err), 42u);
  EXPECT_EQ(err, Errc::kOk);
  const ClientStatus s = c.status();
  EXPECT_EQ(s.state, ClientState::kReady);
  EXPECT_EQ(s.connect_count, 1u);
  EXPECT_EQ(s.reconnect_count, 0u);
  EXPECT_EQ(s.call_count, 1u);
  EXPECT_EQ(s.error_count, 1u);
  EXPECT_EQ(s.selected_profile, wire::kProfileUds);
  EXPECT_EQ(s.agreed_max_request_payload_bytes, 1024u);
  EXPECT_EQ(s.agreed_max_response_payload_bytes, 65536u);
  EXPECT_EQ(s.session_id, 1u);
  EXPECT_GT(s.agreed_packet_size, 32u);
  // Steady state: same session, ids count successful calls.
  EXPECT_EQ(increment(c, 7), 8u);
  EXPECT_EQ(server->connections(), 1);
  auto seen = server->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].header.message_id, 1u);
  EXPECT_EQ(seen[1].header.message_id, 2u);
}

TEST_F(ClientTest, RefreshFollowsTheSpecTable) {
  Client c = make(config());
  EXPECT_TRUE(c.refresh());  // DISCONNECTED -> NOT_FOUND
  EXPECT_EQ(c.state(), ClientState::kNotFound);
  EXPECT_FALSE(c.refresh());  // still NOT_FOUND
  auto server = serve();
  EXPECT_TRUE(c.refresh());
  EXPECT_EQ(c.state(), ClientState::kReady);
  EXPECT_EQ(c.status().connect_count, 1u);
  EXPECT_FALSE(c.refresh());  // READY: nothing to do, no probe
  EXPECT_EQ(server->connections(), 1);
  EXPECT_EQ(c.status().error_count, 0u);  // refresh failures are not call errors
}

TEST_F(ClientTest, WrongTokenIsAuthFailedAndSticky) {
  auto server = serve(basic_policy(1111));
  Client c = make(config(2222));
  Errc err = Errc::kOk;
  increment(c, 1, &err);
  EXPECT_EQ(err, Errc::kAuthFailed);
  EXPECT_EQ(c.state(), ClientState::kAuthFailed);
  for (int i = 0; i < 3; ++i) {
    increment(c, 1, &err);
    EXPECT_EQ(err, Errc::kAuthFailed);
  }
  EXPECT_FALSE(c.refresh());
  // A probe with the right token is accepted after anything queued before
  // it: if the sticky client had connected again, the count would show it.
  Client probe = make(config(1111));
  EXPECT_EQ(increment(probe, 1), 2u);
  EXPECT_EQ(server->connections(), 2);
  EXPECT_EQ(c.status().error_count, 4u);
  EXPECT_EQ(c.status().connect_count, 0u);
  // reset() lifts the sticky state: one more real attempt.
  c.reset();
  EXPECT_EQ(c.state(), ClientState::kDisconnected);
  increment(c, 1, &err);
  EXPECT_EQ(err, Errc::kAuthFailed);
  EXPECT_TRUE(wait_until([&] { return server->connections() == 3; }));
}

TEST_F(ClientTest, DisjointProfilesAreIncompatibleAndSticky) {
  ServerPolicy p = basic_policy();
  p.supported_profiles = wire::kProfileShmHybrid;  // no baseline in common
  auto server = serve(p);
  Client c = make(config());
  Errc err = Errc::kOk;
  increment(c, 1, &err);
  EXPECT_EQ(err, Errc::kIncompatible);
  EXPECT_EQ(c.state(), ClientState::kIncompatible);
  increment(c, 1, &err);
  EXPECT_EQ(err, Errc::kIncompatible);
  EXPECT_FALSE(c.refresh());
  Client probe = make(config());
  increment(probe, 1);
  EXPECT_TRUE(wait_until([&] { return server->connections() >= 2; }));
  EXPECT_EQ(server->connections(), 2);
}

TEST_F(ClientTest, HandshakeLimitExceededIsDisconnectedAndRetried) {
  ServerPolicy p = basic_policy();
  p.max_request_payload_bytes = 512;  // our 1024 proposal is too large
  auto server = serve(p);
  Client c = make(config());
  Errc err = Errc::kOk;
  increment(c, 1, &err);
  EXPECT_EQ(err, Errc::kLimitExceeded);
  EXPECT_EQ(c.state(), ClientState::kDisconnected);
  increment(c, 1, &err);  // not sticky: a new attempt
  EXPECT_EQ(err, Errc::kLimitExceeded);
  EXPECT_TRUE(wait_until([&] { return server->connections() == 2; }));
  EXPECT_EQ(server->handshakes(), 0);
}

// A server process, so that "killed" means SIGKILL.
Child spawn_server_process(const std::string& dir, const std::string& service) {
  return Child::fork_fn([dir, service] {
    TestServer s(dir, service, basic_policy());
    if (!s.ok()) return 2;
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;)
      pause();
  });
}

TEST_F(ClientTest, KilledServerIsReplacedByOneReconnectInsideTheNextCall) {
  Child first = spawn_server_process(dir_.path(), service_);
  ASSERT_TRUE(first.wait_for_line("ready"));
  Client c = make(config());
  EXPECT_EQ(increment(c, 1), 2u);
  first.kill_with(SIGKILL);
  first.wait();
  Child second = spawn_server_process(dir_.path(), service_);
  ASSERT_TRUE(second.wait_for_line("ready"));
  Errc err = Errc::kOk;
  EXPECT_EQ(increment(c, 10, &err), 11u) << errc_name(err);
  const ClientStatus s = c.status();
  EXPECT_EQ(s.connect_count, 1u);
  EXPECT_EQ(s.reconnect_count, 1u);
  EXPECT_EQ(s.call_count, 2u);
  EXPECT_EQ(s.error_count, 0u);
}

TEST_F(ClientTest, KilledServerWithoutReplacementFailsAndIsNotFound) {
  Child server = spawn_server_process(dir_.path(), service_);
  ASSERT_TRUE(server.wait_for_line("ready"));
  Client c = make(config());
  EXPECT_EQ(increment(c, 1), 2u);
  server.kill_with(SIGKILL);
  server.wait();
  Errc err = Errc::kOk;
  increment(c, 1, &err);
  EXPECT_EQ(err, Errc::kPeerGone);  // the original failure, not the reconnect's
  EXPECT_EQ(c.state(), ClientState::kNotFound);
  EXPECT_EQ(c.status().error_count, 1u);
}

TEST_F(ClientTest, ServerThatAlwaysClosesSeesExactlyTwoCopies) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan, const wire::HelloAck&) {
    return Reply::close();
  });
  Client c = make(config());
  Errc err = Errc::kOk;
  increment(c, 5, &err);
  EXPECT_EQ(err, Errc::kPeerGone);
  EXPECT_EQ(c.state(), ClientState::kBroken);
  EXPECT_TRUE(wait_until([&] { return server->requests() >= 2; }));
  auto seen = server->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].header.message_id, 1u);  // the retry reuses the id
  EXPECT_EQ(seen[1].header.message_id, 1u);
  EXPECT_NE(seen[0].connection, seen[1].connection);
  EXPECT_EQ(seen[1].payload, u64_bytes(5));
  EXPECT_EQ(c.status().reconnect_count, 1u);
  EXPECT_EQ(c.status().error_count, 1u);
}

TEST_F(ClientTest, ServerStatusesAreDistinctErrorsAfterOneRetry) {
  const wire::TransportStatus statuses[] = {wire::TransportStatus::kUnsupported,
                                            wire::TransportStatus::kBadEnvelope,
                                            wire::TransportStatus::kInternalError};
  const Errc expected[] = {Errc::kUnsupported, Errc::kBadEnvelope, Errc::kInternalError};
  for (int i = 0; i < 3; ++i) {
    service_ = unique_service("st");
    const wire::TransportStatus st = statuses[i];
    auto server = serve(basic_policy(), [st](const wire::Header&, ByteSpan, const wire::HelloAck&) {
      return Reply::status_then_close(st);
    });
    Client c = make(config());
    Errc err = Errc::kOk;
    increment(c, 1, &err);
    EXPECT_EQ(err, expected[i]);
    EXPECT_EQ(c.state(), ClientState::kBroken);
    EXPECT_EQ(server->requests(), 2);
  }
}

TEST_F(ClientTest, TimeoutFailsInAboutTheDeadlineAndBreaksTheSession) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan, const wire::HelloAck&) {
    return Reply::never();
  });
  Client c = make(config());
  auto b = u64_bytes(1);
  const auto t0 = Clock::now();
  auto r = c.call(ByteSpan(b), 1, 200);
  const auto elapsed = Clock::now() - t0;
  EXPECT_EQ(r.code(), Errc::kTimeout);
  EXPECT_GE(elapsed, milliseconds(200));
  EXPECT_LT(elapsed, milliseconds(2000));
  EXPECT_EQ(c.state(), ClientState::kBroken);
  EXPECT_EQ(server->requests(), 1);  // no retry
  EXPECT_EQ(c.status().error_count, 1u);
}

TEST_F(ClientTest, AbortFromAnotherThreadUnblocksTheCallAndStaysUntilCleared) {
  std::atomic<bool> answer{false};
  auto server =
      serve(basic_policy(), [&](const wire::Header& h, ByteSpan p, const wire::HelloAck&) {
        return answer ? increment_reply(h, p) : Reply::never();
      });
  Client c = make(config());
  std::thread aborter([&] {
    wait_until([&] { return server->requests() >= 1; });
    c.abort();
  });
  auto b = u64_bytes(1);
  const auto t0 = Clock::now();
  auto r = c.call(ByteSpan(b));  // 30 s default timeout: only abort ends it
  aborter.join();
  EXPECT_EQ(r.code(), Errc::kAborted);
  EXPECT_LT(Clock::now() - t0, milliseconds(10000));
  EXPECT_EQ(c.state(), ClientState::kBroken);
  EXPECT_TRUE(c.abort_pending());
  answer = true;
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(c.call(ByteSpan(b)).code(), Errc::kAborted);
  EXPECT_EQ(server->requests(), 1);  // no I/O while aborted
  EXPECT_EQ(server->connections(), 1);
  c.clear_abort();
  EXPECT_EQ(increment(c, 9), 10u);
  EXPECT_EQ(c.status().reconnect_count, 1u);
  EXPECT_EQ(c.status().error_count, 3u);
}

TEST_F(ClientTest, AbortWhileIdleTearsDownTheNextCallsSession) {
  auto server = serve();
  Client c = make(config());
  EXPECT_EQ(increment(c, 1), 2u);
  c.abort();
  Errc err = Errc::kOk;
  increment(c, 1, &err);
  EXPECT_EQ(err, Errc::kAborted);
  EXPECT_EQ(c.state(), ClientState::kBroken);
  // refresh() ignores the flag (docs/levels.md §1.8.3) and reconnects...
  EXPECT_TRUE(c.refresh());
  EXPECT_EQ(c.state(), ClientState::kReady);
  // ...but calls still fail until clear_abort().
  increment(c, 1, &err);
  EXPECT_EQ(err, Errc::kAborted);
  c.clear_abort();
  EXPECT_EQ(increment(c, 2), 3u);
}

TEST_F(ClientTest, ClientMovesWithItsSession) {
  auto server = serve();
  Client a = make(config());
  EXPECT_EQ(increment(a, 1), 2u);
  Client b = std::move(a);
  EXPECT_EQ(increment(b, 2), 3u);
  EXPECT_EQ(server->connections(), 1);
}

}  // namespace
}  // namespace netipc::test
