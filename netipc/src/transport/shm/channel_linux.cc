// The SHM data plane: publication (docs/shm.md B.6) and consumption (docs/shm.md B.7).
//
// Wake skipping. Upstream calls FUTEX_WAKE after every publication. We keep
// that for every peer that could be asleep and skip it only when the
// receiver has announced, through kSignalAwakeBit in the signal word it
// waits on, that it is not in FUTEX_WAIT:
//  - the receiver (only it) sets the bit after each FUTEX_WAIT returns and
//    clears it with a CAS immediately before the next FUTEX_WAIT, which then
//    waits on the cleared value;
//  - the publisher bumps the low 31 bits with a CAS that preserves the bit
//    and skips the wake when the value it replaced had the bit set.
// Both steps are read-modify-writes of the same word, so they are totally
// ordered. If the publisher's bump came first, the receiver's clearing CAS
// reads it (acquire after release) and therefore sees the new sequence
// number before it could sleep. If the clear came first, the publisher sees
// the bit clear and wakes, and the kernel's value check closes the window
// between the clear and the sleep. A peer that never sets the bit (every
// upstream implementation) leaves it 0 forever, because our publisher never
// sets it either: such a peer is woken on every publication, exactly as
// upstream does. An upstream publisher ignores the bit and always wakes;
// its plain fetch_add may carry into the bit, which only costs us a wake we
// did not need. docs/shm.md has the long form.
#include "transport/shm/channel.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "base/cpu_relax.h"
#include "sys_linux.h"
#include "transport/shm/guard_linux.h"
#include "transport/shm/internal_linux.h"

