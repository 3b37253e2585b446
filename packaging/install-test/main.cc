// Consumer of an installed netipc: proves the CMake package exports work,
// the core, the libuv adapter and the auth token (netipc_glue_token).
#include <netdata_glue/netipc_nd.h>
#include <netipc/handshake.h>
#include <netipc/uv/server.h>
#include <netipc/wire.h>

#include <cstdint>
#include <cstdio>

int main() {
  netipc::ClientProposal p;
  p.packet_size = 4096;
  const netipc::wire::Hello h = netipc::make_hello(p);
  std::printf("%s %u\n", netipc::wire::profile_name(h.supported_profiles), h.packet_size);
  // Pinned in tests/unit/netdata-glue/auth_token_test.cc.
  const uint8_t uuid[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const uint64_t token = netipc_nd_token_from_uuid(uuid);
  std::printf("token %016llx\n", static_cast<unsigned long long>(token));
  return h.packet_size == 4096 && token == 0x8355e3a6f61770dbull ? 0 : 1;
}
