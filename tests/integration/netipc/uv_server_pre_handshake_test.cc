// netipc::uv::Server under a pre-handshake flood: 1,300 connections that
// never send HELLO, each re-opened as soon as the server closes it, must not
// lock out a client that does its handshake. Connections before their
// handshake have a budget of their own; when it is full the oldest goes.
#include <poll.h>

#include <gtest/gtest.h>

#include "uv_test_util.h"

namespace netipc {
namespace {

using namespace uv_test;  // NOLINT: test helpers
using UvServerPreHandshake = UvServerTest;

// Holds `count` connections to the server that never say anything, and
// re-opens each one the server closes, on its own thread, until stopped.
class SilentFlood {
 public:
  SilentFlood(const uv::ServerConfig& cfg, int count) : cfg_(cfg), fds_(count) {
    thread_ = std::thread([this] { run(); });
  }
  ~SilentFlood() {
    stop_.store(true);
    thread_.join();
  }
  uint64_t reopened() const { return reopened_.load(); }

 private:
  void run() {
    std::vector<pollfd> pfds(fds_.size());
    while (!stop_.load()) {
      for (size_t i = 0; i < fds_.size(); ++i) {
        if (!fds_[i]) {
          auto fd = uds_connect(cfg_.run_dir, cfg_.service);  // kNotReady: backlog full
          if (fd.ok()) {
            fds_[i] = std::move(*fd);
            reopened_.fetch_add(1);
          }
        }
        pfds[i] = pollfd{fds_[i] ? fds_[i].get() : -1, POLLIN, 0};
      }
      // Waits for the server to close some (not a synchronisation sleep:
      // the flood just keeps going until stopped).
      if (::poll(pfds.data(), pfds.size(), 5) <= 0) continue;
      for (size_t i = 0; i < fds_.size(); ++i) {
        if (pfds[i].fd >= 0 && pfds[i].revents != 0) fds_[i].reset();
      }
    }
  }

  uv::ServerConfig cfg_;
  std::vector<UniqueFd> fds_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> reopened_{0};
};

// A legitimate client: connects (retrying only while the kernel says the
// backlog is full, which is the server telling it to come back at once),
// handshakes and calls.
Result<uint64_t> legitimate_call(const uv::ServerConfig& cfg, uint64_t v) {
  const int64_t deadline = deadline_in_ms(10000);
  for (;;) {
    auto c = ClientSession::connect(cfg.run_dir, cfg.service, {}, deadline);
    if (!c.ok()) {
      if (c.code() == Errc::kNotReady && deadline_in_ms(0) < deadline) {
        std::this_thread::yield();
        continue;
      }
      return c.error();
    }
    return increment(*c, 1, v);
  }
}

TEST_F(UvServerPreHandshake, LegitimateClientIsServedWhile1300SilentConnectionsKeepComingBack) {
  constexpr int kSilent = 1300;
  const std::string no_fds = test::raise_fd_limit(2 * kSilent + 400);
  if (!no_fds.empty()) GTEST_SKIP() << no_fds;
  ASSERT_TRUE(start_server());
  SilentFlood flood(cfg_, kSilent);
  // The flood is at full strength: it has cycled through all its slots
  // (the server closing silent connections to make room).
  ASSERT_TRUE(test::wait_until([&] { return flood.reopened() >= kSilent; },
                               std::chrono::seconds(30)))
      << "reopened " << flood.reopened();
  // Every call succeeds while the flood goes through all its slots once
  // more (at least 20 calls).
  const uint64_t until_reopened = flood.reopened() + kSilent;
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  uint64_t calls = 0;
  while ((calls < 20 || flood.reopened() < until_reopened) && Clock::now() < give_up) {
    auto v = legitimate_call(cfg_, calls);
    ASSERT_TRUE(v.ok()) << "call " << calls << ": " << v.error().message();
    EXPECT_EQ(*v, calls + 1);
    ++calls;
  }
  EXPECT_GE(flood.reopened(), until_reopened) << "the flood stalled";
  const uv::ServerStats st = server().stats();
  EXPECT_GE(st.sessions_accepted, calls);
  EXPECT_GE(st.handshakes_shed, static_cast<uint64_t>(kSilent));
  // What the server holds stays within the budget (128 by default) plus
  // the sessions past their handshake, whatever the flood does.
  EXPECT_LE(st.sessions_active, 128u + 64u);
}

TEST_F(UvServerPreHandshake, OldestSilentConnectionIsShedWhenTheBudgetIsFull) {
  cfg_.max_pending_handshakes = 4;
  ASSERT_TRUE(start_server());
  std::vector<UniqueFd> silent;
  for (int i = 0; i < 4; ++i) {
    auto fd = uds_connect(cfg_.run_dir, cfg_.service);
    ASSERT_TRUE(fd.ok());
    silent.push_back(std::move(*fd));
    ASSERT_TRUE(test::wait_until(
        [&] { return server().stats().sessions_active == static_cast<uint64_t>(i) + 1; }));
  }
  expect_served(cfg_);  // the fifth connection pushes out the first
  EXPECT_TRUE(closed_by_peer(silent[0].get(), 5000));
  EXPECT_EQ(server().stats().handshakes_shed, 1u);
  for (int i = 1; i < 4; ++i) {
    pollfd p{silent[i].get(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0) << "connection " << i << " is younger: still open";
  }
}

}  // namespace
}  // namespace netipc
