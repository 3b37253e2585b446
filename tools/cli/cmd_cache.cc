// netipc-cli cache: a live view of the ebpf consumer (docs/consumer.md).
//
// Runs the same netipc::ebpf::Consumer ebpf.plugin runs (blocking refresh,
// then the target table rebuilt with PIDs from every cgroup.procs) every
// --every seconds, and prints a status line followed by the targets. A
// failed refresh is shown in the status line and the view keeps going (the
// consumer never gives up); Ctrl-C (or SIGTERM) ends it with exit status 0.
// --once refreshes once, prints, and exits 0 if that refresh succeeded, 1
// otherwise. On a terminal each view replaces the previous one; otherwise
// views are separated by a blank line.
//
// Default interval: 5 s, not ebpf.plugin's 30 s: a person watching wants
// to see changes soon, and one snapshot request every 5 s costs the
// provider nothing it notices.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "commands.h"
#include "ebpf_consumer/consumer.h"
#include "netdata_locate.h"
#include "netipc/log.h"

namespace netipc::cli {

namespace {

struct CacheOptions {
  EndpointOptions ep;
  bool netdata = false;
  double every_s = 5.0;
  bool once = false;
};

// Signal handling: the handler aborts a refresh in progress and wakes the
// wait between refreshes (self-pipe). Both are async-signal-safe.
ebpf::Consumer* g_consumer = nullptr;
int g_wake_fd = -1;
volatile sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
  if (g_consumer != nullptr) g_consumer->abort();
  if (g_wake_fd >= 0) {
    const char b = 1;
    (void)!::write(g_wake_fd, &b, 1);
  }
}

std::string age(int64_t last_ms) {
  if (last_ms == 0) return "never";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs ago", static_cast<double>(static_cast<int64_t>(monotonic_ms()) - last_ms) / 1000.0);
  return buf;
}

void print_view(const ebpf::Consumer& c, const std::string& where, const Status& last, bool tty) {
  const CacheStatus st = c.status();
  const std::shared_ptr<const ebpf::TargetView> view = c.view();
  if (tty) std::fputs("\033[H\033[2J", stdout);  // home, clear screen
  std::printf(
      "%s  state %s  layout %u  generation %llu  items %u  targets %zu  refreshes %llu ok / "
      "%llu failed  last ok %s",
      where.c_str(), client_state_name(st.connection_state), static_cast<unsigned>(c.layout()),
      static_cast<unsigned long long>(st.generation), st.item_count, view->size(),
      static_cast<unsigned long long>(st.refresh_success_count),
      static_cast<unsigned long long>(st.refresh_failure_count), age(st.last_refresh_ts).c_str());
  if (!last.ok()) std::printf("  error: %s", last.error().message().c_str());
  std::printf("\n");

  std::vector<const ebpf::Target*> targets;
  targets.reserve(view->size());
  size_t width = 4;
  for (const auto& t : view->targets()) {
    targets.push_back(t.get());
    width = std::max(width, t->name.size());
  }
  std::sort(targets.begin(), targets.end(),
            [](const ebpf::Target* a, const ebpf::Target* b) { return a->name < b->name; });
  const int w = static_cast<int>(std::min<size_t>(width, 80));
  std::printf("%-*s  %-7s  %6s  %s\n", w, "NAME", "SYSTEMD", "PIDS", "CGROUP_ID");
  for (const ebpf::Target* t : targets) {
    std::printf("%-*s  %-7s  %6zu  %llu\n", w, t->name.c_str(), t->systemd ? "yes" : "no",
                t->pids.size(), static_cast<unsigned long long>(t->cgroup_id));
  }
  std::fflush(stdout);
}

// Waits `ms` or until a signal arrives.
void wait_or_signal(int fd, int64_t ms) {
  const int64_t deadline = static_cast<int64_t>(monotonic_ms()) + ms;
  while (g_stop == 0) {
    const int64_t left = deadline - static_cast<int64_t>(monotonic_ms());
    if (left <= 0) return;
    pollfd p{fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1 << 30)));
    if (rc > 0) return;
    if (rc < 0 && errno != EINTR) return;
  }
}

int run_cache(CacheOptions o) {
  NetdataEndpoint daemon;
  if (const int rc = resolve_endpoint(o.netdata, &o.ep, &daemon); rc != 0) return rc;
  auto token = endpoint_token(o.ep);
  if (!token.ok()) return fail(token.error().what);
  ebpf::ConsumerConfig cfg;
  cfg.run_dir = o.ep.run_dir;
  cfg.service = o.ep.service;
  cfg.auth_token = *token;
  cfg.call_timeout_ms = o.ep.timeout_ms;
  transport_profiles(o.ep.transport, &cfg.supported_profiles, &cfg.preferred_profiles);
  auto consumer = ebpf::Consumer::create(cfg);
  if (!consumer.ok()) return fail("cannot watch " + o.ep.run_dir, consumer.error());
  // Refresh failures are in the status line; the library's warnings about
  // them would only scroll the view.
  set_log_level(LogLevel::kError);
  ebpf::Consumer* c = consumer->get();
  const std::string where = o.ep.run_dir + "/" + o.ep.service + ".sock";
  const bool tty = ::isatty(STDOUT_FILENO) == 1;

  if (o.once) {
    const Status st = c->refresh();
    print_view(*c, where, st, false);
    return st.ok() ? 0 : 1;
  }

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return fail("pipe2 failed");
  g_consumer = c;
  g_wake_fd = pipe_fds[1];
  struct sigaction sa {};
  sa.sa_handler = &on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  bool first = true;
  while (g_stop == 0) {
    const Status st = c->refresh();
    if (g_stop != 0) break;  // an abort is not a result to show
    if (!first && !tty) std::printf("\n");
    first = false;
    print_view(*c, where, st, tty);
    wait_or_signal(pipe_fds[0], static_cast<int64_t>(o.every_s * 1000.0));
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  g_consumer = nullptr;
  g_wake_fd = -1;
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  return 0;
}

}  // namespace

void add_cache_command(CLI::App* app, int* rc) {
  auto o = std::make_shared<CacheOptions>();
  CLI::App* c = app->add_subcommand(
      "cache",
      "Live view of the ebpf consumer: status line and cgroup targets with PID counts, "
      "refreshed every --every seconds until Ctrl-C (or once)");
  c->add_option("--run-dir", o->ep.run_dir, "Directory holding the provider's socket");
  c->add_option("--service", o->ep.service, "Service name, e.g. cgroups-snapshot");
  add_netdata_option(c, &o->netdata);
  c->add_option("--every", o->every_s, "Seconds between refreshes (default 5)")
      ->check(CLI::Range(0.05, 86400.0));
  c->add_flag("--once", o->once, "Refresh once, print, exit (1 if the refresh failed)");
  CLI::Option* token =
      c->add_option("--auth-token", o->ep.auth_token_hex, "Shared secret, 0x-prefixed hex (default 0)")
          ->check(CLI::Validator(auth_token_check, "0xHEX", "auth token"));
  add_invocation_id_option(c, &o->ep, token);
  c->add_option("--transport", o->ep.transport, "uds or shm (default uds)")
      ->check(CLI::IsMember({"uds", "shm"}));
  c->add_option("--timeout-ms", o->ep.timeout_ms, "Per-call timeout in ms (default 5000)")
      ->check(CLI::PositiveNumber);
  c->callback([o, rc] { *rc = run_cache(*o); });
}

}  // namespace netipc::cli
