#include "cgroups_provider/simple_pattern.h"

#include <gtest/gtest.h>

#include "cgroups_provider/scanner.h"

namespace netipc::cgroups_provider {
namespace {

using Outcome = SimplePattern::Outcome;

TEST(SimplePattern, WordWithoutStarMatchesOnlyTheWholeString) {
  SimplePattern p("/system");
  EXPECT_TRUE(p.matches("/system"));
  EXPECT_FALSE(p.matches("/system.slice"));
  EXPECT_FALSE(p.matches("/syste"));
  EXPECT_FALSE(p.matches("x/system"));
  EXPECT_FALSE(p.matches(""));
}

TEST(SimplePattern, TrailingStarIsPrefixMatch) {
  SimplePattern p("/lxc.monitor*");
  EXPECT_TRUE(p.matches("/lxc.monitor"));
  EXPECT_TRUE(p.matches("/lxc.monitor.abc/x"));
  EXPECT_FALSE(p.matches("/lxc.monito"));
  EXPECT_FALSE(p.matches("a/lxc.monitor"));
}

TEST(SimplePattern, LeadingStarIsSuffixMatch) {
  SimplePattern p("*.scope");
  EXPECT_TRUE(p.matches("/a/b.scope"));
  EXPECT_TRUE(p.matches(".scope"));
  EXPECT_FALSE(p.matches("/a/b.scope/c"));
  EXPECT_FALSE(p.matches("/a/b.scopes"));
}

TEST(SimplePattern, StarsOnBothSidesAreSubstringMatch) {
  SimplePattern p("*kubepods*");
  EXPECT_TRUE(p.matches("kubepods"));
  EXPECT_TRUE(p.matches("/kubepods.slice/x"));
  EXPECT_FALSE(p.matches("/kubepod"));
}

TEST(SimplePattern, StarInTheMiddleNeedsBothEnds) {
  SimplePattern p("/system.slice/run-*.scope");
  EXPECT_TRUE(p.matches("/system.slice/run-r1.scope"));
  EXPECT_TRUE(p.matches("/system.slice/run-.scope"));
  EXPECT_FALSE(p.matches("/system.slice/run-r1.service"));
  EXPECT_FALSE(p.matches("/system.slice/xrun-r1.scope"));
}

TEST(SimplePattern, PrefixAndSuffixMustNotOverlap) {
  SimplePattern p("ab*ba");
  EXPECT_TRUE(p.matches("abba"));
  EXPECT_TRUE(p.matches("ab-ba"));
  EXPECT_FALSE(p.matches("aba"));
}

TEST(SimplePattern, SeveralStarsMatchPartsInOrder) {
  SimplePattern p("*/kubepods/*/pod*/*");
  EXPECT_TRUE(p.matches("/kubepods/burstable/pod1234/abcd"));
  EXPECT_TRUE(p.matches("/x/kubepods/besteffort/podZ/c/d"));
  EXPECT_FALSE(p.matches("/kubepods/burstable/pod1234"));  // no component after the pod
  EXPECT_FALSE(p.matches("/kubepods/pod1234/abcd"));       // no class between
  SimplePattern q("*a*b*c*");
  EXPECT_TRUE(q.matches("xaybzc"));
  EXPECT_FALSE(q.matches("cba"));
  SimplePattern r("*a*a");
  EXPECT_TRUE(r.matches("aa"));
  EXPECT_FALSE(r.matches("a"));
}

TEST(SimplePattern, ConsecutiveStarsActAsOne) {
  SimplePattern p("a**b");
  EXPECT_TRUE(p.matches("ab"));
  EXPECT_TRUE(p.matches("a-x-b"));
  EXPECT_FALSE(p.matches("a"));
}

TEST(SimplePattern, LoneStarMatchesEverythingIncludingEmpty) {
  SimplePattern p("*");
  EXPECT_TRUE(p.matches(""));
  EXPECT_TRUE(p.matches("/anything/at/all"));
}

TEST(SimplePattern, NegativeWordRejects) {
  SimplePattern p("!*.slice *");
  EXPECT_EQ(p.match("/system.slice"), Outcome::kNegative);
  EXPECT_FALSE(p.matches("/system.slice"));
  EXPECT_EQ(p.match("/system.slice/a.scope"), Outcome::kPositive);
}

TEST(SimplePattern, FirstMatchingWordWins) {
  SimplePattern deny_first("!/a* /ab*");
  EXPECT_FALSE(deny_first.matches("/abc"));
  SimplePattern allow_first("/ab* !/a*");
  EXPECT_TRUE(allow_first.matches("/abc"));
  EXPECT_FALSE(allow_first.matches("/ax"));
}

TEST(SimplePattern, NoMatchingWordMeansNo) {
  SimplePattern p("/a /b");
  EXPECT_EQ(p.match("/c"), Outcome::kNoMatch);
  EXPECT_FALSE(p.matches("/c"));
  SimplePattern empty("");
  EXPECT_EQ(empty.word_count(), 0u);
  EXPECT_FALSE(empty.matches(""));
  EXPECT_FALSE(SimplePattern().matches("x"));
}

TEST(SimplePattern, AnyWhitespaceSeparatesWords) {
  SimplePattern p("  /a\t/b\n  !/c   * ");
  EXPECT_EQ(p.word_count(), 4u);
  EXPECT_TRUE(p.matches("/b"));
  EXPECT_FALSE(p.matches("/c"));
  EXPECT_TRUE(p.matches("/d"));
}

TEST(SimplePattern, CaseSensitiveByDefaultAndOptionallyNot) {
  SimplePattern sensitive("*Docker*");
  EXPECT_FALSE(sensitive.matches("/docker/x"));
  SimplePattern insensitive("*Docker* !/SYSTEM", false);
  EXPECT_TRUE(insensitive.matches("/docker/x"));
  EXPECT_TRUE(insensitive.matches("/DOCKER"));
  SimplePattern exact("/System", false);
  EXPECT_TRUE(exact.matches("/sYSTEM"));
}

TEST(SimplePattern, NetdataDefaultEnablePatternDecidesTypicalIds) {
  SimplePattern p(kDefaultEnablePattern);
  EXPECT_TRUE(p.matches("/system.slice/docker-0123.scope"));
  EXPECT_TRUE(p.matches("/machine.slice/libpod-abc.scope"));
  EXPECT_TRUE(p.matches("/kubepods/burstable/pod1/c0ffee"));
  EXPECT_TRUE(p.matches("/machine.slice/vm1.service"));
  EXPECT_TRUE(p.matches("/docker/0123"));
  EXPECT_FALSE(p.matches("/"));
  EXPECT_FALSE(p.matches("/init.scope"));
  EXPECT_FALSE(p.matches("/system.slice/run-r3.scope"));
  EXPECT_FALSE(p.matches("/system.slice/nginx.service"));
  EXPECT_FALSE(p.matches("/user.slice/user-1000.slice/session-2.scope"));
  EXPECT_FALSE(p.matches("/kubepods/burstable/pod1"));
  EXPECT_FALSE(p.matches("/docker"));
}

TEST(SimplePattern, NetdataDefaultSearchPatternStopsAtExcludedSubtrees) {
  SimplePattern p(kDefaultSearchPattern);
  EXPECT_TRUE(p.matches("/"));
  EXPECT_TRUE(p.matches("/system.slice"));
  EXPECT_FALSE(p.matches("/init.scope"));
  EXPECT_FALSE(p.matches("/system.slice/foo/init.scope"));
  EXPECT_FALSE(p.matches("/system"));
  EXPECT_FALSE(p.matches("/lxc.payload.c1"));
  EXPECT_FALSE(p.matches("/machine.slice/vm-qemu"));
}

}  // namespace
}  // namespace netipc::cgroups_provider
