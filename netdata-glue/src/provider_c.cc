// The provider's C ABI: a CgroupsProvider on its own loop and thread,
// behind plain C types. Nothing throws across the boundary: allocation
// failures become ENOMEM, everything else is a Result mapped to a code.
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "cgroups_provider/provider.h"
#include "netdata_glue/netipc_nd.h"
#include "netipc/bytes.h"
#include "netipc/log.h"
#include "netipc/wire.h"

using netipc::CgroupItem;
using netipc::Errc;
using netipc::cgroups_provider::CgroupsProvider;
using netipc::cgroups_provider::ProviderConfig;

// The CgroupsProvider lives until destroy, so calls racing with a stop
// only see `stopped` turn true (the provider ignores later hand-overs).
struct netipc_nd_provider {
  std::unique_ptr<CgroupsProvider> impl;
  std::atomic<bool> stopped{false};
};

namespace {

int code_of(Errc e) {
  switch (e) {
    case Errc::kOk:
      return NETIPC_ND_OK;
    case Errc::kInvalidArgument:
    case Errc::kPathTooLong:
      return NETIPC_ND_EINVAL;
    case Errc::kUnsafeRunDir:
    case Errc::kPermission:
      return NETIPC_ND_EUNSAFE;
    case Errc::kAddrInUse:
      return NETIPC_ND_EADDRINUSE;
    case Errc::kNoMemory:
      return NETIPC_ND_ENOMEM;
    case Errc::kAborted:
      return NETIPC_ND_ESTOPPED;
    case Errc::kTimeout:
      return NETIPC_ND_ETIMEDOUT;
    default:
      return NETIPC_ND_ESYSTEM;
  }
}

// The host's thread API behind the library's ThreadFactory. The body runs
// through a C trampoline; nothing may unwind into the host's thread code.
void run_body(void* arg) {
  std::unique_ptr<std::function<void()>> body(static_cast<std::function<void()>*>(arg));
  try {
    (*body)();
  } catch (...) {
    NETIPC_LOG(kError, "netipc-glue: a provider thread ended with an exception");
  }
}

netipc::uv::ThreadFactory host_thread_factory(const netipc_nd_thread_ops& ops) {
  netipc::uv::ThreadFactory f;
  f.start = [ops](const char* name, std::function<void()> body) -> netipc::Result<void*> {
    auto* arg = new (std::nothrow) std::function<void()>(std::move(body));
    if (arg == nullptr) return netipc::make_error(Errc::kNoMemory, "start provider thread");
    void* handle = ops.start(ops.user, name, run_body, arg);
    if (handle == nullptr) {
      delete arg;
      return netipc::make_error(Errc::kSystem, "the host could not start a provider thread");
    }
    return handle;
  };
  f.join = [ops](void* handle) { ops.join(ops.user, handle); };
  return f;
}

}  // namespace

extern "C" const char* netipc_nd_strerror(int error) {
  switch (error) {
    case NETIPC_ND_OK:
      return "OK";
    case NETIPC_ND_EINVAL:
      return "EINVAL";
    case NETIPC_ND_ENOMEM:
      return "ENOMEM";
    case NETIPC_ND_EADDRINUSE:
      return "EADDRINUSE";
    case NETIPC_ND_EUNSAFE:
      return "EUNSAFE";
    case NETIPC_ND_ENOTFOUND:
      return "ENOTFOUND";
    case NETIPC_ND_ESTOPPED:
      return "ESTOPPED";
    case NETIPC_ND_ETIMEDOUT:
      return "ETIMEDOUT";
    case NETIPC_ND_ESYSTEM:
      return "ESYSTEM";
    default:
      return "EUNKNOWN";
  }
}

