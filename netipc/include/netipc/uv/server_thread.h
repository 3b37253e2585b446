// ServerThread: a netipc::uv::Server on its own libuv loop and thread, for
// hosts that have no loop to lend. The thread is started through a
// host-supplied factory so Netdata can use its own thread API and names.
//
// Lifetime: start() returns once the endpoint is listening. stop() may be
// called from any thread except the server's own (not from a handler); it
// returns after the loop thread has exited and the loop is closed.
// The destructor stops a running server.
#pragma once

#include <functional>
#include <memory>

#include "netipc/result.h"
#include "netipc/uv/server.h"
#include "netipc/uv/thread_factory.h"

namespace netipc::uv {

class ServerThread {
 public:
  static Result<std::unique_ptr<ServerThread>> start(ServerConfig config, Handler handler,
                                                     ThreadFactory factory = std_thread_factory(),
                                                     const char* thread_name = "netipc-server");
  ~ServerThread();
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;

  // Graceful stop: responses in progress get up to deadline_ms.
  void stop(uint32_t deadline_ms = 1000);
  // Thread-safe members only: announce_response_size, response_ceiling,
  // stats, socket_path.
  Server& server() { return *server_; }

 private:
  ServerThread() = default;
  struct LoopState;
  std::unique_ptr<LoopState> state_;
  std::unique_ptr<Server> server_;
  ThreadFactory factory_;
  void* thread_ = nullptr;
  bool stopped_ = false;
};

}  // namespace netipc::uv
