// The auth token Netdata's peers present: XXH3-64 of the invocation UUID's
// 16 raw bytes. The parser accepts exactly what Netdata's own accepts
// (docs/glue.md, "The auth token"), so both sides derive the
// same token from the same environment.
#include <xxhash.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "netdata_glue/netipc_nd.h"

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

extern "C" int netipc_nd_parse_invocation_id(const char* text, uint8_t uuid[16]) {
  if (text == nullptr || uuid == nullptr || *text == '\0') return NETIPC_ND_EINVAL;
  uint8_t bytes[16];
  int hyphens = 0;
  const char* s = text;
  for (int i = 0; i < 16; ++i) {
    // One hyphen may stand before any digit pair; four in all, or none.
    if (*s == '-') {
      ++s;
      if (++hyphens > 4) return NETIPC_ND_EINVAL;
    }
    const int hi = hex_value(s[0]);
    if (hi < 0) return NETIPC_ND_EINVAL;
    const int lo = hex_value(s[1]);
    if (lo < 0) return NETIPC_ND_EINVAL;
    bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
    s += 2;
  }
  // What follows the 16th byte is not looked at (Netdata does the same).
  if (hyphens != 0 && hyphens != 4) return NETIPC_ND_EINVAL;
  std::memcpy(uuid, bytes, sizeof bytes);
  return NETIPC_ND_OK;
}

extern "C" uint64_t netipc_nd_token_from_uuid(const uint8_t uuid[16]) {
  return XXH3_64bits(uuid, 16);
}

extern "C" int netipc_nd_auth_token(uint64_t* token) {
  if (token == nullptr) return NETIPC_ND_EINVAL;
  uint8_t uuid[16];
  for (const char* name : {"NETDATA_INVOCATION_ID", "INVOCATION_ID"}) {
    if (netipc_nd_parse_invocation_id(std::getenv(name), uuid) == NETIPC_ND_OK) {
      *token = netipc_nd_token_from_uuid(uuid);
      return NETIPC_ND_OK;
    }
  }
  return NETIPC_ND_ENOTFOUND;
}
