// The SIGBUS guard of peer-writable mappings (not public).
//
// A region file can be truncated by anyone who can write it (the peer, or
// another process of the same user) while both sides have it mapped; the
// next access past the new end of file raises SIGBUS, which would kill the
// process. Every region mapping is registered here. On the first
// registration a process-wide SIGBUS handler is installed (processes that
// never map a region install nothing). On a SIGBUS whose address lies in a
// registered mapping, the handler maps anonymous zero pages over the whole
// mapping (MAP_FIXED), so the faulting access completes, and marks the
// mapping broken; the channel reports the session as failed at its next
// check (every publish, every consume, every wait slice). Any other SIGBUS
// goes to the handler that was installed before ours (sigaction semantics:
// SA_SIGINFO or not, SIG_IGN, SIG_DFL = die as before).
//
// The registry is a fixed array of atomics: the handler reads it without
// locks or allocation (async-signal-safe).
#pragma once

#include <cstddef>
#include <cstdint>

namespace netipc::shm::guard {

// Slots in the registry: one per mapped region (a server holds one per
// shared-memory session).
inline constexpr int kSlots = 4096;

// Registers [base, base + size) and installs the handler if it is not yet.
// Returns the slot, or -1 when every slot is taken (the caller refuses the
// mapping) or the handler cannot be installed.
int add(uint8_t* base, size_t size) noexcept;
// Unregisters a slot; call before the range is unmapped.
void remove(int slot) noexcept;
// True once a SIGBUS hit the slot's mapping (the pages are zeros now).
bool broken(int slot) noexcept;

// For tests: whether the handler is installed in this process, and how many
// faults it repaired.
bool installed() noexcept;
uint64_t repaired_faults() noexcept;

}  // namespace netipc::shm::guard
