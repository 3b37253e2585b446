#include "netipc/uv/thread_factory.h"

#include <pthread.h>

#include <new>
#include <system_error>
#include <thread>

namespace netipc::uv {

ThreadFactory std_thread_factory() {
  ThreadFactory f;
  f.start = [](const char* name, std::function<void()> body) -> Result<void*> {
    try {
      auto* t = new std::thread([name, body = std::move(body)] {
        pthread_setname_np(pthread_self(), name);
        body();
      });
      return static_cast<void*>(t);
    } catch (const std::system_error& e) {
      return make_error(Errc::kNoMemory, "start thread", e.code().value());
    } catch (const std::bad_alloc&) {
      return make_error(Errc::kNoMemory, "start thread");
    }
  };
  f.join = [](void* handle) {
    auto* t = static_cast<std::thread*>(handle);
    if (t->joinable()) t->join();
    delete t;
  };
  return f;
}

}  // namespace netipc::uv
