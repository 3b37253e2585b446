// No allocation on the blocking Level-2 client's steady-state request path
// (plain calls and batches). This program replaces the global operator
// new/delete to count the test thread's allocations, so it holds this one
// check only.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <vector>

#include "client_test_util.h"
#include "netipc/client.h"

// Counts allocations made by the test's own thread while enabled (the
// server thread allocates freely).
namespace {
thread_local bool g_count_allocs = false;
thread_local size_t g_allocs = 0;
}  // namespace

void* operator new(size_t n) {
  if (g_count_allocs) ++g_allocs;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// The nothrow form too (the library allocates its receive buffer with it):
// every form this program's deletes can free comes from the same malloc.
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  if (g_count_allocs) ++g_allocs;
  return std::malloc(n == 0 ? 1 : n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}

namespace netipc::test {
namespace {

TEST_F(ClientTest, SteadyStateCallsDoNotAllocate) {
  auto server = serve();
  ClientConfig cfg = config();
  cfg.max_request_batch_items = 16;
  Client c = make(cfg);
  std::vector<uint8_t> one = u64_bytes(1);
  std::vector<ByteSpan> items(16, ByteSpan(one));
  for (int i = 0; i < 3; ++i) {  // warm up: session, buffers
    ASSERT_TRUE(c.call(ByteSpan(one)).ok());
    ASSERT_TRUE(c.call_batch(items).ok());
  }
  g_allocs = 0;
  g_count_allocs = true;
  int* volatile probe = new int(1);  // proves the counter sees this thread's allocations
  delete probe;
  g_count_allocs = false;
  ASSERT_EQ(g_allocs, 1u);
  g_allocs = 0;
  g_count_allocs = true;
  bool all_ok = true;
  for (int i = 0; i < 100; ++i) {
    all_ok = all_ok && c.call(ByteSpan(one)).ok();
    all_ok = all_ok && c.call_batch(items).ok();
  }
  g_count_allocs = false;
  EXPECT_TRUE(all_ok);
  EXPECT_EQ(g_allocs, 0u);
  EXPECT_EQ(c.status().call_count, 206u);
}

}  // namespace
}  // namespace netipc::test
