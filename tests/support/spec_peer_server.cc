// Spec peer, part 3: SpecServer. The server handshake of docs/wire.md §5.5, the
// SHM region preparation of docs/shm.md B.4, and the INCREMENT /
// STRING_REVERSE / CGROUPS_SNAPSHOT handlers, with switchable misbehaviours
// for negative tests.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "spec_peer.h"

namespace netipc::spec_peer {

std::unique_ptr<SpecServer> SpecServer::start(const std::string& run_dir,
                                              const std::string& service, ServerConfig config,
                                              std::string* problem) {
  const std::string path = run_dir + "/" + service + ".sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *problem = "socket path too long";
    return nullptr;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 16) != 0) {
    *problem = std::string("listen: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  const int stop = ::eventfd(0, EFD_CLOEXEC);
  if (stop < 0) {
    *problem = "eventfd";
    ::close(fd);
    return nullptr;
  }
  std::unique_ptr<SpecServer> s(new SpecServer(fd, stop, run_dir, service, std::move(config)));
  s->thread_ = std::thread([raw = s.get()] { raw->run(); });
  return s;
}

SpecServer::SpecServer(int listen_fd, int stop_fd, std::string run_dir, std::string service,
                       ServerConfig config)
    : listen_fd_(listen_fd),
      stop_fd_(stop_fd),
      run_dir_(std::move(run_dir)),
      service_(std::move(service)),
      path_(run_dir_ + "/" + service_ + ".sock"),
      config_(std::move(config)) {}

SpecServer::~SpecServer() {
  const uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
  ::unlink(path_.c_str());
}

ServerLog SpecServer::log() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

void SpecServer::violation(std::string what) {
  std::lock_guard<std::mutex> lock(mu_);
  log_.violations.push_back(std::move(what));
}

void SpecServer::run() {
  uint64_t session_id = config_.first_session_id;
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[1].revents != 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve(fd, session_id++);  // ids are drawn per connection: failures leave gaps
    std::lock_guard<std::mutex> lock(mu_);
    ++log_.sessions_ended;
  }
}

void SpecServer::serve(int fd, uint64_t session_id) {
  UdsLink link(fd);
  link.set_abort_fd(stop_fd_);
  Bytes pkt;
  if (!link.receive_packet(&pkt, -1).empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_.hello_packets.push_back(pkt);
  }
  if (config_.misbehaviour == Misbehaviour::kCloseBeforeAck) return;
  Header h;
  const std::string bad = get_header(pkt.data(), pkt.size(), &h);
  uint16_t status = kCloseSilently;
  HelloAck ack;
  std::unique_ptr<ShmRegion> region;  // unlinked when this session ends (B.11)
  if (!bad.empty()) {
    // docs/wire.md §5.5 step 1: a HELLO from another header version gets INCOMPATIBLE.
    const uint8_t* p = pkt.data();
    if (pkt.size() >= kHeaderSize && rd32(p) == kMsgMagic && rd16(p + 6) == kHeaderSize &&
        rd16(p + 8) == kKindControl && rd16(p + 12) == kCodeHello) {
      status = kStatusIncompatible;
    }
  } else if (h.kind == kKindControl && h.code == kCodeHello &&
             pkt.size() >= kHeaderSize + kHelloSize) {
    // Upstream does not check these header fields; the oracle reports them.
    if (h.flags != 0 || h.status != 0 || h.payload_len != kHelloSize || h.item_count != 1 ||
        h.message_id != 0 || pkt.size() != kHeaderSize + kHelloSize) {
      violation("HELLO header fields differ from wire §5.1");
    }
    const Hello hello = read_hello(pkt.data() + kHeaderSize);
    if (hello.flags != 0) violation("HELLO flags not 0");
    if (hello.max_response_items != hello.max_request_items) {
      violation("HELLO max_response_batch_items differs from max_request_batch_items");
    }
    Policy policy = config_.policy;
    if (policy.packet_size == 0) policy.packet_size = link.sndbuf();
    status = negotiate(policy, hello, session_id, &ack);
    if (status == kStatusOk && (ack.selected & kProfilesShm) != 0) {
      region = prepare_shm(policy, hello, session_id, &status, &ack);
    }
  }
  if (status == kCloseSilently) return;
  Bytes reply = ack_packet(status == kStatusOk ? ack : rejection_ack(), status);
  if (config_.mutate_ack) config_.mutate_ack(&reply);
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_.ack_packets.push_back(reply);
  }
  if (!link.send_packet(reply).empty() || status != kStatusOk) return;
  link.set_packet_size(ack.packet_size);
  link.set_inbound_limits(ack.max_request_payload, ack.max_request_items);
  if (region == nullptr) {
    serve_requests(&link, &link, ack);
    return;
  }
  // B.10: the socket stays open and idle as the liveness channel.
  ShmLink shm(region.get(), ShmLink::Side::kServer);
  shm.set_inbound_limits(ack.max_request_payload, ack.max_request_items);
  shm.set_abort_fd(stop_fd_);
  shm.set_liveness_fd(link.fd());
  serve_requests(&shm, &link, ack);
}

