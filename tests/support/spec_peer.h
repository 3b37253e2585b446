// Spec peer: an independent NetIPC v1 client and server for interop tests.
//
// Written only from the byte tables of docs/wire.md,
// docs/transport.md and docs/codecs.md §2-§4. It
// includes no netipc/ header and shares no code with the library, so a
// misreading of the spec in the library cannot hide by being repeated here.
// Every field is written and read at its tabulated offset with the memcpy
// helpers below.
//
// It is a test oracle: blocking, allocating, strict. Calls return a
// problem description, "" on success, so a failed assertion says what went
// wrong (EXPECT_EQ(client.increment(41, &v), "")).
//
// Threads: a SpecServer serves from its own thread; its log() may be read
// from any thread. A SpecClient and a UdsLink are single-owner.
//
// Transports: after the handshake, messages travel through SpecLink. UdsLink
// is the UDS SEQPACKET implementation (chunking, docs/wire.md §4); ShmLink the Linux
// shared-memory data plane (docs/shm.md: its own offsets, atomics on
// the mapped words, plain FUTEX_WAIT/FUTEX_WAKE, spin then wait, always
// wake), over a ShmRegion the spec server creates or the spec client
// attaches. Both are selected by the handshake; the handlers do not care.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace netipc::spec_peer {

using Bytes = std::vector<uint8_t>;

// ---- Constants (docs/wire.md §1, §2, §5.4; docs/codecs.md §2-§4) ----
inline constexpr uint32_t kMsgMagic = 0x4E495043;    // "NIPC"
inline constexpr uint32_t kChunkMagic = 0x4E43484B;  // "NCHK"
inline constexpr size_t kHeaderSize = 32;
inline constexpr size_t kHelloSize = 44;
inline constexpr size_t kAckSize = 48;
inline constexpr uint16_t kKindRequest = 1;
inline constexpr uint16_t kKindResponse = 2;
inline constexpr uint16_t kKindControl = 3;
inline constexpr uint16_t kFlagBatch = 0x0001;
inline constexpr uint16_t kCodeHello = 1;
inline constexpr uint16_t kCodeHelloAck = 2;
inline constexpr uint16_t kMethodIncrement = 1;
inline constexpr uint16_t kMethodCgroupsSnapshot = 2;
inline constexpr uint16_t kMethodStringReverse = 3;
inline constexpr uint16_t kStatusOk = 0;
inline constexpr uint16_t kStatusBadEnvelope = 1;
inline constexpr uint16_t kStatusAuthFailed = 2;
inline constexpr uint16_t kStatusIncompatible = 3;
inline constexpr uint16_t kStatusUnsupported = 4;
inline constexpr uint16_t kStatusLimitExceeded = 5;
inline constexpr uint16_t kStatusInternalError = 6;
inline constexpr uint32_t kProfileUds = 0x01;
inline constexpr uint32_t kProfileShmHybrid = 0x02;
inline constexpr uint32_t kProfileShmFutex = 0x04;
inline constexpr uint32_t kProfilesShm = kProfileShmHybrid | kProfileShmFutex;

// Problems that tests tell apart; every other problem is free text.
inline constexpr const char* kTimedOut = "timed out";
inline constexpr const char* kPeerClosed = "peer closed the connection";
inline constexpr const char* kAborted = "aborted";

// ---- Byte helpers: host order, unaligned ----
inline uint16_t rd16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t rd64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline void wr16(uint8_t* p, uint16_t v) {
  std::memcpy(p, &v, 2);
}
inline void wr32(uint8_t* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}
inline void wr64(uint8_t* p, uint64_t v) {
  std::memcpy(p, &v, 8);
}
inline uint64_t round8(uint64_t x) {
  return (x + 7) & ~uint64_t{7};
}
// "4350494e 0100..." -> bytes (whitespace ignored), for spec vectors.
Bytes from_hex(std::string_view hex);
std::string to_hex(const Bytes& b);

