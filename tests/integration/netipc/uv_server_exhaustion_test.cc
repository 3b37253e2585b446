// netipc::uv::Server when the process runs out of descriptors, threads or
// memory: accept rests instead of spinning on EMFILE, create() fails
// cleanly wherever a descriptor is missing, a waiter thread that cannot be
// started falls back to the socket, and an exception from a handler closes
// only its session.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <gtest/gtest.h>

#include <new>
#include <system_error>

#include "uv_test_util.h"

namespace netipc {
namespace {

using namespace uv_test;  // NOLINT: test helpers

// Takes every descriptor this process may still open, under a soft
// RLIMIT_NOFILE lowered to `soft_limit` (so filling stays cheap), except
// `spare` of them. The destructor gives them back and restores the limit.
class DescriptorExhaustion {
 public:
  DescriptorExhaustion(rlim_t soft_limit, int spare) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    if (lowered.rlim_cur > soft_limit) lowered.rlim_cur = soft_limit;
    ::setrlimit(RLIMIT_NOFILE, &lowered);
    const int first = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (first >= 0) fds_.push_back(first);
    for (;;) {
      const int fd = ::fcntl(first, F_DUPFD_CLOEXEC, 0);
      if (fd < 0) break;
      fds_.push_back(fd);
    }
    exhausted_ = errno == EMFILE;
    for (int i = 0; i < spare && !fds_.empty(); ++i) {
      ::close(fds_.back());
      fds_.pop_back();
    }
  }
  ~DescriptorExhaustion() { release(); }
  bool exhausted() const { return exhausted_; }
  void release() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  rlimit saved_{};
  std::vector<int> fds_;
  bool exhausted_ = false;
};

// Sanitizer runtimes need descriptors of their own (to check whether
// memory is readable, to symbolize): with none left they report errors that
// are not there. These tests run in the release and debug builds.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NETIPC_SKIP_UNDER_SANITIZERS() \
  GTEST_SKIP() << "descriptor exhaustion confuses the sanitizer runtime (it needs fds)"
#else
#define NETIPC_SKIP_UNDER_SANITIZERS() (void)0
#endif

sockaddr_un address_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

int64_t ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

int64_t thread_cpu_ns(pthread_t t) {
  clockid_t clock;
  if (pthread_getcpuclockid(t, &clock) != 0) return -1;
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

TEST(UvServerExhaustion, AcceptOutOfDescriptorsRestsInsteadOfSpinningThenServesThePendingClient) {
  NETIPC_SKIP_UNDER_SANITIZERS();
  TempDir dir;
  auto cfg = base_config(dir, "emfile");
  // A host factory that tells the test which thread runs the loop.
  std::atomic<bool> have_thread{false};
  pthread_t loop_thread{};
  const uv::ThreadFactory base = uv::std_thread_factory();
  uv::ThreadFactory f;
  f.start = [&](const char* name, std::function<void()> body) {
    return base.start(name, [&, body = std::move(body)] {
      loop_thread = pthread_self();
      have_thread.store(true);
      body();
    });
  };
  f.join = base.join;
  auto srv = uv::ServerThread::start(cfg, make_increment_handler(), f);
  ASSERT_TRUE(srv.ok()) << srv.error().message();
  ASSERT_TRUE(test::wait_until([&] { return have_thread.load(); }));

  // The client's socket exists before the descriptors run out; connecting
  // needs none, so the server's accept() is the one that meets EMFILE.
  UniqueFd client(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(client);
  const sockaddr_un addr = address_of((*srv)->server().socket_path());
  {
    DescriptorExhaustion ex(512, 0);
    ASSERT_TRUE(ex.exhausted());
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0)
        << std::strerror(errno);
    // A measurement window, not synchronisation: from the connect on, a
    // level-triggered listener that kept polling would burn this whole
    // window in the loop.
    const int64_t cpu0 = thread_cpu_ns(loop_thread);
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    const int64_t cpu_ms = (thread_cpu_ns(loop_thread) - cpu0) / 1000000;
    const int64_t wall_ms = ms_between(t0, Clock::now());
    EXPECT_LT(cpu_ms, wall_ms / 10) << "loop thread used " << cpu_ms << " ms of CPU in "
                                    << wall_ms << " ms while out of descriptors";
    EXPECT_GE((*srv)->server().stats().accept_pauses, 2u) << "accept is retried while it rests";
    EXPECT_EQ((*srv)->server().stats().sessions_active, 0u);
  }
  // Descriptors are back: the client that waited in the backlog is served.
  auto raw = raw_handshake(std::move(client));
  ASSERT_TRUE(raw.ok()) << raw.error().message();
  uint8_t p[8];
  codec::encode_increment(41, p);
  ASSERT_TRUE(raw->conn.send(request(1), ByteSpan(p, 8)).ok());
  auto r = raw->conn.receive(deadline_in_ms(5000));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(codec::decode_increment(r->payload).value(), 42u);
  expect_served(cfg);
}

TEST(UvServerExhaustion, CreateOnAHostLoopFailsCleanlyWhereverADescriptorIsMissing) {
  NETIPC_SKIP_UNDER_SANITIZERS();
  TempDir dir;
  auto cfg = base_config(dir, "fdstep");
  bool created = false;
  for (int spare = 0; spare <= 4 && !created; ++spare) {
    SCOPED_TRACE("spare descriptors: " + std::to_string(spare));
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    Result<std::unique_ptr<uv::Server>> srv = make_error(Errc::kSystem, "not run");
    {
      DescriptorExhaustion ex(512, spare);
      ASSERT_TRUE(ex.exhausted());
      srv = uv::Server::create(&loop, cfg, make_increment_handler());
    }
    if (srv.ok()) {
      created = true;
      bool stopped = false;
      (*srv)->stop(100, [&] { stopped = true; });
      uv_run(&loop, UV_RUN_DEFAULT);
      EXPECT_TRUE(stopped);
      srv->reset();
    } else {
      EXPECT_FALSE(srv.error().message().empty());
      uv_run(&loop, UV_RUN_NOWAIT);  // the handles create() registered close here
    }
    EXPECT_EQ(uv_loop_close(&loop), 0) << "a handle was left on the loop";
    EXPECT_FALSE(exists(dir.file("fdstep.sock")));
  }
  EXPECT_TRUE(created) << "no server even with spare descriptors";
  auto again = start(cfg);
  ASSERT_TRUE(again);
  expect_served(cfg);
}

// ---- threads ----

ClientProposal shm_proposal() {
  ClientProposal p;
  p.supported_profiles = wire::kProfileUds | wire::kProfileShmHybrid;
  p.preferred_profiles = wire::kProfileShmHybrid;
  return p;
}

TEST(UvServerThreads, WaiterThreadThatCannotStartFallsBackToTheSocket) {
  TempDir dir;
  auto cfg = base_config(dir, "nothreads");
  cfg.supported_profiles = wire::kProfileUds | wire::kProfileShmHybrid;
  cfg.preferred_profiles = wire::kProfileShmHybrid;
  std::atomic<int> calls{0};
  const uv::ThreadFactory base = uv::std_thread_factory();
  cfg.shm_threads.start = [&](const char* name, std::function<void()> body) -> Result<void*> {
    const int n = ++calls;
    if (n == 1) return make_error(Errc::kNoMemory, "no threads today", EAGAIN);
    if (n == 2) throw std::system_error(EAGAIN, std::generic_category(), "thread");
    return base.start(name, std::move(body));
  };
  cfg.shm_threads.join = base.join;
  auto srv = start(cfg);
  ASSERT_TRUE(srv);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("session " + std::to_string(i + 1));
    auto c = connect(cfg, shm_proposal());
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(c->uses_shm(), i == 2);
    auto v = increment(*c, 1, 41);
    ASSERT_TRUE(v.ok()) << v.error().message();
    EXPECT_EQ(*v, 42u);
  }
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(srv->server().stats().internal_failures, 2u);
  EXPECT_EQ(srv->server().stats().shm_sessions, 1u);
}

// ---- exceptions at the callback boundary ----

Handler throwing_on_666() {
  return [inc = make_increment_handler()](ByteSpan req, ResponseWriter& out) -> Status {
    auto v = codec::decode_increment(req);
    if (v.ok() && *v == 666) throw std::bad_alloc();
    return inc(req, out);
  };
}

TEST(UvServerExceptions, HandlerThatThrowsOnTheLoopClosesOnlyItsSession) {
  TempDir dir;
  auto cfg = base_config(dir, "throws");
  auto srv = start(cfg, throwing_on_666());
  ASSERT_TRUE(srv);
  auto bystander = connect(cfg);
  ASSERT_TRUE(bystander.ok());
  auto victim = connect(cfg);
  ASSERT_TRUE(victim.ok());
  EXPECT_EQ(increment(*victim, 1, 666).code(), Errc::kPeerGone);
  EXPECT_EQ(increment(*bystander, 1, 41).value(), 42u);
  expect_served(cfg);
  EXPECT_EQ(srv->server().stats().internal_failures, 1u);
}

TEST(UvServerExceptions, HandlerThatThrowsOnAWaiterThreadClosesOnlyItsSession) {
  TempDir dir;
  auto cfg = base_config(dir, "throwsshm");
  cfg.supported_profiles = wire::kProfileUds | wire::kProfileShmHybrid;
  cfg.preferred_profiles = wire::kProfileShmHybrid;
  auto srv = start(cfg, throwing_on_666());
  ASSERT_TRUE(srv);
  auto victim = connect(cfg, shm_proposal());
  ASSERT_TRUE(victim.ok());
  ASSERT_TRUE(victim->uses_shm());
  EXPECT_FALSE(increment(*victim, 1, 666).ok());
  EXPECT_TRUE(test::wait_until([&] { return srv->server().stats().internal_failures == 1; }));
  auto next = connect(cfg, shm_proposal());
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(next->uses_shm());
  EXPECT_EQ(increment(*next, 1, 41).value(), 42u);
}

}  // namespace
}  // namespace netipc
