// The directory walk. Every directory is reached relative to its parent's
// fd (openat/fstatat), listed with getdents64 into a reused buffer, and
// compared with what the previous scan saw.
//
// What cgroupfs (kernfs) updates, measured on Linux 6.18 for cgroup v1 and
// cgroup2 (see docs/provider-scanner.md): creating or removing a child
// cgroup does NOT change the parent's mtime or ctime, so timestamps cannot
// tell that a directory's listing is unchanged; the parent's link count
// does change (nlink = 2 + number of subdirectories); inode numbers are not
// reused right away. So every directory with subdirectories is listed on
// every scan, and a directory whose nlink is 2 has no subdirectories and is
// not opened at all. The mtime/ctime comparison only decides when to look
// for cgroup.procs again (it matters on ordinary filesystems; cgroupfs
// creates cgroup.procs with the directory).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "netipc/unique_fd.h"
#include "scanner_internal.h"
#include "sys_linux.h"

namespace netipc::cgroups_provider::detail {
namespace {

using ::netipc::detail::sys_call;

constexpr size_t kDentsBufferSize = size_t{64} * 1024;
constexpr int kDirOpenFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW;

// Filesystems known to keep a directory's nlink at 2 + subdirectories.
bool nlink_counts_subdirs(long magic) {
  switch (magic) {
    case 0x27e0eb:    // CGROUP_SUPER_MAGIC
    case 0x63677270:  // CGROUP2_SUPER_MAGIC
    case 0x01021994:  // TMPFS_MAGIC
    case 0xEF53:      // EXT2/3/4
    case 0x58465342:  // XFS
      return true;
    default:
      return false;
  }
}

int64_t ns_of(const timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

unsigned count_slashes(std::string_view id) {
  unsigned n = 0;
  for (char c : id)
    n += c == '/';
  return n;
}

uint64_t stamp_of(const struct stat& st) {
  // Only compared for equality with the previous scan's.
  return static_cast<uint64_t>(ns_of(st.st_mtim)) * 0x9E3779B97F4A7C15ull ^
         static_cast<uint64_t>(ns_of(st.st_ctim));
}

// Drops a node's subdirectories; true when it had any.
bool drop_children(Tree* tree, DirNode* node) {
  if (node->children.empty()) return false;
  tree->release(*node, false);
  std::vector<DirNode>().swap(node->children);
  return true;
}

// Makes `children` follow `listing` (same names, same order), keeping the
// state of directories seen before. Returns true when one was removed.
bool reconcile(Tree* tree, std::vector<DirNode>* children, const Listing& listing) {
  const size_t n = listing.entries.size();
  if (children->size() == n) {
    size_t i = 0;
    while (i < n && tree->name_of((*children)[i]) == listing.name(i))
      ++i;
    if (i == n) return false;  // the common case: nothing moved
  }
  // Every lookup before the first new name is added: adding may move the
  // arena the keys point into.
  std::unordered_map<std::string_view, uint32_t> old_index;
  old_index.reserve(children->size());
  for (uint32_t i = 0; i < children->size(); ++i)
    old_index.emplace(tree->name_of((*children)[i]), i);
  std::vector<int64_t> from(n, -1);
  std::vector<bool> kept(children->size(), false);
  for (size_t j = 0; j < n; ++j) {
    auto it = old_index.find(listing.name(j));
    if (it != old_index.end()) {
      from[j] = it->second;
      kept[it->second] = true;
    }
  }
  old_index.clear();
  bool removed = false;
  for (size_t i = 0; i < children->size(); ++i) {
    if (kept[i]) continue;
    tree->release((*children)[i], true);
    removed = true;
  }
  std::vector<DirNode> next;
  next.reserve(n);
  for (size_t j = 0; j < n; ++j) {
    if (from[j] >= 0) {
      next.push_back(std::move((*children)[static_cast<size_t>(from[j])]));
    } else {
      next.emplace_back();
      const std::string_view name = listing.name(j);
      next.back().name_off = tree->names.add(name);
      next.back().name_len = static_cast<uint16_t>(name.size());
    }
  }
  children->swap(next);
  return removed;
}

}  // namespace

Walker::Walker() : dents_(kDentsBufferSize) {}

bool Walker::list(int fd, Listing* out) {
  out->names.clear();
  out->entries.clear();
  for (;;) {
    auto n = sys_call("getdents64", [&] { return ::getdents64(fd, dents_.data(), dents_.size()); });
    if (!n.ok()) return false;
    if (*n == 0) return true;
    size_t off = 0;
    const auto end = static_cast<size_t>(*n);
    while (off < end) {
      // struct dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[].
      const char* rec = dents_.data() + off;
      uint64_t ino;
      uint16_t reclen;
      unsigned char type;
      std::memcpy(&ino, rec + offsetof(struct dirent64, d_ino), sizeof ino);
      std::memcpy(&reclen, rec + offsetof(struct dirent64, d_reclen), sizeof reclen);
      std::memcpy(&type, rec + offsetof(struct dirent64, d_type), sizeof type);
      const char* name = rec + offsetof(struct dirent64, d_name);
      off += reclen;
      if (reclen == 0) return false;  // never from a sane kernel; do not loop
      if (type != DT_DIR && type != DT_UNKNOWN) continue;
      size_t len = ::strnlen(name, reclen - offsetof(struct dirent64, d_name));
      if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) continue;
      out->entries.push_back(Listing::Entry{static_cast<uint32_t>(out->names.size()),
                                            static_cast<uint32_t>(len), ino, type});
      out->names.append(name, len);
    }
  }
}

bool Walker::procs_exists(int at_fd, std::string_view dir_name) {
  scratch_.assign(dir_name);
  if (!scratch_.empty()) scratch_.push_back('/');
  scratch_.append("cgroup.procs");
  struct stat st;
  return sys_call("stat cgroup.procs",
                  [&] { return ::fstatat(at_fd, scratch_.c_str(), &st, AT_SYMLINK_NOFOLLOW); })
      .ok();
}

bool Walker::walk(Tree* tree, WalkContext* ctx) {
  auto opened =
      sys_call("open cgroup base", [&] { return ::open(tree->base.c_str(), kDirOpenFlags); });
  struct stat st;
  bool ok = opened.ok();
  UniqueFd fd(ok ? static_cast<int>(*opened) : -1);
  if (ok) ok = sys_call("fstat cgroup base", [&] { return ::fstat(fd.get(), &st); }).ok();
  if (!ok) {
    if (tree->have_root) ctx->dirty = true;
    tree->have_root = false;
    tree->root = DirNode{};
    tree->names.clear();
    return false;
  }
  struct statfs sfs {};
  bool sfs_ok = sys_call("fstatfs cgroup base", [&] { return ::fstatfs(fd.get(), &sfs); }).ok();
  trust_nlink_ = ctx->use_nlink_shortcut && sfs_ok && nlink_counts_subdirs(sfs.f_type);
  tree->have_root = true;
  Stat s{st.st_ino, st.st_nlink, stamp_of(st)};
  id_.assign("/");
  visit(tree, &tree->root, &s, fd.get(), -1, 0, ctx);
  if (tree->names.wants_compaction()) tree->compact();
  return true;
}

// Examines one directory whose id is in id_. st is null for a directory
// known from the previous scan that will not be descended and whose listing
// inode is unchanged: nothing about it needs a system call. own_fd is the
// directory's fd if already open (the base), else parent_fd + name are used.
void Walker::visit(Tree* tree, DirNode* node, const Stat* st, int own_fd, int parent_fd,
                   size_t level, WalkContext* ctx) {
  ++ctx->stats->dirs_visited;
  int at_fd = own_fd >= 0 ? own_fd : parent_fd;
  // procs_exists() copies it before anything can move the arena.
  std::string_view rel = own_fd >= 0 ? std::string_view() : tree->name_of(*node);
  if (st != nullptr && node->ino != st->ino) {  // new, or replaced by a new directory
    drop_children(tree, node);
    DirNode fresh;
    fresh.name_off = node->name_off;
    fresh.name_len = node->name_len;
    *node = std::move(fresh);
    node->ino = st->ino;
    node->set(DirNode::kDescend, ctx->namer->search_matches(id_));
    node->set(DirNode::kWithinDepth, ctx->max_depth == 0 || count_slashes(id_) <= ctx->max_depth);
    node->set(DirNode::kHasProcs, procs_exists(at_fd, rel));
    node->stamp = st->stamp;
    ctx->dirty = true;
  } else if (st != nullptr && node->stamp != st->stamp) {
    bool has = procs_exists(at_fd, rel);
    if (has != node->has(DirNode::kHasProcs)) ctx->dirty = true;
    node->set(DirNode::kHasProcs, has);
    node->stamp = st->stamp;
  }
  if (!node->has(DirNode::kWithinDepth)) {
    ++ctx->stats->skipped_by_depth;
    return;
  }

  Registry* reg = ctx->registry;
  if (!reg->linked(node->rec, node->rec_gen)) {
    bool created = false;
    node->rec = tree->registers ? reg->intern(id_, &created) : reg->lookup(id_);
    node->rec_gen = node->rec == kNoSlot ? 0 : reg->rec(node->rec).gen;
    if (created) ctx->dirty = true;
  }
  if (node->rec != kNoSlot) {
    if (tree->registers) reg->mark_seen(node->rec, ctx->epoch, node->ino);
    if (tree->path_rank >= 0 && node->has(DirNode::kHasProcs)) {
      reg->mark_path(node->rec, tree->path_rank, ctx->epoch, node->ino);
    }
  }

  if (!node->has(DirNode::kDescend)) return;
  if (trust_nlink_ && st != nullptr && st->nlink == 2) {  // no subdirectories
    if (drop_children(tree, node)) ctx->dirty = true;
    return;
  }
  UniqueFd opened;
  int fd = own_fd;
  if (fd < 0) {
    auto r = sys_call("open cgroup dir", [&] {
      return ::openat(parent_fd, tree->names.c_str(node->name_off), kDirOpenFlags);
    });
    if (!r.ok()) {
      ++(r.error().sys_errno == ENOENT ? ctx->stats->vanished : ctx->stats->unreadable);
      if (drop_children(tree, node)) ctx->dirty = true;
      return;
    }
    opened.reset(static_cast<int>(*r));
    fd = opened.get();
  }
  visit_children(tree, node, fd, level, ctx);
}

void Walker::visit_children(Tree* tree, DirNode* node, int fd, size_t level, WalkContext* ctx) {
  if (listings_.size() <= level) listings_.resize(level + 1);
  Listing& listing = listings_[level];
  if (!list(fd, &listing)) {
    ++ctx->stats->unreadable;
    if (drop_children(tree, node)) ctx->dirty = true;
    return;
  }
  ++ctx->stats->dirs_listed;
  if (reconcile(tree, &node->children, listing)) ctx->dirty = true;

  const size_t id_len = id_.size();
  bool drop_any = false;
  for (size_t j = 0; j < node->children.size(); ++j) {
    DirNode& child = node->children[j];
    const Listing::Entry& e = listing.entries[j];
    if (id_len > 1) id_.push_back('/');
    id_.append(tree->name_of(child));
    // A known directory that is not descended needs no system call when
    // its listing inode is unchanged (d_ino equals the stat inode).
    bool known_leafish = child.ino != 0 &&
                         (!child.has(DirNode::kDescend) || !child.has(DirNode::kWithinDepth)) &&
                         e.type == DT_DIR && e.ino == child.ino;
    if (known_leafish) {
      visit(tree, &child, nullptr, -1, fd, level + 1, ctx);
    } else {
      struct stat cst;
      auto r = sys_call("stat cgroup dir", [&] {
        return ::fstatat(fd, tree->names.c_str(child.name_off), &cst, AT_SYMLINK_NOFOLLOW);
      });
      if (!r.ok() || !S_ISDIR(cst.st_mode)) {
        if (!r.ok())
          ++(r.error().sys_errno == ENOENT ? ctx->stats->vanished : ctx->stats->unreadable);
        if (child.ino != 0) ctx->dirty = true;  // it was a directory we knew
        tree->release(child, true);
        child = DirNode{};  // name_len 0 marks it for removal below
        drop_any = true;
      } else {
        Stat s{cst.st_ino, cst.st_nlink, stamp_of(cst)};
        visit(tree, &child, &s, -1, fd, level + 1, ctx);
      }
    }
    id_.resize(id_len);
  }
  if (drop_any) {
    auto& c = node->children;
    c.erase(std::remove_if(c.begin(), c.end(), [](const DirNode& d) { return d.name_len == 0; }),
            c.end());
  }
}

}  // namespace netipc::cgroups_provider::detail
