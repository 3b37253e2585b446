// Spec peer, part 1: the byte layouts. Every offset below is the "Off"
// column of a table in docs/ (docs/wire.md §2, §3, §5; docs/codecs.md §2-§4).
#include "spec_peer.h"

#include <cctype>
#include <cstdio>

namespace netipc::spec_peer {

Bytes from_hex(std::string_view hex) {
  Bytes out;
  int hi = -1;
  for (char c : hex) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    const int v =
        std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

std::string to_hex(const Bytes& b) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < b.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", b[i]);
    s += buf;
    if (i % 4 == 3 && i + 1 < b.size()) s += ' ';
  }
  return s;
}

// ---- Outer header: docs/wire.md §2 table ----

void put_header(const Header& h, uint8_t* out) {
  wr32(out + 0, kMsgMagic);
  wr16(out + 4, h.version);
  wr16(out + 6, static_cast<uint16_t>(kHeaderSize));
  wr16(out + 8, h.kind);
  wr16(out + 10, h.flags);
  wr16(out + 12, h.code);
  wr16(out + 14, h.status);
  wr32(out + 16, h.payload_len);
  wr32(out + 20, h.item_count);
  wr64(out + 24, h.message_id);
}

std::string get_header(const uint8_t* p, size_t n, Header* out) {
  if (n < kHeaderSize) return "packet shorter than the 32-byte header";
  if (rd32(p) != kMsgMagic) return "bad message magic";
  out->version = rd16(p + 4);
  if (out->version != 1) return "header version is not 1";
  if (rd16(p + 6) != kHeaderSize) return "header_len is not 32";
  out->kind = rd16(p + 8);
  if (out->kind < kKindRequest || out->kind > kKindControl) return "bad kind";
  out->flags = rd16(p + 10);
  out->code = rd16(p + 12);
  out->status = rd16(p + 14);
  out->payload_len = rd32(p + 16);
  out->item_count = rd32(p + 20);
  out->message_id = rd64(p + 24);
  return "";
}

// ---- HELLO / HELLO_ACK: docs/wire.md §5.1-§5.3 tables ----

Bytes hello_packet(const Hello& h, uint16_t header_version) {
  Bytes b(kHeaderSize + kHelloSize, 0);
  Header hdr;
  hdr.version = header_version;
  hdr.kind = kKindControl;
  hdr.code = kCodeHello;
  hdr.payload_len = kHelloSize;
  put_header(hdr, b.data());
  uint8_t* p = b.data() + kHeaderSize;
  wr16(p + 0, h.layout_version);
  wr16(p + 2, h.flags);
  wr32(p + 4, h.supported);
  wr32(p + 8, h.preferred);
  wr32(p + 12, h.max_request_payload);
  wr32(p + 16, h.max_request_items);
  wr32(p + 20, h.max_response_payload);
  wr32(p + 24, h.max_response_items);
  wr32(p + 28, h.reserved);
  wr64(p + 32, h.auth_token);
  wr32(p + 40, h.packet_size);
  return b;
}

Hello read_hello(const uint8_t* p) {
  Hello h;
  h.layout_version = rd16(p + 0);
  h.flags = rd16(p + 2);
  h.supported = rd32(p + 4);
  h.preferred = rd32(p + 8);
  h.max_request_payload = rd32(p + 12);
  h.max_request_items = rd32(p + 16);
  h.max_response_payload = rd32(p + 20);
  h.max_response_items = rd32(p + 24);
  h.reserved = rd32(p + 28);
  h.auth_token = rd64(p + 32);
  h.packet_size = rd32(p + 40);
  return h;
}

Bytes ack_packet(const HelloAck& a, uint16_t status) {
  Bytes b(kHeaderSize + kAckSize, 0);
  Header hdr;
  hdr.kind = kKindControl;
  hdr.code = kCodeHelloAck;
  hdr.status = status;
  hdr.payload_len = kAckSize;
  put_header(hdr, b.data());
  uint8_t* p = b.data() + kHeaderSize;
  wr16(p + 0, a.layout_version);
  wr16(p + 2, a.flags);
  wr32(p + 4, a.server_supported);
  wr32(p + 8, a.intersection);
  wr32(p + 12, a.selected);
  wr32(p + 16, a.max_request_payload);
  wr32(p + 20, a.max_request_items);
  wr32(p + 24, a.max_response_payload);
  wr32(p + 28, a.max_response_items);
  wr32(p + 32, a.packet_size);
  wr32(p + 36, a.reserved);
  wr64(p + 40, a.session_id);
  return b;
}

