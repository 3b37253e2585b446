// SHM region files: naming, layout, creation by the server and attachment by
// the client (docs/shm.md B.1-B.5, B.13).
#include "transport/shm/region.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "sys_linux.h"
#include "transport/shm/cleanup.h"
#include "transport/shm/guard_linux.h"
#include "transport/shm/internal_linux.h"
#include "transport/shm/naming.h"

namespace netipc {

using detail::sys_call;
using detail::sys_retry;

namespace shm {

Result<RegionLayout> compute_layout(uint32_t request_message_bytes,
                                    uint32_t response_message_bytes) noexcept {
  if (request_message_bytes == 0 || response_message_bytes == 0) {
    return make_error(Errc::kInvalidArgument, "shm layout: zero capacity");
  }
  const uint64_t req_cap = align64(request_message_bytes);
  const uint64_t resp_cap = align64(response_message_bytes);
  const uint64_t req_off = kHeaderLen;
  const uint64_t resp_off = align64(req_off + req_cap);
  const uint64_t end = resp_off + resp_cap;
  if (end > UINT32_MAX) {
    return make_error(Errc::kLimitExceeded, "shm layout: region larger than 4 GiB");
  }
  RegionLayout l;
  l.request_offset = static_cast<uint32_t>(req_off);
  l.request_capacity = static_cast<uint32_t>(req_cap);
  l.response_offset = static_cast<uint32_t>(resp_off);
  l.response_capacity = static_cast<uint32_t>(resp_cap);
  l.file_size = end;
  return l;
}

Status validate_service_name(std::string_view service) noexcept {
  if (service.empty() || service == "." || service == "..") {
    return make_error(Errc::kInvalidArgument, "service name: empty, '.' or '..'");
  }
  for (char c : service) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok)
      return make_error(Errc::kInvalidArgument, "service name: character outside [A-Za-z0-9._-]");
  }
  return ok_status();
}

Result<std::string> region_file_name(std::string_view service, uint64_t session_id) {
  NETIPC_RETURN_IF_ERROR(validate_service_name(service));
  char tail[32];
  std::snprintf(tail, sizeof tail, "-%016" PRIx64 "%s", session_id, kFileSuffix);
  std::string name;
  name.reserve(service.size() + std::strlen(tail));
  name.append(service);
  name.append(tail);
  if (name.size() > NAME_MAX) return make_error(Errc::kPathTooLong, "shm region file name");
  return name;
}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    reset();
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    guard_slot_ = std::exchange(other.guard_slot_, -1);
  }
  return *this;
}

bool Mapping::broken() const noexcept { return guard::broken(guard_slot_); }

void Mapping::reset() noexcept {
  // Out of the guard first: once unmapped, the range may be reused by an
  // unrelated mapping whose faults are none of the guard's business.
  guard::remove(std::exchange(guard_slot_, -1));
  if (base_ != nullptr) ::munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
}

ShmFile& ShmFile::operator=(ShmFile&& other) noexcept {
  if (this != &other) {
    reset();
    dir_fd_ = std::move(other.dir_fd_);
    name_ = std::move(other.name_);
    dev_ = other.dev_;
    ino_ = other.ino_;
  }
  return *this;
}

void ShmFile::reset() noexcept {
  if (dir_fd_.valid()) {
    // Best effort: a destructor has nobody to report to. A name that no
    // longer refers to our inode belongs to someone else now.
    (void)detail::remove_entry_if_same(dir_fd_.get(), name_.c_str(), dev_, ino_);
  }
  dir_fd_.reset();
  name_.clear();
}

namespace {

// owner_generation: upstream's formula (CLOCK_MONOTONIC seconds XOR
// nanoseconds >> 10), forced non-zero: 0 would make a live region look stale.
uint32_t make_generation() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto gen = static_cast<uint32_t>(static_cast<uint64_t>(ts.tv_sec) ^
                                         (static_cast<uint64_t>(ts.tv_nsec) >> 10));
  return gen != 0 ? gen : 1;
}

