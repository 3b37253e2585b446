// A snapshot of many packets over a Unix socket: the server keeps several
// packets in flight (allow_packets_in_flight), so its copy of packet k+1
// overlaps the client's copy of packet k. With the default send buffer
// only one packet fits and the two sides take turns.
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <linux/sockios.h>

#include "netipc/codec/cgroups.h"
#include "netipc/uds.h"
#include "snapshot_test_util.h"
#include "test_support.h"
#include "uv_test_util.h"

namespace netipc {
namespace {

using namespace snapshot_test;  // NOLINT
using test::TempDir;

// Bytes queued for reading on a SEQPACKET socket (all packets, not only the
// first: SIOCINQ sums the queue for SEQPACKET).
int queued_bytes(int fd) {
  int n = 0;
  return ::ioctl(fd, SIOCINQ, &n) == 0 ? n : -1;
}

TEST(SnapshotUdsInFlight, ServerQueuesSeveralPacketsOfALargeSnapshotAhead) {
  TempDir dir;
  const std::vector<CgroupItem> items = make_items(20000);  // ~4 MB, ~20 packets
  const auto cfg = snapshot_server_config(dir.path(), "inflight", kUds);
  auto server = start_snapshot_server(cfg, share(items), 1);
  ASSERT_TRUE(server->thread);

  // The packet size a default socket offers (what real clients propose).
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  const uint32_t packet = auto_packet_size(pair[0]);
  ::close(pair[0]);
  ::close(pair[1]);
  ClientProposal p;
  p.packet_size = packet;
  auto c = uv_test::raw_client(cfg, p);
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->ack.agreed_packet_size, packet);

  const uint8_t req[4] = {1, 0, 0, 0};
  ASSERT_TRUE(c->conn
                  .send(uv_test::request(1, kSnapshotMethod), ByteSpan(req, 4),
                        uv_test::deadline_in_ms(5000))
                  .ok());
  // Not reading: the server fills what the socket lets it queue.
  EXPECT_TRUE(test::wait_until([&] { return queued_bytes(c->conn.fd()) >= 2 * static_cast<int>(packet); },
                               std::chrono::seconds(5)))
      << "queued " << queued_bytes(c->conn.fd()) << " bytes, packet size " << packet;

  // And the whole response still arrives intact.
  auto r = c->conn.receive(uv_test::deadline_in_ms(10000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->header.transport_status, 0);
  codec::CgroupsSnapshotViews views;
  ASSERT_TRUE(codec::decode_cgroups_snapshot_v1(r->payload, &views).ok());
  expect_items_equal(views, items, 1);
}

}  // namespace
}  // namespace netipc