HelloAck read_ack(const uint8_t* p) {
  HelloAck a;
  a.layout_version = rd16(p + 0);
  a.flags = rd16(p + 2);
  a.server_supported = rd32(p + 4);
  a.intersection = rd32(p + 8);
  a.selected = rd32(p + 12);
  a.max_request_payload = rd32(p + 16);
  a.max_request_items = rd32(p + 20);
  a.max_response_payload = rd32(p + 24);
  a.max_response_items = rd32(p + 28);
  a.packet_size = rd32(p + 32);
  a.reserved = rd32(p + 36);
  a.session_id = rd64(p + 40);
  return a;
}

namespace {
uint32_t top_bit(uint32_t v) {
  uint32_t bit = 0;
  for (uint32_t m = 1; m != 0; m <<= 1) {
    if ((v & m) != 0) bit = m;
  }
  return bit;
}
}  // namespace

uint16_t negotiate(const Policy& p, const Hello& h, uint64_t session_id, HelloAck* ack) {
  if (h.layout_version != 1) return kStatusIncompatible;
  if (h.reserved != 0) return kCloseSilently;
  const uint32_t common = h.supported & p.supported;
  if (common == 0) return kStatusUnsupported;
  if (h.auth_token != p.auth_token) return kStatusAuthFailed;
  const uint32_t both_prefer = common & h.preferred & p.preferred;
  const uint32_t selected = top_bit(both_prefer != 0 ? both_prefer : common);
  if (h.max_request_payload > p.max_request_payload) return kStatusLimitExceeded;
  const uint32_t packet = h.packet_size < p.packet_size ? h.packet_size : p.packet_size;
  if (packet <= kHeaderSize) return kStatusIncompatible;
  *ack = HelloAck{};
  ack->server_supported = p.supported;
  ack->intersection = common;
  ack->selected = selected;
  ack->max_request_payload = h.max_request_payload;
  ack->max_request_items = h.max_request_items;
  ack->max_response_payload = p.max_response_payload;  // the hint is ignored
  ack->max_response_items = h.max_request_items;
  ack->packet_size = packet;
  ack->session_id = session_id;
  return kStatusOk;
}

// ---- Level-1 batch: docs/wire.md §3 ----

Bytes make_batch(const std::vector<Bytes>& items) {
  const size_t dir = 8 * items.size();
  Bytes b(dir, 0);
  uint64_t end = 0;
  for (size_t k = 0; k < items.size(); ++k) {
    const uint64_t off = round8(end);
    wr32(b.data() + 8 * k, static_cast<uint32_t>(off));
    wr32(b.data() + 8 * k + 4, static_cast<uint32_t>(items[k].size()));
    b.resize(dir + off, 0);
    b.insert(b.end(), items[k].begin(), items[k].end());
    end = off + items[k].size();
  }
  b.resize(dir + round8(end), 0);
  return b;
}

std::string split_batch(const Bytes& payload, uint32_t item_count, std::vector<Bytes>* items) {
  items->clear();
  const uint64_t dir = uint64_t{8} * item_count;
  if (dir > payload.size()) return "batch directory longer than the payload";
  const uint64_t packed = payload.size() - dir;
  for (uint32_t k = 0; k < item_count; ++k) {
    const uint64_t off = rd32(payload.data() + 8 * k);
    const uint64_t len = rd32(payload.data() + 8 * k + 4);
    if (off % 8 != 0) return "batch item offset not 8-aligned";
    if (off + len > packed) return "batch item past the packed area";
    const uint8_t* at = payload.data() + dir + off;
    items->emplace_back(at, at + len);
  }
  return "";
}

// ---- Method payloads: docs/codecs.md §3, §4 ----

Bytes u64_payload(uint64_t v) {
  Bytes b(8);
  wr64(b.data(), v);
  return b;
}

Bytes reverse_payload(std::string_view s) {
  Bytes b(8 + s.size() + 1, 0);
  wr32(b.data(), 8);
  wr32(b.data() + 4, static_cast<uint32_t>(s.size()));
  std::memcpy(b.data() + 8, s.data(), s.size());
  return b;
}

std::string read_reverse(const Bytes& p, std::string* s) {
  if (p.size() < 8) return "STRING_REVERSE payload shorter than 8 bytes";
  if (rd32(p.data()) != 8) return "STRING_REVERSE str_offset is not 8";
  const uint64_t len = rd32(p.data() + 4);
  if (8 + len + 1 > p.size()) return "STRING_REVERSE string past the payload";
  if (p[8 + len] != 0) return "STRING_REVERSE string without NUL";
  s->assign(reinterpret_cast<const char*>(p.data() + 8), len);
  return "";
}

