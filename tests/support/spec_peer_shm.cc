// Spec peer, part 5: the Linux SHM data plane, written from the byte table
// and rules of docs/shm.md only: B.1
// naming, B.2 layout, B.4 create, B.5 attach, B.6 publication, B.7
// consumption, B.10 liveness, B.11 teardown. Control words are accessed
// with the compiler's __atomic builtins on the mapped memory; waiting is
// plain FUTEX_WAIT / FUTEX_WAKE (never the _PRIVATE variants: the words
// live in a file mapping shared by two processes).
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "spec_peer.h"

namespace netipc::spec_peer {

namespace {

int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::string sys_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

void cpu_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

long futex(uint32_t* word, int op, uint32_t val, const timespec* rel) {
  return ::syscall(SYS_futex, word, op, val, rel, nullptr, 0);
}

bool fd_readable(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
}

// B.10: zero-timeout poll for POLLIN|POLLHUP|POLLERR|POLLRDHUP, plus a
// MSG_PEEK|MSG_DONTWAIT receive returning 0.
bool socket_gone(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN | POLLHUP | POLLERR | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if ((p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL)) != 0) return true;
  char c;
  return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

int open_dir(const std::string& run_dir) {
  return ::open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

}  // namespace

std::string shm_region_name(const std::string& service, uint64_t session_id) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(session_id));
  return service + "-" + hex + ".ipcshm";
}

ShmLayout shm_layout(uint64_t request_message_bytes, uint64_t response_message_bytes) {
  ShmLayout l;
  l.request_offset = kShmHeaderLen;
  l.request_capacity = static_cast<uint32_t>(align64(request_message_bytes));
  l.response_offset = static_cast<uint32_t>(align64(uint64_t{kShmHeaderLen} + l.request_capacity));
  l.response_capacity = static_cast<uint32_t>(align64(response_message_bytes));
  l.file_size = uint64_t{l.response_offset} + l.response_capacity;
  return l;
}

Bytes shm_header_bytes(const ShmLayout& l, int32_t owner_pid, uint32_t owner_generation) {
  Bytes h(kShmHeaderLen, 0);
  wr32(h.data() + kShmOffMagic, kShmMagic);
  wr16(h.data() + kShmOffVersion, kShmVersion);
  wr16(h.data() + kShmOffHeaderLen, static_cast<uint16_t>(kShmHeaderLen));
  wr32(h.data() + kShmOffOwnerPid, static_cast<uint32_t>(owner_pid));
  wr32(h.data() + kShmOffOwnerGeneration, owner_generation);
  wr32(h.data() + kShmOffRequestOffset, l.request_offset);
  wr32(h.data() + kShmOffRequestCapacity, l.request_capacity);
  wr32(h.data() + kShmOffResponseOffset, l.response_offset);
  wr32(h.data() + kShmOffResponseCapacity, l.response_capacity);
  return h;
}

// ---- ShmRegion ----

ShmRegion::~ShmRegion() {
  if (base_ != nullptr) ::munmap(base_, size_);
  if (fd_ >= 0) ::close(fd_);
  if (owner_) ::unlink(path_.c_str());  // B.11: the server unlinks, whatever way it ends
}

uint64_t ShmRegion::load64(size_t off) const {
  return __atomic_load_n(reinterpret_cast<const uint64_t*>(base_ + off), __ATOMIC_ACQUIRE);
}

uint32_t ShmRegion::load32(size_t off) const {
  return __atomic_load_n(reinterpret_cast<const uint32_t*>(base_ + off), __ATOMIC_ACQUIRE);
}