Errc open_errc(int err) noexcept {
  switch (err) {
    case ENOENT:
      return Errc::kNotFound;
    case ELOOP:
    case EACCES:
    case EPERM:
    case EROFS:
      return Errc::kPermission;
    case ENOSPC:
    case EDQUOT:
      return Errc::kNoSpace;
    case ENOMEM:
      return Errc::kNoMemory;
    default:
      return Errc::kSystem;
  }
}

Result<Mapping> map_shared(int fd, size_t size, const char* what) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    return make_error(err == ENOMEM ? Errc::kNoMemory : Errc::kSystem, what, err);
  }
  // Peer-writable: guarded against truncation from the first access on.
  const int slot = guard::add(static_cast<uint8_t*>(p), size);
  if (slot < 0) {
    ::munmap(p, size);
    return make_error(Errc::kNoMemory, "shm: no SIGBUS guard slot for the mapping");
  }
  return Mapping(static_cast<uint8_t*>(p), size, slot);
}

// Creates `name` in `dir_fd` with O_EXCL. Something holding the name is
// reclaimed if it is junk or a dead owner's region (docs/shm.md B.4), and
// the exclusive open is retried exactly once.
Result<UniqueFd> create_exclusive(int dir_fd, const std::string& name) {
  const int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int err = 0;
  int fd = -1;
  for (int attempt = 0; attempt < 2; ++attempt) {
    fd = sys_retry([&] { return ::openat(dir_fd, name.c_str(), flags, 0600); }, &err);
    if (fd >= 0 || err != EEXIST || attempt == 1) break;
    auto stale = reclaim_if_stale(dir_fd, name);
    if (!stale) return stale.error();
  }
  if (fd < 0) {
    if (err == EEXIST) return make_error(Errc::kAddrInUse, "shm create: region name taken", err);
    return make_error(open_errc(err), "shm create: openat", err);
  }
  return UniqueFd(fd);
}

// Gives a new region file (created with `mode`) its final mode and backing.
Status prepare_file(int fd, mode_t mode, uint64_t file_size) {
  // The creation mode went through the umask; make it exactly 0600 so the
  // peer (same uid) can open it read-write. fchmod on our own fd is race-free.
  if ((mode & 07777) != 0600) {
    auto ch = sys_call("shm create: fchmod", [&] { return ::fchmod(fd, 0600); });
    if (!ch) return ch.error();
  }
  // Reserve every byte before mapping: on a full tmpfs/disk this is an error
  // here instead of a SIGBUS on first touch (docs/shm.md B.4, B.13). Never
  // ftruncate: it would leave the pages unbacked.
  const auto size = static_cast<off_t>(file_size);
  auto fa = sys_call(
      "shm create: fallocate", [&] { return ::fallocate(fd, 0, 0, size); }, Errc::kNoSpace);
  if (!fa) return fa.error();
  return ok_status();
}

// Fills in the header of a new region and publishes it.
void write_header(uint8_t* base, const RegionLayout& layout, int32_t owner_pid,
                  uint32_t owner_generation) noexcept {
  store_u32(base + kOffMagic, kMagic);
  store_u16(base + kOffVersion, kVersion);
  store_u16(base + kOffHeaderLen, kHeaderLen);
  store_u32(base + kOffOwnerPid, static_cast<uint32_t>(owner_pid));
  store_u32(base + kOffOwnerGeneration, owner_generation);
  store_u32(base + kOffRequestOffset, layout.request_offset);
  store_u32(base + kOffRequestCapacity, layout.request_capacity);
  store_u32(base + kOffResponseOffset, layout.response_offset);
  store_u32(base + kOffResponseCapacity, layout.response_capacity);
  std::atomic_thread_fence(std::memory_order_release);
}

}  // namespace
}  // namespace shm