// ---- CGROUPS_SNAPSHOT layout 1: docs/codecs.md §2.2-§2.5 ----

Bytes snapshot_payload(const Snapshot& s) {
  const uint32_t n = static_cast<uint32_t>(s.items.size());
  const size_t packed = 24 + 8 * size_t{n};
  Bytes b(packed, 0);
  wr16(b.data() + 0, 1);
  wr16(b.data() + 2, 0);
  wr32(b.data() + 4, n);
  wr32(b.data() + 8, s.systemd_enabled);
  wr32(b.data() + 12, 0);
  wr64(b.data() + 16, s.generation);
  uint64_t end = 0;
  for (uint32_t k = 0; k < n; ++k) {
    const CgroupEntry& e = s.items[k];
    const uint32_t name_len = static_cast<uint32_t>(e.name.size());
    const uint32_t path_len = static_cast<uint32_t>(e.path.size());
    const uint64_t off = round8(end);
    const uint64_t size = 32 + name_len + 1 + path_len + 1;
    wr32(b.data() + 24 + 8 * k, static_cast<uint32_t>(off));
    wr32(b.data() + 24 + 8 * k + 4, static_cast<uint32_t>(size));
    b.resize(packed + off + size, 0);
    uint8_t* it = b.data() + packed + off;
    wr16(it + 0, 1);
    wr16(it + 2, 0);
    wr32(it + 4, e.hash);
    wr32(it + 8, e.options);
    wr32(it + 12, e.enabled);
    wr32(it + 16, 32);
    wr32(it + 20, name_len);
    wr32(it + 24, 32 + name_len + 1);
    wr32(it + 28, path_len);
    std::memcpy(it + 32, e.name.data(), name_len);
    std::memcpy(it + 32 + name_len + 1, e.path.data(), path_len);
    end = off + size;
  }
  return b;  // no trailing padding (docs/codecs.md §2.3 rule 3)
}

namespace {
std::string read_string(const uint8_t* item, uint64_t item_len, uint32_t off_field,
                        std::string* out, uint64_t* start, uint64_t* stop) {
  const uint64_t off = rd32(item + off_field);
  const uint64_t len = rd32(item + off_field + 4);
  if (off < 32 || off + len + 1 > item_len) return "item string out of bounds";
  if (item[off + len] != 0) return "item string without NUL";
  out->assign(reinterpret_cast<const char*>(item + off), len);
  *start = off;
  *stop = off + len + 1;
  return "";
}
}  // namespace

std::string read_snapshot(const Bytes& p, Snapshot* out) {
  *out = Snapshot{};
  if (p.size() < 24) return "snapshot shorter than its 24-byte header";
  if (rd16(p.data()) != 1 || rd16(p.data() + 2) != 0 || rd32(p.data() + 12) != 0) {
    return "snapshot header layout/flags/reserved";
  }
  const uint32_t n = rd32(p.data() + 4);
  out->systemd_enabled = rd32(p.data() + 8);
  out->generation = rd64(p.data() + 16);
  const uint64_t packed_at = 24 + uint64_t{8} * n;
  if (packed_at > p.size()) return "snapshot directory longer than the payload";
  const uint64_t packed_len = p.size() - packed_at;
  for (uint32_t k = 0; k < n; ++k) {
    const uint64_t off = rd32(p.data() + 24 + 8 * k);
    const uint64_t len = rd32(p.data() + 24 + 8 * k + 4);
    if (off % 8 != 0) return "snapshot item offset not 8-aligned";
    if (off + len > packed_len) return "snapshot item past the packed area";
    if (len < 32) return "snapshot item shorter than 32 bytes";
    const uint8_t* it = p.data() + packed_at + off;
    if (rd16(it) != 1 || rd16(it + 2) != 0) return "snapshot item layout/flags";
    CgroupEntry e;
    e.hash = rd32(it + 4);
    e.options = rd32(it + 8);
    e.enabled = rd32(it + 12);
    uint64_t n0 = 0, n1 = 0, p0 = 0, p1 = 0;
    std::string bad = read_string(it, len, 16, &e.name, &n0, &n1);
    if (bad.empty()) bad = read_string(it, len, 24, &e.path, &p0, &p1);
    if (!bad.empty()) return bad;
    if (n0 < p1 && p0 < n1) return "snapshot item name and path overlap";
    out->items.push_back(std::move(e));
  }
  return "";
}

}  // namespace netipc::spec_peer
