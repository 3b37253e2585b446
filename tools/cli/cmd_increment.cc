// netipc-cli serve increment / call increment.
#include <uv.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli_common.h"
#include "commands.h"
#include "netipc/codec/increment.h"
#include "netipc/services.h"
#include "netipc/session.h"
#include "netipc/uv/server.h"
#include "netipc/wire.h"
#include "sys_linux.h"

namespace netipc::cli {

namespace {

void add_endpoint_options(CLI::App* app, EndpointOptions* o) {
  app->add_option("--run-dir", o->run_dir, "Directory holding the endpoint's socket")->required();
  app->add_option("--service", o->service, "Service name ([A-Za-z0-9._-]+)")->required();
  app->add_option("--auth-token", o->auth_token_hex,
                  "Shared secret, 0x-prefixed hex (default 0)")
      ->check(CLI::Validator(auth_token_check, "0xHEX", "auth token"));
  app->add_option("--transport", o->transport, "uds or shm (default uds)")
      ->check(CLI::IsMember({"uds", "shm"}));
}

int serve_increment(const EndpointOptions& o) {
  auto token = parse_auth_token(o.auth_token_hex);
  if (!token.ok()) return fail(token.error().what);
  uv::ServerConfig cfg;
  cfg.run_dir = o.run_dir;
  cfg.service = o.service;
  cfg.method = static_cast<uint16_t>(wire::Method::kIncrement);
  cfg.auth_token = *token;
  cfg.listener.allowed_uids = allowed_uid_set(o.allow_uids);
  cfg.listener.socket_mode = socket_mode_of(o.socket_mode);
  transport_profiles(o.transport, &cfg.supported_profiles, &cfg.preferred_profiles);
  // Batches of up to 1000 items (16 bytes each) plus headroom.
  cfg.max_request_payload_bytes = 1000 * 48 + 4096;
  cfg.max_response_payload_bytes = 1000 * 48 + 4096;
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto server = uv::Server::create(&loop, cfg, make_increment_handler());
  if (!server.ok()) {
    uv_run(&loop, UV_RUN_NOWAIT);  // closes what a failed create() had registered
    uv_loop_close(&loop);
    return fail("cannot serve " + o.run_dir + "/" + o.service + ".sock", server.error());
  }
  uv::Server* srv = server->get();
  run_until_signal(
      &loop,
      [] {
        std::printf("READY\n");
        std::fflush(stdout);
      },
      [srv] { srv->stop(1000, [] {}); });
  const int rc = uv_loop_close(&loop);
  return rc == 0 ? 0 : fail("event loop did not close cleanly");
}

struct CallOptions {
  EndpointOptions ep;
  uint64_t value = 0;
  uint64_t count = 1;
  bool verbose = false;
};

int call_increment(const CallOptions& o) {
  auto token = parse_auth_token(o.ep.auth_token_hex);
  if (!token.ok()) return fail(token.error().what);
  ClientProposal p;
  transport_profiles(o.ep.transport, &p.supported_profiles, &p.preferred_profiles);
  p.auth_token = *token;
  const int64_t timeout_ns = int64_t{o.ep.timeout_ms} * 1000000;
  const std::string where = o.ep.run_dir + "/" + o.ep.service + ".sock";
  auto session = ClientSession::connect(o.ep.run_dir, o.ep.service, p,
                                        netipc::detail::monotonic_ns() + timeout_ns);
  if (!session.ok()) {
    const Error& e = session.error();
    switch (e.code) {
      case Errc::kNotFound: return fail("no server at " + where, e);
      case Errc::kAuthFailed: return fail("server rejected the auth token", e);
      case Errc::kTimeout: return fail("no answer from " + where, e);
      default: return fail("handshake with " + where + " failed", e);
    }
  }
  const wire::HelloAck& ack = session->agreed();
  if (o.verbose) {
    std::printf("connected: session %llu, profile %s, packet size %u\n",
                static_cast<unsigned long long>(ack.session_id),
                wire::profile_name(ack.selected_profile), ack.agreed_packet_size);
    std::printf("limits: request %u bytes / %u items, response %u bytes / %u items\n",
                ack.agreed_max_request_payload_bytes, ack.agreed_max_request_batch_items,
                ack.agreed_max_response_payload_bytes, ack.agreed_max_response_batch_items);
  }
  uint64_t value = o.value;
  uint8_t payload[codec::kIncrementLen];
  for (uint64_t i = 0; i < o.count; ++i) {
    codec::encode_increment(value, payload);
    const int64_t deadline = netipc::detail::monotonic_ns() + timeout_ns;
    Status sent = session->send_request(static_cast<uint16_t>(wire::Method::kIncrement), i + 1,
                                        ByteSpan(payload, sizeof payload), 1, deadline);
    if (!sent.ok()) return fail("send to " + where, sent.error());
    auto reply = session->receive_response(deadline);
    if (!reply.ok()) {
      return fail(reply.code() == Errc::kTimeout ? "timed out waiting for " + where
                                                 : "receive from " + where,
                  reply.error());
    }
    if (reply->header.transport_status != 0) {
      return fail("server answered " +
                  std::string(wire::transport_status_name(reply->header.transport_status)));
    }
    auto v = codec::decode_increment(reply->payload);
    if (!v.ok()) return fail("malformed reply", v.error());
    if (o.verbose) {
      std::printf("call %llu: %llu -> %llu\n", static_cast<unsigned long long>(i + 1),
                  static_cast<unsigned long long>(value), static_cast<unsigned long long>(*v));
    }
    value = *v;
  }
  std::printf("%llu\n", static_cast<unsigned long long>(value));
  return 0;
}

}  // namespace

void add_allow_uid_option(CLI::App* app, EndpointOptions* o) {
  app->add_option("--allow-uid", o->allow_uids,
                  "Also accept clients running as this uid (repeatable; this process's user "
                  "and root are always accepted)")
      ->check(CLI::Range(0u, 4294967294u));
  app->add_option("--socket-mode", o->socket_mode,
                  "0600 (default: only this user) or 0660 (the socket's group may connect too; "
                  "their uid must still be allowed)")
      ->check(CLI::IsMember({"0600", "0660"}));
}

void add_increment_commands(CLI::App* serve, CLI::App* call, int* rc) {
  auto eo = std::make_shared<EndpointOptions>();
  CLI::App* s = serve->add_subcommand(
      "increment", "Serve INCREMENT (reply = request + 1) until SIGINT/SIGTERM; prints READY");
  add_endpoint_options(s, eo.get());
  add_allow_uid_option(s, eo.get());
  s->callback([eo, rc] { *rc = serve_increment(*eo); });

  auto co = std::make_shared<CallOptions>();
  CLI::App* c = call->add_subcommand(
      "increment", "Send N, then each reply as the next request, K times; print the last reply");
  add_endpoint_options(c, &co->ep);
  c->add_option("--value", co->value, "First value sent (u64)")->required();
  c->add_option("--count", co->count, "Number of round trips (default 1)")
      ->check(CLI::PositiveNumber);
  c->add_option("--timeout-ms", co->ep.timeout_ms, "Per-call timeout in ms (default 5000)")
      ->check(CLI::PositiveNumber);
  c->add_flag("--verbose", co->verbose, "Report the negotiated profile, limits and each call");
  c->callback([co, rc] { *rc = call_increment(*co); });
}

}  // namespace netipc::cli
