#include "cgroups_provider/sanitize.h"

#include <gtest/gtest.h>

#include <string>

namespace netipc::cgroups_provider {
namespace {

TEST(Sanitize, LeadingSlashIsDroppedOnceUnlessIdIsRoot) {
  EXPECT_EQ(cgroup_intermediate_id("/system.slice"), "system.slice");
  EXPECT_EQ(cgroup_intermediate_id("//a"), "/a");
  EXPECT_EQ(cgroup_intermediate_id("/"), "/");
  EXPECT_EQ(cgroup_intermediate_id("a/b"), "a/b");
}

TEST(Sanitize, PathCharactersAreKept) {
  EXPECT_EQ(sanitize_chart_text("a/b.c-d:e"), "a/b.c-d:e");
  EXPECT_EQ(sanitize_chart_text("x#(y)[z]~;<>{}"), "x#(y)[z]~;<>{}");
}

TEST(Sanitize, MappedCharactersBecomeUnderscoreDotOrSlash) {
  EXPECT_EQ(sanitize_chart_text("a\"b$c%d&e'f*g+h=i?j@k^l`m|n"), "a_b_c_d_e_f_g_h_i_j_k_l_m_n");
  EXPECT_EQ(sanitize_chart_text("a,b"), "a.b");
  EXPECT_EQ(sanitize_chart_text("a\\x2db"), "a/x2db");
}

TEST(Sanitize, LeadingBlanksAndControlsAreSkipped) {
  EXPECT_EQ(sanitize_chart_text(" \t\x01\x7f"
                                "abc"),
            "abc");
}

TEST(Sanitize, InnerControlsAndSpacesCollapseToOneUnderscore) {
  EXPECT_EQ(sanitize_chart_text("a \t\x02 b"), "a_b");
  EXPECT_EQ(sanitize_chart_text("a\x7f"
                                "b"),
            "a_b");
  EXPECT_EQ(sanitize_chart_text("a b  c"), "a_b_c");
}

TEST(Sanitize, TrailingSpacesAndControlsAreTrimmed) {
  EXPECT_EQ(sanitize_chart_text("abc  \t\n"), "abc");
}

TEST(Sanitize, ValidUtf8IsKept) {
  const std::string s = "caf\xC3\xA9/\xE6\x97\xA5\xE6\x9C\xAC/\xF0\x9F\x90\xB3";  // café/日本/🐳
  EXPECT_EQ(sanitize_chart_text(s), s);
}

TEST(Sanitize, InvalidUtf8BytesAreHexEncoded) {
  EXPECT_EQ(sanitize_chart_text("a\xFF"
                                "b"),
            "a\\xFFb");                                                        // never valid
  EXPECT_EQ(sanitize_chart_text("a\xC3"), "a\\xC3");                           // truncated sequence
  EXPECT_EQ(sanitize_chart_text("\xC0\xAF"), "\\xC0\\xAF");                    // overlong '/'
  EXPECT_EQ(sanitize_chart_text("\xED\xA0\x80"), "\\xED\\xA0\\x80");           // surrogate
  EXPECT_EQ(sanitize_chart_text("\xF4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80");  // > U+10FFFF
  EXPECT_EQ(sanitize_chart_text("\x80"
                                "ok"),
            "\\x80ok");  // stray continuation
}

TEST(Sanitize, LeadingBangBecomesUnderscore) {
  EXPECT_EQ(sanitize_chart_text("!abc"), "_abc");
  EXPECT_EQ(sanitize_chart_text("a!b"), "a!b");
  EXPECT_EQ(sanitize_chart_text("  !x"), "_x");
}

TEST(Sanitize, OnlyUnderscoresBecomesEmpty) {
  EXPECT_EQ(sanitize_chart_text("___"), "");
  EXPECT_EQ(sanitize_chart_text("@ |"), "");
  EXPECT_EQ(sanitize_chart_text("!"), "");
  EXPECT_EQ(sanitize_chart_text(""), "");
  EXPECT_EQ(sanitize_chart_text("_a_"), "_a_");
}

TEST(Sanitize, ChartIdTurnsDotsIntoDashes) {
  EXPECT_EQ(cgroup_chart_id("/system.slice/nginx.service"), "system-slice/nginx-service");
  EXPECT_EQ(cgroup_chart_id("foo.bar"), "foo-bar");
  EXPECT_EQ(cgroup_chart_id("/a,b"), "a-b");  // ',' -> '.' -> '-'
  EXPECT_EQ(cgroup_chart_id("/"), "/");
}

TEST(ServiceName, IsLastComponentWithoutLastExtension) {
  EXPECT_EQ(systemd_service_name("/system.slice/nginx.service"), "nginx");
  EXPECT_EQ(systemd_service_name("/system.slice/foo.bar.service"), "foo.bar");
  EXPECT_EQ(systemd_service_name("/system.slice/getty@tty1.service"), "getty@tty1");
  EXPECT_EQ(systemd_service_name("/system.slice/noext"), "noext");
  EXPECT_EQ(systemd_service_name("plain.service"), "plain");
}

TEST(ServiceName, ChartIdIsSanitizedWithDashes) {
  EXPECT_EQ(cgroup_chart_id(systemd_service_name("/system.slice/foo.bar.service")), "foo-bar");
  EXPECT_EQ(cgroup_chart_id(systemd_service_name("/system.slice/getty@tty1.service")),
            "getty_tty1");
  EXPECT_EQ(cgroup_chart_id(systemd_service_name(
                "/system.slice/systemd-fsck@dev-disk-by\\x2dlabel-boot.service")),
            "systemd-fsck_dev-disk-by/x2dlabel-boot");
}

TEST(ScriptFallbackName, SlashesBecomeUnderscores) {
  EXPECT_EQ(script_fallback_name("system.slice/docker-abc.scope"), "system.slice_docker-abc.scope");
  EXPECT_EQ(cgroup_chart_id(
                script_fallback_name(cgroup_intermediate_id("/system.slice/docker-abc.scope"))),
            "system-slice_docker-abc-scope");
}

TEST(ScriptFallbackName, IsCutTo100Bytes) {
  std::string id(150, 'a');
  EXPECT_EQ(script_fallback_name(id), std::string(100, 'a'));
  EXPECT_EQ(script_fallback_name(std::string(100, 'b')), std::string(100, 'b'));
}

TEST(ScriptFallbackName, CutNeverSplitsUtf8) {
  std::string id(99, 'a');
  id += "\xC3\xA9";  // bytes 99 and 100
  id += "zz";
  EXPECT_EQ(script_fallback_name(id), std::string(99, 'a'));
}

TEST(ScriptFallbackName, SpacesBecomeUnderscores) {
  EXPECT_EQ(script_fallback_name("a b/c"), "a_b_c");
}

}  // namespace
}  // namespace netipc::cgroups_provider
