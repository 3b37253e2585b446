// Sessions over shared memory between the project's own peers: the Level-2
// Client against uv::Server (and netipc-cli as real processes).
// Negotiation, the LIMIT_EXCEEDED path with a bigger region on the retry,
// permissions and a planted symlink, 16 concurrent clients, timeout and
// abort. Crashes, full backing stores and attach failures are in
// shm_session_failure_test.cc.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.h"
#include "netipc/session.h"
#include "shm_session_test_util.h"

namespace netipc {
namespace {

using namespace shm_test;  // NOLINT(google-build-using-namespace): test helpers

class ShmSession : public ::testing::Test {
 protected:
  void start(const uv::ServerConfig& config, Handler handler = make_increment_handler()) {
    std::string problem;
    server_ = start_server(config, std::move(handler), &problem);
    ASSERT_NE(server_, nullptr) << problem;
  }
  uv::ServerConfig config(uint32_t profiles) const {
    return server_config(dir_.path(), service_, profiles);
  }
  Client client(uint32_t profiles) const {
    auto c = Client::create(client_config(dir_.path(), service_, profiles));
    EXPECT_TRUE(c.ok());
    return std::move(*c);
  }
  std::string region_path(uint64_t session_id) const {
    return dir_.file(region_name(service_, session_id));
  }
  size_t regions() const { return region_files(dir_.path()).size(); }