// ---- Outer header (docs/wire.md §2) ----
struct Header {
  uint16_t version = 1;  // settable to forge a future version
  uint16_t kind = 0;
  uint16_t flags = 0;
  uint16_t code = 0;
  uint16_t status = 0;
  uint32_t payload_len = 0;
  uint32_t item_count = 1;
  uint64_t message_id = 0;
};
void put_header(const Header& h, uint8_t* out);  // 32 bytes
// docs/wire.md §7.1: length, magic, version 1, header_len 32, kind 1..3.
std::string get_header(const uint8_t* p, size_t n, Header* out);

// ---- Handshake (docs/wire.md §5) ----
struct Hello {
  uint16_t layout_version = 1;
  uint16_t flags = 0;
  uint32_t supported = kProfileUds;
  uint32_t preferred = 0;
  uint32_t max_request_payload = 1024;
  uint32_t max_request_items = 1;
  uint32_t max_response_payload = 1024;
  uint32_t max_response_items = 1;
  uint32_t reserved = 0;
  uint64_t auth_token = 0;
  uint32_t packet_size = 0;
};
struct HelloAck {
  uint16_t layout_version = 1;
  uint16_t flags = 0;
  uint32_t server_supported = 0;
  uint32_t intersection = 0;
  uint32_t selected = 0;
  uint32_t max_request_payload = 0;
  uint32_t max_request_items = 0;
  uint32_t max_response_payload = 0;
  uint32_t max_response_items = 0;
  uint32_t packet_size = 0;
  uint32_t reserved = 0;
  uint64_t session_id = 0;
};
// 76-byte HELLO packet; header_version forges the outer version.
Bytes hello_packet(const Hello& h, uint16_t header_version = 1);
// 80-byte HELLO_ACK packet with this transport_status.
Bytes ack_packet(const HelloAck& a, uint16_t status);
// Field-by-field reads of the 44/48-byte payloads (no semantic checks).
Hello read_hello(const uint8_t* payload);
HelloAck read_ack(const uint8_t* payload);
// A rejection ACK: all zero except layout_version = 1 (docs/wire.md §5.7).
inline HelloAck rejection_ack() {
  return HelloAck{};
}

// The server's side of the negotiation matrix (docs/wire.md §5.5/§5.6), in the
// upstream order: layout, reserved, profiles, token, limit, packet size.
struct Policy {
  uint32_t supported = kProfileUds;
  uint32_t preferred = 0;
  uint32_t max_request_payload = 1024;
  uint32_t max_response_payload = 65536;
  uint32_t packet_size = 65536;
  uint64_t auth_token = 0;
};
inline constexpr uint16_t kCloseSilently = 0xFFFF;
// Returns the ACK status (kCloseSilently: no reply); fills *ack on OK.
uint16_t negotiate(const Policy& p, const Hello& h, uint64_t session_id, HelloAck* ack);

// ---- Level-1 batch (docs/wire.md §3) ----
Bytes make_batch(const std::vector<Bytes>& items);  // canonical encoder output
std::string split_batch(const Bytes& payload, uint32_t item_count, std::vector<Bytes>* items);

// ---- Method payloads (docs/codecs.md §2-§4) ----
Bytes u64_payload(uint64_t v);  // INCREMENT
Bytes reverse_payload(std::string_view s);
std::string read_reverse(const Bytes& payload, std::string* s);
inline Bytes snapshot_request() {
  return Bytes{1, 0, 0, 0};
}
struct CgroupEntry {
  uint32_t hash = 0;
  uint32_t options = 0;
  uint32_t enabled = 0;
  std::string name;
  std::string path;
  bool operator==(const CgroupEntry& o) const {
    return hash == o.hash && options == o.options && enabled == o.enabled && name == o.name &&
           path == o.path;
  }
};
struct Snapshot {
  uint32_t systemd_enabled = 0;
  uint64_t generation = 0;
  std::vector<CgroupEntry> items;
};
Bytes snapshot_payload(const Snapshot& s);  // layout 1, canonical (docs/codecs.md §2.3)
// Validates header, directory and every item (docs/codecs.md §2.4, §2.5).
std::string read_snapshot(const Bytes& payload, Snapshot* out);

// ---- Messages over a transport ----
struct Message {
  Header header;
  Bytes payload;
};

