// The auth token: Netdata's invocation-id parsing rules and XXH3-64 over
// the 16 raw bytes. The expected tokens were computed once with Netdata's
// own vendored xxHash (0.8.2, src/libnetdata/xxHash/xxhash.h) and agree with
// Debian's libxxhash (0.8.1) that the glue links: XXH3 output is frozen.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>

#include "netdata_glue/netipc_nd.h"

namespace {

uint64_t token_of(const char* text) {
  uint8_t uuid[16];
  EXPECT_EQ(netipc_nd_parse_invocation_id(text, uuid), NETIPC_ND_OK) << text;
  return netipc_nd_token_from_uuid(uuid);
}

TEST(AuthToken, KnownAnswersMatchNetdatasXxh3) {
  EXPECT_EQ(token_of("000102030405060708090a0b0c0d0e0f"), 0x8355e3a6f61770dbull);
  EXPECT_EQ(token_of("4f1c6e2a-9b3d-4710-8e5a-c12f73d406bb"), 0x4135654b0cc3d8f2ull);
  EXPECT_EQ(token_of("00000000000000000000000000000000"), 0xd0a66a65c7528968ull);
}

TEST(AuthToken, ParsedBytesAreInTextOrder) {
  uint8_t uuid[16];
  ASSERT_EQ(netipc_nd_parse_invocation_id("4f1c6e2a-9b3d-4710-8e5a-c12f73d406bb", uuid),
            NETIPC_ND_OK);
  const uint8_t want[16] = {0x4f, 0x1c, 0x6e, 0x2a, 0x9b, 0x3d, 0x47, 0x10,
                            0x8e, 0x5a, 0xc1, 0x2f, 0x73, 0xd4, 0x06, 0xbb};
  EXPECT_EQ(std::memcmp(uuid, want, 16), 0);
}

TEST(AuthToken, EveryAcceptedSpellingOfOneIdGivesOneToken) {
  const uint64_t t = token_of("4f1c6e2a-9b3d-4710-8e5a-c12f73d406bb");
  EXPECT_EQ(token_of("4f1c6e2a9b3d47108e5ac12f73d406bb"), t);      // compact (what Netdata exports)
  EXPECT_EQ(token_of("4F1C6E2A-9B3D-4710-8E5A-C12F73D406BB"), t);  // upper case
  EXPECT_EQ(token_of("4f-1c-6e-2a-9b3d47108e5ac12f73d406bb"), t);  // hyphens anywhere, four
  EXPECT_EQ(token_of("4f1c6e2a9b3d47108e5ac12f73d406bbXYZ"), t);   // tail after 16 bytes ignored
  EXPECT_EQ(token_of("4f1c6e2a-9b3d-4710-8e5a-c12f73d406bb-"), t);  // (as Netdata does)
}

TEST(AuthToken, MalformedIdsAreRejectedAndLeaveTheOutputAlone) {
  const char* bad[] = {
      "",
      "4f1c6e2a9b3d47108e5ac12f73d406b",        // 31 digits
      "4f1c6e2a-9b3d-4710-8e5ac12f73d406bb",    // 3 hyphens
      "4f-1c-6e-2a-9b-3d47108e5ac12f73d406bb",  // 5 hyphens
      "4f1c6e2a--9b3d-4710-8e5a-c12f73d406bb",  // two in a row
      "4f1c6e2a-9b3d-4710-8e5a-c12f73d406bg",   // not hex
      " 4f1c6e2a9b3d47108e5ac12f73d406bb",      // leading space
      "4f1c6e2a-9b3d-471-08e5a-c12f73d406bb",   // hyphen inside a digit pair
  };
  for (const char* text : bad) {
    uint8_t uuid[16];
    std::memset(uuid, 0xAB, sizeof uuid);
    EXPECT_EQ(netipc_nd_parse_invocation_id(text, uuid), NETIPC_ND_EINVAL) << '"' << text << '"';
    for (uint8_t b : uuid)
      EXPECT_EQ(b, 0xAB) << text;
  }
  uint8_t uuid[16];
  EXPECT_EQ(netipc_nd_parse_invocation_id(nullptr, uuid), NETIPC_ND_EINVAL);
  EXPECT_EQ(netipc_nd_parse_invocation_id("000102030405060708090a0b0c0d0e0f", nullptr),
            NETIPC_ND_EINVAL);
}

class AuthTokenEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    save("NETDATA_INVOCATION_ID", &nd_);
    save("INVOCATION_ID", &sd_);
  }
  void TearDown() override {
    restore("NETDATA_INVOCATION_ID", nd_);
    restore("INVOCATION_ID", sd_);
  }
  static void save(const char* name, std::pair<bool, std::string>* out) {
    const char* v = ::getenv(name);
    *out = {v != nullptr, v != nullptr ? v : ""};
    ::unsetenv(name);
  }
  static void restore(const char* name, const std::pair<bool, std::string>& v) {
    if (v.first) {
      ::setenv(name, v.second.c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  std::pair<bool, std::string> nd_, sd_;
};

TEST_F(AuthTokenEnv, NetdatasVariableWinsOverSystemds) {
  ::setenv("NETDATA_INVOCATION_ID", "000102030405060708090a0b0c0d0e0f", 1);
  ::setenv("INVOCATION_ID", "4f1c6e2a9b3d47108e5ac12f73d406bb", 1);
  uint64_t t = 0;
  ASSERT_EQ(netipc_nd_auth_token(&t), NETIPC_ND_OK);
  EXPECT_EQ(t, 0x8355e3a6f61770dbull);
}

TEST_F(AuthTokenEnv, AnUnparsableNetdataIdFallsBackToSystemds) {
  ::setenv("NETDATA_INVOCATION_ID", "not-a-uuid", 1);
  ::setenv("INVOCATION_ID", "4f1c6e2a9b3d47108e5ac12f73d406bb", 1);
  uint64_t t = 0;
  ASSERT_EQ(netipc_nd_auth_token(&t), NETIPC_ND_OK);
  EXPECT_EQ(t, 0x4135654b0cc3d8f2ull);
}

TEST_F(AuthTokenEnv, WithoutAnyIdItIsNotFound) {
  uint64_t t = 42;
  EXPECT_EQ(netipc_nd_auth_token(&t), NETIPC_ND_ENOTFOUND);
  EXPECT_EQ(t, 42u);
  EXPECT_EQ(netipc_nd_auth_token(nullptr), NETIPC_ND_EINVAL);
  EXPECT_STREQ(netipc_nd_strerror(NETIPC_ND_ENOTFOUND), "ENOTFOUND");
}

TEST(GlueErrors, EveryCodeHasItsOwnName) {
  const int codes[] = {NETIPC_ND_OK,         NETIPC_ND_EINVAL,    NETIPC_ND_ENOMEM,
                       NETIPC_ND_EADDRINUSE, NETIPC_ND_EUNSAFE,   NETIPC_ND_ENOTFOUND,
                       NETIPC_ND_ESTOPPED,   NETIPC_ND_ETIMEDOUT, NETIPC_ND_ESYSTEM};
  std::set<std::string> names;
  for (int c : codes) {
    const std::string name = netipc_nd_strerror(c);
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_NE(name, "EUNKNOWN") << c;
  }
  EXPECT_STREQ(netipc_nd_strerror(NETIPC_ND_EINVAL), "EINVAL");
  EXPECT_STREQ(netipc_nd_strerror(-1000), "EUNKNOWN");
  EXPECT_STREQ(netipc_nd_strerror(1), "EUNKNOWN");
}

}  // namespace
