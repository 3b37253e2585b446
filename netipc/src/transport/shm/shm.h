// The Linux shared-memory data plane (profiles SHM_HYBRID 0x02 and SHM_FUTEX
// 0x04): one region file per session in the run directory, one message in
// flight per direction, spin-then-futex waiting.
//
// Normative source: shared/spec/netipc-posix-transports.md Part B. The
// handshake happens on the Unix socket; after an OK HELLO_ACK selecting an
// SHM profile the server holds a ShmRegion it created before the ACK and the
// client attaches to it, and both sides move REQUEST/RESPONSE messages through
// a ShmChannel. docs/shm.md explains sizing, lifecycle and cleanup.
//
// Lifetime and threading contract
//  - ShmRegion owns the file descriptor and the mapping; a region obtained
//    from create() also owns the file name and unlinks it in its destructor,
//    whatever way the session ends. attach() never unlinks.
//  - ShmChannel is a view on a region: it must be destroyed before the
//    region it was built from (moving the region is fine: the mapping does
//    not move). One channel per side per session.
//  - A channel is single-owner: publish() and receive() must not be called
//    concurrently on the same channel. The two sides (different channels,
//    normally in different processes) run fully concurrently.
//  - receive() calls the caller's StopCheck on the receiving thread, at most
//    once per wait slice (<= 100 ms), and never after it returns.
//  - Nothing the peer writes into the region can make us read or write
//    outside the mapping: offsets and capacities are validated once and
//    cached; lengths read from the region are bounds-checked before use.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "netipc/bytes.h"
#include "netipc/result.h"
#include "netipc/unique_fd.h"

