// The blocking Level-2 client against real sockets and a scripted server
// thread (or a server process, where a kill is the point): the
// shared/spec/netipc-levels.md Part-1 tests that need no shared memory.
#include "netipc/client.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "client_test_server.h"
#include "spec_peer.h"
#include "test_support.h"

// Counts allocations made by the test's own thread while enabled (the
// server thread allocates freely).
namespace {
thread_local bool g_count_allocs = false;
thread_local size_t g_allocs = 0;
}  // namespace

void* operator new(size_t n) {
  if (g_count_allocs) ++g_allocs;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}

namespace netipc::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kInc = static_cast<uint16_t>(wire::Method::kIncrement);

std::vector<uint8_t> u64_bytes(uint64_t v) {
  std::vector<uint8_t> b(8);
  store_u64(b.data(), v);
  return b;
}

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

class ClientTest : public ::testing::Test {
 protected:
  ClientConfig config(uint64_t token = 0) const {
    ClientConfig c;
    c.run_dir = dir_.path();
    c.service = service_;
    c.method = kInc;
    c.auth_token = token;
    return c;
  }
  Client make(const ClientConfig& c) {
    auto r = Client::create(c);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return std::move(*r);
  }
  std::unique_ptr<TestServer> serve(ServerPolicy p = basic_policy(),
                                    TestServer::Handler h = nullptr,
                                    TestServer::PolicyHook hook = nullptr) {
    auto s = std::make_unique<TestServer>(dir_.path(), service_, p, std::move(h), std::move(hook));
    EXPECT_TRUE(s->ok()) << s->error();
    return s;
  }
  static uint64_t increment(Client& c, uint64_t v, Errc* err = nullptr) {
    auto b = u64_bytes(v);
    auto r = c.call(ByteSpan(b));
    if (err != nullptr) *err = r.code();
    if (!r.ok() || r->payload.size != 8) return 0;
    return load_u64(r->payload.data);
  }

  TempDir dir_;
  std::string service_ = unique_service("cl");
};

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

TEST_F(ClientTest, ResponseGrowthUntilTheHintIsLargeEnoughIsInvisible) {
  // The server offers the client's own hint as its response ceiling and
  // answers LIMIT_EXCEEDED until that hint reaches 256 KiB.
  constexpr uint32_t kNeed = 262144;
  auto server = serve(
      basic_policy(),
      [](const wire::Header&, ByteSpan, const wire::HelloAck& ack) {
        if (ack.agreed_max_response_payload_bytes < kNeed) {
          return Reply::status_then_close(wire::TransportStatus::kLimitExceeded);
        }
        return Reply::ok(std::vector<uint8_t>(200000, 0x5a));
      },
      [](const wire::Hello& h, ServerPolicy* p) {
        p->max_response_payload_bytes = h.max_response_payload_bytes;
      });
  Client c = make(config());
  auto b = u64_bytes(1);
  auto r = c.call(ByteSpan(b));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->payload.size, 200000u);
  EXPECT_EQ(r->payload.data[199999], 0x5a);
  EXPECT_EQ(server->ack_response_ceilings(), (std::vector<uint32_t>{65536, 131072, 262144}));
  const ClientStatus s = c.status();
  EXPECT_EQ(s.learned_response_payload_bytes, kNeed);
  EXPECT_EQ(s.reconnect_count, 2u);
  EXPECT_EQ(s.error_count, 0u);
  EXPECT_EQ(s.call_count, 1u);
  for (const auto& seen : server->seen())
    EXPECT_EQ(seen.header.message_id, 1u);
  // The learned size lives on: the next session starts with it.
  c.reset();
  EXPECT_TRUE(c.call(ByteSpan(b)).ok());
  EXPECT_EQ(server->ack_response_ceilings().back(), kNeed);
}

// Spec Part-1 test 4: a server whose response ceiling starts at 1024 and
// doubles after each overflow (server learned size, spec §2.2).
struct GrowingServer {
  std::atomic<uint32_t> ceiling{1024};
  uint32_t need = 0;
  TestServer::Handler handler() {
    return [this](const wire::Header&, ByteSpan, const wire::HelloAck& ack) {
      if (need > ack.agreed_max_response_payload_bytes) {
        uint32_t want = 2 * ack.agreed_max_response_payload_bytes;
        if (want > (1u << 20)) want = 1u << 20;
        if (want > ceiling) ceiling = want;
        return Reply::status_then_close(wire::TransportStatus::kLimitExceeded);
      }
      return Reply::ok(std::vector<uint8_t>(need, 1));
    };
  }
  TestServer::PolicyHook hook() {
    return [this](const wire::Hello&, ServerPolicy* p) { p->max_response_payload_bytes = ceiling; };
  }
};