  TempDir dir_;
  std::string service_ = test::unique_service("shm");
  std::unique_ptr<uv::ServerThread> server_;
};

// ---- Negotiation ----

struct Offer {
  uint32_t server;
  uint32_t client;
  uint32_t selected;
};

TEST_F(ShmSession, NegotiationPicksShmWhenBothOfferItAndTheSocketOtherwise) {
  const Offer offers[] = {
      {kUds | kHybrid, kUds | kHybrid, kHybrid},
      {kUds | kFutex, kUds | kFutex, kFutex},
      {kUds | kHybrid | kFutex, kUds | kFutex, kFutex},
      {kUds, kUds | kHybrid, kUds},
      {kUds | kHybrid, kUds, kUds},
      {kUds | kFutex, kUds | kHybrid, kUds},
  };
  for (const Offer& o : offers) {
    SCOPED_TRACE(testing::Message() << "server " << o.server << " client " << o.client);
    service_ = test::unique_service("neg");
    start(config(o.server));
    Client c = client(o.client);
    auto v = increment(c, 41);
    ASSERT_TRUE(v.ok()) << v.error().message();
    EXPECT_EQ(*v, 42u);
    const ClientStatus st = c.status();
    EXPECT_EQ(st.selected_profile, o.selected);
    const bool shm = o.selected != kUds;
    // The region exists exactly while an SHM session is open.
    EXPECT_EQ(region_files(dir_.path()),
              shm ? std::vector<std::string>{region_name(service_, st.session_id)}
                  : std::vector<std::string>{});
    EXPECT_EQ(server_->server().stats().shm_sessions, shm ? 1u : 0u);
    c.reset();
    EXPECT_TRUE(test::wait_until([&] { return regions() == 0; }));
    server_.reset();
  }
}

TEST_F(ShmSession, CliCallOverShmReportsShmHybridAndAnswers42) {
  const std::string cli = cli_test::cli();
  test::Child serve = test::Child::spawn({cli, "serve", "increment", "--run-dir", dir_.path(),
                                          "--service", service_, "--transport", "shm"});
  ASSERT_TRUE(serve.valid());
  ASSERT_TRUE(serve.wait_for_line("READY"));
  test::Child call =
      test::Child::spawn({cli, "call", "increment", "--run-dir", dir_.path(), "--service", service_,
                          "--transport", "shm", "--verbose", "--value", "41"});
  ASSERT_TRUE(call.valid());
  EXPECT_EQ(call.wait(), 0);
  const std::string out = call.output();
  EXPECT_NE(out.find("profile SHM_HYBRID"), std::string::npos) << out;
  EXPECT_NE(out.find("\n42\n"), std::string::npos) << out;
  // The server unlinks the region once the caller is gone.
  EXPECT_TRUE(test::wait_until([&] { return regions() == 0; }));
  serve.kill_with(SIGTERM);
  EXPECT_EQ(serve.wait(), 0);
}

// ---- A response over the negotiated capacity ----

// Answers every INCREMENT with `size` bytes (the value + 1, then filler).
Handler sized_handler(size_t size) {
  return [size](ByteSpan req, ResponseWriter& out) -> Status {
    auto v = codec::decode_increment(req);
    if (!v.ok()) return v.error();
    out.bytes().assign(size, 0x5A);
    codec::encode_increment(*v + 1, out.bytes().data());
    return ok_status();
  };
}

TEST_F(ShmSession, OversizedResponseIsLimitExceededThenTheSessionEnds) {
  uv::ServerConfig cfg = config(kUds | kHybrid);
  cfg.max_response_payload_bytes = 1024;
  cfg.response_growth_ceiling = 1u << 20;
  start(cfg, sized_handler(4000));
  ClientProposal p;
  p.supported_profiles = kUds | kHybrid;
  p.preferred_profiles = kHybrid;
  auto s = ClientSession::connect(dir_.path(), service_, p);
  ASSERT_TRUE(s.ok()) << s.error().message();
  ASSERT_TRUE(s->uses_shm());
  ASSERT_EQ(s->agreed().agreed_max_response_payload_bytes, 1024u);
  uint8_t req[8];
  codec::encode_increment(1, req);
  ASSERT_TRUE(s->send_request(kIncrement, 1, ByteSpan(req, 8)).ok());
  auto m = s->receive_response();
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->header.transport_status,
            static_cast<uint16_t>(wire::TransportStatus::kLimitExceeded));
  EXPECT_EQ(m->payload.size, 0u);
  EXPECT_EQ(m->header.message_id, 1u);
  // The server ended the session: region unlinked, socket closed.
  EXPECT_TRUE(test::wait_until([&] { return regions() == 0; }));
  ASSERT_TRUE(s->send_request(kIncrement, 2, ByteSpan(req, 8)).ok());  // lands in the old map
  EXPECT_FALSE(s->receive_response().ok());
  EXPECT_GE(server_->server().response_ceiling(), 4000u);  // learned for the next session
}

TEST_F(ShmSession, ClientRetriesAnOversizedResponseOnABiggerRegionInvisibly) {
  uv::ServerConfig cfg = config(kUds | kHybrid);
  cfg.max_response_payload_bytes = 1024;
  cfg.response_growth_ceiling = 1u << 20;
  start(cfg, sized_handler(4000));
  Client c = client(kUds | kHybrid);
  uint8_t req[8];
  codec::encode_increment(41, req);
  auto r = c.call(ByteSpan(req, 8));
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->payload.size, 4000u);
  EXPECT_EQ(load_u64(r->payload.data), 42u);
  const ClientStatus st = c.status();
  EXPECT_EQ(st.reconnect_count, 1u);  // one LIMIT_EXCEEDED round, then success
  EXPECT_EQ(st.selected_profile, kHybrid);
  EXPECT_EQ(st.session_id, 2u);
  EXPECT_GE(st.agreed_max_response_payload_bytes, 4000u);
  // Session 1's region (1024-byte ceiling) is gone; session 2's is larger.
  EXPECT_TRUE(test::wait_until([&] { return regions() == 1; }));
  struct stat s2;
  ASSERT_EQ(::stat(region_path(2).c_str(), &s2), 0);
  const uint64_t request_area = shm::capacity_for_payload(st.agreed_max_request_payload_bytes);
  EXPECT_EQ(static_cast<uint64_t>(s2.st_size),
            64 + request_area + shm::capacity_for_payload(st.agreed_max_response_payload_bytes));
  EXPECT_GT(static_cast<uint64_t>(s2.st_size), 64 + request_area + shm::capacity_for_payload(1024));
}

// ---- Permissions ----

TEST_F(ShmSession, RegionIsOwnerOnlyAndAPlantedSymlinkIsNeverFollowed) {
  start(config(kUds | kHybrid));  // the startup scan has run: plant after it
  const std::string target = dir_.file("precious");
  { std::ofstream(target) << "keep me"; }
  ASSERT_EQ(::symlink(target.c_str(), region_path(1).c_str()), 0);
  const std::string dangling = dir_.file("would-be-created");
  ASSERT_EQ(::symlink(dangling.c_str(), region_path(2).c_str()), 0);
  for (uint64_t session = 1; session <= 2; ++session) {
    SCOPED_TRACE(session);
    Client c = client(kUds | kHybrid);
    auto v = increment(c, session);
    ASSERT_TRUE(v.ok()) << v.error().message();
    ASSERT_EQ(c.status().session_id, session);
    EXPECT_EQ(c.status().selected_profile, kHybrid);
    struct stat st;
    ASSERT_EQ(::lstat(region_path(session).c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode)) << "the symlink was followed or kept";
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(st.st_uid, ::geteuid());
  }
  std::ifstream in(target);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "keep me");
  struct stat st;
  EXPECT_NE(::lstat(dangling.c_str(), &st), 0) << "created through a dangling symlink";
}

