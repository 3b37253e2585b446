// Spec peer, part 2: UdsLink, logical messages over one SEQPACKET socket
// with chunking (docs/wire.md §4) and the receive checks of docs/wire.md §4.3 and §7.
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "spec_peer.h"

namespace netipc::spec_peer {

namespace {

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

int64_t deadline_after(int timeout_ms) {
  return timeout_ms < 0 ? 0 : now_ns() + int64_t{timeout_ms} * 1000000;
}

UdsLink::~UdsLink() {
  if (fd_ >= 0) ::close(fd_);
}

uint32_t UdsLink::sndbuf() const {
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &v, &len) != 0 || v <= 0) return 65536;
  return static_cast<uint32_t>(v);
}

std::string UdsLink::wait_readable(int64_t deadline_ns) {
  for (;;) {
    int timeout = -1;
    if (deadline_ns != 0) {
      const int64_t left = std::max<int64_t>(0, deadline_ns - now_ns());
      timeout = static_cast<int>((left + 999999) / 1000000);
    }
    pollfd fds[2] = {{fd_, POLLIN, 0}, {abort_fd_, POLLIN, 0}};
    const int rc = ::poll(fds, abort_fd_ >= 0 ? 2 : 1, timeout);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return errno_text("poll");
    if (abort_fd_ >= 0 && fds[1].revents != 0) return kAborted;
    if (rc > 0) return "";
    if (deadline_ns != 0 && now_ns() >= deadline_ns) return kTimedOut;
  }
}

std::string UdsLink::send_packet(const Bytes& packet) {
  iovec iov{const_cast<uint8_t*>(packet.data()), packet.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  for (;;) {
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == static_cast<ssize_t>(packet.size())) return "";
    if (n >= 0) return "short send";
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return errno_text("sendmsg");
    // Wait until writable (or stopped): the peer drains its queue.
    pollfd fds[2] = {{fd_, POLLOUT, 0}, {abort_fd_, POLLIN, 0}};
    if (::poll(fds, abort_fd_ >= 0 ? 2 : 1, -1) < 0 && errno != EINTR) return errno_text("poll");
    if (abort_fd_ >= 0 && fds[1].revents != 0) return kAborted;
  }
}

std::vector<Bytes> packetize(Header h, const Bytes& payload, uint32_t packet_size) {
  const uint64_t p = packet_size;
  const uint64_t body = p - kHeaderSize;
  const uint64_t total = payload.size();
  h.payload_len = static_cast<uint32_t>(total);
  std::vector<Bytes> packets(1, Bytes(kHeaderSize));
  put_header(h, packets[0].data());
  if (kHeaderSize + total <= p) {  // rule 1: one packet, no chunk header
    packets[0].insert(packets[0].end(), payload.begin(), payload.end());
    return packets;
  }
  // Rule 2: packet 0 carries B payload bytes, then continuations of <= B.
  const uint32_t count = static_cast<uint32_t>(1 + (total - body + body - 1) / body);
  uint64_t off = 0;
  for (uint32_t k = 0; k < count; ++k) {
    const uint64_t take = std::min(body, total - off);
    if (k > 0) {  // continuation header, docs/wire.md §4.1 table
      Bytes c(kHeaderSize, 0);
      wr32(c.data() + 0, kChunkMagic);
      wr16(c.data() + 4, 1);
      wr16(c.data() + 6, 0);
      wr64(c.data() + 8, h.message_id);
      wr32(c.data() + 16, static_cast<uint32_t>(kHeaderSize + total));
      wr32(c.data() + 20, k);
      wr32(c.data() + 24, count);
      wr32(c.data() + 28, static_cast<uint32_t>(take));
      packets.push_back(std::move(c));
    }
    packets[k].insert(packets[k].end(), payload.begin() + off, payload.begin() + off + take);
    off += take;
  }
  return packets;
}

std::string UdsLink::send(Header h, const Bytes& payload) {
  return send_packets(packetize(h, payload, packet_size_));
}

