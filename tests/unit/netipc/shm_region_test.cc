// SHM region files: names, layout bytes against the spec, creation rules
// (O_EXCL, O_NOFOLLOW, mode 0600, full reservation), attach validation, the
// attach retry policy and who unlinks.
#include "transport/shm/shm.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace netipc {
namespace {

using test::TempDir;

class RunDir {
 public:
  RunDir() : fd_(::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}
  int fd() const { return fd_.get(); }
  std::string file(const std::string& name) const { return dir_.file(name); }
  bool exists(const std::string& name) const {
    struct stat st;
    return ::fstatat(fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  }
  std::vector<uint8_t> read(const std::string& name) const {
    std::vector<uint8_t> out;
    FILE* f = std::fopen(file(name).c_str(), "rb");
    if (f == nullptr) return out;
    uint8_t buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
      out.insert(out.end(), buf, buf + n);
    std::fclose(f);
    return out;
  }
  void write(const std::string& name, const std::vector<uint8_t>& bytes) const {
    FILE* f = std::fopen(file(name).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    if (!bytes.empty()) {
      ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    }
    std::fclose(f);
  }

 private:
  TempDir dir_;
  UniqueFd fd_;
};

std::string hex(const uint8_t* p, size_t n) {
  std::string s;
  char b[3];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += b;
  }
  return s;
}

// A region image: header as a server would write it, areas zeroed.
std::vector<uint8_t> region_image(uint32_t req_off, uint32_t req_cap, uint32_t resp_off,
                                  uint32_t resp_cap, size_t file_size) {
  std::vector<uint8_t> b(file_size, 0);
  if (file_size < 64) return b;
  store_u32(&b[shm::kOffMagic], shm::kMagic);
  store_u16(&b[shm::kOffVersion], shm::kVersion);
  store_u16(&b[shm::kOffHeaderLen], shm::kHeaderLen);
  store_u32(&b[shm::kOffOwnerPid], static_cast<uint32_t>(getpid()));
  store_u32(&b[shm::kOffOwnerGeneration], 7);
  store_u32(&b[shm::kOffRequestOffset], req_off);
  store_u32(&b[shm::kOffRequestCapacity], req_cap);
  store_u32(&b[shm::kOffResponseOffset], resp_off);
  store_u32(&b[shm::kOffResponseCapacity], resp_cap);
  return b;
}

std::vector<uint8_t> valid_image() {
  return region_image(64, 128, 192, 256, 448);
}

constexpr uint32_t kReq = 1024 + 32;
constexpr uint32_t kResp = 65536 + 32;

TEST(ShmNames, RegionFileNameUsesSixteenLowercaseHexDigits) {
  auto a = shm::region_file_name("cgroups-snapshot", 1);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "cgroups-snapshot-0000000000000001.ipcshm");
  auto b = shm::region_file_name("cgroups-snapshot", 0xABCDEF);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, "cgroups-snapshot-0000000000abcdef.ipcshm");
  auto c = shm::region_file_name("x", UINT64_MAX);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, "x-ffffffffffffffff.ipcshm");
}

TEST(ShmNames, InvalidServiceNamesAreRejected) {
  for (const char* bad : {"", ".", "..", "a/b", "a b", "a\nb", "caf\xc3\xa9"}) {
    EXPECT_EQ(shm::validate_service_name(bad).code(), Errc::kInvalidArgument) << bad;
    EXPECT_EQ(shm::region_file_name(bad, 1).code(), Errc::kInvalidArgument) << bad;
  }
  for (const char* good : {"a", "...", "a.b_c-D9", ".hidden"}) {
    EXPECT_TRUE(shm::validate_service_name(good).ok()) << good;
  }
}

TEST(ShmNames, NamePastNameMaxIsPathTooLong) {
  // 255 = service + "-" + 16 + ".ipcshm"
  EXPECT_TRUE(shm::region_file_name(std::string(231, 'a'), 1).ok());
  EXPECT_EQ(shm::region_file_name(std::string(232, 'a'), 1).code(), Errc::kPathTooLong);
}

