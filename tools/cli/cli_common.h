// Shared pieces of netipc-cli subcommands.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "netipc/result.h"

typedef struct uv_loop_s uv_loop_t;

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace netipc::cli {

// Options every endpoint subcommand takes.
struct EndpointOptions {
  std::string run_dir;
  std::string service;
  std::string auth_token_hex;  // "0x..." or empty
  std::string invocation_id;   // a Netdata invocation id, "env", or empty
  std::string transport = "uds";
  int timeout_ms = 5000;
  // serve: peers also allowed besides this process's euid and root.
  std::vector<unsigned> allow_uids;
  std::string socket_mode = "0600";  // serve: "0600" or "0660" (the group may connect)
};

// The listener's allowed uid set for --allow-uid values: empty stays empty
// (the listener's default: euid and root); otherwise euid, root and them.
std::vector<uid_t> allowed_uid_set(const std::vector<unsigned>& extra);
// "0660" -> 0660, anything else (validated to "0600") -> 0600.
inline mode_t socket_mode_of(const std::string& text) { return text == "0660" ? 0660 : 0600; }

// Parses "0x" + 1..16 hex digits. Empty -> 0.
Result<uint64_t> parse_auth_token(const std::string& text);
// The token to present: derived from --invocation-id the way the Netdata
// daemon derives its own (XXH3-64 of the invocation UUID; "env" reads
// NETDATA_INVOCATION_ID), else --auth-token.
Result<uint64_t> endpoint_token(const EndpointOptions& o);
// Adds --invocation-id (excluding `auth_token_option`) to a subcommand.
void add_invocation_id_option(CLI::App* app, EndpointOptions* o, CLI::Option* auth_token_option);
// "uds" -> UDS only; "shm" -> UDS|SHM_HYBRID preferring SHM.
void transport_profiles(const std::string& transport, uint32_t* supported, uint32_t* preferred);

// Prints "netipc-cli: <context>: <error>" on stderr. Returns exit code 1.
// CLOCK_MONOTONIC in milliseconds.
double monotonic_ms();

int fail(const std::string& context, const Error& error);
int fail(const std::string& message);

// Installs SIGINT/SIGTERM handlers on `loop`, calls ready() (which prints
// READY: signals sent from then on are handled), runs the loop until a
// signal arrives, then calls on_signal (which must close what keeps the
// loop alive) and runs the loop to completion.
void run_until_signal(uv_loop_t* loop, const std::function<void()>& ready,
                      const std::function<void()>& on_signal);

// Adds --allow-uid (repeatable) and --socket-mode to a serve subcommand. Defined with the
// other CLI11 helpers in cmd_increment.cc.
}  // namespace netipc::cli
namespace CLI {
class App;
}
namespace netipc::cli {
void add_allow_uid_option(CLI::App* app, EndpointOptions* o);

// CLI11 validator for --auth-token (bad values are argument errors: exit 2).
std::string auth_token_check(const std::string& text);

}  // namespace netipc::cli
