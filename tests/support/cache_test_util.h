// Helpers of the Level-3 cache / consumer tests: a cgroups-snapshot
// provider on its own libuv thread whose behaviour the test switches at run
// time (serve the publisher's snapshot, answer with malformed bytes, stall
// until released, serve layout 1 only), item sets whose every field encodes
// their generation so readers can check consistency, and a SnapshotCache of
// such a provider.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cgroups_provider/publisher.h"
#include "netipc/bytes.h"
#include "netipc/cgroup_item.h"
#include "netipc/client_config.h"
#include "netipc/codec/cgroups.h"
#include "netipc/snapshot_cache_client.h"
#include "netipc/uv/server.h"
#include "netipc/uv/server_thread.h"
#include "netipc/wire.h"
#include "test_support.h"

namespace netipc::cache_test {

inline constexpr uint16_t kSnapshotMethod = static_cast<uint16_t>(wire::Method::kCgroupsSnapshot);

// Item i of generation `gen`: name and hash independent of gen (so lookups
// keep finding it across generations), options/path/cgroup id encode gen.
inline CgroupItem item_of(uint64_t gen, size_t i, const std::string& procs_dir = "") {
  CgroupItem it;
  char buf[160];
  std::snprintf(buf, sizeof buf, i % 4 == 1 ? "systemd_svc%zu.service" : "cgroup_pod%06zu_c%zu", i,
                i % 3);
  it.name = buf;
  it.hash = fnv1a32(it.name);
  it.options =
      static_cast<uint32_t>((gen & 0xFFF) << 4) | (i % 4 == 1 ? kCgroupOptSystemdService : 0);
  it.enabled = 1;
  if (procs_dir.empty()) {
    std::snprintf(buf, sizeof buf, "/sys/fs/cgroup/gen%llu/item%zu/cgroup.procs",
                  static_cast<unsigned long long>(gen), i);
    it.path = buf;
  } else {
    it.path = procs_dir + "/" + it.name + "/cgroup.procs";
  }
  it.cgroup_id = gen * 1000000 + i;
  return it;
}

inline std::vector<CgroupItem> items_of(uint64_t gen, size_t n) {
  std::vector<CgroupItem> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i)
    v.push_back(item_of(gen, i));
  return v;
}

inline std::shared_ptr<const std::vector<CgroupItem>> share(std::vector<CgroupItem> items) {
  return std::make_shared<const std::vector<CgroupItem>>(std::move(items));
}

// What the test server answers.
enum class Mode {
  kServe,        // the publisher's snapshot, layout as requested
  kGarbage,      // bytes that do not decode in any layout
  kBadItem,      // a valid layout-1 snapshot with one item's NUL overwritten
  kStall,        // wait until release() (or 10 s), then serve
  kLayout1Only,  // an upstream-like peer: layout 2 requests are BAD_ENVELOPE
};

// A cgroups-snapshot endpoint on a uv::ServerThread. The handler runs on the
// server's loop thread; the test thread switches modes and publishes.
class TestProvider {
 public:
  struct Shared {
    cgroups_provider::SnapshotPublisher publisher;
    std::atomic<Mode> mode{Mode::kServe};
    std::atomic<uint64_t> requests{0};
    // By the layout the request asked for (index 1 and 2; 0: undecodable).
    std::atomic<uint64_t> layout_requests[3] = {};
    std::mutex mu;
    std::condition_variable cv;
    bool released = false;
    explicit Shared(uint64_t first_generation) : publisher(first_generation) {}
  };

  static std::unique_ptr<TestProvider> start(const std::string& dir, const std::string& service,
                                             uint64_t first_generation = 1,
                                             uint64_t auth_token = 0) {
    auto p = std::unique_ptr<TestProvider>(new TestProvider());
    p->shared_ = std::make_shared<Shared>(first_generation);
    uv::ServerConfig cfg;
    cfg.run_dir = dir;
    cfg.service = service;
    cfg.method = kSnapshotMethod;
    cfg.auth_token = auth_token;
    auto t = uv::ServerThread::start(cfg, handler(p->shared_));
    EXPECT_TRUE(t.ok()) << t.error().message();
    if (!t.ok()) return nullptr;
    p->thread_ = std::move(*t);
    uv::Server* srv = &p->thread_->server();
    p->shared_->publisher.set_size_listener(
        [srv](uint64_t bytes) { srv->announce_response_size(bytes); });
    return p;
  }

