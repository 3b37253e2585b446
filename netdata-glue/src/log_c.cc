// Routes the library's log to a C callback (Netdata's nd_log wrapper).
#include <memory>
#include <mutex>
#include <vector>

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
  // routes are never freed: they stay in a list that lives as long as the
  // process (hosts install one route, so it holds one or two entries).
  static std::mutex mu;
  static auto* routes = new std::vector<std::unique_ptr<Route>>();
  std::lock_guard<std::mutex> lock(mu);
  try {
    routes->push_back(std::make_unique<Route>(Route{fn, user}));
  } catch (...) {
    return;  // no memory: keep the previous route
  }
  netipc::set_log_sink(&forward, routes->back().get());
}
