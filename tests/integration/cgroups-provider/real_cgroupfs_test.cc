// The scanner on this machine's real cgroupfs: cgroups are created with
// mkdir and removed with rmdir in a uniquely named subtree, and scanned with
// the real mount table. Without permission to create cgroups the tests skip
// and say why; the directory-tree tests (tests/unit/cgroups-provider) cover
// the same logic.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cgroups_provider/scanner.h"
#include "netipc/bytes.h"

namespace netipc::cgroups_provider {
namespace {

uint64_t ino_of(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

const CgroupItem* find_path(const std::vector<CgroupItem>& v, const std::string& path) {
  for (const auto& i : v) {
    if (i.path == path) return &i;
  }
  return nullptr;
}

const CgroupItem* find_name(const std::vector<CgroupItem>& v, const std::string& name) {
  for (const auto& i : v) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

class RealCgroupfs : public ::testing::Test {
 protected:
  void TearDown() override {
    // Deepest first: a cgroup with children cannot be removed.
    for (auto it = created_.rbegin(); it != created_.rend(); ++it)
      ::rmdir(it->c_str());
  }

  // mkdir that records what it made; on a permission problem it returns the
  // reason to skip with, else "".
  std::string make(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) == 0) {
      created_.push_back(path);
      return "";
    }
    int e = errno;
    if (e == EPERM || e == EACCES || e == EROFS) {
      return "cannot create cgroup " + path + ": " + std::strerror(e) +
             " (needs root with a writable cgroupfs)";
    }
    ADD_FAILURE() << "mkdir " << path << ": " << std::strerror(e);
    return "mkdir failed";
  }

  void remove(const std::string& path) {
    ASSERT_EQ(::rmdir(path.c_str()), 0) << path << ": " << std::strerror(errno);
    for (auto& c : created_) {
      if (c == path) c.clear();
    }
  }

  static bool is_fs(const std::string& path, long magic) {
    struct statfs s {};
    return ::statfs(path.c_str(), &s) == 0 && static_cast<long>(s.f_type) == magic;
  }

  // A name no other run uses; the search pattern walks only below it.
  std::string unique_ = "netipc-scan-" + std::to_string(::getpid());
  std::vector<std::string> created_;
};

TEST_F(RealCgroupfs, V2CgroupsAppearWithTheirInodeAndDisappear) {
  ScannerConfig cfg;
  cfg.fs.mode = CgroupMode::kV2;
  cfg.patterns.search = "/ /" + unique_ + " /" + unique_ + "/* !*";
  auto scanner = Scanner::create(cfg);
  ASSERT_TRUE(scanner.ok()) << scanner.error().message();
  const std::string base = scanner->layout().unified_base;
  if (!is_fs(base, CGROUP2_SUPER_MAGIC)) GTEST_SKIP() << base << " is not a cgroup2 mount";
  const std::string top = base + "/" + unique_;
  if (auto why = make(top); !why.empty()) GTEST_SKIP() << why;
  for (const char* sub : {"/app.slice", "/app.slice/web.scope", "/db.scope", "/svc.service"}) {
    if (auto why = make(top + sub); !why.empty()) GTEST_SKIP() << why;
  }

  auto r = scanner->scan();
  ASSERT_TRUE(r.ok()) << r.error().message();
  const uint32_t u = kCgroupOptIsUnified;
  struct Want {
    std::string id;
    std::string name;
    uint32_t enabled;
  };
  const std::string cid = unique_;  // no '.' in it: the chart id keeps it as is
  const std::vector<Want> wants = {
      {"/" + unique_, "cgroup_" + cid, 1},
      {"/" + unique_ + "/app.slice", "cgroup_" + cid + "/app-slice", 0},
      {"/" + unique_ + "/app.slice/web.scope", "cgroup_" + cid + "_app-slice_web-scope", 1},
      {"/" + unique_ + "/db.scope", "cgroup_" + cid + "_db-scope", 1},
      {"/" + unique_ + "/svc.service", "cgroup_" + cid + "/svc-service", 0},
  };
  for (const auto& w : wants) {
    const std::string path = base + w.id + "/cgroup.procs";
    const CgroupItem* it = find_path(*r->items, path);
    ASSERT_NE(it, nullptr) << w.id;
    EXPECT_EQ(*it, (CgroupItem{fnv1a32(w.name), u, w.enabled, w.name, path, ino_of(base + w.id)}))
        << w.id;
  }

  // cgroup2: the inode is the cgroup id eBPF reports, which is also the
  // 8-byte file handle of the directory.
  struct {
    file_handle fh;
    unsigned char bytes[8];
  } h{};
  h.fh.handle_bytes = 8;
  int mount_id = 0;
  const std::string db = top + "/db.scope";
  if (::name_to_handle_at(AT_FDCWD, db.c_str(), &h.fh, &mount_id, 0) == 0) {
    ASSERT_EQ(h.fh.handle_bytes, 8u);
    EXPECT_EQ(find_path(*r->items, db + "/cgroup.procs")->cgroup_id, load_u64(h.fh.f_handle));
  } else {
    // Kernels without kernfs file handles (before 5.7?) cannot confirm it.
    ASSERT_EQ(errno, EOPNOTSUPP) << std::strerror(errno);
    std::printf("note: no file handles on this cgroup2; cgroup id not cross-checked\n");
  }

  // Unchanged: nothing rebuilt. kernfs keeps nlink = 2 + subdirectories, so
  // only directories with children are listed: /, top, app.slice.
  auto same = scanner->scan();
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->changed);
  EXPECT_EQ(same->items.get(), r->items.get());
  EXPECT_EQ(same->stats.dirs_listed, 3u);

