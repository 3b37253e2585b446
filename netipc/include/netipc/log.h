// Logging through a sink the host installs (Netdata routes it to its own
// log). The default sink writes one line to stderr. Messages caused by
// peers go through a RateLimiter so a hostile client cannot flood the log.
#pragma once

#include <atomic>
#include <cstdint>

namespace netipc {

enum class LogLevel : uint8_t { kDebug, kInfo, kWarning, kError };
const char* log_level_name(LogLevel level) noexcept;

using LogSink = void (*)(LogLevel level, const char* message, void* context);

// Installs the process-wide sink (nullptr restores stderr). Thread-safe.
void set_log_sink(LogSink sink, void* context) noexcept;
// Messages below this level are dropped (default kInfo). Thread-safe.
void set_log_level(LogLevel min_level) noexcept;

void log_message(LogLevel level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

// Allows `burst` messages per `period_ms`, then counts the suppressed ones
// and reports them with the next allowed message. Thread-safe, lock-free.
class RateLimiter {
 public:
  RateLimiter(uint32_t burst = 10, uint32_t period_ms = 60000) : burst_(burst), period_ms_(period_ms) {}
  // Returns true if the caller may log; *suppressed gets how many messages
  // were dropped since the last allowed one.
  bool allow(uint64_t* suppressed) noexcept;

 private:
  const uint32_t burst_;
  const uint32_t period_ms_;
  std::atomic<uint64_t> window_start_ms_{0};
  std::atomic<uint32_t> in_window_{0};
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace netipc

#define NETIPC_LOG(level, ...) ::netipc::log_message(::netipc::LogLevel::level, __VA_ARGS__)