namespace netipc {

namespace shm {

// ---- Region layout (spec B.2) ---------------------------------------------

inline constexpr uint32_t kMagic = 0x4E53484D;  // "NSHM", LE bytes 4D 48 53 4E
inline constexpr uint16_t kVersion = 3;
inline constexpr uint16_t kHeaderLen = 64;
inline constexpr uint32_t kAlignment = 64;
inline constexpr uint32_t kDefaultSpinTries = 128;
// In the automatic mode a receiver also keeps spinning until this much time
// has passed since it started waiting (two or more usable CPUs only): long
// enough to cover a peer's handling of a small request on another CPU, so
// request/response traffic does not pay two futex sleeps and wake-ups per
// round trip; short enough to cost nothing measurable at low call rates.
inline constexpr uint32_t kAutoSpinNs = 20000;
inline constexpr uint32_t kMessageHeaderLen = 32;  // the NetIPC outer header
inline constexpr const char* kFileSuffix = ".ipcshm";

// Byte offsets of the control header fields.
inline constexpr size_t kOffMagic = 0;              // u32, plain
inline constexpr size_t kOffVersion = 4;            // u16, plain
inline constexpr size_t kOffHeaderLen = 6;          // u16, plain
inline constexpr size_t kOffOwnerPid = 8;           // i32, plain
inline constexpr size_t kOffOwnerGeneration = 12;   // u32, plain, non-zero
inline constexpr size_t kOffRequestOffset = 16;     // u32, plain
inline constexpr size_t kOffRequestCapacity = 20;   // u32, plain
inline constexpr size_t kOffResponseOffset = 24;    // u32, plain
inline constexpr size_t kOffResponseCapacity = 28;  // u32, plain
inline constexpr size_t kOffReqSeq = 32;            // u64, atomic, written by the client
inline constexpr size_t kOffRespSeq = 40;           // u64, atomic, written by the server
inline constexpr size_t kOffReqLen = 48;            // u32, atomic, written by the client
inline constexpr size_t kOffRespLen = 52;           // u32, atomic, written by the server
inline constexpr size_t kOffReqSignal = 56;         // u32, futex word client -> server
inline constexpr size_t kOffRespSignal = 60;        // u32, futex word server -> client

// Bit of a signal word that its *waiter* (never its publisher) sets while it
// is not sleeping in FUTEX_WAIT on that word. A publisher of this library
// skips FUTEX_WAKE when it sees the bit, and preserves it when it bumps the
// counter (the other 31 bits). Peers that know nothing of it never set it, so
// they are always woken; see docs/shm.md "Wake skipping" for the proof.
inline constexpr uint32_t kSignalAwakeBit = 0x80000000u;

// Largest region file attach() maps: two u32 offsets plus two u32 capacities
// can never describe more than this, so anything larger is not a region.
inline constexpr uint64_t kMaxRegionFileSize = uint64_t{1} << 33;

struct RegionLayout {
  uint32_t request_offset = 0;
  uint32_t request_capacity = 0;
  uint32_t response_offset = 0;
  uint32_t response_capacity = 0;
  uint64_t file_size = 0;  // response_offset + response_capacity (create)
};

// Layout of a region whose areas hold messages of up to the given sizes
// (32-byte header + payload). Capacities are rounded up to 64. Zero sizes
// are kInvalidArgument; a layout whose end does not fit in u32 is
// kLimitExceeded.
Result<RegionLayout> compute_layout(uint32_t request_message_bytes,
                                    uint32_t response_message_bytes) noexcept;

// align64(32 + payload) as u64 (never overflows): the area capacity a
// session needs for a payload ceiling.
constexpr uint64_t capacity_for_payload(uint32_t max_payload_bytes) {
  return align64(uint64_t{kMessageHeaderLen} + max_payload_bytes);
}

// `[A-Za-z0-9._-]+`, not "." or ".."; anything else is kInvalidArgument.
Status validate_service_name(std::string_view service) noexcept;

// "{service}-{session_id:016x}.ipcshm" (16 lowercase, zero-padded hex digits).
// kInvalidArgument for a bad service name, kPathTooLong past NAME_MAX.
Result<std::string> region_file_name(std::string_view service, uint64_t session_id);

// ---- Stale detection and cleanup (spec B.12) ------------------------------

enum class StaleOutcome : uint8_t {
  kAbsent,     // nothing at the name
  kReclaimed,  // junk or a dead owner's region: removed
};

// The stale check of one directory entry of run_dir (a single path
// component). A live owner (pid alive and generation != 0) is
// Errc::kAddrInUse and the file is kept; so is an entry that could not be
// inspected for lack of fds (EMFILE/ENFILE), whose fstat failed, that changed
// while it was inspected (st_dev/st_ino race guard), or that could not be
// removed (non-empty directory, EACCES, ...).
Result<StaleOutcome> reclaim_if_stale(int run_dir_fd, std::string_view file_name);

struct CleanupStats {
  uint32_t candidates = 0;  // entries matching "{service}-*.ipcshm"
  uint32_t reclaimed = 0;
  uint32_t kept = 0;  // live owners or entries that could not be removed
};

// Startup scan: applies reclaim_if_stale() to every entry of run_dir that
// starts with "{service}-", ends with ".ipcshm" and is longer than both.
// Entries that are kept do not make the scan fail (a live region of another
// instance is reported by the listener's own check); the Status is an error
// only for a bad service name or an unreadable directory.
Status cleanup_stale_regions(int run_dir_fd, std::string_view service,
                             CleanupStats* stats = nullptr);

// ---- RAII pieces ----------------------------------------------------------

// A MAP_SHARED mapping; munmaps in its destructor. `guard_slot` is its
// entry in the SIGBUS guard (-1: unguarded); the mapping leaves the guard
// before it is unmapped.
class Mapping {
 public:
  Mapping() noexcept = default;
  Mapping(uint8_t* base, size_t size, int guard_slot = -1) noexcept
      : base_(base), size_(size), guard_slot_(guard_slot) {}
  Mapping(Mapping&& other) noexcept
      : base_(std::exchange(other.base_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        guard_slot_(std::exchange(other.guard_slot_, -1)) {}
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(); }

  uint8_t* base() const noexcept { return base_; }
  size_t size() const noexcept { return size_; }
  int guard_slot() const noexcept { return guard_slot_; }
  // True once an access hit a part of the file that had been truncated
  // away: the pages are anonymous zeros now, the peer's data is gone.
  bool broken() const noexcept;
  void reset() noexcept;

 private:
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  int guard_slot_ = -1;
};

// A file name this process created in a directory; unlinks it in its
// destructor, but only while the name still refers to the inode we created
// (st_dev/st_ino), so it never removes a file someone put there later.
class ShmFile {
 public:
  ShmFile() noexcept = default;
  ShmFile(UniqueFd dir_fd, std::string name, dev_t dev, ino_t ino) noexcept
      : dir_fd_(std::move(dir_fd)), name_(std::move(name)), dev_(dev), ino_(ino) {}
  ShmFile(ShmFile&& other) noexcept = default;
  ShmFile& operator=(ShmFile&& other) noexcept;
  ShmFile(const ShmFile&) = delete;
  ShmFile& operator=(const ShmFile&) = delete;
  ~ShmFile() { reset(); }

