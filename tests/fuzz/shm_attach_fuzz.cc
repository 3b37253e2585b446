// Fuzzes SHM attach-time validation and the first receive on whatever the
// region file says. Input: one control byte, then the bytes of the region
// file. The control byte plays the peer after attach:
//   bits 0-1  publications the "server" adds to resp_seq
//   bits 2-3  publications the "client" adds to req_seq
//   bit  4    the client also publishes a small request
//   bits 5-7  receive buffer size: 8 << n bytes
// Invariants: never crash or read/write outside the mapping; a successful
// attach yields areas inside st_size; a received length fits both the
// buffer and the area. The stale check then runs on the same file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "transport/shm/shm.h"

namespace {

using namespace netipc;

void check(bool cond) {
  if (!cond) std::abort();
}

constexpr size_t kMaxImage = 1 << 20;

struct Workspace {
  Workspace() {
    // tmpfs like a real run directory (/run) when there is one: on a disk
    // filesystem every iteration pays for block allocation and journaling.
    char shm_tmpl[] = "/dev/shm/nipcfuzzXXXXXX";
    char tmp_tmpl[] = "/tmp/nipcfuzzXXXXXX";
    const char* p = ::mkdtemp(shm_tmpl);
    if (p == nullptr) p = ::mkdtemp(tmp_tmpl);
    check(p != nullptr);
    path = p;
    fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    check(fd >= 0);
    name = *shm::region_file_name("fz", 1);
  }
  ~Workspace() {
    ::unlinkat(fd, name.c_str(), 0);
    ::close(fd);
    ::rmdir(path.c_str());
  }
  std::string path;
  std::string name;
  int fd = -1;
};

Workspace& workspace() {
  static Workspace w;
  return w;
}

void write_image(const Workspace& w, const uint8_t* data, size_t size) {
  // A fresh file each time: ext4 flushes a file rewritten through O_TRUNC
  // when it is closed (auto_da_alloc), which costs milliseconds.
  ::unlinkat(w.fd, w.name.c_str(), 0);
  const int fd = ::openat(w.fd, w.name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  check(fd >= 0);
  size_t off = 0;
  while (off < size) {
    const ssize_t n = ::pwrite(fd, data + off, size - off, static_cast<off_t>(off));
    check(n > 0);
    off += static_cast<size_t>(n);
  }
  ::close(fd);
}

void bump(const ShmRegion& r, size_t off, unsigned n) {
  if (n != 0) __atomic_fetch_add(reinterpret_cast<uint64_t*>(r.base() + off), n, __ATOMIC_RELEASE);
}

void receive_once(ShmChannel& ch, size_t buf_size) {
  check(ch.valid());
  std::vector<uint8_t> buf(buf_size);
  // A deadline already in the past: one look at the sequence, no sleeping.
  auto got = ch.receive_until(MutableByteSpan(buf.data(), buf.size()), 1);
  if (got.ok()) {
    check(*got > 0 && *got <= buf.size() && *got <= ch.receive_capacity());
  } else {
    const Errc c = got.code();
    check(c == Errc::kTimeout || c == Errc::kProtocol || c == Errc::kLimitExceeded);
  }
}

}  // namespace

extern "C" void NetipcFuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  auto image = [](uint8_t control, uint32_t resp_len, uint32_t req_len) {
    std::vector<uint8_t> b(1 + 448, 0);
    uint8_t* h = b.data() + 1;
    b[0] = control;
    store_u32(h + shm::kOffMagic, shm::kMagic);
    store_u16(h + shm::kOffVersion, shm::kVersion);
    store_u16(h + shm::kOffHeaderLen, shm::kHeaderLen);
    store_u32(h + shm::kOffOwnerPid, 1);
    store_u32(h + shm::kOffOwnerGeneration, 1);
    store_u32(h + shm::kOffRequestOffset, 64);
    store_u32(h + shm::kOffRequestCapacity, 128);
    store_u32(h + shm::kOffResponseOffset, 192);
    store_u32(h + shm::kOffResponseCapacity, 256);
    store_u32(h + shm::kOffRespLen, resp_len);
    store_u32(h + shm::kOffReqLen, req_len);
    return b;
  };
  out->push_back(image(0x00, 0, 0));
  out->push_back(image(0x05 | (3 << 5), 40, 40));    // one message each way
  out->push_back(image(0x05 | (7 << 5), 256, 128));  // exactly the capacities
  out->push_back(image(0x05 | (7 << 5), 257, 129));  // one past
  out->push_back(image(0x06, 0, 0xFFFFFFFF));        // skipped sequence, huge length
  out->push_back(image(0x11, 8, 0));                 // client publishes too
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size - 1 > kMaxImage) return 0;
  const uint8_t control = data[0];
  Workspace& w = workspace();
  write_image(w, data + 1, size - 1);

  auto r = ShmRegion::attach(w.fd, "fz", 1);
  if (r.ok()) {
    const shm::RegionLayout& l = r->layout();
    check(uint64_t{l.request_offset} + l.request_capacity <= r->mapped_size());
    check(uint64_t{l.response_offset} + l.response_capacity <= r->mapped_size());
    check(l.request_offset >= shm::kHeaderLen && l.response_offset >= shm::kHeaderLen);
    check(!r->is_owner());

    const size_t buf_size = size_t{8} << (control >> 5);
    ChannelOptions o;
    o.spin_tries = -1;
    // The client's channel starts from the sequence numbers as they are now;
    // then the "server" publishes (bits 0-1) and the client receives.
    ShmChannel client(*r, ShmSide::kClient, o);
    if ((control & 0x10) != 0) {
      const uint8_t msg[40] = {1, 2, 3};
      const Status s = client.publish(ByteSpan(msg, sizeof msg));
      // Out of turn (the file says a response is outstanding) or too large.
      check(s.ok() || s.code() == Errc::kLimitExceeded || s.code() == Errc::kInvalidArgument);
    }
    bump(*r, shm::kOffRespSeq, control & 3u);
    receive_once(client, buf_size);
    // A server channel starts at 0: whatever req_seq says is "published".
    ShmChannel server(*r, ShmSide::kServer, o);
    bump(*r, shm::kOffReqSeq, (control >> 2) & 3u);
    receive_once(server, buf_size);
  } else {
    check(r.code() != Errc::kOk);
  }
  // Whatever the file is, the stale check copes with it.
  (void)shm::reclaim_if_stale(w.fd, w.name);
  return 0;
}