// The packets of one logical message at this packet size (docs/wire.md §4.2): one
// packet when it fits, else the outer header with the first P - 32 payload
// bytes, then continuation headers with at most P - 32 bytes each.
std::vector<Bytes> packetize(Header h, const Bytes& payload, uint32_t packet_size);

class SpecLink {
 public:
  virtual ~SpecLink() = default;
  // Sends one logical message; header.payload_len is taken from payload.
  virtual std::string send(Header h, const Bytes& payload) = 0;
  // Receives one logical message. timeout_ms < 0 waits forever; the
  // timeout covers every packet of the message.
  virtual std::string receive(Message* out, int timeout_ms) = 0;
};

// UDS SEQPACKET: one send = one packet. Chunks on send and reassembles on
// receive at packet_size (docs/wire.md §4), checking every §4.3 rule, plus the
// §4.2 rule that every non-final packet is exactly packet_size bytes.
class UdsLink : public SpecLink {
 public:
  explicit UdsLink(int fd) : fd_(fd) {}  // takes ownership
  ~UdsLink() override;
  UdsLink(const UdsLink&) = delete;
  UdsLink& operator=(const UdsLink&) = delete;

  int fd() const { return fd_; }
  void set_packet_size(uint32_t p) { packet_size_ = p; }
  uint32_t packet_size() const { return packet_size_; }
  // Inbound ceilings (docs/wire.md §7.2); 0 = unchecked.
  void set_inbound_limits(uint32_t max_payload, uint32_t max_items) {
    max_in_payload_ = max_payload;
    max_in_items_ = max_items;
  }
  // Readable abort_fd interrupts waits with kAborted.
  void set_abort_fd(int fd) { abort_fd_ = fd; }
  // SO_SNDBUF as read from the socket (what upstream advertises).
  uint32_t sndbuf() const;

  std::string send(Header h, const Bytes& payload) override;
  std::string send_packets(const std::vector<Bytes>& packets);
  std::string send_packet(const Bytes& packet);
  std::string receive(Message* out, int timeout_ms) override;
  // One packet, exactly as received (size from MSG_PEEK|MSG_TRUNC).
  std::string receive_packet(Bytes* out, int timeout_ms);
  // Waits until the peer closes (kPeerClosed) or the timeout passes.
  std::string wait_closed(int timeout_ms);
  // Packet sizes of the last received message.
  const std::vector<size_t>& last_packet_sizes() const { return sizes_; }

 private:
  std::string wait_readable(int64_t deadline_ns);  // deadline 0 = none
  std::string read_packet(Bytes* out, int64_t deadline_ns);
  int fd_;
  int abort_fd_ = -1;
  uint32_t packet_size_ = 65536;
  uint32_t max_in_payload_ = 0;
  uint32_t max_in_items_ = 0;
  std::vector<size_t> sizes_;
};

// CLOCK_MONOTONIC deadline timeout_ms from now (0 for "forever").
int64_t deadline_after(int timeout_ms);

// ---- SHM region and link (docs/shm.md; Linux) ----
inline constexpr uint32_t kShmMagic = 0x4E53484D;  // "NSHM"
inline constexpr uint16_t kShmVersion = 3;
inline constexpr uint32_t kShmHeaderLen = 64;
inline constexpr uint32_t kShmSpinTries = 128;
inline constexpr int kShmSliceMs = 100;  // B.10: server waits in 100 ms slices
// B.2 control header, "Off" column.
inline constexpr size_t kShmOffMagic = 0;
inline constexpr size_t kShmOffVersion = 4;
inline constexpr size_t kShmOffHeaderLen = 6;
inline constexpr size_t kShmOffOwnerPid = 8;
inline constexpr size_t kShmOffOwnerGeneration = 12;
inline constexpr size_t kShmOffRequestOffset = 16;
inline constexpr size_t kShmOffRequestCapacity = 20;
inline constexpr size_t kShmOffResponseOffset = 24;
inline constexpr size_t kShmOffResponseCapacity = 28;
inline constexpr size_t kShmOffReqSeq = 32;
inline constexpr size_t kShmOffRespSeq = 40;
inline constexpr size_t kShmOffReqLen = 48;
inline constexpr size_t kShmOffRespLen = 52;
inline constexpr size_t kShmOffReqSignal = 56;
inline constexpr size_t kShmOffRespSignal = 60;