extern "C" int netipc_nd_provider_start(const netipc_nd_provider_options* options,
                                        netipc_nd_provider** out) {
  if (out == nullptr) return NETIPC_ND_EINVAL;
  *out = nullptr;
  if (options == nullptr || options->run_dir == nullptr || options->run_dir[0] == '\0' ||
      options->reserved0 != 0) {
    return NETIPC_ND_EINVAL;
  }
  if (options->threads != nullptr &&
      (options->threads->start == nullptr || options->threads->join == nullptr)) {
    return NETIPC_ND_EINVAL;
  }
  if ((options->allowed_uid_count > 0 && options->allowed_uids == nullptr) ||
      (options->socket_mode != 0 && options->socket_mode != 0600 &&
       options->socket_mode != 0660)) {
    return NETIPC_ND_EINVAL;
  }
  try {
    ProviderConfig cfg;
    cfg.run_dir = options->run_dir;
    if (options->service != nullptr) cfg.service = options->service;
    cfg.auth_token = options->auth_token;
    if (options->allow_shm != 0) {
      cfg.supported_profiles = netipc::wire::kProfileUds | netipc::wire::kProfileShmHybrid;
    }
    cfg.max_sessions = options->max_sessions;
    if (options->threads != nullptr) cfg.threads = host_thread_factory(*options->threads);
    if (options->socket_mode != 0) cfg.listener.socket_mode = options->socket_mode;
    if (options->allowed_uid_count > 0) {
      // An explicit set replaces the listener's default, so the default goes in too.
      cfg.listener.allowed_uids = {::geteuid(), 0};
      cfg.listener.allowed_uids.insert(cfg.listener.allowed_uids.end(), options->allowed_uids,
                                       options->allowed_uids + options->allowed_uid_count);
    }
    if (options->no_heap_trim == 0) {
      // The replaced generation and the handed-over list were just freed:
      // give the pages back instead of keeping tens of MB at 100k cgroups.
      cfg.on_generation = [](const netipc::cgroups_provider::PublishOutcome&) { ::malloc_trim(0); };
    }
    auto started = CgroupsProvider::start(std::move(cfg));
    if (!started.ok()) return code_of(started.code());
    auto* p = new netipc_nd_provider;
    p->impl = std::move(*started);
    *out = p;
    return NETIPC_ND_OK;
  } catch (const std::bad_alloc&) {
    return NETIPC_ND_ENOMEM;
  } catch (...) {
    return NETIPC_ND_ESYSTEM;
  }
}

extern "C" int netipc_nd_provider_publish(netipc_nd_provider* provider,
                                          const netipc_nd_cgroup* items, size_t count,
                                          int systemd_enabled) {
  if (provider == nullptr) return NETIPC_ND_EINVAL;
  if (provider->stopped.load(std::memory_order_acquire)) return NETIPC_ND_ESTOPPED;
  if (count > 0 && items == nullptr) return NETIPC_ND_EINVAL;
  for (size_t i = 0; i < count; ++i) {
    if (items[i].name == nullptr || items[i].reserved0 != 0) return NETIPC_ND_EINVAL;
  }
  try {
    std::vector<CgroupItem> list(count);
    for (size_t i = 0; i < count; ++i) {
      const netipc_nd_cgroup& in = items[i];
      CgroupItem& it = list[i];
      it.name = in.name;
      if (in.path != nullptr) it.path = in.path;
      it.hash = in.hash != 0 ? in.hash : netipc::fnv1a32(it.name);
      it.options = in.options;
      it.enabled = in.enabled != 0 ? 1 : 0;
      it.cgroup_id = in.cgroup_id;
    }
    provider->impl->publish(std::move(list), systemd_enabled != 0 ? 1 : 0);
    return NETIPC_ND_OK;
  } catch (const std::bad_alloc&) {
    return NETIPC_ND_ENOMEM;
  } catch (...) {
    return NETIPC_ND_ESYSTEM;
  }
}

extern "C" int netipc_nd_provider_wait_idle(netipc_nd_provider* provider, int timeout_ms) {
  if (provider == nullptr) return NETIPC_ND_EINVAL;
  if (provider->stopped.load(std::memory_order_acquire)) return NETIPC_ND_ESTOPPED;
  const bool idle =
      provider->impl->wait_idle(std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : 0));
  return idle ? NETIPC_ND_OK : NETIPC_ND_ETIMEDOUT;
}

extern "C" int netipc_nd_provider_get_stats(const netipc_nd_provider* provider,
                                            netipc_nd_provider_stats* stats) {
  if (provider == nullptr || stats == nullptr) return NETIPC_ND_EINVAL;
  *stats = netipc_nd_provider_stats{};
  const auto s = provider->impl->stats();
  stats->generation = s.generation;
  stats->items = s.item_count;
  stats->layout1_bytes = s.layout1_bytes;
  stats->layout2_bytes = s.layout2_bytes;
  stats->generations = s.generations;
  stats->unchanged = s.unchanged;
  stats->superseded = s.superseded;
  stats->failures = s.failures;
  stats->requests_rejected = s.requests_rejected;
  stats->sessions_accepted = provider->impl->server_stats().sessions_accepted;
  stats->last_encode_ms = s.last_encode_ms;
  return NETIPC_ND_OK;
}

extern "C" void netipc_nd_provider_stop(netipc_nd_provider* provider, int deadline_ms) {
  if (provider == nullptr || provider->stopped.exchange(true, std::memory_order_acq_rel)) return;
  provider->impl->stop(static_cast<uint32_t>(deadline_ms > 0 ? deadline_ms : 1000));
}

extern "C" void netipc_nd_provider_destroy(netipc_nd_provider* provider) {
  if (provider == nullptr) return;
  netipc_nd_provider_stop(provider, 1000);
  delete provider;
}
