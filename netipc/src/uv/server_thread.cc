#include "netipc/uv/server_thread.h"

#include <pthread.h>
#include <uv.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "netipc/log.h"

namespace netipc::uv {

struct ServerThread::LoopState {
  uv_loop_t loop{};
  uv_async_t stop_async{};
  std::atomic<uint32_t> deadline_ms{1000};
  Server* server = nullptr;
};

Result<std::unique_ptr<ServerThread>> ServerThread::start(ServerConfig config, Handler handler,
                                                          ThreadFactory factory,
                                                          const char* thread_name) {
  std::unique_ptr<ServerThread> st(new ServerThread());
  st->factory_ = std::move(factory);
  st->state_ = std::make_unique<LoopState>();
  LoopState* ls = st->state_.get();
  int rc = uv_loop_init(&ls->loop);
  if (rc != 0) return make_error(Errc::kSystem, "uv_loop_init", -rc);
  // The loop is not running yet, so building the server here is safe and
  // reports listen errors synchronously.
  auto server = Server::create(&ls->loop, std::move(config), std::move(handler));
  if (!server.ok()) {
    uv_run(&ls->loop, UV_RUN_NOWAIT);
    uv_loop_close(&ls->loop);
    st->stopped_ = true;  // nothing to stop: the destructor must not touch the loop
    return server.error();
  }
  st->server_ = std::move(*server);
  ls->server = st->server_.get();
  rc = uv_async_init(&ls->loop, &ls->stop_async, [](uv_async_t* a) {
    auto* state = static_cast<LoopState*>(a->data);
    state->server->stop(state->deadline_ms.load(), [state] {
      uv_close(reinterpret_cast<uv_handle_t*>(&state->stop_async), nullptr);
    });
  });
  if (rc != 0) {
    // No way to wake the loop from another thread: stop the server here.
    st->server_->stop(0, [] {});
    uv_run(&ls->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ls->loop);
    st->stopped_ = true;
    return make_error(Errc::kNoMemory, "uv_async_init", -rc);
  }
  ls->stop_async.data = ls;
  auto handle = st->factory_.start(thread_name, [ls] { uv_run(&ls->loop, UV_RUN_DEFAULT); });
  if (!handle.ok()) {
    // Never started: stop on this thread by running the loop here.
    uv_async_send(&ls->stop_async);
    uv_run(&ls->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ls->loop);
    st->stopped_ = true;
    return handle.error();
  }
  st->thread_ = *handle;
  return st;
}

void ServerThread::stop(uint32_t deadline_ms) {
  if (stopped_ || thread_ == nullptr) return;
  stopped_ = true;
  state_->deadline_ms.store(deadline_ms);
  uv_async_send(&state_->stop_async);
  factory_.join(thread_);
  thread_ = nullptr;
  const int rc = uv_loop_close(&state_->loop);
  if (rc != 0) NETIPC_LOG(kError, "server loop did not close cleanly: %s", uv_strerror(rc));
}

ServerThread::~ServerThread() { stop(); }

}  // namespace netipc::uv