TEST_F(ClientTest, OverflowGrowthSucceedsOnTheSeventhAttempt) {
  GrowingServer g;
  g.need = 40000;
  auto server = serve(basic_policy(), g.handler(), g.hook());
  Client c = make(config());
  auto b = u64_bytes(1);
  auto r = c.call(ByteSpan(b));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->payload.size, 40000u);
  EXPECT_EQ(server->requests(), 7);
  EXPECT_EQ(server->ack_response_ceilings(),
            (std::vector<uint32_t>{1024, 2048, 4096, 8192, 16384, 32768, 65536}));
}

TEST_F(ClientTest, OverflowGrowthGivesUpAfterEightAttempts) {
  GrowingServer g;
  g.need = 150000;
  auto server = serve(basic_policy(), g.handler(), g.hook());
  Client c = make(config());
  auto b = u64_bytes(1);
  auto r = c.call(ByteSpan(b));
  EXPECT_EQ(r.code(), Errc::kLimitExceeded);
  EXPECT_EQ(server->requests(), 8);
  EXPECT_EQ(c.state(), ClientState::kBroken);
  EXPECT_EQ(c.status().error_count, 1u);
}

TEST_F(ClientTest, ServerThatCannotGrowFailsAfterTwoAttempts) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan, const wire::HelloAck&) {
    return Reply::status_then_close(wire::TransportStatus::kLimitExceeded);  // 100 KiB > 64 KiB
  });
  Client c = make(config());
  auto b = u64_bytes(1);
  EXPECT_EQ(c.call(ByteSpan(b)).code(), Errc::kLimitExceeded);
  EXPECT_EQ(server->requests(), 2);
  EXPECT_EQ(c.status().learned_response_payload_bytes, 131072u);
}

TEST_F(ClientTest, LargeRequestGrowsTheProposalAndReconnects) {
  auto server = serve(basic_policy(), [](const wire::Header&, ByteSpan p, const wire::HelloAck&) {
    return Reply::ok(std::vector<uint8_t>(p.data, p.data + p.size));  // echo
  });
  Client c = make(config());
  EXPECT_EQ(increment(c, 1), 1u);  // echo; connects with the default 1024 proposal
  std::vector<uint8_t> big(3000, 7);
  auto r = c.call(ByteSpan(big));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->payload.size, 3000u);
  EXPECT_EQ(server->requests(), 2);  // the oversized request was never sent early
  const ClientStatus s = c.status();
  EXPECT_EQ(s.learned_request_payload_bytes, 4096u);
  EXPECT_EQ(s.agreed_max_request_payload_bytes, 4096u);
  EXPECT_EQ(s.reconnect_count, 1u);
}

TEST_F(ClientTest, RequestOverTheServerMaximumFailsWhenTheReconnectIsRejected) {
  ServerPolicy p = basic_policy();
  p.max_request_payload_bytes = 1024;
  auto server = serve(p);
  Client c = make(config());
  EXPECT_EQ(increment(c, 1), 2u);
  std::vector<uint8_t> big(1025, 1);
  EXPECT_EQ(c.call(ByteSpan(big)).code(), Errc::kLimitExceeded);
  EXPECT_EQ(c.state(), ClientState::kDisconnected);
  EXPECT_EQ(server->requests(), 1);
}