// ---- Many clients ----

TEST_F(ShmSession, SixteenConcurrentClientsEachGetTheirOwnRegionAllUnlinkedAfterwards) {
  constexpr int kClients = 16;
  start(config(kUds | kHybrid));
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "clients disconnect" : "server stops");
    std::atomic<int> connected{0};
    std::atomic<bool> release{false};
    std::vector<uint64_t> sessions(kClients, 0);
    std::vector<int> failures(kClients, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
      threads.emplace_back([&, i] {
        Client c = client(kUds | kHybrid);
        for (uint64_t k = 0; k < 100; ++k) {
          auto v = increment(c, k * kClients + i);
          if (!v.ok() || *v != k * kClients + i + 1) ++failures[i];
        }
        sessions[i] = c.status().selected_profile == kHybrid ? c.status().session_id : 0;
        connected.fetch_add(1);
        while (!release.load())
          std::this_thread::yield();
        if (round == 0) (void)increment(c, 1);  // the session still works
      });
    }
    ASSERT_TRUE(test::wait_until([&] { return connected.load() == kClients; }));
    EXPECT_EQ(regions(), static_cast<size_t>(kClients));
    std::set<uint64_t> distinct(sessions.begin(), sessions.end());
    EXPECT_EQ(distinct.size(), static_cast<size_t>(kClients));
    EXPECT_EQ(distinct.count(0), 0u);
    for (uint64_t id : distinct) {
      struct stat st;
      EXPECT_EQ(::stat(region_path(id).c_str(), &st), 0) << id;
    }
    if (round == 1) {
      server_->stop();  // every session ends: every region goes with it
      EXPECT_EQ(regions(), 0u);
    }
    release.store(true);
    for (auto& t : threads)
      t.join();
    EXPECT_EQ(std::vector<int>(kClients, 0), failures);
    EXPECT_TRUE(test::wait_until([&] { return regions() == 0; }));
  }
}

// ---- Timeout and abort ----

class ShmSessionHeld : public ShmSession {
 protected:
  void SetUp() override { start(config(kUds | kHybrid), gate_.handler()); }
  void TearDown() override {
    gate_.open();  // let the waiter thread finish before the server stops
    server_.reset();
  }
  Gate gate_;
};

TEST_F(ShmSessionHeld, CallTimesOutInAboutTheTimeoutAndBreaksTheSession) {
  Client c = client(kUds | kHybrid);
  ASSERT_TRUE(c.refresh());
  ASSERT_EQ(c.status().selected_profile, kHybrid);
  const auto t0 = Clock::now();
  auto v = increment(c, 1, 200);
  const int64_t took = ms_since(t0);
  EXPECT_EQ(v.code(), Errc::kTimeout);
  EXPECT_GE(took, 195);
  EXPECT_LT(took, 3000);
  EXPECT_EQ(c.state(), ClientState::kBroken);
  EXPECT_EQ(gate_.entered(), 1u);  // sent once: a timeout is not retried
}

TEST_F(ShmSessionHeld, AbortFromAnotherThreadEndsAnShmCallWithAborted) {
  Client c = client(kUds | kHybrid);
  ASSERT_TRUE(c.refresh());
  ASSERT_EQ(c.status().selected_profile, kHybrid);
  std::thread aborter([&] {
    if (gate_.wait_entered(1)) c.abort();
  });
  const auto t0 = Clock::now();
  auto v = increment(c, 1, 20000);
  const int64_t took = ms_since(t0);
  aborter.join();
  EXPECT_EQ(v.code(), Errc::kAborted);
  EXPECT_LT(took, 5000);
  EXPECT_EQ(c.state(), ClientState::kBroken);
  EXPECT_EQ(increment(c, 2).code(), Errc::kAborted);  // sticky until clear_abort()
  gate_.open();
  c.clear_abort();
  auto again = increment(c, 3);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(*again, 4u);
}

}  // namespace
}  // namespace netipc
