// Target (one block: fixed fields, PIDs, name, path) and TargetRef, its
// intrusive reference count.
#include "ebpf_consumer/target.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "netipc/bytes.h"
#include "test_support.h"

namespace netipc::ebpf {
namespace {

using ::testing::ElementsAre;

CgroupItemView item_of(std::string_view name, std::string_view path, uint32_t options = 0,
                       uint64_t cgroup_id = 0) {
  return CgroupItemView{fnv1a32(name), options, 1, name, path, cgroup_id};
}

TargetRef make_target(std::string_view name, std::string_view path, const std::vector<pid_t>& pids,
                      uint32_t options = 0, uint64_t id = 1) {
  auto r = Target::make(item_of(name, path, options, 77), id, 3, pids.data(), pids.size());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? std::move(r).value() : TargetRef();
}

// True if [p, p + n) lies inside the target's block.
bool in_block(const Target& t, const void* p, size_t n) {
  const auto* begin = reinterpret_cast<const char*>(&t);
  const auto* q = static_cast<const char*>(p);
  return q >= begin && q + n <= begin + t.block_bytes();
}

TEST(Target, MakeKeepsFieldsNamePathAndPidsInOneBlock) {
  const size_t live = Target::live_instances();
  TargetRef t = make_target("systemd_db.service", "/sys/fs/cgroup/system.slice/db/cgroup.procs",
                            {7, 101, 4000}, kCgroupOptSystemdService | kCgroupOptIsUnified, 42);
  ASSERT_TRUE(t);
  EXPECT_EQ(Target::live_instances(), live + 1);
  EXPECT_EQ(t->id, 42u);
  EXPECT_EQ(t->added_pass, 3u);
  EXPECT_EQ(t->cgroup_id, 77u);
  EXPECT_EQ(t->hash, fnv1a32("systemd_db.service"));
  EXPECT_EQ(t->options, kCgroupOptSystemdService | kCgroupOptIsUnified);
  EXPECT_TRUE(t->systemd);
  EXPECT_EQ(t->name, "systemd_db.service");
  EXPECT_EQ(t->path, "/sys/fs/cgroup/system.slice/db/cgroup.procs");
  EXPECT_THAT(t->pids, ElementsAre(7, 101, 4000));
  EXPECT_EQ(t->name.c_str()[t->name.size()], '\0');
  EXPECT_EQ(t->path.c_str()[t->path.size()], '\0');
  EXPECT_EQ(std::strlen(t->path.c_str()), t->path.size());
  EXPECT_EQ(t->block_bytes(),
            sizeof(Target) + 3 * sizeof(pid_t) + t->name.size() + 1 + t->path.size() + 1);
  EXPECT_TRUE(in_block(*t, t->pids.data(), 3 * sizeof(pid_t)));
  EXPECT_TRUE(in_block(*t, t->name.data(), t->name.size() + 1));
  EXPECT_TRUE(in_block(*t, t->path.data(), t->path.size() + 1));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->pids.data()) % alignof(pid_t), 0u);
  EXPECT_TRUE(t->has_pid(101));
  EXPECT_FALSE(t->has_pid(100));
  EXPECT_FALSE(t->has_pid(4001));
  t.reset();
  EXPECT_EQ(Target::live_instances(), live);
}

TEST(Target, SystemdIsOptionBit0x2Only) {
  EXPECT_FALSE(make_target("cgroup_a", "/a", {}, kCgroupOptIsUnified)->systemd);
  EXPECT_TRUE(make_target("systemd_a", "/a", {}, kCgroupOptSystemdService)->systemd);
}

TEST(Target, EmptyNamePathAndNoPidsStillGiveValidNulTerminatedStorage) {
  TargetRef t = make_target("", "", {});
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->name.empty());
  EXPECT_TRUE(t->path.empty());
  EXPECT_TRUE(t->pids.empty());
  ASSERT_NE(t->name.c_str(), nullptr);
  ASSERT_NE(t->path.c_str(), nullptr);
  EXPECT_EQ(t->name.c_str()[0], '\0');
  EXPECT_EQ(t->path.c_str()[0], '\0');
  EXPECT_EQ(t->pids.begin(), t->pids.end());
  EXPECT_FALSE(t->has_pid(1));
  EXPECT_EQ(t->block_bytes(), sizeof(Target) + 2);
}

