#include "daemon.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string_view>

#include "cgroups_provider/provider.h"
#include "cgroups_provider/scanner.h"
#include "netipc/log.h"
#include "netipc/wire.h"

namespace netipc::provider_daemon {

using cgroups_provider::CgroupRoot;
using cgroups_provider::CgroupsProvider;
using cgroups_provider::Scanner;
using cgroups_provider::ScannerConfig;
using cgroups_provider::ScanStats;

namespace {

void stderr_sink(LogLevel level, const char* message, void*) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &t);
  std::fprintf(stderr, "%s.%03ldZ netipc-cgroups-provider %s: %s\n", when, ts.tv_nsec / 1000000,
               log_level_name(level), message);
}

double ms_of(const ScanStats& s) {
  return static_cast<double>(s.duration_ns) / 1e6;
}

std::string describe(const CgroupRoot& root, const cgroups_provider::CgroupfsLayout& layout) {
  std::string v = cgroups_provider::cgroup_version_name(layout.version);
  if (layout.hybrid) v += " (hybrid)";
  std::string bases =
      layout.version == cgroups_provider::CgroupVersion::kV2
          ? layout.unified_base
          : layout.cpuacct_base + ", " + layout.blkio_base + ", " + layout.memory_base;
  return root.path + (root.directory_tree ? " (a directory tree)" : "") + ": cgroup " + v +
         ", walking " + bases;
}

int fail(const std::string& message) {
  NETIPC_LOG(kError, "%s", message.c_str());
  return 1;
}

// Everything the loop callbacks reach.
struct Daemon {
  const DaemonOptions* options = nullptr;
  std::unique_ptr<Scanner> scanner;
  std::unique_ptr<CgroupsProvider> provider;
  uv_loop_t loop{};
  uv_timer_t rescan{};
  uv_signal_t sigint{};
  uv_signal_t sigterm{};
  bool stopping = false;
  RateLimiter scan_errors{3, 600000};

  // Runs on the provider's encoder thread (one scan at a time).
  Result<CgroupsProvider::Items> scan() {
    auto r = scanner->scan();
    if (!r.ok()) {
      uint64_t suppressed = 0;
      if (scan_errors.allow(&suppressed)) {
        NETIPC_LOG(kError, "scan failed, still serving the previous snapshot: %s",
                   r.error().message().c_str());
      }
      return make_error(r.code(), "");  // logged here
    }
    const ScanStats& s = r->stats;
    if (r->changed || options->verbose) {
      NETIPC_LOG(kInfo,
                 "scan: %llu cgroups%s, %llu directories (%llu listed), %llu not published over "
                 "--max-cgroups, %llu unreadable, %.1f ms",
                 static_cast<unsigned long long>(s.cgroups_published),
                 r->changed ? " (changed)" : " (unchanged)",
                 static_cast<unsigned long long>(s.dirs_visited),
                 static_cast<unsigned long long>(s.dirs_listed),
                 static_cast<unsigned long long>(s.skipped_by_limit),
                 static_cast<unsigned long long>(s.unreadable), ms_of(s));
    }
    // Unchanged: nothing to hand over (the scanner built nothing).
    if (!r->changed) return CgroupsProvider::Items{};
    return r->items;
  }

  // Returns the exit code (0: published). The scan result goes out of scope
  // here: only the scanner and the publisher keep the items.
  int first_publish(const std::string& root_path) {
    auto first = scanner->scan();
    if (!first.ok())
      return fail("first scan of " + root_path + " failed: " + first.error().message());
    NETIPC_LOG(kInfo, "first scan: %llu cgroups, %llu directories, %.1f ms",
               static_cast<unsigned long long>(first->stats.cgroups_published),
               static_cast<unsigned long long>(first->stats.dirs_visited), ms_of(first->stats));
    if (!provider->publish_now(first->items).ok()) return fail("cannot publish the first snapshot");
    return 0;
  }

  // Rescans every `interval_ms` and stops on SIGINT or SIGTERM.
  void start_rescans_and_signals(uint64_t interval_ms) {
    uv_timer_init(&loop, &rescan);
    rescan.data = this;
    uv_timer_start(
        &rescan,
        [](uv_timer_t* t) {
          auto* self = static_cast<Daemon*>(t->data);
          self->provider->refresh_from([self] { return self->scan(); });
        },
        interval_ms, interval_ms);
    auto on_signal = [](uv_signal_t* h, int signum) {
      static_cast<Daemon*>(h->data)->on_signal(signum);
    };
    uv_signal_init(&loop, &sigint);
    uv_signal_init(&loop, &sigterm);
    sigint.data = this;
    sigterm.data = this;
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
  }