inline uint64_t align64(uint64_t x) {
  return (x + 63) & ~uint64_t{63};
}
// B.1: "{service}-{session_id:016x}.ipcshm" (a name inside run_dir).
std::string shm_region_name(const std::string& service, uint64_t session_id);

// B.2: offsets and capacities for areas holding messages of up to the
// given sizes (32-byte header + payload), each rounded up to 64.
struct ShmLayout {
  uint32_t request_offset = 0;
  uint32_t request_capacity = 0;
  uint32_t response_offset = 0;
  uint32_t response_capacity = 0;
  uint64_t file_size = 0;
};
ShmLayout shm_layout(uint64_t request_message_bytes, uint64_t response_message_bytes);
// The 64 header bytes a server writes at create (B.4 step 5): atomics 0.
Bytes shm_header_bytes(const ShmLayout& l, int32_t owner_pid, uint32_t owner_generation);

// One region file, mapped MAP_SHARED. A created region is owned: its
// destructor unmaps, closes and unlinks (B.11); an attached one never
// unlinks.
class ShmRegion {
 public:
  // B.4 steps 2-6: openat O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC 0600,
  // fallocate(0, size), mmap, zero, header, release fence. The oracle does
  // not run the B.12 stale check: an existing name is a failure (tests use
  // fresh directories). nullptr + *problem on failure (nothing left behind).
  static std::unique_ptr<ShmRegion> create(const std::string& run_dir, const std::string& name,
                                           const ShmLayout& layout, std::string* problem);
  // B.5 steps 1-3 with the B.5 retry policy: OPEN, NOT_READY and
  // BAD_MAGIC are retried every 5 ms for up to retry_ms; anything else
  // fails at once. *problem starts with the spec's error name.
  static std::unique_ptr<ShmRegion> attach(const std::string& run_dir, const std::string& name,
                                           int retry_ms, std::string* problem);
  ~ShmRegion();
  ShmRegion(const ShmRegion&) = delete;
  ShmRegion& operator=(const ShmRegion&) = delete;

  uint8_t* base() const { return base_; }
  size_t mapped_size() const { return size_; }
  const ShmLayout& layout() const { return layout_; }
  const std::string& path() const { return path_; }
  bool owner() const { return owner_; }
  // The 64 header bytes as they were when create/attach returned.
  const Bytes& initial_header() const { return initial_header_; }
  // fstat of the file at create/attach.
  uint32_t file_mode() const { return mode_; }
  uint32_t file_uid() const { return uid_; }
  uint64_t file_size() const { return file_size_; }
  // Acquire loads of the B.2 atomic words.
  uint64_t load64(size_t off) const;
  uint32_t load32(size_t off) const;

 private:
  ShmRegion() = default;
  static std::string attach_once(const std::string& run_dir, const std::string& name,
                                 std::unique_ptr<ShmRegion>* out);
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;
  bool owner_ = false;
  std::string path_;
  ShmLayout layout_;
  Bytes initial_header_;
  uint32_t mode_ = 0;
  uint32_t uid_ = 0;
  uint64_t file_size_ = 0;
};

// The data plane over a region: B.6 publication (always FUTEX_WAKE), B.7
// consumption (128 spins with a pause hint, then FUTEX_WAIT on the signal
// word), B.8 one message in flight per direction. Receives decode the
// outer header (docs/wire.md §7.1) and check payload_len against the message
// length and the inbound ceilings.
class ShmLink : public SpecLink {
 public:
  enum class Side : uint8_t { kClient, kServer };
  // `region` must outlive the link. A client's local sequence counters
  // start from the region's current req_seq / resp_seq (B.5), a server's
  // at 0 (B.8).
  ShmLink(const ShmRegion* region, Side side);