  bool valid() const noexcept { return dir_fd_.valid(); }
  const std::string& name() const noexcept { return name_; }
  void reset() noexcept;

 private:
  UniqueFd dir_fd_;
  std::string name_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace shm

// ---- ShmRegion --------------------------------------------------------------

struct AttachRetryPolicy {
  uint32_t interval_ms = 0;  // 0 -> 5 ms
  uint32_t bound_ms = 0;     // 0 -> 5000 ms; total time spent retrying
};

// A non-owning reference to a callable `Errc()` or `bool()` evaluated while a
// call waits. Errc::kOk / false: keep waiting. Any other Errc ends the wait
// with that code; true ends it with Errc::kAborted. The callable must outlive
// the call it is passed to (a lambda written in the argument list does).
class StopCheck {
 public:
  StopCheck() noexcept = default;
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, StopCheck>>>
  StopCheck(F&& f) noexcept  // NOLINT: implicit by design
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_(&invoke<std::remove_reference_t<F>>) {}

  bool empty() const noexcept { return call_ == nullptr; }
  Errc operator()() const { return call_ == nullptr ? Errc::kOk : call_(obj_); }

 private:
  template <typename F>
  static Errc invoke(void* obj) {
    auto& fn = *static_cast<F*>(obj);
    if constexpr (std::is_same_v<decltype(fn()), bool>) {
      return fn() ? Errc::kAborted : Errc::kOk;
    } else {
      return fn();
    }
  }
  void* obj_ = nullptr;
  Errc (*call_)(void*) = nullptr;
};

class ShmRegion {
 public:
  // Server side (spec B.4). `request_capacity_bytes` / `response_capacity_bytes`
  // are the largest messages (32 + agreed payload ceiling) of each direction;
  // both are rounded up to 64. Errors:
  //  kInvalidArgument  bad service name, zero capacity, bad run_dir_fd
  //  kLimitExceeded    the layout does not fit the u32 header fields
  //  kAddrInUse        a live owner holds the name (or it cannot be reclaimed)
  //  kNoSpace          fallocate failed (any errno: ENOSPC, EDQUOT, EOPNOTSUPP,
  //                    EFBIG, ...); no file is left behind
  //  kPermission       openat refused (EACCES, EPERM, EROFS)
  //  kNoMemory/kSystem mmap or another call failed; no file is left behind
  // The file is created O_EXCL|O_NOFOLLOW with mode 0600, fully reserved
  // with fallocate (never ftruncate: no page of it can be unbacked), zeroed,
  // and only then given its header.
  static Result<ShmRegion> create(int run_dir_fd, std::string_view service, uint64_t session_id,
                                  uint32_t request_capacity_bytes,
                                  uint32_t response_capacity_bytes);

  // Client side (spec B.5), one attempt. Errors:
  //  kNotFound   openat failed with ENOENT (retriable)
  //  kPermission openat failed with ELOOP (a symlink), EACCES, EPERM
  //  kNotReady   st_size < 64, zero capacity or offset < 64 (retriable)
  //  kBadMagic   (retriable: the server may not have written it yet)
  //  kBadVersion, kBadHeaderLen
  //  kBadLayout  BAD_SIZE: misaligned or overflowing areas, areas beyond
  //              st_size, not a regular file, file larger than any region
  //  kNoSpace    the areas have holes that cannot be backed now (tmpfs full)
  //  kSystem/kNoMemory other failures
  // Maps at most st_size bytes; never unlinks.
  static Result<ShmRegion> attach(int run_dir_fd, std::string_view service, uint64_t session_id);

  // attach() retried every `interval_ms` while it fails with kNotFound,
  // kNotReady or kBadMagic, for at most `bound_ms` (spec B.5.5). `stop` is
  // checked before each retry.
  static Result<ShmRegion> attach_with_retry(int run_dir_fd, std::string_view service,
                                             uint64_t session_id,
                                             const AttachRetryPolicy& policy = {},
                                             StopCheck stop = {});

  ShmRegion() noexcept = default;
  ShmRegion(ShmRegion&&) noexcept = default;
  ShmRegion& operator=(ShmRegion&&) noexcept = default;
  ShmRegion(const ShmRegion&) = delete;
  ShmRegion& operator=(const ShmRegion&) = delete;
  // munmap, close, and (created regions only) unlink — in that order.
  ~ShmRegion() = default;

