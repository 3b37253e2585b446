#include "netipc/cgroups_snapshot_client.h"

#include <utility>

#include "netipc/wire.h"

namespace netipc {
namespace {

Status check_layout(uint16_t layout) {
  if (layout > codec::kCgroupsLayoutProtobuf) {
    return make_error(Errc::kInvalidArgument, "snapshot client: layout must be 0, 1 or 2");
  }
  return Status();
}

}  // namespace

Result<ClientConfig> snapshot_client_config(const CgroupsSnapshotClientConfig& config) {
  NETIPC_RETURN_IF_ERROR(check_layout(config.layout));
  ClientConfig c;
  c.run_dir = config.run_dir;
  c.service = config.service.empty() ? kCgroupsSnapshotService : config.service;
  c.method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  if (config.supported_profiles == 0) {
    c.supported_profiles = wire::kProfileUds | wire::kProfileShmHybrid;
    c.preferred_profiles =
        config.preferred_profiles != 0 ? config.preferred_profiles : wire::kProfileShmHybrid;
  } else {
    c.supported_profiles = config.supported_profiles;
    c.preferred_profiles = config.preferred_profiles;
  }
  // The request is 4 bytes: the default request ceiling fits it. The
  // response hint is only a hint (the server's ACK decides); it is not
  // what makes large snapshots work, the server's announced ceiling is.
  c.max_response_payload_bytes = kSnapshotClientResponseHint;
  c.auth_token = config.auth_token;
  c.call_timeout_ms = config.call_timeout_ms;
  c.connect_timeout_ms = config.connect_timeout_ms;
  return c;
}

Result<ClientConfig> snapshot_client_config(ClientConfig config, uint16_t layout) {
  const auto method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  if (config.method == 0) config.method = method;
  if (config.method != method) {
    return make_error(Errc::kInvalidArgument, "snapshot client: method must be CGROUPS_SNAPSHOT");
  }
  NETIPC_RETURN_IF_ERROR(check_layout(layout));
  return config;
}

Result<CgroupsSnapshotClient> CgroupsSnapshotClient::create(
    const CgroupsSnapshotClientConfig& config) {
  auto cc = snapshot_client_config(config);
  if (!cc.ok()) return cc.error();
  auto client = Client::create(*cc);
  if (!client.ok()) return client.error();
  return CgroupsSnapshotClient(std::move(*client), config.layout);
}

Result<CgroupsSnapshotClient> CgroupsSnapshotClient::create(ClientConfig config, uint16_t layout) {
  auto cc = snapshot_client_config(std::move(config), layout);
  if (!cc.ok()) return cc.error();
  auto client = Client::create(*cc);
  if (!client.ok()) return client.error();
  return CgroupsSnapshotClient(std::move(*client), layout);
}

CgroupsSnapshotClient::CgroupsSnapshotClient(Client client, uint16_t layout)
    : client_(std::move(client)),
      call_(layout),
      views_(std::make_unique<codec::CgroupsSnapshotViews>()) {}

CgroupsSnapshotClient::CgroupsSnapshotClient(CgroupsSnapshotClient&&) noexcept = default;
CgroupsSnapshotClient& CgroupsSnapshotClient::operator=(CgroupsSnapshotClient&&) noexcept = default;
CgroupsSnapshotClient::~CgroupsSnapshotClient() = default;

Result<const codec::CgroupsSnapshotViews*> CgroupsSnapshotClient::fetch(int timeout_ms) {
  auto payload = call(timeout_ms);
  if (!payload.ok()) return payload.error();
  NETIPC_RETURN_IF_ERROR(decode(*payload, views_.get()));
  return static_cast<const codec::CgroupsSnapshotViews*>(views_.get());
}

Result<ByteSpan> CgroupsSnapshotClient::call(int timeout_ms) {
  // At most two rounds: the second only after a layout-2 rejection.
  for (;;) {
    auto r = client_.call(call_.request(), 1, timeout_ms);
    if (r.ok()) return r->payload;
    if (!call_.fall_back_on(r.error())) return r.error();
  }
}

Status CgroupsSnapshotClient::decode(ByteSpan payload, codec::CgroupsSnapshotViews* out) {
  Status st = call_.decode(payload, out);
  if (!st.ok()) {
    // A server that sends a snapshot we cannot read is not trusted with
    // the next one on the same session.
    ++malformed_count_;
    client_.reset();
    return st;
  }
  ++fetch_count_;
  return Status();
}

CgroupsSnapshotClientStatus CgroupsSnapshotClient::status() const {
  CgroupsSnapshotClientStatus s;
  s.layout = call_.layout();
  s.fell_back = call_.fell_back();
  s.fetch_count = fetch_count_;
  s.malformed_count = malformed_count_;
  s.client = client_.status();
  return s;
}

}  // namespace netipc
