// CgroupsProvider: generation semantics, both layouts, the endpoint serving
// them to a real client, hand-overs from other threads (latest wins,
// encoding off the caller), the size announcement, and both lifetimes (own
// thread, host loop).
#include "cgroups_provider/provider.h"

#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "netipc/codec/cgroups_pb.h"
#include "snapshot_fetcher.h"
#include "test_support.h"

namespace netipc::cgroups_provider {
namespace {

using testing::FetcherOptions;
using testing::SnapshotFetcher;
using Items = CgroupsProvider::Items;

CgroupItem make_item(int i, size_t name_pad = 0) {
  CgroupItem it;
  it.name = "cgroup_c" + std::to_string(i) + std::string(name_pad, 'x');
  it.path = "/sys/fs/cgroup/s/c" + std::to_string(i) + "/cgroup.procs";
  it.hash = fnv1a32(it.name);
  it.options = kCgroupOptIsUnified;
  it.enabled = 1;
  it.cgroup_id = 1000 + static_cast<uint64_t>(i);
  return it;
}

std::vector<CgroupItem> make_items(int n, size_t name_pad = 0) {
  std::vector<CgroupItem> v;
  for (int i = 0; i < n; ++i)
    v.push_back(make_item(i, name_pad));
  return v;
}

Items shared(std::vector<CgroupItem> v) {
  return std::make_shared<const std::vector<CgroupItem>>(std::move(v));
}

// Decodes both layouts of a published snapshot.
void expect_layouts_match(const EncodedSnapshot& snap, const std::vector<CgroupItem>& want) {
  codec::CgroupsSnapshotViews v1, v2;
  ASSERT_TRUE(codec::decode_cgroups_snapshot(1, ByteSpan(*snap.layout1), &v1).ok());
  ASSERT_TRUE(codec::decode_cgroups_snapshot(2, ByteSpan(*snap.layout2), &v2).ok());
  EXPECT_EQ(v1.generation, snap.generation);
  EXPECT_EQ(v2.generation, snap.generation);
  EXPECT_EQ(v1.systemd_enabled, snap.systemd_enabled);
  EXPECT_EQ(v2.systemd_enabled, snap.systemd_enabled);
  ASSERT_EQ(v1.items.size(), want.size());
  ASSERT_EQ(v2.items.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CgroupItem no_id = want[i];
    no_id.cgroup_id = 0;  // layout 1 has no cgroup id
    EXPECT_EQ(v1.items[i].to_owned(), no_id) << i;
    EXPECT_EQ(v2.items[i].to_owned(), want[i]) << i;
  }
}

class ProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProviderConfig c;
    c.run_dir = dir_.path();
    c.service = service_;
    c.first_generation = 100;
    auto p = CgroupsProvider::start(c);
    ASSERT_TRUE(p.ok()) << p.error().message();
    provider_ = std::move(*p);
  }

  test::TempDir dir_;
  std::string service_ = test::unique_service("prov");
  std::unique_ptr<CgroupsProvider> provider_;
};

TEST_F(ProviderTest, StartsWithAnEmptySnapshotAtTheFirstGeneration) {
  auto cur = provider_->current();
  EXPECT_EQ(cur->generation, 100u);
  expect_layouts_match(*cur, {});
}

TEST_F(ProviderTest, EqualContentKeepsTheGenerationAndTheBuffers) {
  auto first = provider_->publish_now(shared(make_items(50)));
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->changed);
  EXPECT_EQ(first->generation, 101u);
  auto before = provider_->current();
  // A different vector with the same content.
  auto again = provider_->publish_now(shared(make_items(50)));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(again->generation, 101u);
  auto after = provider_->current();
  EXPECT_EQ(after->layout1, before->layout1);
  EXPECT_EQ(after->layout2, before->layout2);
  EXPECT_EQ(provider_->stats().generations, 1u);
  EXPECT_EQ(provider_->stats().unchanged, 1u);
}

