// A region file truncated under a live shared-memory session (by another
// process, as `truncate -s 0 RUN_DIR/*.ipcshm` does) ends that session and
// never the process, on the server side and on the client side; a new
// session works. Also: the SIGBUS guard exists only in processes that map a
// region, and every SIGBUS it does not own reaches the handler installed
// before it.
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#include <gtest/gtest.h>

#include "netipc/session.h"
#include "netipc/uds.h"
#include "shm_session_test_util.h"

namespace netipc {
namespace {

using namespace shm_test;  // NOLINT: test helpers

int64_t deadline_ms(int64_t ms) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec + ms * 1000000;
}

ClientProposal shm_proposal() {
  ClientProposal p;
  p.supported_profiles = kUds | kHybrid;
  p.preferred_profiles = kHybrid;
  p.max_request_payload_bytes = 16384;
  return p;
}

Result<uint64_t> session_increment(ClientSession& c, uint64_t id, uint64_t v) {
  uint8_t p[codec::kIncrementLen];
  codec::encode_increment(v, p);
  Status st = c.send_request(kIncrement, id, ByteSpan(p, sizeof p), 1, deadline_ms(5000));
  if (!st.ok()) return st.error();
  auto r = c.receive_response(deadline_ms(5000));
  if (!r.ok()) return r.error();
  if (r->header.transport_status != 0) return make_error(Errc::kProtocol, "status");
  return codec::decode_increment(r->payload);
}

// Truncates the file to zero bytes from another process: truncate(1).
void truncate_from_another_process(const std::string& path) {
  auto r = test::run_to_completion({"/usr/bin/truncate", "-s", "0", path});
  ASSERT_EQ(r.status, 0) << r.err;
}

// ---- the guard itself, in forked children (fresh signal dispositions) ----

sigjmp_buf g_jump;
volatile sig_atomic_t g_previous_calls = 0;

void previous_handler(int, siginfo_t*, void*) {
  g_previous_calls = g_previous_calls + 1;
  siglongjmp(g_jump, 1);
}

TEST(ShmGuard, InstalledOnlyOnceARegionIsMappedAndForeignSigbusReachesThePreviousHandler) {
  TempDir dir;
  test::Child child = test::Child::fork_fn([&]() -> int {
    // Socket traffic alone installs nothing (a sanitizer runtime may have
    // its own handler from the start: compare with what was there).
    struct sigaction before {};
    sigaction(SIGBUS, nullptr, &before);
    auto nobody = uds_connect(dir.path(), "nobody");
    if (nobody.ok()) return 9;
    struct sigaction cur {};
    sigaction(SIGBUS, nullptr, &cur);
    if (cur.sa_sigaction != before.sa_sigaction || cur.sa_flags != before.sa_flags) return 10;
    struct sigaction prev {};
    prev.sa_sigaction = &previous_handler;
    prev.sa_flags = SA_SIGINFO;
    sigemptyset(&prev.sa_mask);
    sigaction(SIGBUS, &prev, nullptr);

    UniqueFd dfd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto region = ShmRegion::create(dfd.get(), "guard", 1, 4096, 4096);
    if (!region.ok()) return 11;
    sigaction(SIGBUS, nullptr, &cur);
    if (cur.sa_sigaction == &previous_handler) return 12;  // ours is installed now

    // A SIGBUS that is not a fault in a region: the previous handler.
    if (sigsetjmp(g_jump, 1) == 0) ::raise(SIGBUS);
    if (g_previous_calls != 1) return 13;
    // A real fault in a mapping that is not a region: the previous handler.
    UniqueFd other(::open(dir.file("other").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (::ftruncate(other.get(), 4096) != 0) return 14;
    auto* p = static_cast<volatile uint8_t*>(
        ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, other.get(), 0));
    if (::ftruncate(other.get(), 0) != 0) return 15;
    if (sigsetjmp(g_jump, 1) == 0) (void)p[10];
    if (g_previous_calls != 2) return 16;
    // A fault in the region: repaired by the guard, the previous handler
    // is not involved, and the region says it is broken.
    if (region->broken()) return 17;
    if (::ftruncate(region->fd(), 0) != 0) return 18;
    const volatile uint8_t* r = region->base();
    if (r[100] != 0) return 19;
    if (g_previous_calls != 2) return 20;
    if (!region->broken()) return 21;
    return 0;
  });
  ASSERT_TRUE(child.valid());
  EXPECT_EQ(child.wait(), 0);
}

TEST(ShmGuard, ForeignFaultWithTheDefaultDispositionStillEndsTheProcess) {
  TempDir dir;
  test::Child child = test::Child::fork_fn([&]() -> int {
    UniqueFd dfd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto region = ShmRegion::create(dfd.get(), "guard", 1, 4096, 4096);
    if (!region.ok()) return 11;
    UniqueFd other(::open(dir.file("other").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (::ftruncate(other.get(), 4096) != 0) return 14;
    auto* p = static_cast<volatile uint8_t*>(
        ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, other.get(), 0));
    if (::ftruncate(other.get(), 0) != 0) return 15;
    (void)p[10];
    return 0;  // survived a fault the guard does not own: wrong
  });
  ASSERT_TRUE(child.valid());
  const int status = child.wait();
  EXPECT_NE(status, 0) << "a SIGBUS outside any region must not be swallowed";
  EXPECT_NE(status, 14);
  EXPECT_NE(status, 15);
}

// ---- real sessions ----

TEST(ShmTruncation, ServerAndClientSurviveTheRegionTruncatedUnderThem) {
  TempDir dir;
  const auto cfg = server_config(dir.path(), "trunc", kUds | kHybrid);
  int go[2];
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  // The client is another process, forked before this one has threads.
  test::Child client = test::Child::fork_fn([&]() -> int {
    ::close(go[1]);  // so a parent that dies is an end of file here
    char b;
    if (::read(go[0], &b, 1) != 1) return 2;
    auto c = ClientSession::connect(cfg.run_dir, cfg.service, shm_proposal(), deadline_ms(5000));
    if (!c.ok() || !c->uses_shm()) return 3;
    auto v = session_increment(*c, 1, 41);
    if (!v.ok() || *v != 42) return 4;
    (void)!::write(STDOUT_FILENO, "called\n", 7);
    if (::read(go[0], &b, 1) != 1) return 5;
    auto after = session_increment(*c, 2, 41);
    if (after.ok()) return 6;  // the region is gone: this session cannot answer
    return 0;
  });
  ASSERT_TRUE(client.valid());
  std::string problem;
  auto server = start_server(cfg, make_increment_handler(), &problem);
  ASSERT_NE(server, nullptr) << problem;
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ASSERT_TRUE(client.wait_for_line("called"));
  auto regions = region_files(dir.path());
  ASSERT_EQ(regions.size(), 1u);
  truncate_from_another_process(dir.file(regions[0]));
  // The server's waiter touches the region within one wait slice, gets the
  // zero pages instead of SIGBUS and ends the session (removing the file).
  EXPECT_TRUE(test::wait_until([&] { return region_files(dir.path()).empty(); }));
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  EXPECT_EQ(client.wait(), 0) << "the client process must see an error, not die";
  ::close(go[0]);
  ::close(go[1]);
  // This process (the server) lives, and a new session works.
  auto c = ClientSession::connect(cfg.run_dir, cfg.service, shm_proposal(), deadline_ms(5000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(c->uses_shm());
  EXPECT_EQ(session_increment(*c, 1, 99).value(), 100u);
}

TEST(ShmTruncation, ClientSurvivesItsRegionTruncatedAndTheServerProcessServesAgain) {
  TempDir dir;
  const auto cfg = server_config(dir.path(), "truncc", kUds | kHybrid);
  test::Child server = fork_server(cfg, false);
  ASSERT_TRUE(server.valid());
  ASSERT_TRUE(server.wait_for_line("ready"));
  auto c = ClientSession::connect(cfg.run_dir, cfg.service, shm_proposal(), deadline_ms(5000));
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(c->uses_shm());
  ASSERT_EQ(session_increment(*c, 1, 41).value(), 42u);
  auto regions = region_files(dir.path());
  ASSERT_EQ(regions.size(), 1u);
  truncate_from_another_process(dir.file(regions[0]));
  auto after = session_increment(*c, 2, 41);
  EXPECT_FALSE(after.ok());
  EXPECT_EQ(after.code(), Errc::kPeerGone) << after.error().message();
  // The same server process (it is the only one) answers a new session.
  auto again = ClientSession::connect(cfg.run_dir, cfg.service, shm_proposal(), deadline_ms(5000));
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_TRUE(again->uses_shm());
  EXPECT_EQ(session_increment(*again, 1, 7).value(), 8u);
}

TEST(ShmTruncation, Level2ClientReconnectsAfterTheTruncation) {
  TempDir dir;
  const auto cfg = server_config(dir.path(), "truncl2", kUds | kHybrid);
  test::Child server = fork_server(cfg, false);
  ASSERT_TRUE(server.valid());
  ASSERT_TRUE(server.wait_for_line("ready"));
  auto client = Client::create(client_config(dir.path(), "truncl2", kUds | kHybrid));
  ASSERT_TRUE(client.ok());
  ASSERT_EQ(increment(*client, 1).value(), 2u);
  auto regions = region_files(dir.path());
  ASSERT_EQ(regions.size(), 1u);
  truncate_from_another_process(dir.file(regions[0]));
  // The caller may see this one call fail; the next one is served by a new session.
  (void)increment(*client, 2);
  auto v = increment(*client, 3);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(*v, 4u);
}

}  // namespace
}  // namespace netipc
