// Region file names (docs/shm.md B.3): "{service}-{session_id:016x}.ipcshm" in the
// run directory, and the service names allowed in them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "netipc/result.h"

namespace netipc::shm {

inline constexpr const char* kFileSuffix = ".ipcshm";

// `[A-Za-z0-9._-]+`, not "." or ".."; anything else is kInvalidArgument.
Status validate_service_name(std::string_view service) noexcept;

// "{service}-{session_id:016x}.ipcshm" (16 lowercase, zero-padded hex digits).
// kInvalidArgument for a bad service name, kPathTooLong past NAME_MAX.
Result<std::string> region_file_name(std::string_view service, uint64_t session_id);

}  // namespace netipc::shm
