// ShmChannel: one side's view of a region, through which it publishes its
// messages and receives the peer's (docs/shm.md B.6 to B.8), spinning and then
// sleeping on a futex.
#pragma once

#include <cstdint>
#include <utility>

#include "netipc/bytes.h"
#include "netipc/result.h"
#include "transport/shm/region.h"
#include "transport/shm/stop_check.h"

namespace netipc {

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
  // ... of those, the ones that ended with the awaited message already
  // published: its wake came later than the slice, or never (a lost wake-up).
  // The others only mean the peer had not published yet (a slow peer).
  uint64_t futex_timeouts_with_message = 0;
};

class ShmChannel {
 public:
  // A view of `region` for one side. A client initialises its local
  // sequence counters from the region (docs/shm.md B.5); a server starts at 0
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
  // area with no intermediate buffer). docs/shm.md B.6. Errors, nothing written:
  //  kInvalidArgument  empty message, invalid channel, or out of turn (a
  //                    client with a response outstanding, a server with no
  //                    unanswered request: docs/shm.md B.8)
  //  kLimitExceeded    MSG_TOO_LARGE: larger than this direction's capacity
  // A failed FUTEX_WAKE (it cannot fail on a valid mapping) is kSystem after
  // the message was published.
  Status publish(ByteSpan header, ByteSpan payload = {}) noexcept;

  // Waits for the peer's next message and copies it into `out`; returns its
  // length. docs/shm.md B.7: spins, then sleeps on the futex in slices of at most
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
  // received our next message (docs/shm.md B.8). The bytes stay in memory the peer
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
