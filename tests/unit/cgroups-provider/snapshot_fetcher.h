// A cgroups-snapshot consumer for provider tests: a real
// netipc::CgroupsSnapshotClient (layout fallback and all), returning owned
// items. Also the provider binary's path and a spawner that captures its
// stdout and stderr together.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "netipc/cgroup_item.h"
#include "netipc/cgroups_snapshot_client.h"
#include "netipc/client_state.h"
#include "netipc/codec/cgroups.h"
#include "netipc/wire.h"
#include "test_support.h"

namespace netipc::cgroups_provider::testing {

struct Fetched {
  uint64_t generation = 0;
  uint32_t systemd_enabled = 0;
  uint16_t layout = 0;
  std::vector<CgroupItem> items;

  const CgroupItem* find(const std::string& name) const {
    for (const auto& i : items) {
      if (i.name == name) return &i;
    }
    return nullptr;
  }
  const CgroupItem* find_path(const std::string& path) const {
    for (const auto& i : items) {
      if (i.path == path) return &i;
    }
    return nullptr;
  }
};

struct FetcherOptions {
  uint16_t layout = 0;  // 0 = automatic (2, falling back to 1)
  uint64_t auth_token = 0;
  bool shm = false;  // offer and prefer SHM_HYBRID
  int timeout_ms = 10000;
};

class SnapshotFetcher {
 public:
  static Result<SnapshotFetcher> create(const std::string& run_dir, const std::string& service,
                                        const FetcherOptions& o = {}) {
    CgroupsSnapshotClientConfig c;
    c.run_dir = run_dir;
    c.service = service;
    c.auth_token = o.auth_token;
    c.layout = o.layout;
    c.supported_profiles = o.shm ? wire::kProfileUds | wire::kProfileShmHybrid : wire::kProfileUds;
    c.preferred_profiles = o.shm ? wire::kProfileShmHybrid : 0;
    c.call_timeout_ms = o.timeout_ms;
    c.connect_timeout_ms = o.timeout_ms;
    auto client = CgroupsSnapshotClient::create(c);
    if (!client.ok()) return client.error();
    return SnapshotFetcher(std::move(*client));
  }

  // One CGROUPS_SNAPSHOT fetch (the client's layout fallback included),
  // decoded into owned items.
  Result<Fetched> fetch() {
    auto views = client_.fetch();
    if (!views.ok()) return views.error();
    Fetched f;
    f.generation = (*views)->generation;
    f.systemd_enabled = (*views)->systemd_enabled;
    f.layout = client_.layout();
    f.items.reserve((*views)->items.size());
    for (const auto& v : (*views)->items)
      f.items.push_back(v.to_owned());
    return f;
  }

  // One fetch, decoded but not copied: only the generation is returned
  // (cheap polling of a big snapshot).
  Result<uint64_t> fetch_generation() {
    auto views = client_.fetch();
    if (!views.ok()) return views.error();
    return (*views)->generation;
  }

  // The Level-2 state and counters (connects, reconnects, selected profile).
  ClientStatus client_status() const { return client_.status().client; }

 private:
  explicit SnapshotFetcher(CgroupsSnapshotClient c) : client_(std::move(c)) {}
  CgroupsSnapshotClient client_;
};

inline std::string provider_binary() {
  return test::built_binary("tools/provider/netipc-cgroups-provider");
}

// Runs the provider with stderr merged into the captured stdout.
inline test::Child spawn_provider(const std::vector<std::string>& args) {
  std::string cmd = "exec '" + provider_binary() + "'";
  for (const auto& a : args)
    cmd += " '" + a + "'";
  cmd += " 2>&1";
  return test::Child::spawn({"/bin/sh", "-c", cmd});
}

// Reads the child's output until it contains `needle` (or the timeout).
inline bool wait_for_output(test::Child* c, const std::string& needle,
                            std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (c->output().find(needle) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Reads whatever arrives within 20 ms; no line is literally this.
    c->wait_for_line("\x01", std::chrono::milliseconds(20));
  }
  return true;
}

// Lines of `text` that contain `needle`.
inline size_t count_lines_with(const std::string& text, const std::string& needle) {
  size_t n = 0, pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (text.substr(pos, nl - pos).find(needle) != std::string::npos) ++n;
    pos = nl + 1;
  }
  return n;
}

}  // namespace netipc::cgroups_provider::testing
