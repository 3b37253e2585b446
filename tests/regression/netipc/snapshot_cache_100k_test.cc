// 100,000 cgroups through the whole Level-3 path: a real provider serves
// them over a Unix socket, SnapshotCache (blocking) and uv::Refresher
// (libuv) build and publish the cache, every item is then found with every
// field equal; the ebpf Consumer builds its target table from them. Both
// layouts. Timing is measured in bench/ (consumer-refresh), not here.
#include <gtest/gtest.h>
#include <uv.h>

#include <string>
#include <vector>

#include "cache_test_util.h"
#include "ebpf_consumer/consumer.h"
#include "netipc/snapshot_cache_client.h"
#include "netipc/uv/refresher.h"
#include "test_support.h"

namespace netipc {
namespace {

constexpr size_t kItems = 100000;

using cache_test::items_of;
using cache_test::TestProvider;

void expect_all_found(const SnapshotStore& store, const std::vector<CgroupItem>& items,
                      bool with_ids) {
  ReadGuard g(store);
  ASSERT_EQ(g.item_count(), items.size());
  size_t bad = 0;
  for (const CgroupItem& it : items) {
    const CgroupItemView* v = g.find(it.hash, it.name);
    if (v == nullptr || v->path != it.path || v->options != it.options ||
        v->enabled != it.enabled || v->cgroup_id != (with_ids ? it.cgroup_id : 0)) {
      if (++bad <= 3) ADD_FAILURE() << "item " << it.name << " missing or different";
    }
  }
  EXPECT_EQ(bad, 0u);
}

class Cache100k : public ::testing::TestWithParam<uint16_t> {};

TEST_P(Cache100k, BlockingRefreshCachesEveryItem) {
  test::TempDir dir;
  const std::string service = test::unique_service("c100k");
  auto p = TestProvider::start(dir.path(), service, 1);
  ASSERT_TRUE(p);
  const auto items = items_of(3, kItems);
  const uint64_t gen = p->publish(items);

  ClientConfig c;
  c.run_dir = dir.path();
  c.service = service;
  c.call_timeout_ms = 15000;
  SnapshotCacheOptions o;
  o.layout = GetParam();
  auto cache = SnapshotCache::create(c, o);
  ASSERT_TRUE(cache.ok());
  RefreshOutcome out;
  ASSERT_TRUE((*cache)->refresh(0, &out).ok()) << out.error.message();
  EXPECT_EQ(out.item_count, kItems);
  EXPECT_EQ(out.generation, gen);
  EXPECT_GT(out.payload_bytes, kItems * 40);
  expect_all_found(*(*cache)->store(), items, GetParam() == codec::kCgroupsLayoutProtobuf);

  // A second generation replaces the first; the session is reused (the
  // response ceiling the first exchange negotiated still fits).
  auto next = items_of(4, kItems);
  next.resize(kItems - 1);
  const uint64_t gen2 = p->publish(next);
  ASSERT_TRUE((*cache)->refresh(0, &out).ok()) << out.error.message();
  EXPECT_EQ(out.generation, gen2);
  expect_all_found(*(*cache)->store(), next, GetParam() == codec::kCgroupsLayoutProtobuf);
}

INSTANTIATE_TEST_SUITE_P(Layouts, Cache100k,
                         ::testing::Values(codec::kCgroupsLayoutBinary,
                                           codec::kCgroupsLayoutProtobuf),
                         [](const ::testing::TestParamInfo<uint16_t>& i) {
                           return "Layout" + std::to_string(i.param);
                         });

TEST(Refresher100k, LoopRefreshCachesEveryItem) {
  test::TempDir dir;
  const std::string service = test::unique_service("r100k");
  auto p = TestProvider::start(dir.path(), service, 1);
  ASSERT_TRUE(p);
  const auto items = items_of(5, kItems);
  p->publish(items);

  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ClientConfig c;
  c.run_dir = dir.path();
  c.service = service;
  c.call_timeout_ms = 15000;
  auto store = std::make_shared<SnapshotStore>();
  auto r = uv::Refresher::create(&loop, c, store);
  ASSERT_TRUE(r.ok());
  bool done = false;
  RefreshOutcome seen;
  ASSERT_TRUE((*r)->set_on_refresh([&](const RefreshOutcome& o) {
                    seen = o;
                    done = true;
                  })
                  .ok());
  ASSERT_TRUE((*r)->start().ok());
  ASSERT_TRUE(test::wait_until(
      [&] {
        uv_run(&loop, UV_RUN_NOWAIT);
        return done;
      },
      std::chrono::seconds(20)));
  EXPECT_TRUE(seen.ok()) << seen.error.message();
  expect_all_found(*store, items, true);
  bool stopped = false;
  (*r)->stop([&] { stopped = true; });
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_TRUE(stopped);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(Consumer100k, TargetTableHoldsEveryEnabledItem) {
  test::TempDir dir;
  const std::string service = test::unique_service("t100k");
  auto p = TestProvider::start(dir.path(), service, 1);
  ASSERT_TRUE(p);
  // Paths that do not exist: every cgroup "vanished" (empty PID set), so
  // the table is built without 100k files on disk.
  p->publish(items_of(6, kItems));
  ebpf::ConsumerConfig cfg;
  cfg.run_dir = dir.path();
  cfg.service = service;
  cfg.call_timeout_ms = 15000;
  auto c = ebpf::Consumer::create(cfg);
  ASSERT_TRUE(c.ok());
  ebpf::ConsumerRefresh r;
  ASSERT_TRUE((*c)->refresh(0, &r).ok()) << r.refresh.error.message();
  ASSERT_TRUE(r.applied);
  EXPECT_EQ(r.apply.targets, kItems);
  EXPECT_EQ(r.apply.files_vanished, kItems);
  EXPECT_TRUE((*c)->integration_active());
  const auto view = (*c)->view();
  const CgroupItem last = cache_test::item_of(6, kItems - 1);
  ASSERT_NE(view->find(last.hash, last.name), nullptr);
}

}  // namespace
}  // namespace netipc