TEST(ShmLayout, DefaultTypedServerLayoutMatchesSpec) {
  auto l = shm::compute_layout(kReq, kResp);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->request_offset, 64u);
  EXPECT_EQ(l->request_capacity, 1088u);
  EXPECT_EQ(l->response_offset, 1152u);
  EXPECT_EQ(l->response_capacity, 65600u);
  EXPECT_EQ(l->file_size, 66752u);
  EXPECT_EQ(shm::capacity_for_payload(1024), 1088u);
  EXPECT_EQ(shm::capacity_for_payload(65536), 65600u);
}

TEST(ShmLayout, CapacitiesAreRoundedUpToSixtyFour) {
  auto l = shm::compute_layout(1, 65);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->request_capacity, 64u);
  EXPECT_EQ(l->response_offset, 128u);
  EXPECT_EQ(l->response_capacity, 128u);
  EXPECT_EQ(l->file_size, 256u);
}

TEST(ShmLayout, ZeroAndOversizedCapacitiesAreRejected) {
  EXPECT_EQ(shm::compute_layout(0, 64).code(), Errc::kInvalidArgument);
  EXPECT_EQ(shm::compute_layout(64, 0).code(), Errc::kInvalidArgument);
  EXPECT_EQ(shm::compute_layout(UINT32_MAX, 64).code(), Errc::kLimitExceeded);
  EXPECT_EQ(shm::compute_layout(64, UINT32_MAX - 100).code(), Errc::kLimitExceeded);
}

TEST(ShmRegionCreate, WritesSpecHeaderAndReservesWholeFile) {
  RunDir dir;
  auto r = ShmRegion::create(dir.fd(), "cgroups-snapshot", 1, kReq, kResp);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->is_owner());
  EXPECT_EQ(r->file_name(), "cgroups-snapshot-0000000000000001.ipcshm");
  EXPECT_EQ(r->owner_pid(), getpid());
  EXPECT_NE(r->owner_generation(), 0u);
  EXPECT_EQ(r->mapped_size(), 66752u);

  struct stat st;
  ASSERT_EQ(::stat(dir.file(r->file_name()).c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 66752);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // fallocate, not ftruncate: every byte is backed.
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, 66752u);

  auto bytes = dir.read(r->file_name());
  ASSERT_EQ(bytes.size(), 66752u);
  EXPECT_EQ(hex(bytes.data(), 8), "4d48534e03004000");
  EXPECT_EQ(load_u32(&bytes[8]), static_cast<uint32_t>(getpid()));
  EXPECT_EQ(load_u32(&bytes[12]), r->owner_generation());
  EXPECT_EQ(hex(bytes.data() + 16, 16), "40000000400400008004000040000100");
  for (size_t i = 32; i < bytes.size(); ++i)
    ASSERT_EQ(bytes[i], 0) << "byte " << i;
}

TEST(ShmRegionCreate, HeaderBytesMatchSpecExampleForPid1234) {
  RunDir dir;
  auto r = ShmRegion::create(dir.fd(), "svc", 1, kReq, kResp);
  ASSERT_TRUE(r.ok());
  // Only the two variable fields differ from the spec example; set them to
  // the example's values and compare the whole header.
  store_u32(r->base() + shm::kOffOwnerPid, 1234);
  store_u32(r->base() + shm::kOffOwnerGeneration, 0x01020304);
  EXPECT_EQ(hex(r->base(), 32),
            "4d48534e03004000d204000004030201"
            "40000000400400008004000040000100");
  EXPECT_EQ(hex(r->base() + 32, 32), std::string(64, '0'));
}

