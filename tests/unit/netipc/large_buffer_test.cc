#include "base/large_buffer.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace netipc {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

// Pages of [p, p + bytes) resident in this process, by mincore().
size_t resident_pages(const void* p, size_t bytes) {
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(p) & ~(uintptr_t{page} - 1);
  const size_t len = reinterpret_cast<uintptr_t>(p) + bytes - begin;
  std::vector<unsigned char> vec((len + page - 1) / page);
  if (::mincore(reinterpret_cast<void*>(begin), len, vec.data()) != 0) return 0;
  size_t n = 0;
  for (unsigned char v : vec)
    n += v & 1;
  return n;
}

// Whether [p, p + bytes) is still mapped at all (mincore fails with ENOMEM
// on an unmapped range).
bool mapped(const void* p, size_t bytes) {
  std::vector<unsigned char> vec(bytes / static_cast<size_t>(::sysconf(_SC_PAGESIZE)) + 1);
  return ::mincore(const_cast<void*>(p), bytes, vec.data()) == 0;
}

// The kernel's THP mode for anonymous memory ("always", "madvise", "never"),
// empty when the kernel has no THP.
std::string thp_mode() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(f, line);
  const auto a = line.find('[');
  const auto b = line.find(']');
  return a == std::string::npos || b == std::string::npos ? "" : line.substr(a + 1, b - a - 1);
}

// Bytes of AnonHugePages in this process's mappings that overlap [p, p + n).
size_t anon_huge_kb(const void* p, size_t n) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  const auto lo = reinterpret_cast<uintptr_t>(p);
  const uintptr_t hi = lo + n;
  bool in = false;
  size_t kb = 0;
  while (std::getline(f, line)) {
    unsigned long a = 0, b = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &a, &b) == 2 && line.find(':') > line.find(' ')) {
      in = a < hi && b > lo;
      continue;
    }
    size_t v = 0;
    if (in && std::sscanf(line.c_str(), "AnonHugePages: %zu kB", &v) == 1) kb += v;
  }
  return kb;
}

// The VmFlags of the mapping that contains `addr` ("hg" = MADV_HUGEPAGE).
std::string vm_flags(const void* addr) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  const auto a = reinterpret_cast<uintptr_t>(addr);
  bool in = false;
  while (std::getline(f, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      in = a >= lo && a < hi;
      continue;
    }
    if (in && line.rfind("VmFlags:", 0) == 0) return line.substr(8) + " ";
  }
  return "";
}

bool advised_huge(const void* addr) {
  return vm_flags(addr).find(" hg ") != std::string::npos;
}

class LargeBufferTest : public ::testing::Test {
 protected:
  void TearDown() override { LargeBuffer::set_hints_disabled_for_testing(false); }
};

TEST_F(LargeBufferTest, SmallRequestsComeFromTheHeap) {
  LargeBuffer b;
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.backing(), LargeBuffer::Backing::kNone);
  ASSERT_TRUE(b.reserve(4096).ok());
  EXPECT_EQ(b.backing(), LargeBuffer::Backing::kHeap);
  EXPECT_GE(b.capacity(), 4096u);
  std::memset(b.data(), 0x5a, 4096);
  b.release();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.data(), nullptr);
}

TEST_F(LargeBufferTest, LargeRequestsGetAnAlignedMappingOfWholeExtents) {
  LargeBuffer b;
  ASSERT_TRUE(b.reserve(10 * 1000 * 1000).ok());
  EXPECT_EQ(b.backing(), LargeBuffer::Backing::kMapping);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kHugePage, 0u);
  EXPECT_EQ(b.capacity() % kHugePage, 0u);
  EXPECT_GE(b.capacity(), size_t{10 * 1000 * 1000});
  EXPECT_LT(b.capacity(), size_t{10 * 1000 * 1000} + kHugePage);
  std::memset(b.data(), 1, b.capacity());  // every byte is usable
}

