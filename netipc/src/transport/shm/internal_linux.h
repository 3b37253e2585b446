// Helpers shared by the SHM region, channel and cleanup code. Not public.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "netipc/result.h"

namespace netipc::shm::detail {

// Control words live at fixed, naturally aligned offsets of a page-aligned
// mapping, so these casts yield properly aligned objects for __atomic_*.
inline uint64_t* u64_word(uint8_t* base, size_t off) {
  return reinterpret_cast<uint64_t*>(base + off);
}
inline uint32_t* u32_word(uint8_t* base, size_t off) {
  return reinterpret_cast<uint32_t*>(base + off);
}

// kill(pid, 0) == 0 or EPERM. pid <= 0 is never alive: kill() would address
// a process group (or every process) and succeed.
bool pid_alive(int32_t pid) noexcept;

// A single path component we may pass to *at() calls: non-empty, no '/', not
// "." or "..", no NUL, at most NAME_MAX.
bool is_plain_file_name(std::string_view name) noexcept;

// unlinkat(name); on EISDIR rmdir instead. ENOENT counts as success.
Status remove_entry(int dir_fd, const char* name) noexcept;

// remove_entry() only if `name` still refers to (dev, ino): the race guard of
// docs/shm.md B.12. A changed entry is kAddrInUse and left alone.
Status remove_entry_if_same(int dir_fd, const char* name, dev_t dev, ino_t ino) noexcept;

}  // namespace netipc::shm::detail
