// The cgroups-snapshot server on a loop the host owns, next to the host's
// own handles (a repeating timer and an idle handle): they keep running
// while typed clients fetch over both transports, stop() leaves them alone,
// and once the host closes its handles the loop closes cleanly.
#include <uv.h>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "cgroups_provider/publisher.h"
#include "netipc/cgroups_snapshot_client.h"
#include "netipc/uv/server.h"
#include "snapshot_test_util.h"
#include "test_support.h"
#include "uv_test_util.h"

namespace netipc {
namespace {

using namespace snapshot_test;  // NOLINT
using test::TempDir;

struct Host {
  uv_loop_t loop{};
  uv_timer_t timer{};
  uv_idle_t idle{};
  std::unique_ptr<uv::Server> server;
  std::atomic<bool> clients_done{false};
  std::atomic<bool> clients_ok{false};
  uint64_t ticks = 0, idles = 0;
  uint64_t ticks_while_serving = 0;
  uint64_t ticks_at_stop = 0, idles_at_stop = 0;
  bool stop_requested = false, stopped = false;
  bool timer_active_after_stop = false, idle_active_after_stop = false;
  bool closed_host_handles = false;
};

// The idle handle runs once per tick (re-armed by the timer) rather than
// spinning the loop: what is tested is that it keeps being called.
void on_idle(uv_idle_t* i) {
  ++static_cast<Host*>(i->data)->idles;
  uv_idle_stop(i);
}

void on_tick(uv_timer_t* t) {
  Host* h = static_cast<Host*>(t->data);
  ++h->ticks;
  if (!h->closed_host_handles) uv_idle_start(&h->idle, on_idle);
  if (!h->clients_done.load()) {
    ++h->ticks_while_serving;
    return;
  }
  if (!h->stop_requested) {
    h->stop_requested = true;
    h->ticks_at_stop = h->ticks;
    h->idles_at_stop = h->idles;
    h->server->stop(500, [h] {
      h->stopped = true;
      h->timer_active_after_stop = uv_is_active(reinterpret_cast<uv_handle_t*>(&h->timer)) != 0;
      h->idle_active_after_stop = uv_is_closing(reinterpret_cast<uv_handle_t*>(&h->idle)) == 0;
    });
    return;
  }
  // After the server is gone the host's handles still run; then the host
  // closes them and the loop has nothing left.
  if (h->stopped && !h->closed_host_handles && h->ticks >= h->ticks_at_stop + 10 &&
      h->idles >= h->idles_at_stop + 10) {
    h->closed_host_handles = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&h->timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&h->idle), nullptr);
  }
}

TEST(SnapshotServerHostLoop, HostTimerAndIdleKeepRunningAndStopLeavesThemAlone) {
  TempDir dir;
  Host h;
  ASSERT_EQ(uv_loop_init(&h.loop), 0);
  uv_timer_init(&h.loop, &h.timer);
  h.timer.data = &h;
  uv_idle_init(&h.loop, &h.idle);
  h.idle.data = &h;
  uv_timer_start(&h.timer, on_tick, 1, 1);
  uv_idle_start(&h.idle, on_idle);

  const std::vector<CgroupItem> items = make_items(2000);  // > one UDS packet
  cgroups_provider::SnapshotPublisher publisher(10);
  ASSERT_TRUE(publisher.publish(share(items)).ok());
  auto server = uv::Server::create(&h.loop, snapshot_server_config(dir.path(), "host", kShm),
                                   publisher.handler());
  ASSERT_TRUE(server.ok()) << server.error().message();
  h.server = std::move(*server);
  uv::Server* srv = h.server.get();
  publisher.set_size_listener([srv](uint64_t bytes) { srv->announce_response_size(bytes); });

  // Typed clients on another thread: UDS sessions are served on the host
  // loop, SHM sessions by waiter threads.
  std::thread clients([&] {
    bool ok = true;
    for (uint32_t profiles : {kUds, kShm}) {
      for (uint16_t layout : {1, 2}) {
        auto c = CgroupsSnapshotClient::create(client_config(dir.path(), "host", profiles, layout));
        for (int i = 0; ok && i < 10; ++i) {
          auto snap = c->fetch(5000);
          ok = snap.ok() && (*snap)->generation == 11 && (*snap)->items.size() == items.size() &&
               (*snap)->items.back().name == items.back().name;
        }
        ok = ok && c->status().client.selected_profile ==
                       (profiles == kShm ? wire::kProfileShmHybrid : wire::kProfileUds);
      }
    }
    h.clients_ok = ok;
    h.clients_done = true;
  });
  uv_run(&h.loop, UV_RUN_DEFAULT);
  clients.join();

  EXPECT_TRUE(h.clients_ok.load());
  EXPECT_GT(h.ticks_while_serving, 0u);
  EXPECT_TRUE(h.stopped);
  EXPECT_TRUE(h.timer_active_after_stop);
  EXPECT_TRUE(h.idle_active_after_stop);
  EXPECT_TRUE(h.closed_host_handles);
  EXPECT_GE(h.ticks, h.ticks_at_stop + 10);
  EXPECT_GE(h.idles, h.idles_at_stop + 10);
  EXPECT_FALSE(uv_test::exists(dir.file("host.sock")));
  publisher.set_size_listener(nullptr);
  h.server.reset();
  EXPECT_EQ(uv_loop_close(&h.loop), 0);
}

}  // namespace
}  // namespace netipc
