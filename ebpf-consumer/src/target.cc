#include "ebpf_consumer/target.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

namespace netipc::ebpf {
namespace {

std::atomic<size_t> g_live{0};

}  // namespace

// ---------------------------------------------------------------------------
// TargetRef. Increments are relaxed (a new reference is always made from an
// existing one, which keeps the target alive meanwhile). The decrement is
// acq_rel: its release orders this holder's reads of the target before the
// free, its acquire (effective on the last one) orders every other holder's
// reads before the free. No separate fence, which ThreadSanitizer would not
// model.

TargetRef::TargetRef(const TargetRef& other) noexcept : target_(other.target_) {
  if (target_ != nullptr) target_->refs_.fetch_add(1, std::memory_order_relaxed);
}

TargetRef& TargetRef::operator=(const TargetRef& other) noexcept {
  TargetRef copy(other);
  std::swap(target_, copy.target_);
  return *this;
}

TargetRef& TargetRef::operator=(TargetRef&& other) noexcept {
  if (this != &other) {
    reset();
    target_ = other.target_;
    other.target_ = nullptr;
  }
  return *this;
}

void TargetRef::reset() noexcept {
  const Target* t = target_;
  target_ = nullptr;
  if (t != nullptr && t->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) Target::release(t);
}

uint32_t TargetRef::use_count() const noexcept {
  return target_ != nullptr ? target_->refs_.load(std::memory_order_relaxed) : 0;
}

// ---------------------------------------------------------------------------
// Target

Result<TargetRef> Target::make(const CgroupItemView& item, uint64_t id, uint64_t added_pass,
                               const pid_t* pids, size_t pid_count) noexcept {
  // Offsets and sizes are 32-bit: they all fit if the whole block does.
  constexpr size_t kFixed = sizeof(Target) + 2;  // + the NULs after name and path
  constexpr size_t kRoom = std::numeric_limits<uint32_t>::max() - kFixed;
  if (pid_count > kRoom / sizeof(pid_t) || item.name.size() > kRoom - pid_count * sizeof(pid_t) ||
      item.path.size() > kRoom - pid_count * sizeof(pid_t) - item.name.size()) {
    return make_error(Errc::kLimitExceeded, "target: name, path and PIDs pass 4 GiB");
  }
  const size_t bytes = kFixed + pid_count * sizeof(pid_t) + item.name.size() + item.path.size();

  void* mem = std::malloc(bytes);
  if (mem == nullptr) return make_error(Errc::kNoMemory, "target");
  auto* t = new (mem) Target();
  g_live.fetch_add(1, std::memory_order_relaxed);
  t->id = id;
  t->added_pass = added_pass;
  t->cgroup_id = item.cgroup_id;
  t->hash = item.hash;
  t->options = item.options;
  t->systemd = (item.options & kCgroupOptSystemdService) != 0;

  // PIDs first: the block is malloc-aligned and the header is a multiple of
  // pid_t's alignment, so they need no padding.
  char* p = static_cast<char*>(mem) + sizeof(Target);
  const auto offset_from = [&p](const void* member) {
    return static_cast<uint32_t>(p - static_cast<const char*>(member));
  };
  t->pids.offset_ = offset_from(&t->pids);
  t->pids.size_ = static_cast<uint32_t>(pid_count);
  if (pid_count != 0) std::memcpy(p, pids, pid_count * sizeof(pid_t));
  p += pid_count * sizeof(pid_t);

  t->name.offset_ = offset_from(&t->name);
  t->name.size_ = static_cast<uint32_t>(item.name.size());
  if (!item.name.empty()) std::memcpy(p, item.name.data(), item.name.size());
  p += item.name.size();
  *p++ = '\0';

  t->path.offset_ = offset_from(&t->path);
  t->path.size_ = static_cast<uint32_t>(item.path.size());
  if (!item.path.empty()) std::memcpy(p, item.path.data(), item.path.size());
  p += item.path.size();
  *p = '\0';
  return TargetRef(t);
}

void Target::release(const Target* t) noexcept {
  g_live.fetch_sub(1, std::memory_order_relaxed);
  t->~Target();
  std::free(const_cast<Target*>(t));
}

bool Target::has_pid(pid_t pid) const noexcept {
  return std::binary_search(pids.begin(), pids.end(), pid);
}

size_t Target::live_instances() noexcept {
  return g_live.load(std::memory_order_relaxed);
}

size_t Target::block_bytes() const noexcept {
  return sizeof(Target) + pids.size() * sizeof(pid_t) + name.size() + 1 + path.size() + 1;
}

}  // namespace netipc::ebpf
