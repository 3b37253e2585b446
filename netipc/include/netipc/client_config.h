// Configuration of a Level-2 client context (docs/levels.md
// §1.1). A plain struct: every zero value means the documented default.
#pragma once

#include <cstdint>
#include <string>

namespace netipc {

struct ClientConfig {
  // Where the provider listens: {run_dir}/{service}.sock. Both required.
  std::string run_dir;
  std::string service;
  // The one method this client calls (wire::Method values). Required.
  uint16_t method = 0;

  uint32_t supported_profiles = 0;          // 0 -> UDS only (0x01); 0x03 also offers SHM
  uint32_t preferred_profiles = 0;          // 0 -> no preference
  uint32_t max_request_payload_bytes = 0;   // 0 -> 1024; grows on demand up to 1 MiB
  uint32_t max_request_batch_items = 0;     // 0 -> 1; the largest batch this client sends
  uint32_t max_response_payload_bytes = 0;  // 0 -> 65536; a hint, the server decides
  uint64_t auth_token = 0;                  // must equal the server's token exactly
  int call_timeout_ms = 0;     // <= 0 -> 30000; per call attempt, send and whole response
  int connect_timeout_ms = 0;  // <= 0 -> 5000; bounds the wait for HELLO_ACK
};

// Named defaults (docs/levels.md §1.1, §1.8; docs/wire.md §1).
inline constexpr uint32_t kClientDefaultRequestPayload = 1024;
inline constexpr uint32_t kClientDefaultBatchItems = 1;
inline constexpr uint32_t kClientDefaultResponsePayload = 65536;
inline constexpr int kClientDefaultCallTimeoutMs = 30000;
inline constexpr int kClientDefaultConnectTimeoutMs = 5000;
// Automatic growth stops here; configured values above it are kept.
inline constexpr uint32_t kClientGrowthCap = 1u << 20;
// Overflow recovery gives up after this many attempts of one call (§1.5).
inline constexpr uint32_t kClientMaxOverflowAttempts = 8;

}  // namespace netipc
