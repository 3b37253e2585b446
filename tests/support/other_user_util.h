// A cgroups-snapshot fetch made by another user: for tests of the uids a
// server accepts. Needs root (the caller checks). Header-only.
#pragma once

#include <grp.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "netipc/cgroups_snapshot_client.h"
#include "netipc/wire.h"
#include "test_support.h"

namespace netipc::other_user {

inline constexpr uid_t kNobody = 65534;

// Exit status of a forked child that switches to uid `uid` and group 0 (a
// 0660 socket's group when root created it), then fetches one snapshot
// over the socket: 0 when served, 3 when the fetch failed, 10 when the
// switch failed. Fork only from a process without threads of its own.
inline int fetch_snapshot_as(uid_t uid, const std::string& run_dir, const std::string& service,
                             uint64_t auth_token = 0) {
  test::Child child = test::Child::fork_fn([&]() -> int {
    if (::setgroups(0, nullptr) != 0 || ::setgid(0) != 0 || ::setuid(uid) != 0) return 10;
    CgroupsSnapshotClientConfig c;
    c.run_dir = run_dir;
    c.service = service;
    c.auth_token = auth_token;
    c.supported_profiles = wire::kProfileUds;
    c.call_timeout_ms = 5000;
    c.connect_timeout_ms = 5000;
    auto client = CgroupsSnapshotClient::create(c);
    if (!client.ok()) return 3;
    return client->fetch().ok() ? 0 : 3;
  });
  return child.wait();
}

}  // namespace netipc::other_user
