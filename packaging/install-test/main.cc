// Consumer of an installed netipc: proves the CMake package exports work.
#include <netipc/handshake.h>
#include <netipc/uv/server.h>
#include <netipc/wire.h>

#include <cstdio>

int main() {
  netipc::ClientProposal p;
  p.packet_size = 4096;
  const netipc::wire::Hello h = netipc::make_hello(p);
  std::printf("%s %u\n", netipc::wire::profile_name(h.supported_profiles), h.packet_size);
  return h.packet_size == 4096 ? 0 : 1;
}
