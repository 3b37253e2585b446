// netipc-cgroups-provider: the standalone cgroups-snapshot provider. Scans
// the cgroup filesystem the way Netdata's cgroups.plugin does, publishes
// the result on a NetIPC endpoint, rescans on a timer. docs/provider.md.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <string>

#include "daemon.h"
#include "netipc/uds.h"

namespace {

using netipc::provider_daemon::DaemonOptions;

constexpr const char* kProgram = "netipc-cgroups-provider";

// 1-16 hex digits, optionally 0x-prefixed (netipc-cli takes the 0x form).
bool parse_token(const std::string& text, uint64_t* out) {
  std::string_view s = text;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.empty() || s.size() > 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

int bad_argument(const std::string& message) {
  std::fprintf(stderr, "%s: %s (see --help)\n", kProgram, message.c_str());
  return 2;
}

// Declares the command line; --auth-token and --socket-mode land in strings
// that main() converts after parsing.
void add_options(CLI::App* app, DaemonOptions* o, std::string* token, std::string* socket_mode) {
  app->add_option("--cgroup-root", o->cgroup_root,
                  "Where the cgroup filesystem is: /sys/fs/cgroup, or <prefix>/sys/fs/cgroup for "
                  "a host mounted at <prefix>; a plain directory tree of that shape stands in for "
                  "one")
      ->required();
  app->add_option("--run-dir", o->run_dir, "Directory for the endpoint's socket (must exist)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app->add_option("--service", o->service, "Service name ([A-Za-z0-9._-]+)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](const std::string& s) {
            return netipc::validate_service_name(s).ok() ? std::string()
                                                         : std::string("invalid service name");
          },
          "NAME", "service name"));
  app->add_option("--rescan", o->rescan_seconds,
                  "Seconds between rescans (fractions allowed, 0.01 to 86400)")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 86400.0));
  app->add_option("--max-cgroups", o->max_cgroups,
                  "Most cgroups published; more are left out (with a warning) until places free up")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{10000000}));
  app->add_option("--auth-token", *token,
                  "Shared secret clients must present: 1-16 hex digits, 0x prefix optional "
                  "(default 0)")
      ->check(CLI::Validator(
          [](const std::string& s) {
            uint64_t v;
            return parse_token(s, &v) ? std::string()
                                      : std::string("must be 1-16 hex digits (0x prefix optional)");
          },
          "HEX", "auth token"));
  app->add_option("--transport", o->transport,
                  "uds: Unix socket only; shm: also offer shared memory (clients that ask for it "
                  "get it)")
      ->capture_default_str()
      ->check(CLI::IsMember({"uds", "shm"}));
  app->add_option("--allow-uid", o->allow_uids,
                  "Also accept clients running as this uid (repeatable; this process's user "
                  "and root are always accepted)")
      ->check(CLI::Range(0u, 4294967294u));
  app->add_option("--socket-mode", *socket_mode,
                  "0600 (only this user) or 0660 (the socket's group may connect too; their uid "
                  "must still be allowed)")
      ->capture_default_str()
      ->check(CLI::IsMember({"0600", "0660"}));
  app->add_flag("--verbose", o->verbose, "Log every rescan, not only those that changed something");
}

}  // namespace

int main(int argc, char** argv) {
  DaemonOptions o;
  std::string token;
  CLI::App app{
      "netipc-cgroups-provider: serve this machine's cgroups as a NetIPC cgroups-snapshot "
      "endpoint.\nScans the cgroup filesystem like Netdata's cgroups.plugin (v1, v2 and "
      "hybrid hosts are detected),\npublishes it on {run-dir}/{service}.sock, rescans on a "
      "timer. Prints READY on stdout once\nserving; logs to stderr; SIGINT/SIGTERM stop it "
      "cleanly (exit 0, endpoint removed).",
      kProgram};
  app.set_version_flag("--version", std::string(kProgram) + " " NETIPC_VERSION);
  std::string socket_mode = "0600";
  add_options(&app, &o, &token, &socket_mode);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return bad_argument(e.what());
  }
  if (!token.empty() && !parse_token(token, &o.auth_token)) return bad_argument("--auth-token");
  o.socket_mode = socket_mode == "0660" ? 0660 : 0600;

  auto root = netipc::cgroups_provider::resolve_cgroup_root(o.cgroup_root);
  if (!root.ok()) {
    const netipc::Error& e = root.error();
    return bad_argument("--cgroup-root " + o.cgroup_root + ": " + e.what +
                        (e.sys_errno != 0 ? std::string(": ") + std::strerror(e.sys_errno) : ""));
  }

  ::signal(SIGPIPE, SIG_IGN);
  netipc::provider_daemon::install_log_sink();
  return netipc::provider_daemon::run_daemon(o, *root);
}
