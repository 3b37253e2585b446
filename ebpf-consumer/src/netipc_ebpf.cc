// The C ABI (netipc_ebpf.h) over netipc::ebpf::Consumer. Every entry point
// catches everything: no exception crosses into C.
#include "ebpf_consumer/netipc_ebpf.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "ebpf_consumer/consumer.h"
#include "netipc/log.h"
#include "netipc/wire.h"

struct netipc_ebpf_consumer {
  std::unique_ptr<netipc::ebpf::Consumer> impl;
};

struct netipc_ebpf_view {
  std::shared_ptr<const netipc::ebpf::TargetView> view;
};

namespace {

using netipc::Errc;
using netipc::ebpf::ConsumerRefresh;
using netipc::ebpf::Target;

int code_of(Errc e) {
  switch (e) {
    case Errc::kOk:
      return NETIPC_EBPF_OK;
    case Errc::kInvalidArgument:
    case Errc::kPathTooLong:
    case Errc::kUnsafeRunDir:
    case Errc::kNotReady:
      return NETIPC_EBPF_EINVAL;
    case Errc::kNoMemory:
      return NETIPC_EBPF_ENOMEM;
    case Errc::kNotFound:
      return NETIPC_EBPF_ENOTFOUND;
    case Errc::kTimeout:
      return NETIPC_EBPF_ETIMEDOUT;
    case Errc::kAborted:
      return NETIPC_EBPF_EABORTED;
    case Errc::kAuthFailed:
    case Errc::kPermission:
      return NETIPC_EBPF_EAUTH;
    case Errc::kIncompatible:
      return NETIPC_EBPF_EINCOMPATIBLE;
    case Errc::kLimitExceeded:
      return NETIPC_EBPF_ELIMIT;
    case Errc::kUnsupported:
      return NETIPC_EBPF_EUNSUPPORTED;
    case Errc::kSystem:
    case Errc::kNoSpace:
      return NETIPC_EBPF_ESYSTEM;
    // Bytes from the peer that do not decode.
    case Errc::kTruncated:
    case Errc::kBadMagic:
    case Errc::kBadVersion:
    case Errc::kBadHeaderLen:
    case Errc::kBadKind:
    case Errc::kBadLayout:
    case Errc::kBadAlignment:
    case Errc::kOutOfBounds:
    case Errc::kMissingNul:
    case Errc::kBadItemCount:
      return NETIPC_EBPF_EMALFORMED;
    default:
      return NETIPC_EBPF_EPEER;
  }
}

int code_of(const netipc::RefreshOutcome& r) {
  if (r.malformed) return NETIPC_EBPF_EMALFORMED;
  // A server status about our request is the peer's business, not ours.
  if (r.error.code == Errc::kUnsupported) return NETIPC_EBPF_EPEER;
  return code_of(r.error.code);
}

void fill_result(const ConsumerRefresh& r, const netipc::CacheStatus& st,
                 netipc_ebpf_refresh_result* out) {
  std::memset(out, 0, sizeof *out);
  out->error = code_of(r.refresh);
  out->malformed = r.refresh.malformed ? 1 : 0;
  out->table_updated = r.applied ? 1 : 0;
  out->send_cgroup_charts = r.applied && r.apply.send_cgroup_charts ? 1 : 0;
  out->layout = r.refresh.layout;
  out->generation = st.generation;
  out->items = st.item_count;
  out->targets = static_cast<uint32_t>(r.apply.targets);
  out->targets_added = static_cast<uint32_t>(r.apply.targets_added);
  out->targets_removed = static_cast<uint32_t>(r.apply.targets_removed);
  out->pids = r.apply.pids;
  out->call_us = r.refresh.call_ns / 1000;
  out->build_us = r.refresh.build_ns / 1000;
  out->apply_us = r.apply.duration_ns / 1000;
}

void fill_target(const Target& t, netipc_ebpf_target* out) {
  out->name = t.name.c_str();
  out->name_len = t.name.size();
  out->path = t.path.c_str();
  out->hash = t.hash;
  out->options = t.options;
  out->systemd = t.systemd ? 1 : 0;
  out->cgroup_id = t.cgroup_id;
  out->id = t.id;
  out->added_pass = t.added_pass;
  out->pids = t.pids.empty() ? nullptr : t.pids.data();
  out->pid_count = t.pids.size();
}

struct CLogSink {
  netipc_ebpf_log_cb cb;
  void* user;
};

void log_trampoline(netipc::LogLevel level, const char* message, void* context) {
  const auto* s = static_cast<const CLogSink*>(context);
  s->cb(static_cast<int>(level), message, s->user);
}

}  // namespace