Result<ShmRegion> ShmRegion::create(int run_dir_fd, std::string_view service, uint64_t session_id,
                                    uint32_t request_capacity_bytes,
                                    uint32_t response_capacity_bytes) {
  if (run_dir_fd < 0) return make_error(Errc::kInvalidArgument, "shm create: run_dir_fd");
  auto name = shm::region_file_name(service, session_id);
  if (!name) return name.error();
  auto layout = shm::compute_layout(request_capacity_bytes, response_capacity_bytes);
  if (!layout) return layout.error();

  // Our own handle on the directory, so the owner can unlink the name at
  // the end of the session whatever the caller did with run_dir_fd.
  auto dir =
      sys_call("shm create: dup run dir", [&] { return ::fcntl(run_dir_fd, F_DUPFD_CLOEXEC, 0); });
  if (!dir) return dir.error();
  UniqueFd dir_fd(static_cast<int>(*dir));

  auto fd = shm::create_exclusive(dir_fd.get(), *name);
  if (!fd) return fd.error();
  ShmRegion r;
  r.fd_ = std::move(*fd);

  struct stat st {};
  if (::fstat(r.fd_.get(), &st) != 0) {
    // We cannot build the race-guarded owner record; remove the name we
    // just created (nobody else can have replaced it yet in practice).
    const int e = errno;
    (void)shm::detail::remove_entry(dir_fd.get(), name->c_str());
    return make_error(Errc::kSystem, "shm create: fstat", e);
  }
  // From here on the ShmFile unlinks the name on every failure path.
  r.file_ = shm::ShmFile(std::move(dir_fd), *name, st.st_dev, st.st_ino);
  auto prepared = shm::prepare_file(r.fd_.get(), st.st_mode, layout->file_size);
  if (!prepared) return prepared.error();

  auto map =
      shm::map_shared(r.fd_.get(), static_cast<size_t>(layout->file_size), "shm create: mmap");
  if (!map) return map.error();
  r.map_ = std::move(*map);

  // No memset: the file is new (O_EXCL) and fallocate() gave it zeroed,
  // backed blocks, so every control word already reads 0 and no page can
  // SIGBUS. Touching the whole region here would fault in and keep
  // resident every page of the response area in both processes (32 MiB per
  // session for a 100k-cgroup snapshot) although a response only writes
  // what it needs.
  r.owner_pid_ = static_cast<int32_t>(::getpid());
  r.owner_generation_ = shm::make_generation();
  shm::write_header(r.map_.base(), *layout, r.owner_pid_, r.owner_generation_);
  r.layout_ = *layout;
  r.name_ = std::move(*name);
  return r;
}

namespace {

// docs/shm.md B.5 on the header bytes of a mapping of `file_size` bytes.
Result<shm::RegionLayout> validate_header(const uint8_t* h, uint64_t file_size) noexcept {
  if (load_u32(h + shm::kOffMagic) != shm::kMagic) {
    return make_error(Errc::kBadMagic, "shm attach: magic");
  }
  if (load_u16(h + shm::kOffVersion) != shm::kVersion) {
    return make_error(Errc::kBadVersion, "shm attach: version");
  }
  if (load_u16(h + shm::kOffHeaderLen) != shm::kHeaderLen) {
    return make_error(Errc::kBadHeaderLen, "shm attach: header_len");
  }
  shm::RegionLayout l;
  l.request_offset = load_u32(h + shm::kOffRequestOffset);
  l.request_capacity = load_u32(h + shm::kOffRequestCapacity);
  l.response_offset = load_u32(h + shm::kOffResponseOffset);
  l.response_capacity = load_u32(h + shm::kOffResponseCapacity);
  if (l.request_offset < shm::kHeaderLen || l.response_offset < shm::kHeaderLen ||
      l.request_capacity == 0 || l.response_capacity == 0) {
    return make_error(Errc::kNotReady, "shm attach: areas not set up");
  }
  const uint64_t req_end = uint64_t{l.request_offset} + l.request_capacity;
  const uint64_t resp_end = uint64_t{l.response_offset} + l.response_capacity;
  if (req_end > UINT32_MAX || resp_end > UINT32_MAX) {
    return make_error(Errc::kBadLayout, "shm attach: area end overflows u32");
  }
  constexpr uint32_t kMask = shm::kAlignment - 1;
  if (((l.request_offset | l.request_capacity | l.response_offset | l.response_capacity) & kMask) !=
      0) {
    return make_error(Errc::kBadLayout, "shm attach: area not 64-byte aligned");
  }
  if (l.response_offset < align64(req_end)) {
    return make_error(Errc::kBadLayout, "shm attach: response area overlaps request area");
  }
  const uint64_t needed = req_end > resp_end ? req_end : resp_end;
  if (file_size < needed) {
    return make_error(Errc::kBadLayout, "shm attach: areas beyond end of file");
  }
  l.file_size = needed;
  return l;
}

}  // namespace