TEST(Target, EmbeddedNulsInTheNameAreKept) {
  const std::string name("cgroup_a\0b", 10);
  TargetRef t = make_target(name, "/p", {1});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name.size(), 10u);
  EXPECT_EQ(std::string_view(t->name), name);
  EXPECT_NE(t->name, "cgroup_a");
  EXPECT_EQ(t->name.c_str()[10], '\0');
}

TEST(Target, LongNamesAndPathsAreStoredWhole) {
  std::string name = "cgroup_", path = "/sys/fs/cgroup";
  for (int i = 0; name.size() < 70000; ++i)
    name += "k8s_pod_" + std::to_string(i) + "_";
  while (path.size() < 4000)
    path += "/kubepods-burstable-pod0123456789abcdef.slice";
  path += "/cgroup.procs";
  TargetRef t = make_target(name, path, {5});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name, name);
  EXPECT_EQ(t->path, path);
  EXPECT_EQ(std::strlen(t->name.c_str()), name.size());
  EXPECT_EQ(std::strlen(t->path.c_str()), path.size());
  EXPECT_THAT(t->pids, ElementsAre(5));
}

TEST(Target, ManyPidsAreStoredInTheBlockToo) {
  std::vector<pid_t> many;
  for (pid_t p = 1; p <= 300000; p += 3)
    many.push_back(p);
  TargetRef big = make_target("cgroup_big", "/big", many);
  TargetRef one = make_target("cgroup_one", "/one", {99});
  ASSERT_TRUE(big && one);
  ASSERT_EQ(big->pids.size(), many.size());
  EXPECT_TRUE(std::equal(big->pids.begin(), big->pids.end(), many.begin(), many.end()));
  EXPECT_TRUE(in_block(*big, big->pids.data(), many.size() * sizeof(pid_t)));
  EXPECT_EQ(big->name, "cgroup_big") << "name follows the PIDs, not overwritten by them";
  EXPECT_EQ(big->path, "/big");
  EXPECT_TRUE(big->has_pid(299998));
  EXPECT_FALSE(big->has_pid(299999));
  EXPECT_EQ(one->block_bytes() + (many.size() - 1) * sizeof(pid_t), big->block_bytes());
}

TEST(Target, ComparisonsAreByteWise) {
  TargetRef a = make_target("cgroup_a", "/a", {});
  TargetRef b = make_target("cgroup_b", "/a", {});
  TargetRef a2 = make_target("cgroup_a", "/b", {});
  EXPECT_TRUE(a->name < b->name);
  EXPECT_FALSE(b->name < a->name);
  EXPECT_TRUE(a->name == a2->name);
  EXPECT_TRUE(a->path != a2->path);
  EXPECT_TRUE(std::string_view("cgroup_a") == a->name);
  EXPECT_EQ(std::string(a->name), "cgroup_a");
  EXPECT_EQ(a->name[7], 'a');
}

TEST(TargetRef, CopiesAndMovesCountReferencesAndTheLastOneFrees) {
  const size_t live = Target::live_instances();
  TargetRef a = make_target("cgroup_a", "/a", {1});
  const Target* raw = a.get();
  EXPECT_EQ(a.use_count(), 1u);
  TargetRef b = a;
  EXPECT_EQ(a.use_count(), 2u);
  EXPECT_EQ(b.get(), raw);
  TargetRef c = std::move(b);
  EXPECT_FALSE(b);
  EXPECT_EQ(b.use_count(), 0u);
  EXPECT_EQ(c.use_count(), 2u);
  TargetRef d;
  d = c;
  EXPECT_EQ(a.use_count(), 3u);
  TargetRef& alias = d;
  d = alias;  // self-assignment keeps the reference
  EXPECT_EQ(a.use_count(), 3u);
  d = std::move(alias);
  EXPECT_EQ(a.use_count(), 3u);
  ASSERT_TRUE(d);
  TargetRef other = make_target("cgroup_o", "/o", {});
  d = other;  // drops its reference to a's target
  EXPECT_EQ(a.use_count(), 2u);
  EXPECT_EQ(other.use_count(), 2u);
  a.reset();
  c.reset();
  EXPECT_EQ(Target::live_instances(), live + 1) << "only `other` remains";
  d = TargetRef();
  other = TargetRef();
  EXPECT_EQ(Target::live_instances(), live);
}