TEST_F(ClientTest, ChunkedRequestAndResponseRoundTrip) {
  ServerPolicy p = basic_policy();
  p.max_request_payload_bytes = 1u << 20;
  p.max_response_payload_bytes = 1u << 20;
  auto server = serve(p, [](const wire::Header&, ByteSpan in, const wire::HelloAck&) {
    std::vector<uint8_t> out(in.data, in.data + in.size);
    for (auto& b : out)
      b = static_cast<uint8_t>(b ^ 0xff);
    return Reply::ok(std::move(out));
  });
  ClientConfig cfg = config();
  cfg.max_request_payload_bytes = 1u << 20;
  cfg.max_response_payload_bytes = 1u << 20;
  Client c = make(cfg);
  std::vector<uint8_t> big(700000);
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<uint8_t>(i * 31);
  auto r = c.call(ByteSpan(big));
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->payload.size, big.size());
  for (size_t i = 0; i < big.size(); i += 4099) {
    ASSERT_EQ(r->payload.data[i], static_cast<uint8_t>(big[i] ^ 0xff)) << i;
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
  // refresh() ignores the flag (spec §1.8.3) and reconnects...
  EXPECT_TRUE(c.refresh());
  EXPECT_EQ(c.state(), ClientState::kReady);
  // ...but calls still fail until clear_abort().
  increment(c, 1, &err);
  EXPECT_EQ(err, Errc::kAborted);
  c.clear_abort();
  EXPECT_EQ(increment(c, 2), 3u);
}

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

TEST_F(ClientTest, SteadyStateCallsDoNotAllocate) {
  auto server = serve();
  ClientConfig cfg = config();
  cfg.max_request_batch_items = 16;
  Client c = make(cfg);
  std::vector<uint8_t> one = u64_bytes(1);
  std::vector<ByteSpan> items(16, ByteSpan(one));
  for (int i = 0; i < 3; ++i) {  // warm up: session, buffers
    ASSERT_TRUE(c.call(ByteSpan(one)).ok());
    ASSERT_TRUE(c.call_batch(items).ok());
  }
  g_allocs = 0;
  g_count_allocs = true;
  int* volatile probe = new int(1);  // proves the counter sees this thread's allocations
  delete probe;
  g_count_allocs = false;
  ASSERT_EQ(g_allocs, 1u);
  g_allocs = 0;
  g_count_allocs = true;
  bool all_ok = true;
  for (int i = 0; i < 100; ++i) {
    all_ok = all_ok && c.call(ByteSpan(one)).ok();
    all_ok = all_ok && c.call_batch(items).ok();
  }
  g_count_allocs = false;
  EXPECT_TRUE(all_ok);
  EXPECT_EQ(g_allocs, 0u);
  EXPECT_EQ(c.status().call_count, 206u);
}

// ---- Against the independent spec peer (tests/support/spec_peer.h) ----

class ClientSpecPeerTest : public ClientTest {
 protected:
  std::unique_ptr<spec_peer::SpecServer> start(spec_peer::ServerConfig sc) {
    std::string problem;
    auto s = spec_peer::SpecServer::start(dir_.path(), service_, std::move(sc), &problem);
    EXPECT_NE(s, nullptr) << problem;
    return s;
  }
};

TEST_F(ClientSpecPeerTest, SpecPeerFindsNoViolationInSingleBatchAndChunkedCalls) {
  spec_peer::ServerConfig sc;
  sc.policy.max_request_payload = 1u << 20;
  sc.policy.max_response_payload = 1u << 20;
  sc.policy.packet_size = 0;  // raw SO_SNDBUF, as upstream advertises
  auto server = start(std::move(sc));
  ClientConfig cfg = config();
  cfg.max_request_batch_items = 64;
  Client inc = make(cfg);
  EXPECT_EQ(increment(inc, 41), 42u);
  std::vector<std::vector<uint8_t>> storage;
  std::vector<ByteSpan> items;
  for (uint64_t i = 0; i < 64; ++i)
    storage.push_back(u64_bytes(i * 3));
  for (const auto& b : storage)
    items.emplace_back(b);
  auto batch = inc.call_batch(items);
  ASSERT_TRUE(batch.ok()) << batch.error().message();
  for (uint32_t i = 0; i < 64; ++i)
    EXPECT_EQ(load_u64(batch->item(i).data), i * 3 + 1u);
  inc.reset();  // one session at a time at the spec server

  // STRING_REVERSE with 300 kB each way: chunked in both directions at the
  // agreed packet size (min of our SO_SNDBUF - 32 and the peer's raw value).
  cfg = config();
  cfg.method = static_cast<uint16_t>(wire::Method::kStringReverse);
  Client rev = make(cfg);
  std::string text(300000, 'a');
  for (size_t i = 0; i < text.size(); ++i)
    text[i] = static_cast<char>('a' + i % 26);
  const spec_peer::Bytes req = spec_peer::reverse_payload(text);
  auto r = rev.call(ByteSpan(req.data(), req.size()));
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::string back;
  EXPECT_EQ(spec_peer::read_reverse(
                spec_peer::Bytes(r->payload.data, r->payload.data + r->payload.size), &back),
            "");
  EXPECT_EQ(back, std::string(text.rbegin(), text.rend()));
  EXPECT_GT(rev.status().learned_request_payload_bytes, 300000u);
  rev.reset();

  const spec_peer::ServerLog log = server->log();
  EXPECT_TRUE(log.violations.empty()) << log.violations.front();
  ASSERT_GE(log.requests.size(), 3u);
  EXPECT_EQ(log.requests[0].header.message_id, 1u);
  EXPECT_EQ(log.requests[1].header.message_id, 2u);
  EXPECT_EQ(log.requests[1].header.item_count, 64u);
  EXPECT_GT(log.request_packets.back(), 1u);  // the reverse request was chunked
}