  ~TestProvider() { stop(); }
  void stop() {
    release();
    if (thread_) thread_->stop(1000);
    thread_.reset();
  }

  // Returns the new generation (the current one if nothing changed).
  uint64_t publish(std::vector<CgroupItem> items, uint32_t systemd_enabled = 1) {
    auto r = shared_->publisher.publish(share(std::move(items)), systemd_enabled);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? r->generation : 0;
  }
  void set_mode(Mode m) {
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->released = false;
    }
    shared_->mode.store(m);
  }
  void release() {
    if (!shared_) return;
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->released = true;
    shared_->cv.notify_all();
  }
  uint64_t requests() const { return shared_->requests.load(); }
  // Requests that asked for `layout` (1 or 2), whatever the mode answered.
  uint64_t requests_for_layout(uint16_t layout) const {
    return shared_->layout_requests[layout].load();
  }
  uv::ServerStats stats() { return thread_->server().stats(); }

 private:
  TestProvider() = default;

  static Handler handler(std::shared_ptr<Shared> s) {
    Handler serve = s->publisher.handler();
    return [s, serve](ByteSpan request, ResponseWriter& out) -> Status {
      s->requests.fetch_add(1);
      auto asked = codec::decode_cgroups_request(request, codec::kCgroupsLayoutsAll);
      s->layout_requests[asked.ok() ? *asked : 0].fetch_add(1);
      switch (s->mode.load()) {
        case Mode::kServe:
          return serve(request, out);
        case Mode::kGarbage: {
          // A protobuf tag with a truncated varint, and too short for layout 1.
          static const uint8_t bad[] = {0x1A, 0xFF, 0xFF, 0xFF};
          out.bytes().assign(bad, bad + sizeof bad);
          return ok_status();
        }
        case Mode::kBadItem: {
          auto snap = s->publisher.current();
          std::vector<uint8_t>& b = out.bytes();
          b.assign(snap->layout1->begin(), snap->layout1->end());
          if (snap->item_count > 0) {
            // Item 0 starts right after the header and the directory; its
            // name's NUL terminator sits at 32 + name_length.
            const uint64_t dir_end =
                codec::kSnapshotHeaderLen + codec::kSnapshotDirEntryLen * snap->item_count;
            const uint32_t off = load_u32(b.data() + codec::kSnapshotHeaderLen);
            const uint8_t* item = b.data() + dir_end + off;
            const uint32_t name_len = load_u32(item + 20);
            b[dir_end + off + codec::kCgroupItemFixedLen + name_len] = 'X';
          }
          return ok_status();
        }
        case Mode::kStall: {
          std::unique_lock<std::mutex> lock(s->mu);
          s->cv.wait_for(lock, std::chrono::seconds(10), [&] { return s->released; });
          lock.unlock();
          return serve(request, out);
        }
        case Mode::kLayout1Only: {
          auto layout = codec::decode_cgroups_request(request, codec::kCgroupsLayoutsUpstream);
          if (!layout.ok()) return layout.error();  // BAD_ENVELOPE, as upstream answers
          return serve(request, out);
        }
      }
      return make_error(Errc::kInternalError, "test provider: unknown mode");
    };
  }

  std::shared_ptr<Shared> shared_;
  std::unique_ptr<uv::ServerThread> thread_;
};

// A SnapshotCache of the provider at (dir, service): 5 s call timeout,
// `layout` (0 = automatic) and `auth_token` as given. Null, and a test
// failure, when create() fails.
inline std::unique_ptr<SnapshotCache> make_cache(const std::string& dir, const std::string& service,
                                                 uint16_t layout = 0, uint64_t auth_token = 0) {
  ClientConfig c;
  c.run_dir = dir;
  c.service = service;
  c.auth_token = auth_token;
  c.call_timeout_ms = 5000;
  SnapshotCacheOptions o;
  o.layout = layout;
  auto r = SnapshotCache::create(c, o);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? std::move(*r) : nullptr;
}

}  // namespace netipc::cache_test