std::unique_ptr<ShmRegion> ShmRegion::create(const std::string& run_dir, const std::string& name,
                                             const ShmLayout& l, std::string* problem) {
  const int dir = open_dir(run_dir);
  if (dir < 0) {
    *problem = sys_text("open run_dir");
    return nullptr;
  }
  std::unique_ptr<ShmRegion> r(new ShmRegion());
  r->path_ = run_dir + "/" + name;
  r->layout_ = l;
  // B.4 step 2.
  r->fd_ = ::openat(dir, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  ::close(dir);
  if (r->fd_ < 0) {
    *problem = sys_text("create region");
    return nullptr;
  }
  r->owner_ = true;  // from here on the destructor unlinks
  // B.4 step 3: reserve the whole file, never ftruncate.
  int rc;
  do {
    rc = ::fallocate(r->fd_, 0, 0, static_cast<off_t>(l.file_size));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    *problem = sys_text("fallocate");
    return nullptr;
  }
  // B.4 step 4.
  void* m = ::mmap(nullptr, l.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd_, 0);
  if (m == MAP_FAILED) {
    *problem = sys_text("mmap");
    return nullptr;
  }
  r->base_ = static_cast<uint8_t*>(m);
  r->size_ = l.file_size;
  // B.4 steps 5-6: zero everything, then the plain header fields, then a
  // release fence. The generation is forced non-zero.
  std::memset(r->base_, 0, r->size_);
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint32_t generation = static_cast<uint32_t>(ts.tv_sec ^ (ts.tv_nsec >> 10));
  if (generation == 0) generation = 1;
  const Bytes h = shm_header_bytes(l, static_cast<int32_t>(::getpid()), generation);
  std::memcpy(r->base_, h.data(), 32);  // the plain fields; offsets 32..63 stay 0
  __atomic_thread_fence(__ATOMIC_RELEASE);
  struct stat st;
  if (::fstat(r->fd_, &st) != 0) {
    *problem = sys_text("fstat");
    return nullptr;
  }
  r->mode_ = st.st_mode;
  r->uid_ = st.st_uid;
  r->file_size_ = static_cast<uint64_t>(st.st_size);
  r->initial_header_.assign(r->base_, r->base_ + kShmHeaderLen);
  return r;
}

// One B.5 attempt; "" on success. The problem starts with the spec name.
std::string ShmRegion::attach_once(const std::string& run_dir, const std::string& name,
                                   std::unique_ptr<ShmRegion>* out) {
  const int dir = open_dir(run_dir);
  if (dir < 0) return sys_text("OPEN run_dir");
  std::unique_ptr<ShmRegion> r(new ShmRegion());
  r->path_ = run_dir + "/" + name;
  r->fd_ = ::openat(dir, name.c_str(), O_RDWR | O_CLOEXEC);
  ::close(dir);
  if (r->fd_ < 0) return sys_text("OPEN");
  struct stat st;
  if (::fstat(r->fd_, &st) != 0) return sys_text("OPEN fstat");
  if (st.st_size < static_cast<off_t>(kShmHeaderLen)) return "NOT_READY: file shorter than 64";
  r->size_ = static_cast<size_t>(st.st_size);
  void* m = ::mmap(nullptr, r->size_, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd_, 0);
  if (m == MAP_FAILED) return sys_text("MAP");
  r->base_ = static_cast<uint8_t*>(m);
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  const uint8_t* b = r->base_;
  // B.5 step 3, in the spec's order.
  if (rd32(b + kShmOffMagic) != kShmMagic) return "BAD_MAGIC";
  if (rd16(b + kShmOffVersion) != kShmVersion) return "BAD_VERSION";
  if (rd16(b + kShmOffHeaderLen) != kShmHeaderLen) return "BAD_HEADER";
  ShmLayout& l = r->layout_;
  l.request_offset = rd32(b + kShmOffRequestOffset);
  l.request_capacity = rd32(b + kShmOffRequestCapacity);
  l.response_offset = rd32(b + kShmOffResponseOffset);
  l.response_capacity = rd32(b + kShmOffResponseCapacity);
  if (l.request_offset < kShmHeaderLen || l.response_offset < kShmHeaderLen ||
      l.request_capacity == 0 || l.response_capacity == 0) {
    return "NOT_READY: offsets/capacities not written";
  }
  const uint64_t request_end = uint64_t{l.request_offset} + l.request_capacity;
  const uint64_t response_end = uint64_t{l.response_offset} + l.response_capacity;
  if (request_end > UINT32_MAX) return "BAD_SIZE: request area overflows u32";
  if (l.request_offset % 64 != 0 || l.request_capacity % 64 != 0 || l.response_offset % 64 != 0 ||
      l.response_capacity % 64 != 0 || l.response_offset < align64(request_end) ||
      static_cast<uint64_t>(st.st_size) < std::max(request_end, response_end)) {
    return "BAD_SIZE";
  }
  l.file_size = static_cast<uint64_t>(st.st_size);
  r->mode_ = st.st_mode;
  r->uid_ = st.st_uid;
  r->file_size_ = static_cast<uint64_t>(st.st_size);
  r->initial_header_.assign(b, b + kShmHeaderLen);
  *out = std::move(r);
  return "";
}

std::unique_ptr<ShmRegion> ShmRegion::attach(const std::string& run_dir, const std::string& name,
                                             int retry_ms, std::string* problem) {
  const int64_t deadline = mono_ns() + int64_t{retry_ms} * 1000000;
  for (;;) {
    std::unique_ptr<ShmRegion> r;
    *problem = attach_once(run_dir, name, &r);
    if (problem->empty()) return r;
    const bool retriable = problem->rfind("OPEN", 0) == 0 || problem->rfind("NOT_READY", 0) == 0 ||
                           problem->rfind("BAD_MAGIC", 0) == 0;
    if (!retriable || mono_ns() >= deadline) return nullptr;
    const timespec five_ms{0, 5000000};
    ::nanosleep(&five_ms, nullptr);
  }
}

// ---- ShmLink ----

ShmLink::ShmLink(const ShmRegion* region, Side side) : base_(region->base()), side_(side) {
  const ShmLayout& l = region->layout();
  uint8_t* req = base_ + l.request_offset;
  uint8_t* resp = base_ + l.response_offset;
  const bool client = side == Side::kClient;
  // B.6: the client publishes requests (req_*), the server responses (resp_*).
  tx_area_ = client ? req : resp;
  tx_cap_ = client ? l.request_capacity : l.response_capacity;
  tx_seq_off_ = client ? kShmOffReqSeq : kShmOffRespSeq;
  tx_len_off_ = client ? kShmOffReqLen : kShmOffRespLen;
  tx_sig_off_ = client ? kShmOffReqSignal : kShmOffRespSignal;
  rx_area_ = client ? resp : req;
  rx_cap_ = client ? l.response_capacity : l.request_capacity;
  rx_seq_off_ = client ? kShmOffRespSeq : kShmOffReqSeq;
  rx_len_off_ = client ? kShmOffRespLen : kShmOffReqLen;
  rx_sig_off_ = client ? kShmOffRespSignal : kShmOffReqSignal;
  // B.5: a client starts its local counters from the region's current
  // values. A server starts at 0 (B.8): its region is fresh, and a
  // request published before this link existed is still its first.
  if (client) {
    tx_seq_ = region->load64(tx_seq_off_);
    rx_seq_ = region->load64(rx_seq_off_);
  }
}

std::string ShmLink::send(Header h, const Bytes& payload) {
  h.payload_len = static_cast<uint32_t>(payload.size());
  Bytes msg(kHeaderSize);
  put_header(h, msg.data());
  msg.insert(msg.end(), payload.begin(), payload.end());
  return send_raw(msg);
}

std::string ShmLink::send_raw(const Bytes& message) {
  // B.6 step 1; B.8: exactly one message in flight per direction.
  if (message.empty()) return "SHM publish: empty message (parameter error)";
  if (message.size() > tx_cap_) return "SHM publish: MSG_TOO_LARGE";
  if (side_ == Side::kClient && tx_seq_ != rx_seq_) {
    return "SHM publish: a response is still outstanding";
  }
  if (side_ == Side::kServer && tx_seq_ + 1 != rx_seq_) {
    return "SHM publish: no unanswered request";
  }
  auto* len_word = reinterpret_cast<uint32_t*>(base_ + tx_len_off_);
  auto* seq_word = reinterpret_cast<uint64_t*>(base_ + tx_seq_off_);
  auto* sig_word = reinterpret_cast<uint32_t*>(base_ + tx_sig_off_);
  std::memcpy(tx_area_, message.data(), message.size());                                // step 2
  __atomic_store_n(len_word, static_cast<uint32_t>(message.size()), __ATOMIC_RELEASE);  // 3
  __atomic_fetch_add(seq_word, 1, __ATOMIC_RELEASE);  // 4: published
  __atomic_fetch_add(sig_word, 1, __ATOMIC_RELEASE);  // 5
  if (futex(sig_word, FUTEX_WAKE, 1, nullptr) < 0) return sys_text("FUTEX_WAKE");
  ++tx_seq_;  // step 6
  return "";
}

// B.7 steps 1-2: "" once seq >= expected, with *len loaded (acquire).
std::string ShmLink::wait_published(uint64_t expected, int64_t deadline_ns, uint32_t* len) {
  auto* seq_word = reinterpret_cast<uint64_t*>(base_ + rx_seq_off_);
  auto* len_word = reinterpret_cast<uint32_t*>(base_ + rx_len_off_);
  auto* sig_word = reinterpret_cast<uint32_t*>(base_ + rx_sig_off_);
  for (uint32_t i = 0; i < kShmSpinTries; ++i) {
    if (__atomic_load_n(seq_word, __ATOMIC_ACQUIRE) >= expected) {
      *len = __atomic_load_n(len_word, __ATOMIC_ACQUIRE);
      return "";
    }
    cpu_pause();
  }
  for (;;) {
    const uint32_t sig = __atomic_load_n(sig_word, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(seq_word, __ATOMIC_ACQUIRE) >= expected) break;
    const int64_t now = mono_ns();
    if (deadline_ns != 0 && now >= deadline_ns) return kTimedOut;
    // Slices of at most 100 ms; between them, abort and liveness (B.10).
    int64_t wait_ns = int64_t{kShmSliceMs} * 1000000;
    if (deadline_ns != 0) wait_ns = std::min(wait_ns, deadline_ns - now);
    const timespec rel{static_cast<time_t>(wait_ns / 1000000000),
                       static_cast<long>(wait_ns % 1000000000)};
    if (futex(sig_word, FUTEX_WAIT, sig, &rel) != 0 && errno == ETIMEDOUT) {
      if (__atomic_load_n(seq_word, __ATOMIC_ACQUIRE) >= expected) break;
      if (fd_readable(abort_fd_)) return kAborted;
      if (socket_gone(liveness_fd_)) return kPeerClosed;
    }
    // EAGAIN, EINTR, a wake-up or a spurious return: loop.
    if (fd_readable(abort_fd_)) return kAborted;
  }
  *len = __atomic_load_n(len_word, __ATOMIC_ACQUIRE);
  return "";
}

std::string ShmLink::receive_raw(Bytes* out, int timeout_ms) {
  const uint64_t expected = rx_seq_ + 1;
  uint32_t len = 0;
  std::string bad = wait_published(expected, deadline_after(timeout_ms), &len);
  if (!bad.empty()) return bad;
  // Copy before anything else: the peer overwrites the area on its next turn.
  if (len != 0 && len <= rx_cap_) out->assign(rx_area_, rx_area_ + len);
  const uint64_t seen =
      __atomic_load_n(reinterpret_cast<uint64_t*>(base_ + rx_seq_off_), __ATOMIC_ACQUIRE);
  rx_seq_ = expected;  // B.7 step 3: consumed whatever happens next
  if (len == 0) return "SHM receive: published length 0 (corrupt region)";
  if (len > rx_cap_) return "SHM receive: MSG_TOO_LARGE (length over the area capacity)";
  if (seen != expected) return "SHM receive: sequence advanced by more than one (B.8.1)";
  return "";
}

std::string ShmLink::receive(Message* out, int timeout_ms) {
  Bytes raw;
  std::string bad = receive_raw(&raw, timeout_ms);
  if (!bad.empty()) return bad;
  bad = get_header(raw.data(), raw.size(), &out->header);
  if (!bad.empty()) return bad;
  if (uint64_t{out->header.payload_len} + kHeaderSize != raw.size()) {
    return "SHM message length differs from 32 + payload_len";
  }
  if ((max_in_payload_ != 0 && out->header.payload_len > max_in_payload_) ||
      (max_in_items_ != 0 && out->header.item_count > max_in_items_)) {
    return "inbound message over the negotiated ceiling";
  }
  out->payload.assign(raw.begin() + kHeaderSize, raw.end());
  return "";
}

}  // namespace netipc::spec_peer
