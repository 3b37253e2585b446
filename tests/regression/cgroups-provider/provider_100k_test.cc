// 100,000 cgroups served by netipc-cgroups-provider and fetched completely:
// a v2 directory tree (docker, podman and kubernetes scopes under four
// slices, on /dev/shm), the daemon as a real process, and clients that
// fetch layout 2 over the socket, layout 1 over the socket and layout 2
// over shared memory. Every leaf is checked field by field, then 1,000 are
// replaced and the next snapshot must show exactly that.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <unordered_map>

#include "../../unit/cgroups-provider/fake_cgroupfs.h"
#include "../../unit/cgroups-provider/snapshot_fetcher.h"
#include "test_support.h"

namespace netipc::cgroups_provider {
namespace {

using testing::FakeHost;
using testing::Fetched;
using testing::FetcherOptions;
using testing::HostKind;
using testing::SnapshotFetcher;
using Clock = std::chrono::steady_clock;

constexpr size_t kPerSlice = 25000;
constexpr size_t kSlices = 4;
constexpr uint32_t kU = kCgroupOptIsUnified;

struct Slice {
  const char* id;
  const char* leaf_prefix;
  const char* chart_prefix;  // the leaf's chart id without the hex and "-scope"
};
const Slice kSliceDefs[kSlices] = {
    {"/system.slice", "docker-", "system-slice_docker-"},
    {"/machine.slice", "libpod-", "machine-slice_libpod-"},
    {"/kubepods.slice/kubepods-besteffort.slice", "cri-containerd-",
     "kubepods-slice_kubepods-besteffort-slice_cri-containerd-"},
    {"/kubepods.slice/kubepods-burstable.slice", "crio-",
     "kubepods-slice_kubepods-burstable-slice_crio-"},
};

// A 64-hex-digit container id from (slice, index, round).
std::string hex_id(size_t s, size_t i, size_t round = 0) {
  char buf[65];
  uint64_t x = (s + 1) * 0x9E3779B97F4A7C15ull ^ (i * 0xC2B2AE3D27D4EB4Full) ^ (round << 60);
  for (int k = 0; k < 64; k += 16) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    std::snprintf(buf + k, 17, "%016llx", static_cast<unsigned long long>(x));
  }
  return std::string(buf, 64);
}

std::string leaf(size_t s, const std::string& hex) {
  return std::string(kSliceDefs[s].leaf_prefix) + hex + ".scope";
}
std::string leaf_name(size_t s, const std::string& hex) {
  std::string chart = std::string(kSliceDefs[s].chart_prefix) + hex + "-scope";
  return "cgroup_" + chart.substr(0, 100);  // the script fallback's 100-byte cut
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

class Provider100k : public ::testing::Test {
 protected:
  void SetUp() override {
    t_setup_ = Clock::now();
    for (size_t s = 0; s < kSlices; ++s) {
      host_.add(host_.unified(), kSliceDefs[s].id);
      std::vector<std::string> names;
      for (size_t i = 0; i < kPerSlice; ++i)
        names.push_back(leaf(s, hex_id(s, i)));
      host_.add_leaves(host_.unified() + kSliceDefs[s].id, names);
      for (size_t i = 0; i < kPerSlice; ++i)
        expect_leaf(s, hex_id(s, i));
    }
  }

  std::string leaf_dir(size_t s, const std::string& hex) const {
    return host_.unified() + kSliceDefs[s].id + "/" + leaf(s, hex);
  }
  // Records the item a leaf must have (its inode read once).
  void expect_leaf(size_t s, const std::string& hex) {
    const std::string dir = leaf_dir(s, hex);
    expected_[dir + "/cgroup.procs"] =
        testing::item(leaf_name(s, hex), kU, 1, dir + "/cgroup.procs", FakeHost::ino(dir));
  }
  void forget_leaf(size_t s, const std::string& hex) {
    expected_.erase(leaf_dir(s, hex) + "/cgroup.procs");
  }

  // How far `got` is from the expected leaves (field by field; layout 1
  // has no cgroup ids) plus the six slice/root cgroups.
  size_t mismatches(const Fetched& got, bool with_ids, std::string* first_bad = nullptr) const {
    size_t matched = 0;
    for (const auto& it : got.items) {
      auto e = expected_.find(it.path);
      if (e == expected_.end()) continue;  // a slice or the root
      CgroupItem want = e->second;
      if (!with_ids) want.cgroup_id = 0;
      if (it == want) {
        ++matched;
      } else if (first_bad != nullptr && first_bad->empty()) {
        *first_bad = it.path;
      }
    }
    size_t bad = expected_.size() - std::min(matched, expected_.size());
    if (got.items.size() != expected_.size() + 6) ++bad;
    return bad;
  }

  void expect_complete(const Fetched& got, bool with_ids) const {
    EXPECT_EQ(got.items.size(), kSlices * kPerSlice + 6);
    std::string first_bad;
    EXPECT_EQ(mismatches(got, with_ids, &first_bad), 0u) << "first: " << first_bad;
  }

  FakeHost host_{HostKind::kV2, "/dev/shm"};
  test::TempDir run_;
  std::unordered_map<std::string, CgroupItem> expected_;  // by cgroup.procs path
  Clock::time_point t_setup_;
};

TEST_F(Provider100k, ServedAndFetchedCompletelyInBothLayoutsAndAfterChurn) {
  std::printf("[ info ] tree built in %.0f ms\n", ms_since(t_setup_));
  auto t0 = Clock::now();
  test::Child p = testing::spawn_provider({"--cgroup-root", host_.root(), "--run-dir", run_.path(),
                                           "--service", "big", "--rescan", "0.5", "--max-cgroups",
                                           "150000", "--transport", "shm"});
  ASSERT_TRUE(p.wait_for_line("READY", std::chrono::seconds(60))) << p.output();
  const double ready_ms = ms_since(t0);

  struct Way {
    const char* what;
    FetcherOptions o;
  };
  FetcherOptions l2, l1, shm;
  l2.layout = 2;
  l1.layout = 1;
  shm.layout = 2;
  shm.shm = true;
  uint64_t generation = 0;
  for (const Way& w : {Way{"layout 2 over the socket", l2}, Way{"layout 1 over the socket", l1},
                       Way{"layout 2 over shared memory", shm}}) {
    SCOPED_TRACE(w.what);
    auto f = SnapshotFetcher::create(run_.path(), "big", w.o);
    ASSERT_TRUE(f.ok());
    t0 = Clock::now();
    auto got = f->fetch();
    ASSERT_TRUE(got.ok()) << got.error().message();
    std::printf("[ info ] %s: %zu items fetched in %.0f ms\n", w.what, got->items.size(),
                ms_since(t0));
    if (generation == 0) generation = got->generation;
    EXPECT_EQ(got->generation, generation);  // no change between the fetches
    expect_complete(*got, w.o.layout == 2);
    // The server's ceiling covered the snapshot on the first session.
    EXPECT_EQ(f->client_status().reconnect_count, 0u);
  }

  // Churn: 1,000 docker containers replaced by new ones.
  t0 = Clock::now();
  std::vector<std::string> added;
  for (size_t i = 0; i < 1000; ++i) {
    host_.remove(host_.unified() + kSliceDefs[0].id, "/" + leaf(0, hex_id(0, i)));
    forget_leaf(0, hex_id(0, i));
    added.push_back(leaf(0, hex_id(0, i, 1)));
  }
  host_.add_leaves(host_.unified() + kSliceDefs[0].id, added);
  for (size_t i = 0; i < 1000; ++i)
    expect_leaf(0, hex_id(0, i, 1));
  auto f = SnapshotFetcher::create(run_.path(), "big", l2);
  ASSERT_TRUE(f.ok());
  // Poll the generation (cheap); check everything once per new one (a
  // rescan may have caught the churn half done).
  Fetched after;
  uint64_t checked = generation;
  const bool complete = test::wait_until(
      [&] {
        auto g = f->fetch_generation();
        if (!g.ok() || *g == checked) return false;
        auto r = f->fetch();
        if (!r.ok()) return false;
        after = std::move(*r);
        checked = after.generation;
        return mismatches(after, true) == 0;
      },
      std::chrono::seconds(20));
  EXPECT_TRUE(complete) << p.output();
  std::printf("[ info ] churn of 1,000 cgroups served %.0f ms after it began\n", ms_since(t0));
  EXPECT_GT(after.generation, generation);
  expect_complete(after, true);
  std::printf("[ info ] 100,006 cgroups: READY %.0f ms after start (Debug build)\n", ready_ms);
}

}  // namespace
}  // namespace netipc::cgroups_provider