// Many threads copy and drop references to the same targets while the owner
// drops its own: each block is freed exactly once, by whichever thread
// holds the last reference, after every reader is done with it
// (ThreadSanitizer checks the ordering in the tsan build).
TEST(TargetRef, ConcurrentCopiesAndReleasesFreeEachTargetOnce) {
  const size_t live = Target::live_instances();
  for (int round = 0; round < 50; ++round) {
    std::vector<TargetRef> shared;
    for (int i = 0; i < 8; ++i) {
      shared.push_back(make_target("cgroup_" + std::to_string(i), "/p/" + std::to_string(i),
                                   {static_cast<pid_t>(i + 1)}));
    }
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int th = 0; th < 4; ++th) {
      // Each thread gets its own copies, then copies them further and reads.
      threads.emplace_back([held = shared, &bad]() mutable {
        for (int k = 0; k < 200; ++k) {
          for (const TargetRef& r : held) {
            TargetRef copy = r;
            if (copy->name.size() < 8 || copy->pids.size() != 1 ||
                copy->path.c_str()[copy->path.size()] != '\0') {
              bad.fetch_add(1);
            }
          }
        }
        held.clear();
      });
    }
    shared.clear();  // the last reference may be on any thread now
    for (auto& t : threads)
      t.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(Target::live_instances(), live);
  }
}

TEST(Target, BlocksPast4GiBAreLimitExceeded) {
  // make() checks sizes before it reads a byte: the oversized views below
  // are never dereferenced (and hashes are given, not computed).
  static const char kBytes[] = "/a";
  const pid_t pid = 1;
  const std::string_view small(kBytes, 2);
  auto r = Target::make(CgroupItemView{1, 0, 1, small, small, 0}, 1, 1, &pid, size_t{1} << 30);
  EXPECT_EQ(r.code(), Errc::kLimitExceeded);
  const std::string_view huge_path(kBytes, (size_t{1} << 32) - sizeof(Target));
  r = Target::make(CgroupItemView{1, 0, 1, small, huge_path, 0}, 1, 1, &pid, 1);
  EXPECT_EQ(r.code(), Errc::kLimitExceeded);
  const std::string_view huge_name(kBytes, size_t{1} << 33);
  r = Target::make(CgroupItemView{1, 0, 1, huge_name, small, 0}, 1, 1, &pid, 0);
  EXPECT_EQ(r.code(), Errc::kLimitExceeded);
}

// RLIMIT_AS makes malloc() of a large block fail. Sanitizer runtimes reserve
// terabytes of address space (and ASan aborts on a failed allocation), so the
// limit cannot be applied under them.
TEST(Target, FailedAllocationIsNoMemory) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "RLIMIT_AS cannot be lowered under a sanitizer runtime";
#endif
  test::Child child = test::Child::fork_fn([] {
    std::ifstream statm("/proc/self/statm");
    unsigned long pages = 0;
    if (!(statm >> pages)) return 70;
    const rlim_t now = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE));
    rlimit lim{now + (64u << 20), now + (64u << 20)};
    if (::setrlimit(RLIMIT_AS, &lim) != 0) return 71;
    const pid_t pid = 1;
    // 1 GiB of PIDs: within the 4 GiB block limit, past the address space.
    auto r = Target::make(item_of("cgroup_a", "/a"), 1, 1, &pid, size_t{1} << 28);
    return r.code() == Errc::kNoMemory ? 0 : 72;
  });
  ASSERT_TRUE(child.valid());
  EXPECT_EQ(child.wait(), 0);
}

}  // namespace
}  // namespace netipc::ebpf
