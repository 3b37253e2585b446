// Netdata "simple patterns": the pattern language of netdata.conf options
// such as `enable by default cgroups matching`.
//
// A pattern list is a whitespace-separated list of words. A word matches a
// whole string; `*` stands for any run of bytes (also empty) and may appear
// anywhere, any number of times. A word starting with `!` is negative. The
// first word that matches decides: positive -> match, negative -> no match.
// When no word matches, the answer is no match.
//
// Compiled once; matching allocates nothing and is safe to call from many
// threads at once (the object is immutable after construction).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace netipc::cgroups_provider {

class SimplePattern {
 public:
  enum class Outcome : unsigned char {
    kNoMatch,   // no word matched
    kPositive,  // the first matching word is positive
    kNegative,  // the first matching word is negative (`!word`)
  };

  // An empty list: matches nothing.
  SimplePattern() = default;
  // Compiles `patterns`. Never fails: every string is a valid list. With
  // case_sensitive = false, ASCII letters compare without case.
  explicit SimplePattern(std::string_view patterns, bool case_sensitive = true);

  Outcome match(std::string_view text) const noexcept;
  bool matches(std::string_view text) const noexcept { return match(text) == Outcome::kPositive; }

  size_t word_count() const noexcept { return words_.size(); }
  const std::string& source() const noexcept { return source_; }

 private:
  struct Word {
    bool negative = false;
    bool has_star = false;
    bool anchored_start = false;     // does not begin with `*`
    bool anchored_end = false;       // does not end with `*`
    std::vector<std::string> parts;  // the literal runs between stars, non-empty
  };
  bool word_matches(const Word& w, std::string_view text) const noexcept;
  bool equal(std::string_view a, std::string_view b) const noexcept;
  size_t find(std::string_view hay, std::string_view needle, size_t from) const noexcept;

  std::vector<Word> words_;
  std::string source_;
  bool case_sensitive_ = true;
};

}  // namespace netipc::cgroups_provider
