// Spec peer, part 4: SpecClient. The client handshake of docs/wire.md §5.8 and
// typed calls, checking every response against the spec.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

#include "spec_peer.h"

namespace netipc::spec_peer {

std::unique_ptr<SpecClient> SpecClient::connect(const std::string& run_dir,
                                                const std::string& service, std::string* problem) {
  const std::string path = run_dir + "/" + service + ".sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *problem = "socket path too long";
    return nullptr;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *problem = std::string("connect: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<SpecClient>(new SpecClient(fd, run_dir, service));
}

Hello SpecClient::default_hello() const {
  Hello h;
  h.max_response_payload = 65536;
  h.packet_size = link_.sndbuf();
  return h;
}

std::string SpecClient::send_hello(const Hello& h, uint16_t header_version) {
  return link_.send_packet(hello_packet(h, header_version));
}

std::string SpecClient::receive_ack(Bytes* raw, uint16_t* status, HelloAck* ack, int timeout_ms) {
  std::string bad = link_.receive_packet(raw, timeout_ms);
  if (!bad.empty()) return bad;
  if (raw->size() >= kHeaderSize) *status = rd16(raw->data() + 14);
  if (raw->size() >= kHeaderSize + kAckSize) *ack = read_ack(raw->data() + kHeaderSize);
  Header h;
  bad = get_header(raw->data(), raw->size(), &h);
  if (!bad.empty()) return "HELLO_ACK: " + bad;
  if (h.kind != kKindControl || h.code != kCodeHelloAck) return "not a HELLO_ACK";
  // docs/wire.md §5.1: the values every ACK carries.
  if (h.flags != 0 || h.payload_len != kAckSize || h.item_count != 1 || h.message_id != 0 ||
      raw->size() != kHeaderSize + kAckSize) {
    return "HELLO_ACK header fields differ from wire §5.1";
  }
  return "";
}

std::string SpecClient::handshake(const Hello& hello, HelloAck* out) {
  std::string bad = send_hello(hello);
  if (!bad.empty()) return bad;
  Bytes raw;
  uint16_t status = 0xFFFF;
  HelloAck a;
  bad = receive_ack(&raw, &status, &a);
  if (!bad.empty()) return bad;
  if (status != kStatusOk) return "handshake rejected, status " + std::to_string(status);
  // docs/wire.md §5.8 and the negotiation matrix §5.6, as far as a client can see it.
  if (a.layout_version != 1 || a.flags != 0) return "ACK layout_version/flags";
  if (a.packet_size <= kHeaderSize || a.packet_size > hello.packet_size) {
    return "ACK packet size is not min(client, server) > 32";
  }
  if (a.selected == 0 || (a.selected & (a.selected - 1)) != 0 ||
      (a.selected & a.intersection) == 0) {
    return "ACK selected profile is not one bit of the intersection";
  }
  if (a.intersection != (hello.supported & a.server_supported)) return "ACK intersection";
  if (a.max_request_payload != hello.max_request_payload ||
      a.max_request_items != hello.max_request_items ||
      a.max_response_items != a.max_request_items) {
    return "ACK does not echo the request ceilings";
  }
  if (a.session_id == 0) return "ACK session_id is 0";
  ack_ = a;
  link_.set_packet_size(a.packet_size);
  link_.set_inbound_limits(a.max_response_payload, a.max_response_items);
  if (out != nullptr) *out = a;
  if ((a.selected & kProfilesShm) != 0) {
    // docs/shm.md B.5: the server created the region before this ACK.
    std::string problem;
    shm_region_ = ShmRegion::attach(run_dir_, shm_region_name(service_, a.session_id),
                                    attach_retry_ms_, &problem);
    if (shm_region_ == nullptr) return "SHM attach: " + problem;
    const ShmLayout& l = shm_region_->layout();
    if (l.request_capacity < align64(kHeaderSize + uint64_t{a.max_request_payload}) ||
        l.response_capacity < align64(kHeaderSize + uint64_t{a.max_response_payload})) {
      return "SHM region smaller than the agreed ceilings (B.3.1)";
    }
    shm_link_ = std::make_unique<ShmLink>(shm_region_.get(), ShmLink::Side::kClient);
    shm_link_->set_inbound_limits(a.max_response_payload, a.max_response_items);
  }
  return "";
}

std::string SpecClient::call(uint16_t method, const Bytes& payload, uint32_t item_count,
                             Message* resp, int timeout_ms) {
  if (payload.size() > ack_.max_request_payload || item_count > ack_.max_request_items) {
    return "request over the agreed ceilings (not sent)";
  }
  Header h;
  h.kind = kKindRequest;
  h.code = method;
  h.flags = item_count >= 2 ? kFlagBatch : 0;
  h.item_count = item_count;
  h.message_id = next_id_++;
  std::string bad = active_link().send(h, payload);
  if (!bad.empty()) return bad;
  bad = active_link().receive(resp, timeout_ms);
  if (!bad.empty()) return bad;
  const Header& r = resp->header;
  if (r.kind != kKindResponse) return "reply is not a RESPONSE";
  if (r.message_id != h.message_id) return "reply message_id differs from the request's";
  if (r.code != method) return "reply code differs from the request's";
  if (r.status != kStatusOk) return "reply status " + std::to_string(r.status);
  return "";
}

std::string SpecClient::increment(uint64_t v, uint64_t* out) {
  Message m;
  std::string bad = call(kMethodIncrement, u64_payload(v), 1, &m);
  if (!bad.empty()) return bad;
  if (m.header.flags != 0 || m.header.item_count != 1) return "single reply flagged as a batch";
  if (m.payload.size() != 8) return "INCREMENT reply is not 8 bytes";
  *out = rd64(m.payload.data());
  return "";
}

std::string SpecClient::increment_batch(const std::vector<uint64_t>& values,
                                        std::vector<uint64_t>* out) {
  std::vector<Bytes> items;
  for (uint64_t v : values)
    items.push_back(u64_payload(v));
  const uint32_t n = static_cast<uint32_t>(values.size());
  Message m;
  std::string bad = call(kMethodIncrement, make_batch(items), n, &m);
  if (!bad.empty()) return bad;
  if (m.header.flags != kFlagBatch || m.header.item_count != n) {
    return "batch reply flags/item_count differ from the request's";
  }
  bad = split_batch(m.payload, n, &items);
  if (!bad.empty()) return bad;
  if (make_batch(items) != m.payload) return "batch reply is not canonical (wire §3.5)";
  out->clear();
  for (const Bytes& item : items) {
    if (item.size() != 8) return "batch reply item is not 8 bytes";
    out->push_back(rd64(item.data()));
  }
  return "";
}

std::string SpecClient::reverse(std::string_view s, std::string* out) {
  Message m;
  std::string bad = call(kMethodStringReverse, reverse_payload(s), 1, &m);
  if (!bad.empty()) return bad;
  if (m.payload != reverse_payload(std::string(s.rbegin(), s.rend()))) {
    bad = read_reverse(m.payload, out);
    return bad.empty() ? "STRING_REVERSE reply is not the canonical reversed string" : bad;
  }
  return read_reverse(m.payload, out);
}

std::string SpecClient::snapshot(Snapshot* out) {
  Message m;
  std::string bad = call(kMethodCgroupsSnapshot, snapshot_request(), 1, &m);
  if (!bad.empty()) return bad;
  if (m.header.flags != 0 || m.header.item_count != 1) return "snapshot reply flagged as batch";
  bad = read_snapshot(m.payload, out);
  if (!bad.empty()) return bad;
  if (snapshot_payload(*out) != m.payload) return "snapshot reply is not canonical (codec §2.3)";
  return "";
}

}  // namespace netipc::spec_peer