TEST_F(ProviderTest, AnyChangeMakesExactlyTheNextGeneration) {
  std::vector<CgroupItem> items = make_items(20);
  ASSERT_TRUE(provider_->publish_now(shared(items)).ok());
  uint64_t gen = provider_->current()->generation;
  using Mutation = void (*)(std::vector<CgroupItem>*);
  const std::pair<const char*, Mutation> mutations[] = {
      {"hash", [](std::vector<CgroupItem>* v) { (*v)[3].hash ^= 1; }},
      {"options",
       [](std::vector<CgroupItem>* v) { (*v)[4].options |= kCgroupOptDisabledDuplicate; }},
      {"enabled", [](std::vector<CgroupItem>* v) { (*v)[5].enabled = 0; }},
      {"name", [](std::vector<CgroupItem>* v) { (*v)[6].name += "_renamed"; }},
      {"path", [](std::vector<CgroupItem>* v) { (*v)[7].path = ""; }},
      {"cgroup_id", [](std::vector<CgroupItem>* v) { (*v)[8].cgroup_id += 77; }},
      {"order", [](std::vector<CgroupItem>* v) { std::swap((*v)[0], (*v)[1]); }},
      {"removal", [](std::vector<CgroupItem>* v) { v->erase(v->begin() + 10); }},
      {"addition", [](std::vector<CgroupItem>* v) { v->push_back(make_item(999)); }},
  };
  for (const auto& [what, mutate] : mutations) {
    mutate(&items);
    auto out = provider_->publish_now(shared(items));
    ASSERT_TRUE(out.ok()) << what;
    EXPECT_TRUE(out->changed) << what;
    EXPECT_EQ(out->generation, gen + 1) << what;
    gen = out->generation;
    expect_layouts_match(*provider_->current(), items);
  }
  // systemd_enabled is content too.
  auto out = provider_->publish_now(shared(items), 0);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->generation, gen + 1);
  EXPECT_EQ(provider_->current()->systemd_enabled, 0u);
  expect_layouts_match(*provider_->current(), items);
}

TEST_F(ProviderTest, EndpointServesBothLayoutsOfTheCurrentGeneration) {
  auto items = make_items(300);
  ASSERT_TRUE(provider_->publish_now(shared(items)).ok());
  const uint64_t gen = provider_->current()->generation;
  for (uint16_t layout : {uint16_t{1}, uint16_t{2}}) {
    FetcherOptions o;
    o.layout = layout;
    auto f = SnapshotFetcher::create(dir_.path(), service_, o);
    ASSERT_TRUE(f.ok());
    auto got = f->fetch();
    ASSERT_TRUE(got.ok()) << got.error().message();
    EXPECT_EQ(got->generation, gen);
    EXPECT_EQ(got->systemd_enabled, 1u);
    ASSERT_EQ(got->items.size(), items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      CgroupItem want = items[i];
      if (layout == 1) want.cgroup_id = 0;
      EXPECT_EQ(got->items[i], want);
    }
  }
}

TEST_F(ProviderTest, ClientsSeeANewGenerationOnTheirNextCall) {
  ASSERT_TRUE(provider_->publish_now(shared(make_items(5))).ok());
  auto f = SnapshotFetcher::create(dir_.path(), service_);
  ASSERT_TRUE(f.ok());
  auto a = f->fetch();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(provider_->publish_now(shared(make_items(6))).ok());
  auto b = f->fetch();  // same session
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->generation, a->generation + 1);
  EXPECT_EQ(b->items.size(), 6u);
  EXPECT_EQ(f->client_status().connect_count, 1u);
}

TEST_F(ProviderTest, UnknownLayoutRequestIsRejectedAndCounted) {
  ClientConfig c;
  c.run_dir = dir_.path();
  c.service = service_;
  c.method = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);
  auto client = Client::create(c);
  ASSERT_TRUE(client.ok());
  uint8_t req[codec::kCgroupsRequestLen];
  codec::encode_cgroups_request(7, req);
  auto r = client->call(ByteSpan(req, sizeof req));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::kBadEnvelope);
  EXPECT_GE(provider_->stats().requests_rejected, 1u);
}

TEST_F(ProviderTest, ResponseCeilingCoversALargeSnapshot) {
  // ~5000 items with 200-byte names: well past the 64 KiB initial ceiling.
  ASSERT_TRUE(provider_->publish_now(shared(make_items(5000, 200))).ok());
  auto cur = provider_->current();
  EXPECT_GE(provider_->response_ceiling(), std::max(cur->layout1->size(), cur->layout2->size()));
  auto f = SnapshotFetcher::create(dir_.path(), service_);
  ASSERT_TRUE(f.ok());
  auto got = f->fetch();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->items.size(), 5000u);
  // The first session's ceiling already fit: no overflow reconnects.
  EXPECT_EQ(f->client_status().reconnect_count, 0u);
}

TEST_F(ProviderTest, PublishFromAnotherThreadReturnsAtOnceAndLatestWins) {
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<bool> source_running{false};
  std::thread::id source_thread;
  // A source that holds the encoder thread until released.
  provider_->refresh_from([&]() -> Result<Items> {
    source_thread = std::this_thread::get_id();
    source_running = true;
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return release; });
    return shared(make_items(1));
  });
  ASSERT_TRUE(test::wait_until([&] { return source_running.load(); }));
  // Both hand-overs return while the encoder is busy; the second replaces
  // the first before it is encoded.
  std::thread other([&] {
    provider_->publish(make_items(2));
    provider_->publish(make_items(3));
  });
  other.join();
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(provider_->wait_idle(std::chrono::seconds(10)));
  EXPECT_NE(source_thread, std::this_thread::get_id());
  EXPECT_EQ(provider_->current()->item_count, 3u);
  ProviderStats s = provider_->stats();
  EXPECT_EQ(s.handovers, 3u);
  EXPECT_EQ(s.superseded, 1u);
  EXPECT_EQ(s.generations, 2u);  // the source's set, then the last one
  EXPECT_EQ(s.processed, 2u);
}

