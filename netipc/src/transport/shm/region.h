// ShmRegion: one session's region file, created by the server before its
// HELLO_ACK (docs/shm.md B.4) or attached by the client after it (docs/shm.md B.5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "netipc/result.h"
#include "netipc/unique_fd.h"
#include "transport/shm/file.h"
#include "transport/shm/layout.h"
#include "transport/shm/mapping.h"
#include "transport/shm/stop_check.h"

namespace netipc {

struct AttachRetryPolicy {
  uint32_t interval_ms = 0;  // 0 -> 5 ms
  uint32_t bound_ms = 0;     // 0 -> 5000 ms; total time spent retrying
};

class ShmRegion {
 public:
  // Server side (docs/shm.md B.4). `request_capacity_bytes` / `response_capacity_bytes`
  // are the largest messages (32 + agreed payload ceiling) of each direction;
  // both are rounded up to 64. Errors:
  //  kInvalidArgument  bad service name, zero capacity, bad run_dir_fd
  //  kLimitExceeded    the layout does not fit the u32 header fields
  //  kAddrInUse        a live owner holds the name (or it cannot be reclaimed)
  //  kNoSpace          fallocate failed (any errno: ENOSPC, EDQUOT, EOPNOTSUPP,
  //                    EFBIG, ...); no file is left behind
  //  kPermission       openat refused (EACCES, EPERM, EROFS)
  //  kNoMemory/kSystem mmap or another call failed; no file is left behind
  // The file is created O_EXCL|O_NOFOLLOW with mode 0600, fully reserved
  // with fallocate (never ftruncate: no page of it can be unbacked), zeroed,
  // and only then given its header.
  static Result<ShmRegion> create(int run_dir_fd, std::string_view service, uint64_t session_id,
                                  uint32_t request_capacity_bytes,
                                  uint32_t response_capacity_bytes);

  // Client side (docs/shm.md B.5), one attempt. Errors:
  //  kNotFound   openat failed with ENOENT (retriable)
  //  kPermission openat failed with ELOOP (a symlink), EACCES, EPERM
  //  kNotReady   st_size < 64, zero capacity or offset < 64 (retriable)
  //  kBadMagic   (retriable: the server may not have written it yet)
  //  kBadVersion, kBadHeaderLen
  //  kBadLayout  BAD_SIZE: misaligned or overflowing areas, areas beyond
  //              st_size, not a regular file, file larger than any region
  //  kNoSpace    the areas have holes that cannot be backed now (tmpfs full)
  //  kSystem/kNoMemory other failures
  // Maps at most st_size bytes; never unlinks.
  static Result<ShmRegion> attach(int run_dir_fd, std::string_view service, uint64_t session_id);

  // attach() retried every `interval_ms` while it fails with kNotFound,
  // kNotReady or kBadMagic, for at most `bound_ms` (docs/shm.md B.5). `stop` is
  // checked before each retry.
  static Result<ShmRegion> attach_with_retry(int run_dir_fd, std::string_view service,
                                             uint64_t session_id,
                                             const AttachRetryPolicy& policy = {},
                                             StopCheck stop = {});

  ShmRegion() noexcept = default;
  ShmRegion(ShmRegion&&) noexcept = default;
  ShmRegion& operator=(ShmRegion&&) noexcept = default;
  ShmRegion(const ShmRegion&) = delete;
  ShmRegion& operator=(const ShmRegion&) = delete;
  // munmap, close, and (created regions only) unlink — in that order.
  ~ShmRegion() = default;

  bool valid() const noexcept { return map_.base() != nullptr; }
  // True for a region from create(): its destructor unlinks the file.
  bool is_owner() const noexcept { return file_.valid(); }
  uint8_t* base() const noexcept { return map_.base(); }
  size_t mapped_size() const noexcept { return map_.size(); }
  // The region file was truncated under this mapping (see docs/shm.md
  // "Truncated regions"): the session must end.
  bool broken() const noexcept { return map_.broken(); }
  int guard_slot() const noexcept { return map_.guard_slot(); }
  // Validated at create/attach and cached; never re-read from the region.
  const shm::RegionLayout& layout() const noexcept { return layout_; }
  // Header values as seen at create/attach.
  int32_t owner_pid() const noexcept { return owner_pid_; }
  uint32_t owner_generation() const noexcept { return owner_generation_; }
  const std::string& file_name() const noexcept { return name_; }
  int fd() const noexcept { return fd_.get(); }
  // Whether the owner pid recorded in the region still exists (kill(pid, 0)
  // is 0 or EPERM). A client can use it inside a StopCheck.
  bool owner_alive() const noexcept;

 private:
  // Member order is destruction order in reverse: unmap, close, unlink.
  shm::ShmFile file_;
  UniqueFd fd_;
  shm::Mapping map_;
  shm::RegionLayout layout_;
  int32_t owner_pid_ = 0;
  uint32_t owner_generation_ = 0;
  std::string name_;
};

}  // namespace netipc
