// The provider daemon and the ebpf consumer as two processes over cgroups:
// netipc-cgroups-provider serves the host's cgroups; a consumer process
// (the ebpf.plugin C ABI, one blocking refresh, in a forked child) reports
// the targets it built. A sleeper moved into a cgroup created for the test
// shows up as that cgroup's target with its PID and the cgroup's inode;
// once it is moved back and the cgroup removed, the target is gone.
// Real cgroups (the hierarchy the provider walks: cgroup2 on a v2 host, the
// memory controller on v1 and hybrid ones) where the machine lets the test
// create them, skipped loudly otherwise; the same scenario on a directory
// tree shaped like a v2 host (cgroup.procs written by the test) always.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <fstream>
#include <sstream>

#include "../../unit/cgroups-provider/fake_cgroupfs.h"
#include "../../unit/cgroups-provider/snapshot_fetcher.h"
#include "cgroup_tree_util.h"
#include "cgroups_provider/cgroupfs.h"
#include "ebpf_consumer/netipc_ebpf.h"
#include "test_support.h"

namespace netipc::cgroups_provider {
namespace {

using testing::FakeHost;
using testing::HostKind;

uint64_t ino(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// What the consumer process saw for the target whose cgroup.procs is `procs`.
struct Seen {
  bool refreshed = false;  // the refresh succeeded
  bool found = false;
  uint64_t cgroup_id = 0;
  std::vector<pid_t> pids;
  std::string raw;  // the consumer's output, for failure messages
};

// Runs one consumer process: create, one blocking refresh, look the target
// up among the view's targets by its path, print it, exit.
Seen consume_once(const std::string& run_dir, const std::string& service,
                  const std::string& procs) {
  test::Child c = test::Child::fork_fn([&]() -> int {
    netipc_ebpf_consumer* cons = nullptr;
    if (netipc_ebpf_create(run_dir.c_str(), service.c_str(), 0, nullptr, &cons) != 0) return 1;
    std::string out;
    const int rc = netipc_ebpf_refresh(cons, 5000, nullptr);
    if (rc != NETIPC_EBPF_OK) {
      out = std::string("ERROR ") + netipc_ebpf_strerror(rc) + "\n";
    } else {
      netipc_ebpf_view* v = netipc_ebpf_view_acquire(cons);
      netipc_ebpf_view_info info{};
      netipc_ebpf_view_get_info(v, &info);
      out = "ABSENT\n";
      for (size_t i = 0; i < info.target_count; ++i) {
        netipc_ebpf_target t{};
        if (netipc_ebpf_view_target(v, i, &t) != NETIPC_EBPF_OK || procs != t.path) continue;
        out = "FOUND " + std::to_string(t.cgroup_id);
        for (size_t k = 0; k < t.pid_count; ++k)
          out += " " + std::to_string(t.pids[k]);
        out += "\n";
      }
      netipc_ebpf_view_release(v);
    }
    netipc_ebpf_destroy(cons);
    return ::write(STDOUT_FILENO, out.data(), out.size()) == static_cast<ssize_t>(out.size()) ? 0
                                                                                              : 2;
  });
  Seen s;
  s.raw = c.read_all(std::chrono::seconds(20));
  c.wait();
  std::istringstream in(s.raw);
  std::string word;
  in >> word;
  s.refreshed = word == "FOUND" || word == "ABSENT";
  s.found = word == "FOUND";
  if (s.found) {
    in >> s.cgroup_id;
    pid_t p;
    while (in >> p)
      s.pids.push_back(p);
  }
  return s;
}

bool write_pid(const std::string& procs, pid_t pid) {
  std::ofstream f(procs);
  f << pid << "\n";
  f.flush();
  return static_cast<bool>(f);
}

// The cgroup the test creates, on either kind of tree.
struct Place {
  std::string cgroup_root;  // the provider's --cgroup-root
  std::string dir;          // the test's cgroup
  // Moves `pid` in, and back out to where it came from.
  std::function<bool(pid_t)> enter;
  std::function<bool(pid_t)> leave;
  std::function<bool()> remove;
};

void run_scenario(const Place& place) {
  test::TempDir run;
  const std::string service = test::unique_service("e2e");
  const std::string procs = place.dir + "/cgroup.procs";
  test::Child provider =
      testing::spawn_provider({"--cgroup-root", place.cgroup_root, "--run-dir", run.path(),
                               "--service", service, "--rescan", "0.2"});
  ASSERT_TRUE(provider.wait_for_line("READY", std::chrono::seconds(30))) << provider.output();

  test::Child sleeper = cgroup_tree::sleeper();
  ASSERT_TRUE(sleeper.valid());
  ASSERT_TRUE(place.enter(sleeper.pid())) << procs;

  Seen seen;
  ASSERT_TRUE(test::wait_until(
      [&] {
        seen = consume_once(run.path(), service, procs);
        return seen.found && !seen.pids.empty();
      },
      std::chrono::seconds(30)))
      << "consumer: " << seen.raw << "provider: " << provider.output();
  EXPECT_EQ(seen.pids, std::vector<pid_t>{sleeper.pid()});
  EXPECT_EQ(seen.cgroup_id, ino(place.dir));

  ASSERT_TRUE(place.leave(sleeper.pid()));
  ASSERT_TRUE(place.remove()) << place.dir << ": " << std::strerror(errno);
  ASSERT_TRUE(test::wait_until(
      [&] {
        seen = consume_once(run.path(), service, procs);
        return seen.refreshed && !seen.found;
      },
      std::chrono::seconds(30)))
      << "consumer: " << seen.raw << "provider: " << provider.output();
  cgroup_tree::kill_and_reap(sleeper);
}

TEST(ProviderConsumerE2e, DirectoryTreeShapedLikeAV2Host) {
  FakeHost host(HostKind::kV2);
  const std::string id = "/" + test::unique_service("e2e") + "/work";
  host.add(host.unified(), id);
  Place place;
  place.cgroup_root = host.root();
  place.dir = host.unified() + id;
  const std::string procs = place.dir + "/cgroup.procs";
  place.enter = [&](pid_t pid) { return write_pid(procs, pid); };
  place.leave = [&](pid_t) { return static_cast<bool>(std::ofstream(procs, std::ios::trunc)); };
  place.remove = [&] {
    host.remove(host.unified(), id);
    return ::access(place.dir.c_str(), F_OK) != 0;
  };
  run_scenario(place);
}

TEST(ProviderConsumerE2e, RealCgroupsOfThisMachine) {
  CgroupfsConfig fs;  // this machine, as Netdata sees it
  auto layout = detect_cgroupfs(fs);
  ASSERT_TRUE(layout.ok()) << layout.error().message();
  const bool v2 = layout->version == CgroupVersion::kV2;
  const std::string base = v2 ? layout->unified_base : layout->memory_base;
  cgroup_tree::RealCgroupfs tree(base);
  if (const std::string why = tree.probe(); !why.empty()) {
    GTEST_SKIP() << "SKIPPED LOUDLY: cannot create cgroups under " << base << " (" << why
                 << "); the directory-tree twin of this test ran instead";
  }
  ASSERT_TRUE(tree.create("work")) << std::strerror(errno);
  Place place;
  place.cgroup_root = "/sys/fs/cgroup";
  const std::string procs = tree.procs("work");
  place.dir = procs.substr(0, procs.size() - std::string("/cgroup.procs").size());
  place.enter = [&](pid_t pid) { return write_pid(procs, pid); };
  place.leave = [&](pid_t pid) { return write_pid(base + "/cgroup.procs", pid); };
  place.remove = [&] { return tree.remove("work"); };
  run_scenario(place);
}

}  // namespace
}  // namespace netipc::cgroups_provider
