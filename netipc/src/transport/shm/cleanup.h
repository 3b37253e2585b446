// Stale region detection and cleanup (docs/shm.md B.12): what a server does with
// region files a previous owner left in the run directory.
#pragma once

#include <cstdint>
#include <string_view>

#include "netipc/result.h"

namespace netipc::shm {

enum class StaleOutcome : uint8_t {
  kAbsent,     // nothing at the name
  kReclaimed,  // junk or a dead owner's region: removed
};

// The stale check of one directory entry of run_dir (a single path
// component). A live owner (pid alive and generation != 0) is
// Errc::kAddrInUse and the file is kept; so is an entry that could not be
// inspected for lack of fds (EMFILE/ENFILE), whose fstat failed, that changed
// while it was inspected (st_dev/st_ino race guard), or that could not be
// removed (non-empty directory, EACCES, ...).
Result<StaleOutcome> reclaim_if_stale(int run_dir_fd, std::string_view file_name);

struct CleanupStats {
  uint32_t candidates = 0;  // entries matching "{service}-*.ipcshm"
  uint32_t reclaimed = 0;
  uint32_t kept = 0;  // live owners or entries that could not be removed
};

// Startup scan: applies reclaim_if_stale() to every entry of run_dir that
// starts with "{service}-", ends with ".ipcshm" and is longer than both.
// Entries that are kept do not make the scan fail (a live region of another
// instance is reported by the listener's own check); the Status is an error
// only for a bad service name or an unreadable directory.
Status cleanup_stale_regions(int run_dir_fd, std::string_view service,
                             CleanupStats* stats = nullptr);

}  // namespace netipc::shm