TEST_F(ClientSpecPeerTest, SpecPeerMisbehavioursMapToDistinctErrors) {
  using spec_peer::Misbehaviour;
  struct Case {
    Misbehaviour m;
    Errc expected;
    size_t requests;
    ClientState state;
  };
  const Case cases[] = {
      {Misbehaviour::kWrongMessageId, Errc::kProtocol, 2, ClientState::kBroken},
      {Misbehaviour::kCloseMidMessage, Errc::kPeerGone, 2, ClientState::kBroken},
      {Misbehaviour::kStallAfterFirstChunk, Errc::kTimeout, 1, ClientState::kBroken},
      {Misbehaviour::kGarbage, Errc::kBadMagic, 2, ClientState::kBroken},
      {Misbehaviour::kCloseBeforeAck, Errc::kBadEnvelope, 0, ClientState::kDisconnected},
  };
  for (const Case& c : cases) {
    service_ = unique_service("mb");
    spec_peer::ServerConfig sc;
    sc.misbehaviour = c.m;
    sc.policy.max_request_payload = 1u << 20;
    sc.policy.max_response_payload = 1u << 20;
    sc.policy.packet_size = 4096;  // the 10 kB response is chunked
    auto server = start(std::move(sc));
    ClientConfig cfg = config();
    cfg.method = static_cast<uint16_t>(wire::Method::kStringReverse);
    cfg.max_request_payload_bytes = 16384;
    Client client = make(cfg);
    const spec_peer::Bytes req = spec_peer::reverse_payload(std::string(10000, 'x'));
    auto r = client.call(ByteSpan(req.data(), req.size()), 1, 300);
    EXPECT_EQ(r.code(), c.expected) << static_cast<int>(c.m) << ": " << errc_name(r.code());
    EXPECT_EQ(client.state(), c.state) << static_cast<int>(c.m);
    const spec_peer::ServerLog log = server->log();
    EXPECT_EQ(log.requests.size(), c.requests) << static_cast<int>(c.m);
    EXPECT_TRUE(log.violations.empty()) << log.violations.front();
  }
}

TEST_F(ClientSpecPeerTest, CappedSpecPeerFailsAnOversizedAnswerAfterTwoAttempts) {
  spec_peer::ServerConfig sc;
  sc.policy.max_response_payload = 65536;  // a typed server's default, never grown
  for (int i = 0; i < 1500; ++i) {  // about 130 kB encoded
    spec_peer::CgroupEntry e;
    e.hash = static_cast<uint32_t>(i);
    e.name = "cgroup-" + std::to_string(i);
    e.path = "/sys/fs/cgroup/" + e.name;
    sc.snapshot.items.push_back(e);
  }
  auto server = start(std::move(sc));
  ClientConfig cfg = config();
  cfg.method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  Client c = make(cfg);
  const spec_peer::Bytes req = spec_peer::snapshot_request();
  EXPECT_EQ(c.call(ByteSpan(req.data(), req.size())).code(), Errc::kLimitExceeded);
  c.reset();
  const auto log = server->log();
  EXPECT_EQ(log.requests.size(), 2u);
  EXPECT_TRUE(log.violations.empty());
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