  bool valid() const noexcept { return map_.base() != nullptr; }
  // True for a region from create(): its destructor unlinks the file.
  bool is_owner() const noexcept { return file_.valid(); }
  uint8_t* base() const noexcept { return map_.base(); }
  size_t mapped_size() const noexcept { return map_.size(); }
  // The region file was truncated under this mapping (see docs/shm.md
  // "Truncated regions"): the session must end.
  bool broken() const noexcept { return map_.broken(); }
  int guard_slot() const noexcept { return map_.guard_slot(); }
  // Validated at create/attach and cached; never re-read from the region.
  const shm::RegionLayout& layout() const noexcept { return layout_; }
  // Header values as seen at create/attach.
  int32_t owner_pid() const noexcept { return owner_pid_; }
  uint32_t owner_generation() const noexcept { return owner_generation_; }
  const std::string& file_name() const noexcept { return name_; }
  int fd() const noexcept { return fd_.get(); }
  // Whether the owner pid recorded in the region still exists (kill(pid, 0)
  // is 0 or EPERM). A client can use it inside a StopCheck.
  bool owner_alive() const noexcept;

 private:
  // Member order is destruction order in reverse: unmap, close, unlink.
  shm::ShmFile file_;
  UniqueFd fd_;
  shm::Mapping map_;
  shm::RegionLayout layout_;
  int32_t owner_pid_ = 0;
  uint32_t owner_generation_ = 0;
  std::string name_;
};

// ---- ShmChannel ---------------------------------------------------------------

enum class ShmSide : uint8_t {
  kClient,  // publishes requests, receives responses
  kServer,  // receives requests, publishes responses
};

struct ChannelOptions {
  // Spin iterations (CPU pause each) before sleeping on the futex.
  //  0 (default): automatic — none with one online CPU, else 128;
  //  < 0: never spin;  > 0: exactly that many.
  int32_t spin_tries = 0;
  // Minimum spinning time in ns, on top of spin_tries. 0 (default): the
  // automatic value (kAutoSpinNs) when spin_tries is automatic and two or
  // more CPUs are usable, else none; < 0: none.
  int32_t spin_ns = 0;
  // Longest single FUTEX_WAIT; the StopCheck runs between slices.
  // 0 -> 100 ms; values above 100 are clamped to 100.
  uint32_t wait_slice_ms = 0;
  // true: behave exactly like upstream — FUTEX_WAKE after every publication
  // and never announce being awake. false (default): skip the wake syscall
  // when the receiving peer has announced it is awake (kSignalAwakeBit);
  // peers that never announce are always woken.
  bool always_wake = false;
};

struct ChannelStats {
  uint64_t published = 0;
  uint64_t received = 0;        // messages consumed (including rejected ones)
  uint64_t wakes_sent = 0;      // FUTEX_WAKE system calls
  uint64_t wakes_skipped = 0;   // publications whose receiver was awake
  uint64_t spin_hits = 0;       // messages found while spinning
  uint64_t futex_waits = 0;     // FUTEX_WAIT system calls
  uint64_t futex_wakeups = 0;   // ... that returned because of a FUTEX_WAKE (or spuriously)
  uint64_t futex_timeouts = 0;  // ... that ran out their slice (ETIMEDOUT)
};

class ShmChannel {
 public:
  // A view of `region` for one side. A client initialises its local
  // sequence counters from the region (spec B.5.4); a server starts at 0
  // (its region is fresh, and a request published before the server's
  // channel existed is still its first). Marks this side's receive signal
  // word awake, or with options.always_wake clears that mark. `region` must
  // be valid and outlive the channel.
  ShmChannel(const ShmRegion& region, ShmSide side, const ChannelOptions& options = {}) noexcept;
  ShmChannel() noexcept = default;
  // A moved-from channel is invalid (every call fails with kInvalidArgument).
  ShmChannel(ShmChannel&& other) noexcept : s_(std::exchange(other.s_, State{})) {}
  ShmChannel& operator=(ShmChannel&& other) noexcept {
    if (this != &other) s_ = std::exchange(other.s_, State{});
    return *this;
  }
  ShmChannel(const ShmChannel&) = delete;
  ShmChannel& operator=(const ShmChannel&) = delete;