namespace netipc {

namespace {

using shm::kSignalAwakeBit;

using detail::cpu_relax;

inline uint64_t load_acquire(const uint64_t* p) noexcept {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
inline uint32_t load_acquire(const uint32_t* p) noexcept {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

// Plain FUTEX_WAIT / FUTEX_WAKE, never the _PRIVATE variants: the words live
// in a file mapping shared with another process. Timeouts are relative and
// measured by the kernel against CLOCK_MONOTONIC.
inline long futex_wait(uint32_t* word, uint32_t expected, const timespec* rel) noexcept {
  return ::syscall(SYS_futex, word, FUTEX_WAIT, expected, rel, nullptr, 0);
}
inline long futex_wake(uint32_t* word, int count) noexcept {
  return ::syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

// The receiver's announcement that it is not sleeping on `word`.
inline void announce_awake(uint32_t* word) noexcept {
  __atomic_fetch_or(word, kSignalAwakeBit, __ATOMIC_ACQ_REL);
}

// A SIGBUS guard repaired an access to this region: its file was truncated
// and the pages are zeros now. The session cannot go on; the peer (or
// whoever truncated the file) is to blame, so callers treat it like a peer
// that went away: close, and a client reconnects.
bool truncated(int guard_slot) noexcept { return shm::guard::broken(guard_slot); }
constexpr const char* kTruncatedMessage =
    "shm: region file truncated under the session (SIGBUS caught)";

}  // namespace

unsigned usable_cpu_count() noexcept {
  // Online CPUs, not this thread's affinity mask: a process pinned to one
  // CPU (as benchmarks and some daemons are) usually talks to a peer pinned
  // to another, and that is exactly when spinning pays.
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<unsigned>(online) : 1u;
}

ShmChannel::ShmChannel(const ShmRegion& region, ShmSide side,
                       const ChannelOptions& options) noexcept {
  if (!region.valid()) return;
  uint8_t* base = region.base();
  const shm::RegionLayout& l = region.layout();
  using shm::detail::u32_word;
  using shm::detail::u64_word;

  State s;
  s.base = base;
  s.guard_slot = region.guard_slot();
  s.side = side;
  uint8_t* req_area = base + l.request_offset;
  uint8_t* resp_area = base + l.response_offset;
  if (side == ShmSide::kClient) {
    s.tx_area = req_area;
    s.tx_capacity = l.request_capacity;
    s.tx_seq_word = u64_word(base, shm::kOffReqSeq);
    s.tx_len_word = u32_word(base, shm::kOffReqLen);
    s.tx_signal_word = u32_word(base, shm::kOffReqSignal);
    s.rx_area = resp_area;
    s.rx_capacity = l.response_capacity;
    s.rx_seq_word = u64_word(base, shm::kOffRespSeq);
    s.rx_len_word = u32_word(base, shm::kOffRespLen);
    s.rx_signal_word = u32_word(base, shm::kOffRespSignal);
  } else {
    s.tx_area = resp_area;
    s.tx_capacity = l.response_capacity;
    s.tx_seq_word = u64_word(base, shm::kOffRespSeq);
    s.tx_len_word = u32_word(base, shm::kOffRespLen);
    s.tx_signal_word = u32_word(base, shm::kOffRespSignal);
    s.rx_area = req_area;
    s.rx_capacity = l.request_capacity;
    s.rx_seq_word = u64_word(base, shm::kOffReqSeq);
    s.rx_len_word = u32_word(base, shm::kOffReqLen);
    s.rx_signal_word = u32_word(base, shm::kOffReqSignal);
  }
  if (side == ShmSide::kClient) {
    // docs/shm.md B.5: a client starts from what has already been published.
    s.tx_seq = load_acquire(s.tx_seq_word);
    s.rx_seq = load_acquire(s.rx_seq_word);
  }
  // A server starts at 0, as upstream's does: it created the region, so
  // nothing of its own was ever published, and a request the client
  // published before this channel existed must still be its first.

  const bool multi_cpu = usable_cpu_count() > 1;
  if (options.spin_tries < 0) {
    s.spin_tries = 0;
  } else if (options.spin_tries == 0) {
    // Spinning on one CPU only delays the peer that would publish.
    s.spin_tries = multi_cpu ? shm::kDefaultSpinTries : 0;
  } else {
    s.spin_tries = static_cast<uint32_t>(options.spin_tries);
  }
  if (options.spin_ns > 0) {
    s.spin_ns = static_cast<uint32_t>(options.spin_ns);
  } else if (options.spin_ns == 0 && options.spin_tries == 0 && multi_cpu) {
    s.spin_ns = shm::kAutoSpinNs;
  } else {
    s.spin_ns = 0;
  }
  s.slice_ms = options.wait_slice_ms == 0
                   ? 100
                   : (options.wait_slice_ms > 100 ? 100 : options.wait_slice_ms);
  s.always_wake = options.always_wake;
  if (s.always_wake) {
    // Withdraw an announcement an earlier channel of this side may have
    // left: this one sleeps without clearing the bit first.
    __atomic_fetch_and(s.rx_signal_word, ~kSignalAwakeBit, __ATOMIC_ACQ_REL);
  } else {
    announce_awake(s.rx_signal_word);
  }
  s_ = s;
}

Status ShmChannel::publish(ByteSpan header, ByteSpan payload) noexcept {
  State& s = s_;
  if (s.base == nullptr) return make_error(Errc::kInvalidArgument, "shm publish: invalid channel");
  const size_t total = header.size + payload.size;
  if (total == 0) return make_error(Errc::kInvalidArgument, "shm publish: empty message");
  if (total > s.tx_capacity) {
    return make_error(Errc::kLimitExceeded, "shm publish: MSG_TOO_LARGE for the area");
  }
  // docs/shm.md B.8: exactly one message in flight per direction.
  if (s.side == ShmSide::kClient ? s.tx_seq != s.rx_seq : s.tx_seq >= s.rx_seq) {
    return make_error(Errc::kInvalidArgument, s.side == ShmSide::kClient
                                                  ? "shm publish: a response is outstanding"
                                                  : "shm publish: no request to answer");
  }

  if (header.size != 0) std::memcpy(s.tx_area, header.data, header.size);
  if (payload.size != 0) std::memcpy(s.tx_area + header.size, payload.data, payload.size);
  if (truncated(s.guard_slot)) return make_error(Errc::kPeerGone, kTruncatedMessage);
  __atomic_store_n(s.tx_len_word, static_cast<uint32_t>(total), __ATOMIC_RELEASE);
  __atomic_fetch_add(s.tx_seq_word, 1, __ATOMIC_RELEASE);  // the publication point
  ++s.tx_seq;
  ++s.stats.published;

  // Bump the counter bits, keeping the receiver's awake bit as it is.
  uint32_t old = __atomic_load_n(s.tx_signal_word, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(s.tx_signal_word, &old,
                                      (old & kSignalAwakeBit) | ((old + 1) & ~kSignalAwakeBit),
                                      /*weak=*/true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
  }
  if (!s.always_wake && (old & kSignalAwakeBit) != 0) {
    ++s.stats.wakes_skipped;
    return ok_status();
  }
  ++s.stats.wakes_sent;
  auto rc =
      detail::sys_call("shm publish: FUTEX_WAKE", [&] { return futex_wake(s.tx_signal_word, 1); });
  if (!rc) return rc.error();
  return ok_status();
}

Result<uint32_t> ShmChannel::receive(MutableByteSpan out, uint32_t timeout_ms,
                                     StopCheck stop) noexcept {
  const int64_t deadline =
      timeout_ms == 0 ? 0 : detail::monotonic_ns() + int64_t{timeout_ms} * 1000000;
  return receive_until(out, deadline, stop);
}

Result<uint32_t> ShmChannel::receive_until(MutableByteSpan out, int64_t deadline_ns,
                                           StopCheck stop) noexcept {
  State& s = s_;
  if (s.base == nullptr) return make_error(Errc::kInvalidArgument, "shm receive: invalid channel");
  const uint64_t expected = s.rx_seq + 1;
  for (uint32_t i = 0; i < s.spin_tries; ++i) {
    const uint64_t seq = load_acquire(s.rx_seq_word);
    if (seq >= expected) {
      ++s.stats.spin_hits;
      return consume(out, seq);
    }
    cpu_relax();
  }
  if (s.spin_ns != 0) {
    // Time-bounded spin; the clock (vDSO, no system call) is read every 32
    // pauses.
    const int64_t until = detail::monotonic_ns() + s.spin_ns;
    for (uint32_t i = 1;; ++i) {
      const uint64_t seq = load_acquire(s.rx_seq_word);
      if (seq >= expected) {
        ++s.stats.spin_hits;
        return consume(out, seq);
      }
      cpu_relax();
      if ((i & 31) == 0 && detail::monotonic_ns() >= until) break;
    }
  }
  return wait_and_consume(out, expected, deadline_ns, stop);
}

Result<ByteSpan> ShmChannel::receive_in_place_until(int64_t deadline_ns, StopCheck stop) noexcept {
  // A null destination tells consume() to leave the message in place.
  auto n = receive_until(MutableByteSpan(nullptr, s_.rx_capacity), deadline_ns, stop);
  if (!n.ok()) return n.error();
  return ByteSpan(s_.rx_area, *n);
}

Result<uint32_t> ShmChannel::wait_and_consume(MutableByteSpan out, uint64_t expected,
                                              int64_t deadline_ns, StopCheck& stop) noexcept {
  State& s = s_;
  uint32_t* word = s.rx_signal_word;
  const int64_t slice_ns = int64_t{s.slice_ms} * 1000000;
  int64_t next_stop_check = detail::monotonic_ns() + slice_ns;
  for (;;) {
    uint32_t sig = load_acquire(word);
    uint64_t seq = load_acquire(s.rx_seq_word);
    if (seq >= expected) return consume(out, seq);
    if (truncated(s.guard_slot)) return make_error(Errc::kPeerGone, kTruncatedMessage);

    const int64_t now = detail::monotonic_ns();
    if (deadline_ns != 0 && now >= deadline_ns) {
      return make_error(Errc::kTimeout, "shm receive: nothing published in time");
    }
    if (now >= next_stop_check) {
      const Errc why = stop();
      if (why != Errc::kOk) return make_error(why, "shm receive: stopped by caller");
      next_stop_check = now + slice_ns;
    }
    int64_t wait_ns = next_stop_check - now;
    if (deadline_ns != 0 && deadline_ns - now < wait_ns) wait_ns = deadline_ns - now;

    if (!s.always_wake && (sig & kSignalAwakeBit) != 0) {
      // About to sleep: withdraw the announcement. If the word moved, a
      // publication (or our peer's counter) changed it: look again.
      const uint32_t cleared = sig & ~kSignalAwakeBit;
      if (!__atomic_compare_exchange_n(word, &sig, cleared, /*weak=*/false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE)) {
        continue;
      }
      sig = cleared;
      seq = load_acquire(s.rx_seq_word);
      if (seq >= expected) {
        announce_awake(word);
        return consume(out, seq);
      }
    }

    const timespec rel{static_cast<time_t>(wait_ns / 1000000000),
                       static_cast<long>(wait_ns % 1000000000)};
    ++s.stats.futex_waits;
    // Not through sys_retry: EINTR, like a timeout or a changed value, is a
    // loop iteration that re-checks the sequence and recomputes the time left.
    const long rc = futex_wait(word, sig, &rel);
    const int err = rc == -1 ? errno : 0;
    if (!s.always_wake) announce_awake(word);
    if (rc == 0) {
      ++s.stats.futex_wakeups;
    } else if (err == ETIMEDOUT) {
      ++s.stats.futex_timeouts;
      if (load_acquire(s.rx_seq_word) >= expected) ++s.stats.futex_timeouts_with_message;
    } else if (err != EAGAIN && err != EINTR) {
      return make_error(Errc::kSystem, "shm receive: FUTEX_WAIT", err);
    }
  }
}

Result<uint32_t> ShmChannel::consume(MutableByteSpan out, uint64_t seen_seq) noexcept {
  State& s = s_;
  const uint64_t expected = s.rx_seq + 1;
  if (truncated(s.guard_slot)) return make_error(Errc::kPeerGone, kTruncatedMessage);
  // docs/shm.md B.7: the publication is consumed whatever happens next.
  s.rx_seq = expected;
  ++s.stats.received;
  if (seen_seq != expected) {
    // A conforming peer publishes one message per turn (docs/shm.md B.8); anything
    // else means it and we disagree about the session state.
    return make_error(Errc::kProtocol, "shm receive: peer skipped a sequence number");
  }
  const uint32_t len = load_acquire(s.rx_len_word);
  if (len == 0) return make_error(Errc::kProtocol, "shm receive: zero-length publication");
  const size_t max_copy = out.size < s.rx_capacity ? out.size : s.rx_capacity;
  if (len > max_copy) {
    return make_error(Errc::kLimitExceeded, "shm receive: MSG_TOO_LARGE for buffer or area");
  }
  // Copy out at once: the peer overwrites the area in place on its next
  // turn. (No destination: receive_in_place_until() reads it there.)
  if (out.data != nullptr) std::memcpy(out.data, s.rx_area, len);
  if (truncated(s.guard_slot)) return make_error(Errc::kPeerGone, kTruncatedMessage);
  return len;
}

}  // namespace netipc
