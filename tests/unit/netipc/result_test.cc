#include "netipc/result.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <set>
#include <string>

namespace netipc {
namespace {

constexpr int kLastCode = static_cast<int>(Errc::kSystem);

TEST(ErrorMessage, NamesTheOperationTheCodeAndTheSystemError) {
  const Error e = make_error(Errc::kSystem, "open run dir", ENOENT);
  EXPECT_EQ(e.message(), std::string("open run dir: SYSTEM_ERROR (") + std::strerror(ENOENT) + ")");
}

TEST(ErrorMessage, LeavesOutWhatIsNotKnown) {
  EXPECT_EQ(make_error(Errc::kTimeout).message(), "TIMEOUT");
  EXPECT_EQ(make_error(Errc::kPeerGone, "receive").message(), "receive: PEER_GONE");
  Error no_what = make_error(Errc::kPermission, nullptr, EACCES);
  EXPECT_EQ(no_what.message(), std::string("PERMISSION (") + std::strerror(EACCES) + ")");
}

TEST(ErrcName, EveryCodeHasItsOwnUpperCaseName) {
  std::set<std::string> seen;
  for (int i = 0; i <= kLastCode; ++i) {
    const std::string name = errc_name(static_cast<Errc>(i));
    EXPECT_NE(name, "UNKNOWN") << "code " << i;
    EXPECT_TRUE(seen.insert(name).second) << "code " << i << " repeats " << name;
    for (char c : name) {
      EXPECT_TRUE((c >= 'A' && c <= 'Z') || c == '_') << "code " << i << ": " << name;
    }
  }
  EXPECT_STREQ(errc_name(Errc::kOk), "OK");
  EXPECT_STREQ(errc_name(Errc::kAuthFailed), "AUTH_FAILED");
}

TEST(ErrcName, AValueOutsideTheEnumIsUnknown) {
  EXPECT_STREQ(errc_name(static_cast<Errc>(kLastCode + 1)), "UNKNOWN");
}

// The action is the contract every layer (client policy, cache, consumer)
// acts on; a code moving to another category changes retry behaviour.
TEST(ActionOf, EveryCodeFollowsItsCategory) {
  const struct {
    Errc code;
    Action action;
  } cases[] = {
      {Errc::kOk, Action::kNone},
      {Errc::kInvalidArgument, Action::kFixConfig},
      {Errc::kPathTooLong, Action::kFixConfig},
      {Errc::kUnsafeRunDir, Action::kFixConfig},
      {Errc::kPermission, Action::kFixConfig},
      {Errc::kTruncated, Action::kMalformedPeer},
      {Errc::kBadMagic, Action::kMalformedPeer},
      {Errc::kBadVersion, Action::kMalformedPeer},
      {Errc::kBadHeaderLen, Action::kMalformedPeer},
      {Errc::kBadKind, Action::kMalformedPeer},
      {Errc::kBadLayout, Action::kMalformedPeer},
      {Errc::kBadAlignment, Action::kMalformedPeer},
      {Errc::kOutOfBounds, Action::kMalformedPeer},
      {Errc::kMissingNul, Action::kMalformedPeer},
      {Errc::kBadItemCount, Action::kMalformedPeer},
      {Errc::kProtocol, Action::kMalformedPeer},
      {Errc::kBadEnvelope, Action::kMalformedPeer},
      {Errc::kAuthFailed, Action::kGiveUp},
      {Errc::kIncompatible, Action::kGiveUp},
      {Errc::kUnsupported, Action::kGiveUp},
      {Errc::kLimitExceeded, Action::kReconnect},
      {Errc::kPeerGone, Action::kReconnect},
      {Errc::kShmUnavailable, Action::kReconnect},
      {Errc::kTimeout, Action::kReconnect},
      {Errc::kAborted, Action::kReconnect},
      {Errc::kInternalError, Action::kReconnect},
      {Errc::kNotFound, Action::kRetryLater},
      {Errc::kAddrInUse, Action::kRetryLater},
      {Errc::kNotReady, Action::kRetryLater},
      {Errc::kNoSpace, Action::kRetryLater},
      {Errc::kNoMemory, Action::kRetryLater},
      {Errc::kSystem, Action::kRetryLater},
  };
  std::set<Errc> listed;
  for (const auto& c : cases)
    listed.insert(c.code);
  ASSERT_EQ(listed.size(), static_cast<size_t>(kLastCode + 1)) << "a code has no expected action";
  for (const auto& c : cases) {
    EXPECT_EQ(action_of(c.code), c.action) << errc_name(c.code);
    EXPECT_EQ(make_error(c.code).action(), c.action) << errc_name(c.code);
  }
}

TEST(ActionOf, AValueOutsideTheEnumIsTransient) {
  EXPECT_EQ(action_of(static_cast<Errc>(kLastCode + 1)), Action::kRetryLater);
}

}  // namespace
}  // namespace netipc

namespace netipc {
namespace {

TEST(ResultDeathTest, ValueOfAnErrorAssertsInDebugBuilds) {
#ifdef NDEBUG
  GTEST_SKIP() << "assertions are compiled out (NDEBUG); debug, asan and coverage builds run this";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Result<int> r = make_error(Errc::kTimeout, "nothing came");
  EXPECT_DEATH((void)r.value(), "Result::value\\(\\) on an error");
  Result<std::string> s = make_error(Errc::kTimeout, "nothing came");
  EXPECT_DEATH((void)s->size(), "Result::value\\(\\) on an error");
#endif
}

}  // namespace
}  // namespace netipc