Result<ShmRegion> ShmRegion::attach(int run_dir_fd, std::string_view service, uint64_t session_id) {
  if (run_dir_fd < 0) return make_error(Errc::kInvalidArgument, "shm attach: run_dir_fd");
  auto name = shm::region_file_name(service, session_id);
  if (!name) return name.error();

  int err = 0;
  const int fd = sys_retry(
      [&] { return ::openat(run_dir_fd, name->c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC); }, &err);
  if (fd < 0) return make_error(shm::open_errc(err), "shm attach: openat", err);
  ShmRegion r;
  r.fd_.reset(fd);

  struct stat st {};
  auto fs = sys_call("shm attach: fstat", [&] { return ::fstat(fd, &st); });
  if (!fs) return fs.error();
  if (!S_ISREG(st.st_mode)) return make_error(Errc::kBadLayout, "shm attach: not a regular file");
  if (st.st_size < static_cast<off_t>(shm::kHeaderLen)) {
    return make_error(Errc::kNotReady, "shm attach: file shorter than the header");
  }
  if (static_cast<uint64_t>(st.st_size) > shm::kMaxRegionFileSize) {
    return make_error(Errc::kBadLayout, "shm attach: file larger than any region");
  }

  // Map st_size bytes only: every access below is checked against it.
  auto map = shm::map_shared(fd, static_cast<size_t>(st.st_size), "shm attach: mmap");
  if (!map) return map.error();
  r.map_ = std::move(*map);
  std::atomic_thread_fence(std::memory_order_acquire);

  uint8_t* base = r.map_.base();
  auto layout = validate_header(base, static_cast<uint64_t>(st.st_size));
  if (!layout) return layout.error();

  // Reads of a hole are harmless but our writes into one would need a page
  // that a full tmpfs cannot give (SIGBUS). A conforming server reserved and
  // zeroed everything, making this a no-op; for any other we back the areas
  // now, or fail cleanly. Filesystems without fallocate cannot be checked.
  auto fa = sys_call(
      "shm attach: back the areas",
      [&] {
        return ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(layout->file_size));
      },
      Errc::kNoSpace);
  if (!fa && (fa.error().sys_errno == ENOSPC || fa.error().sys_errno == EDQUOT)) {
    return fa.error();
  }

  r.owner_pid_ = static_cast<int32_t>(load_u32(base + shm::kOffOwnerPid));
  r.owner_generation_ = load_u32(base + shm::kOffOwnerGeneration);
  r.layout_ = *layout;
  r.name_ = std::move(*name);
  return r;
}

Result<ShmRegion> ShmRegion::attach_with_retry(int run_dir_fd, std::string_view service,
                                               uint64_t session_id, const AttachRetryPolicy& policy,
                                               StopCheck stop) {
  const uint32_t interval_ms = policy.interval_ms != 0 ? policy.interval_ms : 5;
  const uint32_t bound_ms = policy.bound_ms != 0 ? policy.bound_ms : 5000;
  const int64_t deadline = detail::monotonic_ns() + int64_t{bound_ms} * 1000000;
  for (;;) {
    auto r = attach(run_dir_fd, service, session_id);
    if (r) return r;
    const Errc code = r.code();
    if (code != Errc::kNotFound && code != Errc::kNotReady && code != Errc::kBadMagic) return r;
    const int64_t now = detail::monotonic_ns();
    if (now >= deadline) return r;
    const Errc s = stop();
    if (s != Errc::kOk) return make_error(s, "shm attach: stopped while retrying");
    int64_t nap = int64_t{interval_ms} * 1000000;
    if (nap > deadline - now) nap = deadline - now;
    timespec ts{static_cast<time_t>(nap / 1000000000), static_cast<long>(nap % 1000000000)};
    // The interval is the retry policy itself, not synchronization; an
    // interrupted nap simply retries sooner.
    ::nanosleep(&ts, nullptr);
  }
}

bool ShmRegion::owner_alive() const noexcept {
  return shm::detail::pid_alive(owner_pid_);
}

}  // namespace netipc
