#include "netipc/log.h"

#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace netipc {

namespace {

void stderr_sink(LogLevel level, const char* message, void*) {
  std::fprintf(stderr, "netipc %s: %s\n", log_level_name(level), message);
}

std::atomic<LogSink> g_sink{nullptr};
std::atomic<void*> g_context{nullptr};
std::atomic<uint8_t> g_min_level{static_cast<uint8_t>(LogLevel::kInfo)};

uint64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace

const char* log_level_name(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "?";
}

void set_log_sink(LogSink sink, void* context) noexcept {
  g_context.store(context, std::memory_order_release);
  g_sink.store(sink, std::memory_order_release);
}

void set_log_level(LogLevel min_level) noexcept {
  g_min_level.store(static_cast<uint8_t>(min_level), std::memory_order_relaxed);
}

void log_message(LogLevel level, const char* fmt, ...) noexcept {
  if (static_cast<uint8_t>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  LogSink sink = g_sink.load(std::memory_order_acquire);
  void* ctx = g_context.load(std::memory_order_acquire);
  (sink != nullptr ? sink : stderr_sink)(level, buf, ctx);
}

bool RateLimiter::allow(uint64_t* suppressed) noexcept {
  const uint64_t now = now_ms();
  uint64_t start = window_start_ms_.load(std::memory_order_relaxed);
  if (now - start >= period_ms_ &&
      window_start_ms_.compare_exchange_strong(start, now, std::memory_order_relaxed)) {
    in_window_.store(0, std::memory_order_relaxed);
  }
  if (in_window_.fetch_add(1, std::memory_order_relaxed) < burst_) {
    *suppressed = dropped_.exchange(0, std::memory_order_relaxed);
    return true;
  }
  dropped_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace netipc
