#include "cgroups_provider/simple_pattern.h"

#include <cctype>

namespace netipc::cgroups_provider {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

SimplePattern::SimplePattern(std::string_view patterns, bool case_sensitive)
    : source_(patterns), case_sensitive_(case_sensitive) {
  size_t i = 0;
  while (i < patterns.size()) {
    while (i < patterns.size() && is_space(patterns[i]))
      ++i;
    size_t start = i;
    while (i < patterns.size() && !is_space(patterns[i]))
      ++i;
    if (i == start) break;
    std::string_view text = patterns.substr(start, i - start);
    Word w;
    if (text.front() == '!') {
      w.negative = true;
      text.remove_prefix(1);
    }
    w.has_star = text.find('*') != std::string_view::npos;
    w.anchored_start = text.empty() || text.front() != '*';
    w.anchored_end = text.empty() || text.back() != '*';
    size_t p = 0;
    while (p <= text.size()) {
      size_t star = text.find('*', p);
      if (star == std::string_view::npos) star = text.size();
      if (star > p) {
        std::string part(text.substr(p, star - p));
        if (!case_sensitive_) {
          for (char& c : part)
            c = lower(c);
        }
        w.parts.push_back(std::move(part));
      }
      p = star + 1;
    }
    words_.push_back(std::move(w));
  }
}

bool SimplePattern::equal(std::string_view a, std::string_view b) const noexcept {
  if (a.size() != b.size()) return false;
  if (case_sensitive_) return a == b;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != b[i]) return false;
  }
  return true;
}

size_t SimplePattern::find(std::string_view hay, std::string_view needle,
                           size_t from) const noexcept {
  if (case_sensitive_) return hay.find(needle, from);
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = from; i + needle.size() <= hay.size(); ++i) {
    if (equal(hay.substr(i, needle.size()), needle)) return i;
  }
  return std::string_view::npos;
}

// A word with stars matches when its first part is a prefix (if anchored),
// its last part a suffix (if anchored), and the parts between occur in order
// without overlap. Taking the leftmost occurrence of each middle part is
// optimal for `*`-only globs, so no backtracking is needed.
bool SimplePattern::word_matches(const Word& w, std::string_view text) const noexcept {
  if (!w.has_star) {
    return w.parts.empty() ? text.empty() : equal(text, w.parts.front());
  }
  size_t first = 0;
  size_t last = w.parts.size();
  size_t begin = 0;
  size_t end = text.size();
  if (w.anchored_start) {
    const std::string& p = w.parts[first++];
    if (p.size() > end || !equal(text.substr(0, p.size()), p)) return false;
    begin = p.size();
  }
  if (w.anchored_end && last > first) {
    const std::string& p = w.parts[--last];
    if (p.size() > end - begin || !equal(text.substr(end - p.size()), p)) return false;
    end -= p.size();
  }
  std::string_view window = text.substr(0, end);
  for (size_t i = first; i < last; ++i) {
    size_t at = find(window, w.parts[i], begin);
    if (at == std::string_view::npos) return false;
    begin = at + w.parts[i].size();
  }
  return true;
}

SimplePattern::Outcome SimplePattern::match(std::string_view text) const noexcept {
  for (const Word& w : words_) {
    if (word_matches(w, text)) return w.negative ? Outcome::kNegative : Outcome::kPositive;
  }
  return Outcome::kNoMatch;
}

}  // namespace netipc::cgroups_provider
