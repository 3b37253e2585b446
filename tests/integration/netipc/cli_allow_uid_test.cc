// netipc-cli serve --allow-uid / --socket-mode: a client of another user
// that may reach the socket (0660, its group) is refused at accept unless
// its uid is allowed. Needs root (the client child switches users).
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "cli_test_util.h"
#include "netipc/codec/increment.h"
#include "netipc/services.h"
#include "netipc/session.h"
#include "netipc/wire.h"

namespace netipc {
namespace {

using test::TempDir;

constexpr uid_t kNobody = 65534;

// In a child running as uid `uid` with group 0 (the socket's group): one
// INCREMENT call. Exit 0 when answered 42, 3 when refused.
int call_as(uid_t uid, const std::string& dir) {
  test::Child child = test::Child::fork_fn([&]() -> int {
    if (::setgroups(0, nullptr) != 0 || ::setgid(0) != 0 || ::setuid(uid) != 0) return 10;
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const int64_t deadline = int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec + 5000000000LL;
    auto c = ClientSession::connect(dir, "allow", {}, deadline);
    if (!c.ok()) return 3;
    uint8_t p[8];
    codec::encode_increment(41, p);
    const uint16_t method = static_cast<uint16_t>(wire::Method::kIncrement);
    if (!c->send_request(method, 1, ByteSpan(p, 8), 1, deadline).ok()) return 3;
    auto r = c->receive_response(deadline);
    if (!r.ok()) return 3;
    return codec::decode_increment(r->payload).value() == 42 ? 0 : 4;
  });
  return child.wait();
}

void serve_and_call(const std::vector<std::string>& extra, int expected) {
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0710), 0);  // the group may traverse
  std::vector<std::string> argv = {cli_test::cli(), "serve", "increment", "--run-dir",
                                   dir.path(), "--service", "allow", "--socket-mode", "0660"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  test::Child serve = test::Child::spawn(argv);
  ASSERT_TRUE(serve.valid());
  ASSERT_TRUE(serve.wait_for_line("READY"));
  EXPECT_EQ(call_as(kNobody, dir.path()), expected);
  serve.kill_with(SIGTERM);
  EXPECT_EQ(serve.wait(), 0);
}

TEST(CliAllowUid, AnotherUsersClientIsRefusedByDefault) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
  serve_and_call({}, 3);
}

TEST(CliAllowUid, AnotherUsersClientIsServedWhenItsUidIsAllowed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
  serve_and_call({"--allow-uid", std::to_string(kNobody)}, 0);
}

}  // namespace
}  // namespace netipc
