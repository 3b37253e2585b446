// The items file of `netipc-cli serve cgroups-snapshot`: a JSON array of
// objects, one per cgroup item:
//
//   [{"name": "system.slice/ssh.service", "path": "/sys/fs/cgroup/...",
//     "options": 2, "enabled": 1, "hash": 123, "cgroup_id": 4242}, ...]
//
// name, path (strings), options and enabled (unsigned 32-bit integers;
// enabled may also be true/false) are required. hash (u32) defaults to
// FNV-1a 32 of the name (netipc::fnv1a32, Netdata's simple_hash);
// cgroup_id (u64) to 0. Other fields are errors (a typo must not pass
// silently). The `items` array of `netipc-cli snapshot --json` is in this
// format.
#pragma once

#include <string>
#include <vector>

#include "netipc/cgroup_item.h"

namespace netipc::cli {

// Reads and validates the file. On failure returns false and sets *error
// to one line naming the position: "items[3].options: expected an
// unsigned 32-bit integer", "invalid JSON at byte 17: parse error at line 2,
// column 5: ..." (bytes count from 1, like lines and columns), "cannot open:
// No such file or directory".
bool read_items_file(const std::string& path, std::vector<CgroupItem>* items, std::string* error);

}  // namespace netipc::cli
