// Shared by the interop tests (interop_*_test.cc): helpers, sample data
// and the fixture that runs the independent spec server
// (tests/support/spec_peer.h) against the project's ClientSession.
// Each test file is its own executable, so everything here is inline.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codec_test_util.h"
#include "netipc/batch.h"
#include "netipc/handshake.h"
#include "netipc/result.h"
#include "netipc/session.h"
#include "netipc/wire.h"
#include "spec_peer.h"
#include "test_support.h"

namespace netipc::interop {

namespace sp = spec_peer;
using test::TempDir;

inline constexpr uint64_t kToken = 0xBE4C400000C0FFEEull;

// SO_SNDBUF of a fresh SEQPACKET socket: what both sides read by default.
inline uint32_t default_sndbuf() {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  int v = 0;
  socklen_t len = sizeof v;
  ::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len);
  ::close(fd);
  return static_cast<uint32_t>(v);
}

inline int64_t in_ms(int ms) {
  return sp::deadline_after(ms);
}

inline std::vector<uint8_t> u64_bytes(uint64_t v) {
  return sp::u64_payload(v);
}

// A batch of INCREMENT values built with the project's BatchWriter.
inline std::vector<uint8_t> project_batch(const std::vector<uint64_t>& values) {
  std::vector<uint8_t> out;
  wire::BatchWriter w(&out, static_cast<uint32_t>(values.size()));
  for (uint64_t v : values)
    store_u64(w.add_uninitialized(8), v);
  w.finish();
  return out;
}

inline std::vector<uint64_t> iota_values(size_t n, uint64_t from) {
  std::vector<uint64_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = from + i * 3;
  return v;
}

inline sp::Snapshot sample_snapshot() {  // docs/codecs.md §2.6 items plus long and empty strings
  sp::Snapshot s;
  s.systemd_enabled = 1;
  s.generation = 999;
  s.items = {{100, 0, 1, "init.scope", "/sys/fs/cgroup/init.scope"},
             {200, 0x02, 0, "system.slice/docker-abc.scope",
              "/sys/fs/cgroup/system.slice/docker-abc.scope"},
             {300, 0, 1, "", ""},
             {fnv1a32("cgroup_machine"), 0x4, 1, std::string(300, 'm'), std::string(1000, 'p')}};
  return s;
}

// docs/codecs.md §2.6: the first three sample_snapshot() items, 266 bytes.
inline constexpr const char* kSnapshotVector = codec_test::kCgroupsSnapshotSpecVectorHex;

// The spec server on a private run directory, and the project client.
class SpecServerTest : public ::testing::Test {
 protected:
  void start(sp::ServerConfig config) {
    std::string problem;
    server_ = sp::SpecServer::start(dir_.path(), service_, std::move(config), &problem);
    ASSERT_NE(server_, nullptr) << problem;
  }
  Result<ClientSession> connect(const ClientProposal& p) {
    return ClientSession::connect(dir_.path(), service_, p, in_ms(5000));
  }
  // One INCREMENT round trip through the project client.
  Result<uint64_t> increment(ClientSession& c, uint64_t id, uint64_t v) {
    NETIPC_RETURN_IF_ERROR(c.send_request(1, id, ByteSpan(u64_bytes(v)), 1, in_ms(5000)));
    auto m = c.receive_response(in_ms(5000));
    if (!m.ok()) return m.error();
    if (m->header.message_id != id || m->payload.size != 8) return make_error(Errc::kProtocol);
    return load_u64(m->payload.data);
  }
  void expect_no_violations() {
    for (const auto& v : server_->log().violations)
      ADD_FAILURE() << "spec server saw: " << v;
  }

  TempDir dir_;
  std::string service_ = test::unique_service("interop");
  std::unique_ptr<sp::SpecServer> server_;
};

inline sp::ServerConfig spec_config(uint32_t packet_size = 0) {
  sp::ServerConfig c;
  c.policy.supported = wire::kProfileUds;
  c.policy.max_request_payload = 65536;
  c.policy.max_response_payload = 65536;
  c.policy.packet_size = packet_size;
  c.policy.auth_token = kToken;
  c.snapshot = sample_snapshot();
  return c;
}

inline ClientProposal proposal(uint32_t max_request = 4096, uint32_t items = 1) {
  ClientProposal p;
  p.auth_token = kToken;
  p.max_request_payload_bytes = max_request;
  p.max_request_batch_items = items;
  p.max_response_payload_bytes = 65536;
  return p;
}

}  // namespace netipc::interop