  // Removed, added, and a child under a former leaf.
  remove(top + "/db.scope");
  ASSERT_EQ(make(top + "/new.scope"), "");
  ASSERT_EQ(make(top + "/app.slice/web.scope/inner"), "");
  auto next = scanner->scan();
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(next->changed);
  EXPECT_EQ(find_path(*next->items, db + "/cgroup.procs"), nullptr);
  const CgroupItem* added = find_path(*next->items, top + "/new.scope/cgroup.procs");
  ASSERT_NE(added, nullptr);
  EXPECT_EQ(added->name, "cgroup_" + cid + "_new-scope");
  EXPECT_EQ(added->cgroup_id, ino_of(top + "/new.scope"));
  EXPECT_EQ(added->enabled, 1u);
  EXPECT_NE(find_path(*next->items, top + "/app.slice/web.scope/inner/cgroup.procs"), nullptr);
}

TEST_F(RealCgroupfs, V1ControllersMergeAndPathsRankCpusetBlkioMemory) {
  ScannerConfig cfg;
  cfg.fs.mode = CgroupMode::kV1;
  cfg.patterns.search = "/ /" + unique_ + " /" + unique_ + "/* !*";
  auto scanner = Scanner::create(cfg);
  ASSERT_TRUE(scanner.ok()) << scanner.error().message();
  const auto& l = scanner->layout();
  for (const std::string* b : {&l.cpuacct_base, &l.cpuset_base, &l.blkio_base, &l.memory_base}) {
    if (!is_fs(*b, CGROUP_SUPER_MAGIC)) GTEST_SKIP() << *b << " is not a cgroup v1 mount";
  }
  const std::string id = "/" + unique_;
  // A mkdir creates the cgroup in that one hierarchy only.
  for (const std::string* b : {&l.cpuacct_base, &l.cpuset_base, &l.blkio_base, &l.memory_base}) {
    if (auto why = make(*b + id); !why.empty()) GTEST_SKIP() << why;
    if (auto why = make(*b + id + "/all.scope"); !why.empty()) GTEST_SKIP() << why;
  }
  ASSERT_EQ(make(l.cpuacct_base + id + "/acct-mem.scope"), "");
  ASSERT_EQ(make(l.memory_base + id + "/acct-mem.scope"), "");
  ASSERT_EQ(make(l.cpuacct_base + id + "/acct-only.scope"), "");

  auto r = scanner->scan();
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto check = [&](const std::string& name, uint32_t enabled, const std::string& path,
                   uint64_t cgroup_id) {
    const CgroupItem* it = find_name(*r->items, name);
    ASSERT_NE(it, nullptr) << name;
    EXPECT_EQ(*it, (CgroupItem{fnv1a32(name), 0, enabled, name, path, cgroup_id}));
  };
  const std::string cid = unique_;
  check("cgroup_" + cid + "_all-scope", 1, l.cpuset_base + id + "/all.scope/cgroup.procs",
        ino_of(l.cpuset_base + id + "/all.scope"));
  check("cgroup_" + cid + "_acct-mem-scope", 1, l.memory_base + id + "/acct-mem.scope/cgroup.procs",
        ino_of(l.memory_base + id + "/acct-mem.scope"));
  check("cgroup_" + cid + "_acct-only-scope", 0, "",
        ino_of(l.cpuacct_base + id + "/acct-only.scope"));

  // The cpuset directory goes away: the path falls back to blkio.
  remove(l.cpuset_base + id + "/all.scope");
  auto next = scanner->scan();
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(next->changed);
  const CgroupItem* all = find_name(*next->items, "cgroup_" + cid + "_all-scope");
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(all->path, l.blkio_base + id + "/all.scope/cgroup.procs");
  EXPECT_EQ(all->cgroup_id, ino_of(l.blkio_base + id + "/all.scope"));

  // Gone from every registering hierarchy: gone from the items.
  remove(l.cpuacct_base + id + "/acct-only.scope");
  auto last = scanner->scan();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(find_name(*last->items, "cgroup_" + cid + "_acct-only-scope"), nullptr);
}

}  // namespace
}  // namespace netipc::cgroups_provider
