// Internals shared by the Level-1 session sources (not public).
#pragma once

#include <cstdint>
#include <vector>

#include "netipc/uds_connection.h"
#include "netipc/wire.h"

namespace netipc::detail {

// Checks a message taken from an SHM area (len bytes at data) like a socket
// message (docs/wire.md §7): a decodable header, len == 32 + payload_len, and the
// directional limits. kLimitExceeded when over the limits.
Result<Message> validate_shm_message(const uint8_t* data, uint32_t len, const Limits& limits);

// Non-blocking liveness check of the session's socket while the data goes
// through shared memory: the peer never sends on it after the handshake,
// so readable, hang-up or error all mean the peer is gone.
bool socket_peer_gone(int fd);
// Whether fd (an abort eventfd) is readable; false for fd < 0.
bool fd_signalled(int fd);

}  // namespace netipc::detail
