// The connection state of a Level-2 client context and the status snapshot
// it reports (docs/levels.md §1.2 and §1.8.4). Shared by the
// blocking Client, the libuv AsyncClient and the snapshot cache.
#pragma once

#include <cstdint>

namespace netipc {

enum class ClientState : uint8_t {
  kDisconnected,  // initial; after reset(); a connect failed for any reason not below
  kConnecting,    // transient, only while a connect attempt runs
  kReady,         // handshake done; calls go straight to the session
  kNotFound,      // connect() to the socket failed: no provider (yet)
  kAuthFailed,    // the server rejected our token: sticky until reset()
  kIncompatible,  // no common profile or version/layout mismatch: sticky until reset()
  kBroken,        // a call failed on a READY session (I/O, protocol, timeout, abort)
};

// "DISCONNECTED", "READY", ... (the spec's names), "UNKNOWN" otherwise.
constexpr const char* client_state_name(ClientState s) noexcept {
  switch (s) {
    case ClientState::kDisconnected:
      return "DISCONNECTED";
    case ClientState::kConnecting:
      return "CONNECTING";
    case ClientState::kReady:
      return "READY";
    case ClientState::kNotFound:
      return "NOT_FOUND";
    case ClientState::kAuthFailed:
      return "AUTH_FAILED";
    case ClientState::kIncompatible:
      return "INCOMPATIBLE";
    case ClientState::kBroken:
      return "BROKEN";
  }
  return "UNKNOWN";
}

// Sticky states are left only by reset() (or by creating a new client).
constexpr bool client_state_is_sticky(ClientState s) noexcept {
  return s == ClientState::kAuthFailed || s == ClientState::kIncompatible;
}

// A copy of a client's counters and negotiated values at one moment.
struct ClientStatus {
  ClientState state = ClientState::kDisconnected;
  uint64_t connect_count = 0;    // sessions established from DISCONNECTED / NOT_FOUND
  uint64_t reconnect_count = 0;  // sessions established to replace a BROKEN one
  uint64_t call_count = 0;       // successful calls
  uint64_t error_count = 0;      // failed calls (every error a call returned)

  // The current session (all zero unless state == kReady).
  uint32_t selected_profile = 0;
  uint32_t agreed_max_request_payload_bytes = 0;
  uint32_t agreed_max_request_batch_items = 0;
  uint32_t agreed_max_response_payload_bytes = 0;
  uint32_t agreed_max_response_batch_items = 0;
  uint32_t agreed_packet_size = 0;
  uint64_t session_id = 0;

  // What the next HELLO proposes: grow-only for the client's lifetime.
  uint32_t learned_request_payload_bytes = 0;
  uint32_t learned_response_payload_bytes = 0;
  uint32_t supported_profiles = 0;  // SHM bits are gone after an attach failure
  uint32_t preferred_profiles = 0;
};

}  // namespace netipc
