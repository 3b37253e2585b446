#include "worker_thread.h"

#include <exception>
#include <utility>

namespace netipc::uv {

Status WorkerThread::start(const ThreadFactory& factory, const char* name) noexcept {
  if (handle_ != nullptr) return make_error(Errc::kInvalidArgument, "WorkerThread: started");
  try {
    factory_ = factory.start && factory.join ? factory : std_thread_factory();
    auto h = factory_.start(name, [this] { loop(); });
    if (!h.ok()) return h.error();
    handle_ = *h;
  } catch (const std::exception&) {
    return make_error(Errc::kNoMemory, "WorkerThread: start");
  }
  return ok_status();
}

WorkerThread::~WorkerThread() {
  if (handle_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  factory_.join(handle_);
}

void WorkerThread::run(const std::function<void()>& job) noexcept {
  if (handle_ == nullptr) {
    job();
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  job_ = &job;
  cv_.notify_all();
  cv_.wait(lock, [this] { return job_ == nullptr; });
}

void WorkerThread::loop() noexcept {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || job_ != nullptr; });
    if (job_ != nullptr) {
      const std::function<void()>* job = job_;
      lock.unlock();
      (*job)();
      lock.lock();
      job_ = nullptr;
      cv_.notify_all();
      continue;
    }
    if (stop_) return;
  }
}

}  // namespace netipc::uv