TEST(ShmRegionCreate, ModeIsExactly0600WhateverTheUmask) {
  RunDir dir;
  const mode_t old = ::umask(0277);
  auto r = ShmRegion::create(dir.fd(), "svc", 2, 64, 64);
  ::umask(old);
  ASSERT_TRUE(r.ok());
  struct stat st;
  ASSERT_EQ(::fstatat(dir.fd(), r->file_name().c_str(), &st, 0), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(ShmRegionCreate, LiveRegionAtTheNameIsAddrInUseAndKept) {
  RunDir dir;
  auto first = ShmRegion::create(dir.fd(), "svc", 3, 64, 64);
  ASSERT_TRUE(first.ok());
  auto second = ShmRegion::create(dir.fd(), "svc", 3, 64, 64);
  EXPECT_EQ(second.code(), Errc::kAddrInUse);
  EXPECT_TRUE(dir.exists(first->file_name()));
  // The first region is untouched.
  EXPECT_EQ(load_u32(first->base()), shm::kMagic);
}

TEST(ShmRegionCreate, SymlinkAtTheNameIsReplacedNeverFollowed) {
  RunDir dir;
  const std::string name = *shm::region_file_name("svc", 4);
  dir.write("target", {'k', 'e', 'e', 'p'});
  ASSERT_EQ(::symlinkat("target", dir.fd(), name.c_str()), 0);
  auto r = ShmRegion::create(dir.fd(), "svc", 4, 64, 64);
  ASSERT_TRUE(r.ok()) << r.error().message();
  struct stat st;
  ASSERT_EQ(::fstatat(dir.fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(dir.read("target"), (std::vector<uint8_t>{'k', 'e', 'e', 'p'}));
}

TEST(ShmRegionCreate, RejectsBadArguments) {
  RunDir dir;
  EXPECT_EQ(ShmRegion::create(-1, "svc", 1, 64, 64).code(), Errc::kInvalidArgument);
  EXPECT_EQ(ShmRegion::create(dir.fd(), "a/b", 1, 64, 64).code(), Errc::kInvalidArgument);
  EXPECT_EQ(ShmRegion::create(dir.fd(), "svc", 1, 0, 64).code(), Errc::kInvalidArgument);
  EXPECT_EQ(ShmRegion::create(dir.fd(), "svc", 1, UINT32_MAX, 64).code(), Errc::kLimitExceeded);
}

TEST(ShmRegionCreate, RunDirFdThatIsNotADirectoryIsASystemError) {
  RunDir dir;
  dir.write("plain", {1});
  UniqueFd file(::open(dir.file("plain").c_str(), O_RDONLY | O_CLOEXEC));
  auto r = ShmRegion::create(file.get(), "svc", 1, 64, 64);
  EXPECT_EQ(r.code(), Errc::kSystem);
  EXPECT_EQ(r.error().sys_errno, ENOTDIR);
}

TEST(ShmRegionLifetime, OwnerUnlinksAndAttacherNever) {
  RunDir dir;
  std::string name;
  {
    auto owner = ShmRegion::create(dir.fd(), "svc", 5, 64, 64);
    ASSERT_TRUE(owner.ok());
    name = owner->file_name();
    {
      auto client = ShmRegion::attach(dir.fd(), "svc", 5);
      ASSERT_TRUE(client.ok()) << client.error().message();
      EXPECT_FALSE(client->is_owner());
    }
    EXPECT_TRUE(dir.exists(name));
    // Moving the owner moves the duty to unlink; the moved-from one is empty.
    ShmRegion moved = std::move(*owner);
    EXPECT_FALSE(owner->valid());
    EXPECT_TRUE(dir.exists(name));
  }
  EXPECT_FALSE(dir.exists(name));
}

TEST(ShmRegionLifetime, OwnerLeavesAFileThatReplacedItsOwn) {
  RunDir dir;
  std::string name;
  {
    auto owner = ShmRegion::create(dir.fd(), "svc", 6, 64, 64);
    ASSERT_TRUE(owner.ok());
    name = owner->file_name();
    dir.write("other", {9});
    ASSERT_EQ(::renameat(dir.fd(), "other", dir.fd(), name.c_str()), 0);
  }
  EXPECT_TRUE(dir.exists(name));
  EXPECT_EQ(dir.read(name), std::vector<uint8_t>{9});
}

TEST(ShmRegionAttach, SeesTheCreatedLayoutAndOwner) {
  RunDir dir;
  auto owner = ShmRegion::create(dir.fd(), "svc", 7, kReq, kResp);
  ASSERT_TRUE(owner.ok());
  auto client = ShmRegion::attach(dir.fd(), "svc", 7);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(client->layout().request_offset, 64u);
  EXPECT_EQ(client->layout().request_capacity, 1088u);
  EXPECT_EQ(client->layout().response_offset, 1152u);
  EXPECT_EQ(client->layout().response_capacity, 65600u);
  EXPECT_EQ(client->mapped_size(), 66752u);
  EXPECT_EQ(client->owner_pid(), getpid());
  EXPECT_EQ(client->owner_generation(), owner->owner_generation());
  EXPECT_TRUE(client->owner_alive());
  // Same file, two mappings: a write through one is seen through the other.
  store_u32(owner->base() + 1152, 0xfeedbeef);
  EXPECT_EQ(load_u32(client->base() + 1152), 0xfeedbeefu);
}

TEST(ShmRegionAttach, AcceptsAValidHandWrittenImageLargerThanNeeded) {
  RunDir dir;
  auto img = region_image(64, 128, 192, 256, 4096);
  dir.write(*shm::region_file_name("svc", 1), img);
  auto r = ShmRegion::attach(dir.fd(), "svc", 1);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->mapped_size(), 4096u);
  EXPECT_EQ(r->layout().file_size, 448u);
}

struct AttachCase {
  const char* what;
  std::vector<uint8_t> image;
  Errc expected;
};

TEST(ShmRegionAttach, InvalidRegionsAreRejectedWithDistinctErrors) {
  auto with = [](size_t off, uint32_t v, int width = 4) {
    auto img = valid_image();
    if (width == 2) {
      store_u16(&img[off], static_cast<uint16_t>(v));
    } else {
      store_u32(&img[off], v);
    }
    return img;
  };
  auto truncated = valid_image();
  truncated.resize(63);
  std::vector<AttachCase> cases = {
      {"empty file", {}, Errc::kNotReady},
      {"truncated to 63 bytes", truncated, Errc::kNotReady},
      {"zeroed header (server not done)", std::vector<uint8_t>(448, 0), Errc::kBadMagic},
      {"wrong magic", with(shm::kOffMagic, 0x4E53484E), Errc::kBadMagic},
      {"wrong version", with(shm::kOffVersion, 2, 2), Errc::kBadVersion},
      {"wrong header_len", with(shm::kOffHeaderLen, 32, 2), Errc::kBadHeaderLen},
      {"zero request capacity", with(shm::kOffRequestCapacity, 0), Errc::kNotReady},
      {"zero response capacity", with(shm::kOffResponseCapacity, 0), Errc::kNotReady},
      {"request offset inside header", with(shm::kOffRequestOffset, 0), Errc::kNotReady},
      {"response offset inside header", with(shm::kOffResponseOffset, 32), Errc::kNotReady},
      {"response area beyond st_size", with(shm::kOffResponseCapacity, 320), Errc::kBadLayout},
      {"request area beyond st_size", region_image(64, 128, 192, 256, 447), Errc::kBadLayout},
      {"misaligned request capacity", with(shm::kOffRequestCapacity, 100), Errc::kBadLayout},
      {"misaligned response offset", with(shm::kOffResponseOffset, 200), Errc::kBadLayout},
      {"overlapping areas", with(shm::kOffResponseOffset, 128), Errc::kBadLayout},
      {"request end overflows u32", with(shm::kOffRequestCapacity, 0xFFFFFFC0), Errc::kBadLayout},
      {"response end overflows u32", with(shm::kOffResponseCapacity, 0xFFFFFFC0), Errc::kBadLayout},
  };
  RunDir dir;
  uint64_t session = 100;
  for (const auto& c : cases) {
    ++session;
    dir.write(*shm::region_file_name("svc", session), c.image);
    auto r = ShmRegion::attach(dir.fd(), "svc", session);
    EXPECT_EQ(r.code(), c.expected) << c.what << ": " << (r ? "ok" : r.error().message());
    // Attach never removes what it rejected.
    EXPECT_TRUE(dir.exists(*shm::region_file_name("svc", session))) << c.what;
  }
}

TEST(ShmRegionAttach, MissingSymlinkDirectoryAndFifoAreRejected) {
  RunDir dir;
  EXPECT_EQ(ShmRegion::attach(dir.fd(), "svc", 1).code(), Errc::kNotFound);

  dir.write("real", valid_image());
  ASSERT_EQ(::symlinkat("real", dir.fd(), shm::region_file_name("svc", 2)->c_str()), 0);
  EXPECT_EQ(ShmRegion::attach(dir.fd(), "svc", 2).code(), Errc::kPermission);

  ASSERT_EQ(::mkdirat(dir.fd(), shm::region_file_name("svc", 3)->c_str(), 0700), 0);
  auto d = ShmRegion::attach(dir.fd(), "svc", 3);
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.error().sys_errno, EISDIR);

  ASSERT_EQ(::mkfifoat(dir.fd(), shm::region_file_name("svc", 4)->c_str(), 0600), 0);
  EXPECT_EQ(ShmRegion::attach(dir.fd(), "svc", 4).code(), Errc::kBadLayout);

  EXPECT_EQ(ShmRegion::attach(-1, "svc", 1).code(), Errc::kInvalidArgument);
  EXPECT_EQ(ShmRegion::attach(dir.fd(), "..", 1).code(), Errc::kInvalidArgument);
}

TEST(ShmRegionAttach, FileLargerThanAnyRegionIsRejected) {
  RunDir dir;
  const std::string name = *shm::region_file_name("svc", 1);
  dir.write(name, valid_image());
  ASSERT_EQ(::truncate(dir.file(name).c_str(), static_cast<off_t>(shm::kMaxRegionFileSize + 1)), 0);
  EXPECT_EQ(ShmRegion::attach(dir.fd(), "svc", 1).code(), Errc::kBadLayout);
}

TEST(ShmRegionAttachRetry, WaitsUntilTheServerHasWrittenTheHeader) {
  RunDir dir;
  const std::string name = *shm::region_file_name("svc", 9);
  dir.write(name, std::vector<uint8_t>(448, 0));  // created, not yet initialised
  std::atomic<int> retries{0};
  Result<ShmRegion> result = make_error(Errc::kInternalError);
  std::thread t([&] {
    result = ShmRegion::attach_with_retry(dir.fd(), "svc", 9, AttachRetryPolicy{1, 10000}, [&] {
      retries.fetch_add(1);
      return false;
    });
  });
  ASSERT_TRUE(test::wait_until([&] { return retries.load() >= 2; }));
  // Finish the "server side": write the header in place.
  auto img = valid_image();
  UniqueFd fd(::openat(dir.fd(), name.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_EQ(::pwrite(fd.get(), img.data(), 64, 0), 64);
  t.join();
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->layout().response_capacity, 256u);
}

TEST(ShmRegionAttachRetry, GivesUpAfterTheBound) {
  RunDir dir;
  const auto start = std::chrono::steady_clock::now();
  auto r = ShmRegion::attach_with_retry(dir.fd(), "svc", 1, AttachRetryPolicy{5, 60});
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  EXPECT_EQ(r.code(), Errc::kNotFound);
  EXPECT_GE(ms, 60);
  EXPECT_LT(ms, 2000);
}

TEST(ShmRegionAttachRetry, DoesNotRetryPermanentErrors) {
  RunDir dir;
  auto img = valid_image();
  store_u16(&img[shm::kOffVersion], 4);
  dir.write(*shm::region_file_name("svc", 1), img);
  int calls = 0;
  auto r = ShmRegion::attach_with_retry(dir.fd(), "svc", 1, {}, [&] {
    ++calls;
    return false;
  });
  EXPECT_EQ(r.code(), Errc::kBadVersion);
  EXPECT_EQ(calls, 0);
}

TEST(ShmRegionAttachRetry, StopCheckEndsTheRetries) {
  RunDir dir;
  auto r = ShmRegion::attach_with_retry(dir.fd(), "svc", 1, {}, [] { return Errc::kPeerGone; });
  EXPECT_EQ(r.code(), Errc::kPeerGone);
}

}  // namespace
}  // namespace netipc