extern "C" {

const char* netipc_ebpf_strerror(int error) {
  switch (error) {
    case NETIPC_EBPF_OK:
      return "OK";
    case NETIPC_EBPF_EINVAL:
      return "EINVAL";
    case NETIPC_EBPF_ENOMEM:
      return "ENOMEM";
    case NETIPC_EBPF_ENOTFOUND:
      return "ENOTFOUND";
    case NETIPC_EBPF_ETIMEDOUT:
      return "ETIMEDOUT";
    case NETIPC_EBPF_EABORTED:
      return "EABORTED";
    case NETIPC_EBPF_EAUTH:
      return "EAUTH";
    case NETIPC_EBPF_EINCOMPATIBLE:
      return "EINCOMPATIBLE";
    case NETIPC_EBPF_EMALFORMED:
      return "EMALFORMED";
    case NETIPC_EBPF_EPEER:
      return "EPEER";
    case NETIPC_EBPF_ELIMIT:
      return "ELIMIT";
    case NETIPC_EBPF_EUNSUPPORTED:
      return "EUNSUPPORTED";
    case NETIPC_EBPF_ESYSTEM:
      return "ESYSTEM";
    default:
      return "UNKNOWN";
  }
}

int netipc_ebpf_create(const char* run_dir, const char* service, uint64_t auth_token,
                       const netipc_ebpf_options* options, netipc_ebpf_consumer** out) try {
  if (out == nullptr) return NETIPC_EBPF_EINVAL;
  *out = nullptr;
  if (run_dir == nullptr) return NETIPC_EBPF_EINVAL;
  netipc::ebpf::ConsumerConfig cfg;
  cfg.run_dir = run_dir;
  cfg.service = service != nullptr ? service : "";
  cfg.auth_token = auth_token;
  if (options != nullptr) {
    if (options->reserved0 != 0 || options->call_timeout_ms < 0 ||
        options->connect_timeout_ms < 0) {
      return NETIPC_EBPF_EINVAL;
    }
    cfg.call_timeout_ms = options->call_timeout_ms;
    cfg.connect_timeout_ms = options->connect_timeout_ms;
    cfg.layout = options->layout;
    cfg.max_snapshot_bytes = options->max_snapshot_bytes;
    cfg.no_heap_trim = options->no_heap_trim != 0;
    if (options->allow_shm != 0) {
      cfg.supported_profiles = netipc::wire::kProfileUds | netipc::wire::kProfileShmHybrid;
      cfg.preferred_profiles = netipc::wire::kProfileShmHybrid;
    }
  }
  auto consumer = netipc::ebpf::Consumer::create(std::move(cfg));
  if (!consumer.ok()) return code_of(consumer.code());
  auto* c = new netipc_ebpf_consumer{std::move(*consumer)};
  *out = c;
  return NETIPC_EBPF_OK;
} catch (...) {
  return NETIPC_EBPF_ENOMEM;
}

void netipc_ebpf_destroy(netipc_ebpf_consumer* consumer) {
  delete consumer;  // ~Consumer and everything below it are noexcept
}

int netipc_ebpf_refresh(netipc_ebpf_consumer* consumer, int timeout_ms,
                        netipc_ebpf_refresh_result* result) try {
  if (consumer == nullptr) return NETIPC_EBPF_EINVAL;
  if (consumer->impl->attached()) return NETIPC_EBPF_EINVAL;
  ConsumerRefresh r;
  netipc::Status st = consumer->impl->refresh(timeout_ms, &r);
  if (result != nullptr) fill_result(r, consumer->impl->status(), result);
  return st.ok() ? NETIPC_EBPF_OK : code_of(r.refresh);
} catch (...) {
  return NETIPC_EBPF_ENOMEM;
}

int netipc_ebpf_attach(netipc_ebpf_consumer* consumer, struct uv_loop_s* loop, uint32_t interval_ms,
                       netipc_ebpf_refresh_cb cb, void* user) try {
  if (consumer == nullptr || loop == nullptr || interval_ms > INT32_MAX) return NETIPC_EBPF_EINVAL;
  netipc::ebpf::Consumer* c = consumer->impl.get();
  netipc::ebpf::Consumer::RefreshCallback fn;
  if (cb != nullptr) {
    fn = [c, cb, user](const ConsumerRefresh& r) {
      netipc_ebpf_refresh_result res;
      fill_result(r, c->status(), &res);
      cb(user, &res);
    };
  }
  return code_of(c->attach(loop, static_cast<int>(interval_ms), std::move(fn)).code());
} catch (...) {
  return NETIPC_EBPF_ENOMEM;
}

int netipc_ebpf_detach(netipc_ebpf_consumer* consumer, netipc_ebpf_done_cb done, void* user) try {
  if (consumer == nullptr) return NETIPC_EBPF_EINVAL;
  std::function<void()> fn;
  if (done != nullptr) fn = [done, user] { done(user); };
  return code_of(consumer->impl->detach(std::move(fn)).code());
} catch (...) {
  return NETIPC_EBPF_ENOMEM;
}

void netipc_ebpf_abort(netipc_ebpf_consumer* consumer) {
  if (consumer != nullptr) consumer->impl->abort();
}

void netipc_ebpf_clear_abort(netipc_ebpf_consumer* consumer) {
  if (consumer == nullptr) return;
  try {
    consumer->impl->clear_abort();
  } catch (...) {  // std::mutex::lock cannot fail here in practice
  }
}

int netipc_ebpf_reset_connection(netipc_ebpf_consumer* consumer) try {
  if (consumer == nullptr || consumer->impl->attached()) return NETIPC_EBPF_EINVAL;
  consumer->impl->reset_connection();
  return NETIPC_EBPF_OK;
} catch (...) {
  return NETIPC_EBPF_ESYSTEM;
}

int netipc_ebpf_get_flags(const netipc_ebpf_consumer* consumer, netipc_ebpf_flags* out) try {
  if (consumer == nullptr || out == nullptr) return NETIPC_EBPF_EINVAL;
  // One view: the three flags and the pass always belong together.
  const auto v = consumer->impl->view();
  out->integration_active = v->integration_active() ? 1 : 0;
  out->systemd_enabled = v->systemd_enabled() ? 1 : 0;
  out->send_cgroup_charts = v->send_cgroup_charts() ? 1 : 0;
  out->pass = v->pass();
  return NETIPC_EBPF_OK;
} catch (...) {
  return NETIPC_EBPF_ESYSTEM;
}

int netipc_ebpf_get_status(const netipc_ebpf_consumer* consumer, netipc_ebpf_status* out) try {
  if (consumer == nullptr || out == nullptr) return NETIPC_EBPF_EINVAL;
  const netipc::CacheStatus st = consumer->impl->status();
  const netipc::ClientStatus cs = consumer->impl->client_status();
  std::memset(out, 0, sizeof *out);
  out->connection_state = netipc::client_state_name(st.connection_state);
  out->populated = st.populated ? 1 : 0;
  out->last_error = code_of(st.last_error);
  out->layout = consumer->impl->layout();
  out->items = st.item_count;
  out->generation = st.generation;
  out->refresh_successes = st.refresh_success_count;
  out->refresh_failures = st.refresh_failure_count;
  out->consecutive_failures = st.consecutive_failures;
  out->last_success_ms = st.last_refresh_ts;
  out->connect_count = cs.connect_count;
  out->reconnect_count = cs.reconnect_count;
  out->malformed_responses = consumer->impl->malformed_count();
  return NETIPC_EBPF_OK;
} catch (...) {
  return NETIPC_EBPF_ESYSTEM;
}

netipc_ebpf_view* netipc_ebpf_view_acquire(const netipc_ebpf_consumer* consumer) try {
  if (consumer == nullptr) return nullptr;
  return new netipc_ebpf_view{consumer->impl->view()};
} catch (...) {
  return nullptr;
}

void netipc_ebpf_view_release(netipc_ebpf_view* view) {
  delete view;
}

int netipc_ebpf_view_get_info(const netipc_ebpf_view* view, netipc_ebpf_view_info* out) {
  if (view == nullptr || out == nullptr) return NETIPC_EBPF_EINVAL;
  const netipc::ebpf::TargetView& v = *view->view;
  out->pass = v.pass();
  out->generation = v.snapshot_generation();
  out->integration_active = v.integration_active() ? 1 : 0;
  out->systemd_enabled = v.systemd_enabled() ? 1 : 0;
  out->send_cgroup_charts = v.send_cgroup_charts() ? 1 : 0;
  out->target_count = v.size();
  out->removed_count = v.removed().size();
  return NETIPC_EBPF_OK;
}

int netipc_ebpf_view_target(const netipc_ebpf_view* view, size_t i, netipc_ebpf_target* out) {
  if (view == nullptr || out == nullptr || i >= view->view->size()) return NETIPC_EBPF_EINVAL;
  fill_target((*view->view)[i], out);
  return NETIPC_EBPF_OK;
}

int netipc_ebpf_view_removed(const netipc_ebpf_view* view, size_t i, netipc_ebpf_target* out) {
  if (view == nullptr || out == nullptr || i >= view->view->removed().size()) {
    return NETIPC_EBPF_EINVAL;
  }
  fill_target(*view->view->removed()[i], out);
  return NETIPC_EBPF_OK;
}

int netipc_ebpf_view_find(const netipc_ebpf_view* view, uint32_t hash, const char* name,
                          size_t name_len, netipc_ebpf_target* out) {
  if (view == nullptr || name == nullptr || out == nullptr) return NETIPC_EBPF_EINVAL;
  if (name_len == static_cast<size_t>(-1)) name_len = std::strlen(name);
  const Target* t = view->view->find(hash, std::string_view(name, name_len));
  if (t == nullptr) return NETIPC_EBPF_ENOTFOUND;
  fill_target(*t, out);
  return NETIPC_EBPF_OK;
}

int netipc_ebpf_target_has_pid(const netipc_ebpf_target* target, pid_t pid) {
  if (target == nullptr || target->pids == nullptr) return 0;
  return std::binary_search(target->pids, target->pids + target->pid_count, pid) ? 1 : 0;
}

void netipc_ebpf_set_log_sink(netipc_ebpf_log_cb sink, void* user) {
  if (sink == nullptr) {
    netipc::set_log_sink(nullptr, nullptr);
    return;
  }
  // Leaked on purpose: a log line in flight on another thread may still
  // read the previous sink. One small block per call; hosts call it once.
  auto* s = new (std::nothrow) CLogSink{sink, user};
  if (s != nullptr) netipc::set_log_sink(&log_trampoline, s);
}

}  // extern "C"
