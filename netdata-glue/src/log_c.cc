// Routes the library's log to a C callback (Netdata's nd_log wrapper).
#include <new>

#include "netdata_glue/netipc_nd.h"
#include "netipc/log.h"

namespace {

struct Route {
  netipc_nd_log_fn fn;
  void* user;
};

void forward(netipc::LogLevel level, const char* message, void* context) {
  const auto* r = static_cast<const Route*>(context);
  r->fn(r->user, static_cast<int>(level), message);
}

}  // namespace

static_assert(static_cast<int>(netipc::LogLevel::kDebug) == NETIPC_ND_LOG_DEBUG, "log levels");
static_assert(static_cast<int>(netipc::LogLevel::kInfo) == NETIPC_ND_LOG_INFO, "log levels");
static_assert(static_cast<int>(netipc::LogLevel::kWarning) == NETIPC_ND_LOG_WARNING, "log levels");
static_assert(static_cast<int>(netipc::LogLevel::kError) == NETIPC_ND_LOG_ERROR, "log levels");

extern "C" void netipc_nd_set_log(netipc_nd_log_fn fn, void* user, int min_level) {
  if (min_level < NETIPC_ND_LOG_DEBUG) min_level = NETIPC_ND_LOG_DEBUG;
  if (min_level > NETIPC_ND_LOG_ERROR) min_level = NETIPC_ND_LOG_ERROR;
  netipc::set_log_level(static_cast<netipc::LogLevel>(min_level));
  if (fn == nullptr) {
    netipc::set_log_sink(nullptr, nullptr);
    return;
  }
  // A thread logging right now may still hold the previous route, so
  // routes are never freed: one small allocation per call, and hosts call
  // this once.
  auto* route = new (std::nothrow) Route{fn, user};
  if (route == nullptr) return;
  netipc::set_log_sink(&forward, route);
}