  void set_inbound_limits(uint32_t max_payload, uint32_t max_items) {
    max_in_payload_ = max_payload;
    max_in_items_ = max_items;
  }
  // Readable abort_fd ends a wait with kAborted (checked between slices).
  void set_abort_fd(int fd) { abort_fd_ = fd; }
  // B.10: after each 100 ms slice, a hung-up socket ends the wait with
  // kPeerClosed.
  void set_liveness_fd(int fd) { liveness_fd_ = fd; }

  std::string send(Header h, const Bytes& payload) override;
  // Publishes these exact bytes as one message (forgeries, garbage).
  std::string send_raw(const Bytes& message);
  std::string receive(Message* out, int timeout_ms) override;
  // One consumed publication, exactly as copied out of the area.
  std::string receive_raw(Bytes* out, int timeout_ms);

  uint64_t published() const { return tx_seq_; }
  uint64_t consumed() const { return rx_seq_; }
  uint32_t send_capacity() const { return tx_cap_; }
  uint32_t receive_capacity() const { return rx_cap_; }

 private:
  std::string wait_published(uint64_t expected, int64_t deadline_ns, uint32_t* len);
  uint8_t* base_;
  uint8_t* tx_area_;
  uint32_t tx_cap_;
  size_t tx_seq_off_, tx_len_off_, tx_sig_off_;
  const uint8_t* rx_area_;
  uint32_t rx_cap_;
  size_t rx_seq_off_, rx_len_off_, rx_sig_off_;
  uint64_t tx_seq_ = 0;
  uint64_t rx_seq_ = 0;
  Side side_;
  int abort_fd_ = -1;
  int liveness_fd_ = -1;
  uint32_t max_in_payload_ = 0;
  uint32_t max_in_items_ = 0;
};

// ---- Server ----
enum class Misbehaviour : uint8_t {
  kNone,
  kCloseBeforeAck,        // read HELLO, close without an ACK
  kWrongMessageId,        // answer with message_id + 1000
  kGarbage,               // answer with 40 bytes that are not a message
  kCloseMidMessage,       // send the first packet of the response, close (UDS only)
  kStallAfterFirstChunk,  // send the first packet of the response, go quiet (UDS only)
  kNeverAnswer,           // read requests, answer none
};

struct ServerConfig {
  Policy policy;  // packet_size 0 = raw SO_SNDBUF, as upstream (docs/transport.md A.4 rule 3)
  uint64_t first_session_id = 1;
  // Hold this many requests, then answer them newest first (pipelining;
  // UDS only: SHM carries one message per direction at a time).
  uint32_t reverse_batch = 1;
  Misbehaviour misbehaviour = Misbehaviour::kNone;
  // Negative tests: edit the ACK packet, each response message, or the
  // packets of each response (docs/wire.md §4 forgeries) before they are sent.
  std::function<void(Bytes* ack_packet)> mutate_ack;
  std::function<void(Message* response)> mutate_response;
  std::function<void(std::vector<Bytes>* packets)> mutate_packets;
  Snapshot snapshot;  // the CGROUPS_SNAPSHOT answer
  // SHM (docs/shm.md): when the ACK is about to select 0x02/0x04 the
  // server creates the session's region first, sized like upstream from
  // its maxima (B.3: 32 + max payload per direction). If that fails it
  // negotiates again without the SHM profiles (B.4). mutate_region runs
  // after the create and before the ACK (negative tests: remove the file,
  // scribble on it). The region is unlinked when the session ends.
  std::function<void(const std::string& region_path)> mutate_region;
};

// What the server saw, for assertions.
struct ServerLog {
  std::vector<Bytes> hello_packets;     // raw, one per connection
  std::vector<Bytes> ack_packets;       // raw, as sent (after mutate_ack)
  std::vector<Message> requests;        // reassembled (the header decode is lossless)
  std::vector<size_t> request_packets;  // packet count per request
  std::vector<std::string> violations;  // anything the client did against the spec
  size_t sessions_ended = 0;
  std::vector<Bytes> region_headers;       // the 64 header bytes of each region created
  std::vector<std::string> region_errors;  // regions that could not be created
};

