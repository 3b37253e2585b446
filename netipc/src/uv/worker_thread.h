// WorkerThread: one named thread that runs its owner's jobs one at a time,
// each while the submitting thread waits for it (run()).
//
// Why: a Refresher's work (decode, snapshot build, the host's hook) is
// queued on libuv's threadpool, and each attempt lands on whichever worker
// is free. Every worker thread allocates from its own malloc arena, and an
// arena keeps freed blocks resident: with 100k-item snapshots rebuilt on
// four workers in turn, the process held 16 MB more than the same work done
// on one thread. Running the jobs on one thread of the Refresher's own keeps
// them in one arena, reused by every refresh. The threadpool worker that
// submits a job is busy exactly as long as before (it waits), so the loop's
// contract with uv_queue_work (cancellation, after-work callbacks) is
// unchanged.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>

#include "netipc/result.h"
#include "netipc/uv/thread_factory.h"

namespace netipc::uv {

class WorkerThread {
 public:
  WorkerThread() = default;
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;
  // Stops the thread and joins it (no job may be running).
  ~WorkerThread();

  // Starts the thread through `factory` (std_thread_factory() when empty).
  Status start(const ThreadFactory& factory, const char* name) noexcept;
  bool running() const noexcept { return handle_ != nullptr; }

  // Runs `job` on the thread and returns once it has returned; without a
  // running thread, runs it on the calling thread. One caller at a time.
  void run(const std::function<void()>& job) noexcept;

 private:
  void loop() noexcept;

  ThreadFactory factory_;
  void* handle_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void()>* job_ = nullptr;  // set by run(), cleared when done
  bool stop_ = false;
};

}  // namespace netipc::uv