std::unique_ptr<ShmRegion> SpecServer::prepare_shm(Policy policy, const Hello& hello,
                                                   uint64_t session_id, uint16_t* status,
                                                   HelloAck* ack) {
  std::string problem;
  const ShmLayout layout = shm_layout(kHeaderSize + uint64_t{policy.max_request_payload},
                                      kHeaderSize + uint64_t{policy.max_response_payload});
  auto region =
      ShmRegion::create(run_dir_, shm_region_name(service_, session_id), layout, &problem);
  if (region == nullptr) {
    // B.4: no SHM for this accept; negotiate the baseline instead.
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_.region_errors.push_back(problem);
    }
    policy.supported &= ~kProfilesShm;
    policy.preferred &= ~kProfilesShm;
    *status = negotiate(policy, hello, session_id, ack);
    return nullptr;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_.region_headers.push_back(region->initial_header());
  }
  if (config_.mutate_region) config_.mutate_region(region->path());
  return region;
}

void SpecServer::serve_requests(SpecLink* link, UdsLink* uds, const HelloAck& ack) {
  const bool on_uds = link == uds;
  std::vector<Message> pending;
  for (;;) {
    Message req;
    const std::string bad = link->receive(&req, -1);
    if (bad == kPeerClosed || bad == kAborted) return;
    if (!bad.empty() || req.header.kind != kKindRequest) {
      violation("request: " + (bad.empty() ? std::string("kind is not REQUEST") : bad));
      return;  // the session ends (docs/wire.md §7.6)
    }
    const Header& h = req.header;
    if (h.status != 0) violation("request transport_status not 0");
    if (((h.flags & kFlagBatch) != 0) != (h.item_count >= 2)) {
      violation("BATCH flag and item_count disagree (wire §3 rule 1)");
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_.requests.push_back(req);
      log_.request_packets.push_back(on_uds ? uds->last_packet_sizes().size() : 1);
    }
    if (config_.misbehaviour == Misbehaviour::kNeverAnswer) continue;
    pending.push_back(std::move(req));
    if (pending.size() < std::max<uint32_t>(config_.reverse_batch, 1)) continue;
    for (auto it = pending.rbegin(); it != pending.rend(); ++it) {
      Message resp = answer(*it, ack);
      if (config_.misbehaviour == Misbehaviour::kWrongMessageId) resp.header.message_id += 1000;
      if (config_.mutate_response) config_.mutate_response(&resp);
      if (!on_uds) {
        auto* shm = static_cast<ShmLink*>(link);
        const std::string sent = config_.misbehaviour == Misbehaviour::kGarbage
                                     ? shm->send_raw(Bytes(40, 0xAB))
                                     : shm->send(resp.header, resp.payload);
        if (!sent.empty()) return;
        continue;
      }
      std::vector<Bytes> packets = packetize(resp.header, resp.payload, uds->packet_size());
      if (config_.misbehaviour == Misbehaviour::kGarbage) packets = {Bytes(40, 0xAB)};
      const bool cut = config_.misbehaviour == Misbehaviour::kCloseMidMessage ||
                       config_.misbehaviour == Misbehaviour::kStallAfterFirstChunk;
      if (cut) packets.resize(1);
      if (config_.mutate_packets) config_.mutate_packets(&packets);
      if (!uds->send_packets(packets).empty()) return;
      if (config_.misbehaviour == Misbehaviour::kStallAfterFirstChunk) uds->wait_closed(-1);
      if (cut) return;
    }
    pending.clear();
  }
}

Message SpecServer::answer(const Message& req, const HelloAck& ack) {
  const Header& h = req.header;
  const bool batch = (h.flags & kFlagBatch) != 0 && h.item_count >= 2;
  Message resp;
  resp.header.kind = kKindResponse;
  resp.header.code = h.code;
  resp.header.message_id = h.message_id;
  auto fail = [&](uint16_t status) {
    resp.header.status = status;
    resp.header.flags = 0;
    resp.header.item_count = 1;
    resp.payload.clear();
    return resp;
  };
  if (h.code == kMethodIncrement && batch) {
    std::vector<Bytes> items;
    if (!split_batch(req.payload, h.item_count, &items).empty()) return fail(kStatusBadEnvelope);
    if (make_batch(items) != req.payload) violation("request batch is not canonical (wire §3.5)");
    for (Bytes& item : items) {
      if (item.size() < 8) return fail(kStatusBadEnvelope);
      if (item.size() != 8) violation("INCREMENT item is not 8 bytes");
      item = u64_payload(rd64(item.data()) + 1);
    }
    resp.header.flags = kFlagBatch;
    resp.header.item_count = h.item_count;
    resp.payload = make_batch(items);
  } else if (batch) {
    return fail(kStatusUnsupported);  // only INCREMENT is served in batches here
  } else if (h.code == kMethodIncrement) {
    if (req.payload.size() < 8) return fail(kStatusBadEnvelope);
    if (req.payload.size() != 8) violation("INCREMENT payload is not 8 bytes");
    resp.payload = u64_payload(rd64(req.payload.data()) + 1);
  } else if (h.code == kMethodStringReverse) {
    std::string s;
    if (!read_reverse(req.payload, &s).empty()) return fail(kStatusBadEnvelope);
    std::reverse(s.begin(), s.end());
    resp.payload = reverse_payload(s);
  } else if (h.code == kMethodCgroupsSnapshot) {
    const Bytes& p = req.payload;
    if (p.size() < 4 || rd16(p.data()) != 1 || rd16(p.data() + 2) != 0) {
      return fail(kStatusBadEnvelope);
    }
    if (p != snapshot_request()) violation("snapshot request is not exactly 01 00 00 00");
    resp.payload = snapshot_payload(config_.snapshot);
  } else {
    return fail(kStatusUnsupported);
  }
  if (resp.payload.size() > ack.max_response_payload ||
      resp.header.item_count > ack.max_response_items) {
    return fail(kStatusLimitExceeded);
  }
  return resp;
}

}  // namespace netipc::spec_peer