  void on_signal(int signum) {
    if (stopping) return;  // a second signal while stopping changes nothing
    stopping = true;
    NETIPC_LOG(kInfo, "%s: stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    uv_close(reinterpret_cast<uv_handle_t*>(&rescan), nullptr);
    // The handlers stay installed until the end (closing them would restore
    // the default action, and a second signal would kill us mid-stop); unref'd
    // they no longer keep the loop alive.
    uv_unref(reinterpret_cast<uv_handle_t*>(&sigint));
    uv_unref(reinterpret_cast<uv_handle_t*>(&sigterm));
    provider->stop(1000, [] { NETIPC_LOG(kInfo, "stopped: endpoint removed"); });
  }

  // After the loop ended: close the signal handles with the signals blocked
  // and then ignored, so none arriving now can end the process abnormally.
  void close_signals() {
    sigset_t both;
    sigemptyset(&both);
    sigaddset(&both, SIGINT);
    sigaddset(&both, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &both, nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGTERM, SIG_IGN);
    pthread_sigmask(SIG_UNBLOCK, &both, nullptr);
  }
};

ScannerConfig scanner_config(const DaemonOptions& o, const CgroupRoot& root) {
  ScannerConfig sc;
  sc.fs = root.fs;
  sc.max_cgroups = o.max_cgroups;
  sc.warn = [](std::string_view msg) {
    NETIPC_LOG(kWarning, "%.*s", static_cast<int>(msg.size()), msg.data());
  };
  return sc;
}

cgroups_provider::ProviderConfig provider_config(const DaemonOptions& o) {
  cgroups_provider::ProviderConfig pc;
  pc.run_dir = o.run_dir;
  pc.service = o.service;
  pc.auth_token = o.auth_token;
  pc.listener.socket_mode = o.socket_mode;
  if (!o.allow_uids.empty()) {
    // An explicit set replaces the default, so the default goes in too.
    pc.listener.allowed_uids = {::geteuid(), 0};
    pc.listener.allowed_uids.insert(pc.listener.allowed_uids.end(), o.allow_uids.begin(),
                                    o.allow_uids.end());
  }
  // A new generation frees the previous one's buffers and, after a changed
  // scan, the previous item set: tens of MB at 100k cgroups, mostly small
  // strings in the middle of the heap that glibc keeps until trimmed.
  pc.on_generation = [](const cgroups_provider::PublishOutcome&) { ::malloc_trim(0); };
  if (o.transport == "shm") {
    pc.supported_profiles = wire::kProfileUds | wire::kProfileShmHybrid;
    pc.preferred_profiles = wire::kProfileShmHybrid;
  }
  return pc;
}

}  // namespace

void install_log_sink() {
  set_log_sink(stderr_sink, nullptr);
}

int run_daemon(const DaemonOptions& o, const CgroupRoot& root) {
  Daemon d;
  d.options = &o;
  auto scanner = Scanner::create(scanner_config(o, root));
  if (!scanner.ok()) return fail("cannot scan " + root.path + ": " + scanner.error().message());
  d.scanner = std::make_unique<Scanner>(std::move(*scanner));
  NETIPC_LOG(kInfo, "%s", describe(root, d.scanner->layout()).c_str());

  if (int rc = uv_loop_init(&d.loop); rc != 0) {
    return fail(std::string("uv_loop_init: ") + uv_strerror(rc));
  }
  auto provider = CgroupsProvider::create(&d.loop, provider_config(o));
  if (!provider.ok()) {
    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_loop_close(&d.loop);
    return fail("cannot serve " + o.run_dir + "/" + o.service +
                ".sock: " + provider.error().message());
  }
  d.provider = std::move(*provider);

  // The first scan and publish happen before the loop serves anyone.
  int rc = d.first_publish(root.path);
  if (rc != 0) {
    d.provider->stop(0, nullptr);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    d.provider.reset();
    uv_loop_close(&d.loop);
    return rc;
  }

  d.start_rescans_and_signals(static_cast<uint64_t>(o.rescan_seconds * 1000 + 0.5));
  NETIPC_LOG(kInfo, "serving %s (%s), rescanning every %.3g s, at most %zu cgroups",
             d.provider->socket_path().c_str(),
             o.transport == "shm" ? "unix socket + shared memory" : "unix socket", o.rescan_seconds,
             o.max_cgroups);
  std::printf("READY\n");
  std::fflush(stdout);

  uv_run(&d.loop, UV_RUN_DEFAULT);
  d.close_signals();
  d.provider.reset();
  d.scanner.reset();
  rc = uv_loop_close(&d.loop);
  return rc == 0 ? 0 : fail(std::string("event loop did not close cleanly: ") + uv_strerror(rc));
}

}  // namespace netipc::provider_daemon
