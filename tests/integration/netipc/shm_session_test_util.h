// Shared by shm_session_test.cc and shm_session_failure_test.cc: the
// project's Level-2 Client against the project's uv::Server over shared
// memory. Region files in a run directory, INCREMENT calls, a handler that
// can be held (to put a call "in flight" on purpose), and servers in this
// process or in a forked child. Each test file is its own executable, so
// everything here is inline.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "netipc/client.h"
#include "netipc/codec/increment.h"
#include "netipc/services.h"
#include "netipc/uv/server_thread.h"
#include "netipc/wire.h"
#include "test_support.h"
#include "transport/shm/shm.h"

namespace netipc::shm_test {

using Clock = std::chrono::steady_clock;
using test::TempDir;

inline constexpr uint16_t kIncrement = static_cast<uint16_t>(wire::Method::kIncrement);
inline constexpr uint32_t kUds = wire::kProfileUds;
inline constexpr uint32_t kHybrid = wire::kProfileShmHybrid;
inline constexpr uint32_t kFutex = wire::kProfileShmFutex;

inline int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Names of the entries of `dir` that end in ".ipcshm", sorted.
inline std::vector<std::string> region_files(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".ipcshm") == 0) out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Every entry of `dir` except "." and "..".
inline size_t entry_count(const std::string& dir) {
  size_t n = 0;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  while (const dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  }
  ::closedir(d);
  return n;
}

inline std::string region_name(const std::string& service, uint64_t session_id) {
  auto n = shm::region_file_name(service, session_id);
  return n.ok() ? *n : std::string();
}

// `profiles` offered; the SHM bits among them are also preferred.
inline uv::ServerConfig server_config(const std::string& dir, const std::string& service,
                                      uint32_t profiles) {
  uv::ServerConfig c;
  c.run_dir = dir;
  c.service = service;
  c.method = kIncrement;
  c.supported_profiles = profiles;
  c.preferred_profiles = profiles & wire::kProfileShmMask;
  c.max_request_payload_bytes = 16384;
  return c;
}

inline ClientConfig client_config(const std::string& dir, const std::string& service,
                                  uint32_t profiles) {
  ClientConfig c;
  c.run_dir = dir;
  c.service = service;
  c.method = kIncrement;
  c.supported_profiles = profiles;
  c.preferred_profiles = profiles & wire::kProfileShmMask;
  c.max_request_batch_items = 1000;
  c.call_timeout_ms = 10000;
  return c;
}

// One INCREMENT call through a Level-2 client.
inline Result<uint64_t> increment(Client& c, uint64_t v, int timeout_ms = 0) {
  uint8_t payload[codec::kIncrementLen];
  codec::encode_increment(v, payload);
  auto r = c.call(ByteSpan(payload, sizeof payload), 1, timeout_ms);
  if (!r.ok()) return r.error();
  return codec::decode_increment(r->payload);
}

// An INCREMENT handler that can be held closed: each call then blocks on
// the serving thread (an SHM waiter thread) until open(), for at most 30 s
// so a failing test cannot hang. Counts the calls that entered.
class Gate {
 public:
  Handler handler() {
    return [this](ByteSpan req, ResponseWriter& out) -> Status {
      {
        std::unique_lock<std::mutex> lock(mu_);
        ++entered_;
        cv_.notify_all();
        cv_.wait_for(lock, std::chrono::seconds(30), [this] { return open_; });
      }
      auto v = codec::decode_increment(req);
      if (!v.ok()) return v.error();
      out.bytes().resize(codec::kIncrementLen);
      codec::encode_increment(*v + 1, out.bytes().data());
      return ok_status();
    };
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait_entered(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return entered_ >= n; });
  }
  size_t entered() {
    std::lock_guard<std::mutex> lock(mu_);
    return entered_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t entered_ = 0;
  bool open_ = false;
};

// A uv::ServerThread in this process; *problem says why not.
inline std::unique_ptr<uv::ServerThread> start_server(const uv::ServerConfig& config,
                                                      Handler handler, std::string* problem) {
  auto t = uv::ServerThread::start(config, std::move(handler));
  if (!t.ok()) {
    *problem = t.error().message();
    return nullptr;
  }
  return std::move(*t);
}

// A server in a forked child (a real process to kill -9). It prints
// "ready" once listening; with `hold` its handler prints "in-handler" and
// never returns. The parent must have no other threads when it forks.
inline test::Child fork_server(const uv::ServerConfig& config, bool hold) {
  return test::Child::fork_fn([config, hold]() -> int {
    Handler h = make_increment_handler();
    if (hold) {
      h = [](ByteSpan, ResponseWriter&) -> Status {
        (void)!::write(STDOUT_FILENO, "in-handler\n", 11);
        for (;;)
          ::pause();  // until SIGKILL
      };
    }
    std::string problem;
    auto server = start_server(config, h, &problem);
    if (server == nullptr) return 1;
    (void)!::write(STDOUT_FILENO, "ready\n", 6);
    for (;;)
      ::pause();
  });
}

}  // namespace netipc::shm_test