class SpecServer {
 public:
  // Listens on {run_dir}/{service}.sock (SOCK_SEQPACKET) and serves one
  // connection at a time from a thread until destroyed.
  static std::unique_ptr<SpecServer> start(const std::string& run_dir, const std::string& service,
                                           ServerConfig config, std::string* problem);
  ~SpecServer();  // stops the thread, closes every fd, unlinks the socket
  SpecServer(const SpecServer&) = delete;
  SpecServer& operator=(const SpecServer&) = delete;

  ServerLog log() const;

 private:
  SpecServer(int listen_fd, int stop_fd, std::string run_dir, std::string service,
             ServerConfig config);
  void run();
  void serve(int fd, uint64_t session_id);
  // Creates the region for an ACK selecting SHM, or renegotiates without SHM.
  std::unique_ptr<ShmRegion> prepare_shm(Policy policy, const Hello& hello, uint64_t session_id,
                                         uint16_t* status, HelloAck* ack);
  // uds is the session's socket; when `link` is an ShmLink, packet-level
  // misbehaviours do not apply.
  void serve_requests(SpecLink* link, UdsLink* uds, const HelloAck& ack);
  Message answer(const Message& req, const HelloAck& ack);
  void violation(std::string what);

  int listen_fd_;
  int stop_fd_;  // eventfd: readable = stop
  std::string run_dir_;
  std::string service_;
  std::string path_;
  ServerConfig config_;
  mutable std::mutex mu_;
  ServerLog log_;
  std::thread thread_;
};

// ---- Client ----
class SpecClient {
 public:
  // Connects a SOCK_SEQPACKET socket to {run_dir}/{service}.sock.
  static std::unique_ptr<SpecClient> connect(const std::string& run_dir, const std::string& service,
                                             std::string* problem);

  // The HELLO the spec client sends by default: UDS only, 1024/1 request,
  // 65536 response hint, packet size = raw SO_SNDBUF (as upstream does).
  Hello default_hello() const;
  std::string send_hello(const Hello& h, uint16_t header_version = 1);
  // Receives the ACK packet: raw bytes, status and (if >= 80 bytes) payload.
  std::string receive_ack(Bytes* raw, uint16_t* status, HelloAck* ack, int timeout_ms = 5000);
  // send_hello + receive_ack; status must be OK (docs/wire.md §5.8); adopts the
  // agreed packet size and response ceilings. When the ACK selects an SHM
  // profile, attaches the region (B.5, retrying per B.5 for up to
  // attach_retry_ms) and moves every later call to it.
  std::string handshake(const Hello& h, HelloAck* ack = nullptr);
  void set_attach_retry_ms(int ms) { attach_retry_ms_ = ms; }

  // One request, one response (status checked OK, id/code/kind matched).
  std::string call(uint16_t method, const Bytes& payload, uint32_t item_count, Message* response,
                   int timeout_ms = 10000);
  std::string increment(uint64_t v, uint64_t* out);
  std::string increment_batch(const std::vector<uint64_t>& values, std::vector<uint64_t>* out);
  std::string reverse(std::string_view s, std::string* out);
  std::string snapshot(Snapshot* out);

  UdsLink& link() { return link_; }
  // The link calls use: the ShmLink after an SHM handshake, else link().
  SpecLink& active_link() { return shm_link_ ? static_cast<SpecLink&>(*shm_link_) : link_; }
  ShmLink* shm_link() { return shm_link_.get(); }
  const ShmRegion* shm_region() const { return shm_region_.get(); }
  const HelloAck& agreed() const { return ack_; }
  uint64_t next_message_id() { return next_id_++; }

 private:
  SpecClient(int fd, std::string run_dir, std::string service)
      : link_(fd), run_dir_(std::move(run_dir)), service_(std::move(service)) {}
  UdsLink link_;
  std::string run_dir_;
  std::string service_;
  int attach_retry_ms_ = 5000;
  std::unique_ptr<ShmRegion> shm_region_;  // declared before the link that views it
  std::unique_ptr<ShmLink> shm_link_;
  HelloAck ack_;
  uint64_t next_id_ = 1;
};

}  // namespace netipc::spec_peer
