#include "cli_common.h"

#include <unistd.h>
#include <uv.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <ctime>
#include <cstdlib>

#include "netdata_glue/netipc_nd.h"
#include "netipc/wire.h"

namespace netipc::cli {

std::vector<uid_t> allowed_uid_set(const std::vector<unsigned>& extra) {
  if (extra.empty()) return {};
  std::vector<uid_t> out{::geteuid(), 0};
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

Result<uint64_t> parse_auth_token(const std::string& text) {
  if (text.empty()) return uint64_t{0};
  if (text.size() < 3 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X') ||
      text.size() > 18) {
    return make_error(Errc::kInvalidArgument, "--auth-token must be 0x followed by 1-16 hex digits");
  }
  uint64_t v = 0;
  for (size_t i = 2; i < text.size(); ++i) {
    const char c = text[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return make_error(Errc::kInvalidArgument, "--auth-token must be 0x followed by 1-16 hex digits");
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

Result<uint64_t> endpoint_token(const EndpointOptions& o) {
  if (o.invocation_id.empty()) return parse_auth_token(o.auth_token_hex);
  const char* text = o.invocation_id.c_str();
  if (o.invocation_id == "env") {
    text = std::getenv("NETDATA_INVOCATION_ID");
    if (text == nullptr) {
      return make_error(Errc::kInvalidArgument,
                        "--invocation-id env: NETDATA_INVOCATION_ID is not set");
    }
  }
  uint8_t uuid[16];
  if (netipc_nd_parse_invocation_id(text, uuid) != NETIPC_ND_OK) {
    return make_error(Errc::kInvalidArgument,
                      "--invocation-id must be 32 hex digits, optionally with the 4 hyphens of a UUID");
  }
  return netipc_nd_token_from_uuid(uuid);
}

void add_invocation_id_option(CLI::App* app, EndpointOptions* o, CLI::Option* auth_token_option) {
  app->add_option("--invocation-id", o->invocation_id,
                  "Derive the auth token from a Netdata invocation id (as the daemon does: "
                  "XXH3-64 of the UUID), or 'env' to read NETDATA_INVOCATION_ID")
      ->excludes(auth_token_option)
      ->check(CLI::Validator(
          [](const std::string& text) -> std::string {
            uint8_t uuid[16];
            if (text == "env" || netipc_nd_parse_invocation_id(text.c_str(), uuid) == NETIPC_ND_OK) {
              return std::string();
            }
            return "must be 32 hex digits (optionally with the 4 hyphens of a UUID) or 'env'";
          },
          "ID|env", "invocation id"));
}

void transport_profiles(const std::string& transport, uint32_t* supported, uint32_t* preferred) {
  if (transport == "shm") {
    *supported = wire::kProfileUds | wire::kProfileShmHybrid;
    *preferred = wire::kProfileShmHybrid;
  } else {
    *supported = wire::kProfileUds;
    *preferred = 0;
  }
}

int fail(const std::string& context, const Error& error) {
  std::fprintf(stderr, "netipc-cli: %s: %s\n", context.c_str(), error.message().c_str());
  return 1;
}

double monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "netipc-cli: %s\n", message.c_str());
  return 1;
}

std::string auth_token_check(const std::string& text) {
  auto v = parse_auth_token(text);
  return v.ok() ? std::string() : std::string(v.error().what);
}

void run_until_signal(uv_loop_t* loop, const std::function<void()>& ready,
                      const std::function<void()>& on_signal) {
  struct Ctx {
    std::function<void()> fn;
    uv_signal_t sigint{}, sigterm{};
    bool fired = false;
  } ctx;
  ctx.fn = on_signal;
  auto cb = [](uv_signal_t* h, int) {
    auto* c = static_cast<Ctx*>(h->data);
    if (c->fired) return;
    c->fired = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->sigint), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->sigterm), nullptr);
    c->fn();
  };
  uv_signal_init(loop, &ctx.sigint);
  uv_signal_init(loop, &ctx.sigterm);
  ctx.sigint.data = &ctx;
  ctx.sigterm.data = &ctx;
  uv_signal_start(&ctx.sigint, cb, SIGINT);
  uv_signal_start(&ctx.sigterm, cb, SIGTERM);
  ready();
  uv_run(loop, UV_RUN_DEFAULT);
}

}  // namespace netipc::cli
