// Shared helpers of the netipc-cli process tests (cli_*_test.cc): where the
// built CLI is, running it to completion, and the one-line error rule every
// failing command follows. Header-only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "test_support.h"

namespace netipc::cli_test {

inline std::string cli() {
  return test::built_binary("tools/netipc-cli");
}

// Runs netipc-cli with `args` to completion, capturing stdout and stderr.
inline test::RunResult run_cli(const std::vector<std::string>& args,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  std::vector<std::string> argv = {cli()};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run_to_completion(argv, timeout);
}

// One line on stderr: non-empty, newline-terminated, no other newline.
inline void expect_one_line(const std::string& err) {
  ASSERT_FALSE(err.empty());
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(err.back(), '\n') << err;
}

}  // namespace netipc::cli_test