TEST_F(ProviderTest, SourceFailureKeepsTheCurrentSnapshot) {
  ASSERT_TRUE(provider_->publish_now(shared(make_items(4))).ok());
  const uint64_t gen = provider_->current()->generation;
  provider_->refresh_from(
      []() -> Result<Items> { return make_error(Errc::kNotFound, "test source"); });
  ASSERT_TRUE(provider_->wait_idle(std::chrono::seconds(10)));
  EXPECT_EQ(provider_->current()->generation, gen);
  EXPECT_EQ(provider_->current()->item_count, 4u);
  EXPECT_EQ(provider_->stats().failures, 1u);
}

TEST_F(ProviderTest, SourceReportingNoChangeKeepsTheSnapshotAndEncodesNothing) {
  ASSERT_TRUE(provider_->publish_now(shared(make_items(4))).ok());
  const auto before = provider_->current();
  const uint64_t generations = provider_->stats().generations;
  provider_->refresh_from([]() -> Result<Items> { return Items{}; });
  ASSERT_TRUE(provider_->wait_idle(std::chrono::seconds(10)));
  // The very same buffers are served: nothing was compared or encoded, and
  // a null set was not taken for an empty one.
  EXPECT_EQ(provider_->current(), before);
  EXPECT_EQ(provider_->current()->item_count, 4u);
  ProviderStats s = provider_->stats();
  EXPECT_EQ(s.generations, generations);
  EXPECT_EQ(s.unchanged, 1u);
  EXPECT_EQ(s.failures, 0u);
}

TEST_F(ProviderTest, SecondProviderOnTheSameEndpointIsRefused) {
  ProviderConfig c;
  c.run_dir = dir_.path();
  c.service = service_;
  auto p = CgroupsProvider::start(c);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.code(), Errc::kAddrInUse);
}

TEST_F(ProviderTest, StopRemovesTheSocketAndRefusesLaterPublishes) {
  const std::string sock = provider_->socket_path();
  ASSERT_EQ(::access(sock.c_str(), F_OK), 0);
  bool done = false;
  provider_->stop(1000, [&] { done = true; });
  EXPECT_TRUE(done);
  EXPECT_NE(::access(sock.c_str(), F_OK), 0);
  auto r = provider_->publish_now(shared(make_items(1)));
  EXPECT_EQ(r.code(), Errc::kAborted);
  provider_->publish(make_items(1));  // ignored, no crash
  EXPECT_EQ(provider_->stats().handovers, 0u);
}

TEST(ProviderGeneration, HostHookRunsOncePerNewGenerationOnThePublishingThread) {
  test::TempDir dir;
  std::vector<uint64_t> seen;
  std::thread::id hook_thread;
  ProviderConfig c;
  c.run_dir = dir.path();
  c.service = "hook";
  c.first_generation = 10;
  c.on_generation = [&](const PublishOutcome& o) {
    seen.push_back(o.generation);
    hook_thread = std::this_thread::get_id();
  };
  auto p = CgroupsProvider::start(c);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->publish_now(shared(make_items(2))).ok());
  ASSERT_TRUE((*p)->publish_now(shared(make_items(2))).ok());  // unchanged: no call
  EXPECT_EQ(hook_thread, std::this_thread::get_id());
  (*p)->publish(make_items(3));
  ASSERT_TRUE((*p)->wait_idle(std::chrono::seconds(10)));
  EXPECT_NE(hook_thread, std::this_thread::get_id());  // the encoder thread
  EXPECT_EQ(seen, (std::vector<uint64_t>{11, 12}));
}

TEST(ProviderGeneration, FirstGenerationComesFromTheWallClock) {
  test::TempDir dir;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  const uint64_t before_us = static_cast<uint64_t>(ts.tv_sec) * 1000000u + ts.tv_nsec / 1000u;
  uint64_t first = 0;
  for (int round = 0; round < 2; ++round) {
    ProviderConfig c;
    c.run_dir = dir.path();
    c.service = "gen";
    auto p = CgroupsProvider::start(c);
    ASSERT_TRUE(p.ok());
    auto out = (*p)->publish_now(shared(make_items(3)));
    ASSERT_TRUE(out.ok());
    if (round == 0) {
      EXPECT_GE(out->generation, before_us);
      first = out->generation;
    } else {
      // A restarted provider continues above what the last one served.
      EXPECT_GT(out->generation, first);
    }
  }
}

}  // namespace
}  // namespace netipc::cgroups_provider
