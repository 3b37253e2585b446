#include "cgroups_provider/sanitize.h"

#include <cstdint>

namespace netipc::cgroups_provider {
namespace {

constexpr size_t kScriptNameMax = 100;  // cgroup-name.sh cuts names to 100

bool is_blank_or_control(uint8_t c) {
  return c <= 0x20 || c == 0x7F;
}

bool is_cont(uint8_t c) {
  return (c & 0xC0) == 0x80;
}

// Length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or
// 0 when it is not one (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto at = [&](size_t k) -> uint8_t {
    return i + k < s.size() ? static_cast<uint8_t>(s[i + k]) : 0;
  };
  uint8_t c = at(0);
  uint8_t c1 = at(1);
  if (c >= 0xC2 && c <= 0xDF) return is_cont(c1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    uint8_t lo = c == 0xE0 ? 0xA0 : 0x80;
    uint8_t hi = c == 0xED ? 0x9F : 0xBF;
    return (c1 >= lo && c1 <= hi && is_cont(at(2))) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    uint8_t lo = c == 0xF0 ? 0x90 : 0x80;
    uint8_t hi = c == 0xF4 ? 0x8F : 0xBF;
    return (c1 >= lo && c1 <= hi && is_cont(at(2)) && is_cont(at(3))) ? 4 : 0;
  }
  return 0;
}

char map_ascii(char c) {
  switch (c) {
    case '"':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '=':
    case '?':
    case '@':
    case '^':
    case '`':
    case '|':
      return '_';
    case ',':
      return '.';
    case '\\':
      return '/';
    default:
      return c;
  }
}

void append_hex_byte(std::string* out, uint8_t b) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out->push_back('\\');
  out->push_back('x');
  out->push_back(kHex[b >> 4]);
  out->push_back(kHex[b & 0xF]);
}

}  // namespace

std::string sanitize_chart_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size() && is_blank_or_control(static_cast<uint8_t>(text[i])))
    ++i;
  bool pending_space = false;
  while (i < text.size()) {
    uint8_t c = static_cast<uint8_t>(text[i]);
    if (is_blank_or_control(c)) {
      pending_space = true;  // written only if something follows
      ++i;
      continue;
    }
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    if (c < 0x80) {
      out.push_back(map_ascii(static_cast<char>(c)));
      ++i;
      continue;
    }
    size_t n = utf8_sequence_length(text, i);
    if (n == 0) {
      append_hex_byte(&out, c);
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  if (!out.empty() && out.front() == '!') out.front() = '_';
  bool only_underscores = true;
  for (char& c : out) {
    if (c == ' ') c = '_';
    if (c != '_') only_underscores = false;
  }
  if (only_underscores) out.clear();
  return out;
}

std::string cgroup_intermediate_id(std::string_view id) {
  if (id.size() > 1 && id.front() == '/') id.remove_prefix(1);
  return sanitize_chart_text(id);
}

std::string cgroup_chart_id(std::string_view text) {
  std::string out = cgroup_intermediate_id(text);
  for (char& c : out) {
    if (c == '.') c = '-';
  }
  return out;
}

std::string systemd_service_name(std::string_view id) {
  size_t slash = id.rfind('/');
  std::string_view last = slash == std::string_view::npos ? id : id.substr(slash + 1);
  size_t dot = last.rfind('.');
  if (dot != std::string_view::npos) last = last.substr(0, dot);
  return std::string(last);
}

std::string script_fallback_name(std::string_view intermediate_id) {
  size_t n = intermediate_id.size();
  if (n > kScriptNameMax) {
    n = kScriptNameMax;
    // Back off to the start of a UTF-8 sequence so the cut never splits one.
    while (n > 0 && is_cont(static_cast<uint8_t>(intermediate_id[n])))
      --n;
  }
  std::string out(intermediate_id.substr(0, n));
  for (char& c : out) {
    if (c == '/' || c == ' ') c = '_';
  }
  return out;
}

}  // namespace netipc::cgroups_provider