std::string UdsLink::send_packets(const std::vector<Bytes>& packets) {
  for (const Bytes& packet : packets) {  // back to back (docs/wire.md §4.2 rule 4)
    std::string bad = send_packet(packet);
    if (!bad.empty()) return bad;
  }
  return "";
}

std::string UdsLink::receive_packet(Bytes* out, int timeout_ms) {
  return read_packet(out, deadline_after(timeout_ms));
}

std::string UdsLink::read_packet(Bytes* out, int64_t deadline) {
  for (;;) {
    std::string bad = wait_readable(deadline);
    if (!bad.empty()) return bad;
    // The true length of the next packet, whatever buffer we would offer.
    const ssize_t len = ::recv(fd_, nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (len < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (len < 0 && errno == ECONNRESET) return kPeerClosed;
    if (len < 0) return errno_text("recv");
    if (len == 0) return kPeerClosed;  // nobody sends empty NetIPC packets
    out->assign(static_cast<size_t>(len), 0);
    const ssize_t n = ::recv(fd_, out->data(), out->size(), MSG_DONTWAIT);
    if (n != len) return errno_text("recv after peek");
    return "";
  }
}

std::string UdsLink::receive(Message* out, int timeout_ms) {
  const int64_t deadline = deadline_after(timeout_ms);
  sizes_.clear();
  Bytes pkt;
  std::string bad = read_packet(&pkt, deadline);
  if (!bad.empty()) return bad;
  sizes_.push_back(pkt.size());
  bad = get_header(pkt.data(), pkt.size(), &out->header);
  if (!bad.empty()) return bad;
  const Header& h = out->header;
  const uint64_t total = h.payload_len;
  if ((max_in_payload_ != 0 && total > max_in_payload_) ||
      (max_in_items_ != 0 && h.item_count > max_in_items_)) {
    return "inbound message over the negotiated ceiling";
  }
  const uint64_t first = pkt.size() - kHeaderSize;
  if (first > total) return "first packet longer than its message";
  out->payload.assign(pkt.begin() + kHeaderSize, pkt.end());
  if (first == total) return "";
  // Chunked (docs/wire.md §4.3 rule 3).
  const uint64_t p = packet_size_;
  const uint64_t body = p - kHeaderSize;
  if (pkt.size() != p) return "first packet of a chunked message is not packet_size bytes";
  const uint64_t expected = 1 + (total - first + body - 1) / body;
  for (uint32_t k = 1; out->payload.size() < total; ++k) {
    if (k >= expected) return "more chunks than chunk_count";
    bad = read_packet(&pkt, deadline);
    if (!bad.empty()) return bad;
    sizes_.push_back(pkt.size());
    if (pkt.size() < kHeaderSize) return "continuation shorter than 32 bytes";
    const uint8_t* c = pkt.data();
    if (rd32(c) != kChunkMagic) return "bad chunk magic";
    if (rd16(c + 4) != 1 || rd16(c + 6) != 0) return "chunk version/flags";
    if (rd64(c + 8) != h.message_id) return "chunk message_id differs";
    if (rd32(c + 16) != kHeaderSize + total) return "chunk total_message_len";
    if (rd32(c + 20) != k) return "chunk_index out of sequence";
    if (rd32(c + 24) != expected) return "chunk_count differs from the expected count";
    const uint64_t cpl = rd32(c + 28);
    if (cpl == 0 || cpl != pkt.size() - kHeaderSize) return "chunk_payload_len";
    if (out->payload.size() + cpl > total) return "chunks exceed payload_len";
    out->payload.insert(out->payload.end(), pkt.begin() + kHeaderSize, pkt.end());
    if (out->payload.size() < total && pkt.size() != p) return "short non-final chunk";
    if (out->payload.size() == total && k + 1 != expected) return "fewer chunks than expected";
  }
  return "";
}

std::string UdsLink::wait_closed(int timeout_ms) {
  const int64_t deadline = deadline_after(timeout_ms);
  Bytes pkt;
  std::string bad;
  while (bad.empty())
    bad = read_packet(&pkt, deadline);  // drain what is still queued
  return bad;
}

}  // namespace netipc::spec_peer