  // Publishes one message: `header` followed by `payload` (either may be
  // empty; normally the 32-byte outer header and the payload, copied into the
  // area with no intermediate buffer). Spec B.6. Errors, nothing written:
  //  kInvalidArgument  empty message, invalid channel, or out of turn (a
  //                    client with a response outstanding, a server with no
  //                    unanswered request: spec B.8)
  //  kLimitExceeded    MSG_TOO_LARGE: larger than this direction's capacity
  // A failed FUTEX_WAKE (it cannot fail on a valid mapping) is kSystem after
  // the message was published.
  Status publish(ByteSpan header, ByteSpan payload = {}) noexcept;

  // Waits for the peer's next message and copies it into `out`; returns its
  // length. Spec B.7: spins, then sleeps on the futex in slices of at most
  // wait_slice_ms, re-evaluating `stop` between slices. `timeout_ms` 0 waits
  // forever (bounded only by `stop`). Errors:
  //  kTimeout        nothing was published in time (nothing consumed)
  //  <stop's code>   the StopCheck ended the wait (nothing consumed)
  //  kProtocol       published length 0, or the peer skipped a sequence
  //                  number (the message is consumed)
  //  kLimitExceeded  MSG_TOO_LARGE: length > min(out.size, capacity); the
  //                  message is consumed, nothing is copied
  //  kInvalidArgument invalid channel
  // Every error except kTimeout and the StopCheck's ends the session.
  Result<uint32_t> receive(MutableByteSpan out, uint32_t timeout_ms, StopCheck stop = {}) noexcept;
  // Same with an absolute CLOCK_MONOTONIC deadline in ns (0: none), for a
  // caller whose deadline spans several steps.
  Result<uint32_t> receive_until(MutableByteSpan out, int64_t deadline_ns,
                                 StopCheck stop = {}) noexcept;
  // receive_until() without the copy: the message as it lies in the peer's
  // area (capacity: receive_capacity()). Valid until this side's next
  // publish(): a conforming peer writes the area again only after it has
  // received our next message (spec B.8). The bytes stay in memory the peer
  // can write, so a reader must load every length and offset once and
  // bound it before use (the wire and codec decoders do); a peer that
  // breaks the turn rule can change contents, never the span. Used by
  // client sessions, whose responses (whole snapshots) are the large
  // messages: it saves a copy of each.
  Result<ByteSpan> receive_in_place_until(int64_t deadline_ns, StopCheck stop = {}) noexcept;

  bool valid() const noexcept { return s_.base != nullptr; }
  ShmSide side() const noexcept { return s_.side; }
  uint32_t send_capacity() const noexcept { return s_.tx_capacity; }
  uint32_t receive_capacity() const noexcept { return s_.rx_capacity; }
  uint64_t published_count() const noexcept { return s_.tx_seq; }
  uint64_t consumed_count() const noexcept { return s_.rx_seq; }
  uint32_t spin_tries() const noexcept { return s_.spin_tries; }
  uint32_t spin_ns() const noexcept { return s_.spin_ns; }
  const ChannelStats& stats() const noexcept { return s_.stats; }

 private:
  Result<uint32_t> consume(MutableByteSpan out, uint64_t seen_seq) noexcept;
  Result<uint32_t> wait_and_consume(MutableByteSpan out, uint64_t expected, int64_t deadline_ns,
                                    StopCheck& stop) noexcept;

  struct State {
    uint8_t* base = nullptr;
    int guard_slot = -1;  // the region mapping's SIGBUS guard entry
    ShmSide side = ShmSide::kClient;
    // This side's outgoing area and its control words (pointers into base).
    uint8_t* tx_area = nullptr;
    uint32_t tx_capacity = 0;
    uint64_t* tx_seq_word = nullptr;
    uint32_t* tx_len_word = nullptr;
    uint32_t* tx_signal_word = nullptr;
    // The incoming area and its control words.
    const uint8_t* rx_area = nullptr;
    uint32_t rx_capacity = 0;
    uint64_t* rx_seq_word = nullptr;
    uint32_t* rx_len_word = nullptr;
    uint32_t* rx_signal_word = nullptr;
    uint64_t tx_seq = 0;  // publications by this side
    uint64_t rx_seq = 0;  // publications of the peer consumed
    uint32_t spin_tries = 0;
    uint32_t spin_ns = 0;
    uint32_t slice_ms = 100;
    bool always_wake = false;
    ChannelStats stats;
  };
  State s_;
};

// Number of online CPUs (sysconf). Decides the automatic spin budget: no
// spinning with one CPU. The affinity mask is deliberately not used: a
// process pinned to one CPU usually talks to a peer on another.
unsigned usable_cpu_count() noexcept;

}  // namespace netipc