TEST_F(LargeBufferTest, GrowthKeepsThePreservedPrefix) {
  LargeBuffer b;
  ASSERT_TRUE(b.reserve(64 * 1024).ok());
  for (size_t i = 0; i < 64 * 1024; ++i)
    b.data()[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(b.reserve(3 * kMiB, 64 * 1024).ok());
  EXPECT_EQ(b.backing(), LargeBuffer::Backing::kMapping);
  for (size_t i = 0; i < 64 * 1024; ++i)
    ASSERT_EQ(b.data()[i], static_cast<uint8_t>(i * 7)) << i;
  // A request within the capacity changes nothing.
  uint8_t* before = b.data();
  ASSERT_TRUE(b.reserve(2 * kMiB).ok());
  EXPECT_EQ(b.data(), before);
}

TEST_F(LargeBufferTest, ReleaseReturnsTheMappingToTheKernel) {
  LargeBuffer b;
  ASSERT_TRUE(b.reserve(8 * kMiB).ok());
  std::memset(b.data(), 1, b.capacity());
  const void* p = b.data();
  const size_t n = b.capacity();
  EXPECT_EQ(resident_pages(p, n), n / static_cast<size_t>(::sysconf(_SC_PAGESIZE)));
  b.release();
  EXPECT_FALSE(mapped(p, n));  // unmapped: nothing of it stays resident
  EXPECT_EQ(b.capacity(), 0u);
}

TEST_F(LargeBufferTest, MappingIsPrefaultedAndHugeWhenTheKernelAllowsIt) {
  LargeBuffer b;
  ASSERT_TRUE(b.reserve(8 * kMiB).ok());
  const std::string mode = thp_mode();
  if (mode == "madvise" || mode == "always") {
    EXPECT_TRUE(b.huge_advised());
  }
  EXPECT_EQ(advised_huge(b.data()), b.huge_advised());
  // MADV_POPULATE_WRITE (Linux 5.14+) made every page resident before any
  // touch; on older kernels the hint fails and the pages fault lazily.
  const size_t pages = b.capacity() / static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t resident = resident_pages(b.data(), b.capacity());
  EXPECT_TRUE(resident == pages || resident == 0) << resident << " of " << pages;
  std::memset(b.data(), 1, b.capacity());
  const size_t huge_kb = anon_huge_kb(b.data(), b.capacity());
  if (mode == "never" || mode.empty()) {
    EXPECT_EQ(huge_kb, 0u);
  }
  // Under madvise/always the kernel may still fall back to small pages
  // (fragmented memory); the buffer is correct either way.
  RecordProperty("anon_huge_kb", std::to_string(huge_kb));
}

TEST_F(LargeBufferTest, WorksWithoutHints) {
  // As on a kernel that refuses MADV_HUGEPAGE and MADV_POPULATE_WRITE
  // (THP compiled out or `never`, Linux before 5.14).
  LargeBuffer::set_hints_disabled_for_testing(true);
  LargeBuffer b;
  ASSERT_TRUE(b.reserve(6 * kMiB).ok());
  EXPECT_EQ(b.backing(), LargeBuffer::Backing::kMapping);
  EXPECT_FALSE(b.huge_advised());
  EXPECT_FALSE(advised_huge(b.data()));
  EXPECT_EQ(resident_pages(b.data(), b.capacity()), 0u);  // nothing pre-faulted
  std::memset(b.data(), 3, b.capacity());
  EXPECT_EQ(anon_huge_kb(b.data(), b.capacity()), 0u);
  const void* p = b.data();
  const size_t n = b.capacity();
  b.release();
  EXPECT_FALSE(mapped(p, n));
}

TEST_F(LargeBufferTest, MoveTransfersOwnership) {
  LargeBuffer a;
  ASSERT_TRUE(a.reserve(2 * kMiB).ok());
  a.data()[0] = 42;
  uint8_t* p = a.data();
  LargeBuffer b(std::move(a));
  EXPECT_EQ(a.capacity(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(b.data(), p);
  LargeBuffer c;
  ASSERT_TRUE(c.reserve(100).ok());
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.data()[0], 42);
}

TEST_F(LargeBufferTest, ImpossibleSizeIsNoMemoryAndLeavesTheBufferAlone) {
  LargeBuffer b;
  ASSERT_TRUE(b.reserve(100).ok());
  b.data()[0] = 9;
  auto st = b.reserve(SIZE_MAX - 10);
  EXPECT_EQ(st.code(), Errc::kNoMemory);
  EXPECT_EQ(b.data()[0], 9);
  EXPECT_EQ(b.backing(), LargeBuffer::Backing::kHeap);
}

TEST_F(LargeBufferTest, PrefaultLargeArrayMarksOnlyWholeInteriorExtents) {
  // A range of 4 MiB starting 1 MiB past an extent boundary holds exactly
  // one whole extent; the advice must not touch the pages around it.
  const size_t reserve = 8 * kMiB;
  void* raw = ::mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(raw, MAP_FAILED);
  const auto base = (reinterpret_cast<uintptr_t>(raw) + kHugePage - 1) & ~(kHugePage - 1);
  auto* p = reinterpret_cast<uint8_t*>(base + kMiB);
  std::memset(p, 7, 16);
  prefault_large_array(p, 4 * kMiB);         // interior [base+2M, base+4M): one extent
  EXPECT_EQ(p[0], 7);                        // contents unchanged
  prefault_large_array(p + 4 * kMiB, kMiB);  // too small: ignored
  if (!thp_mode().empty()) {
    // Pre-faulted (Linux 5.14+; on older kernels the hint fails).
    const size_t resident = resident_pages(p, 4 * kMiB);
    const size_t pages = 4 * kMiB / static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    EXPECT_TRUE(resident == pages || resident <= 1) << resident;
  }
  EXPECT_EQ(resident_pages(p + 4 * kMiB, kMiB), 0u);
  std::memset(p, 1, 4 * kMiB);
  if (!thp_mode().empty()) {
    EXPECT_TRUE(advised_huge(reinterpret_cast<void*>(base + 2 * kMiB)));
    EXPECT_TRUE(advised_huge(reinterpret_cast<void*>(base + 4 * kMiB - 1)));
  }
  EXPECT_FALSE(advised_huge(p));
  EXPECT_FALSE(advised_huge(reinterpret_cast<void*>(base + 4 * kMiB)));
  if (thp_mode() == "madvise") {
    EXPECT_LE(anon_huge_kb(p, 4 * kMiB), 2048u);  // never more than the advised extent
  }
  ::munmap(raw, reserve);
}

}  // namespace
}  // namespace netipc
