#include "netipc/codec/cgroups_pb.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>

#include "base/large_buffer.h"

// Field numbers and wire types of netipc/proto/netipc/cgroups_snapshot.proto.
// They are the wire contract: a change there must be mirrored here (the
// tests compare against the generated classes and would catch a mismatch).
namespace netipc::codec {

namespace {

enum WireType : uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

constexpr uint32_t make_tag(uint32_t field, WireType wt) {
  return (field << 3) | wt;
}

// CgroupsSnapshot
constexpr uint32_t kSnapGeneration = 1;
constexpr uint32_t kSnapSystemdEnabled = 2;
constexpr uint32_t kSnapItems = 3;
// CgroupItem
constexpr uint32_t kItemHash = 1;
constexpr uint32_t kItemOptions = 2;
constexpr uint32_t kItemEnabled = 3;
constexpr uint32_t kItemName = 4;
constexpr uint32_t kItemPath = 5;
constexpr uint32_t kItemCgroupId = 6;

// protobuf's default recursion limit (io::CodedInputStream).
constexpr int kMaxDepth = 100;

// ---- Encoding ----------------------------------------------------------------

constexpr uint64_t varint_size(uint64_t v) {
  // 1 + floor(bit_width(v | 1) - 1) / 7)
  return (64 - static_cast<uint64_t>(__builtin_clzll(v | 1)) + 6) / 7;
}

// Size of an optional scalar field: omitted when zero (proto3).
constexpr uint64_t scalar_field_size(uint64_t v) {
  return v == 0 ? 0 : 1 + varint_size(v);
}
constexpr uint64_t bytes_field_size(uint64_t len) {
  return len == 0 ? 0 : 1 + varint_size(len) + len;
}

uint64_t item_body_size(const CgroupItem& it) {
  return scalar_field_size(it.hash) + scalar_field_size(it.options) +
         scalar_field_size(it.enabled) + bytes_field_size(it.name.size()) +
         bytes_field_size(it.path.size()) + scalar_field_size(it.cgroup_id);
}

inline uint8_t* put_varint(uint8_t* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

// All our tags fit in one byte (field numbers < 16).
inline uint8_t* put_scalar(uint8_t* p, uint32_t field, uint64_t v) {
  if (v == 0) return p;
  *p++ = static_cast<uint8_t>(make_tag(field, kVarint));
  return put_varint(p, v);
}

inline uint8_t* put_bytes(uint8_t* p, uint32_t field, const std::string& s) {
  if (s.empty()) return p;
  *p++ = static_cast<uint8_t>(make_tag(field, kLengthDelimited));
  p = put_varint(p, s.size());
  // NOLINTNEXTLINE(bugprone-not-null-terminated-result): protobuf bytes have no terminator
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// ---- Decoding ----------------------------------------------------------------

// A bounded reader over one message (the top level or one nested item).
// Every read checks `end`; nothing is read past it.
struct Reader {
  const uint8_t* p;
  const uint8_t* end;

  bool done() const { return p >= end; }

  // Up to 10 bytes; bits past 64 are dropped, as protobuf does.
  Errc varint(uint64_t* out) {
    uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      if (p == end) return Errc::kTruncated;
      const uint8_t b = *p++;
      v |= uint64_t{b & 0x7Fu} << (7 * i);
      if (b < 0x80) {
        *out = v;
        return Errc::kOk;
      }
    }
    return Errc::kProtocol;
  }

  // Up to 5 bytes, truncated to 32 bits.
  Errc tag(uint32_t* out) {
    if (p != end && *p < 0x80) {  // every tag we know is one byte
      *out = *p++;
      return Errc::kOk;
    }
    uint64_t v = 0;
    for (int i = 0; i < 5; ++i) {
      if (p == end) return Errc::kTruncated;
      const uint8_t b = *p++;
      v |= uint64_t{b & 0x7Fu} << (7 * i);
      if (b < 0x80) {
        *out = static_cast<uint32_t>(v);
        return Errc::kOk;
      }
    }
    return Errc::kProtocol;
  }

  // A length prefix: up to 5 bytes, below 2 GiB - 16, and within `end`.
  Errc length(uint64_t* out) {
    if (p != end && *p < 0x80) {
      *out = *p++;
    } else {
      uint64_t v = 0;
      int i = 0;
      for (;; ++i) {
        if (p == end) return Errc::kTruncated;
        const uint8_t b = *p++;
        if (i == 4) {
          if (b >= 8) return Errc::kProtocol;
          v |= uint64_t{b} << 28;
          break;
        }
        v |= uint64_t{b & 0x7Fu} << (7 * i);
        if (b < 0x80) break;
      }
      if (v > INT_MAX - 16) return Errc::kProtocol;
      *out = v;
    }
    if (*out > static_cast<uint64_t>(end - p)) return Errc::kTruncated;
    return Errc::kOk;
  }

  Errc skip(uint64_t n) {
    if (n > static_cast<uint64_t>(end - p)) return Errc::kTruncated;
    p += n;
    return Errc::kOk;
  }
};

Status fail(Errc code, const char* what) {
  return make_error(code, what);
}

#define NETIPC_PB_CHECK(expr, what)                                       \
  do {                                                                    \
    const Errc netipc_pb_errc_ = (expr);                                  \
    if (netipc_pb_errc_ != Errc::kOk) return fail(netipc_pb_errc_, what); \
  } while (0)

// Skips one unknown field whose tag was just read. Groups recurse, each
// level costing one unit of `depth` like protobuf's ParseGroup.
Status skip_field(Reader* r, uint32_t tag, int depth) {
  const uint32_t field = tag >> 3;
  if (field == 0) return fail(Errc::kProtocol, "protobuf field number 0");
  uint64_t v = 0;
  switch (tag & 7) {
    case kVarint:
      NETIPC_PB_CHECK(r->varint(&v), "protobuf varint");
      return ok_status();
    case kFixed64:
      NETIPC_PB_CHECK(r->skip(8), "protobuf fixed64");
      return ok_status();
    case kLengthDelimited:
      NETIPC_PB_CHECK(r->length(&v), "protobuf length");
      r->p += v;
      return ok_status();
    case kFixed32:
      NETIPC_PB_CHECK(r->skip(4), "protobuf fixed32");
      return ok_status();
    case kStartGroup: {
      if (--depth < 0) return fail(Errc::kProtocol, "protobuf nesting too deep");
      while (!r->done()) {
        uint32_t inner = 0;
        NETIPC_PB_CHECK(r->tag(&inner), "protobuf tag");
        if ((inner & 7) == kEndGroup) {
          if ((inner >> 3) != field) return fail(Errc::kProtocol, "protobuf end group mismatch");
          return ok_status();
        }
        if (inner == 0) return fail(Errc::kProtocol, "protobuf tag 0");
        NETIPC_RETURN_IF_ERROR(skip_field(r, inner, depth));
      }
      return fail(Errc::kTruncated, "protobuf group");
    }
    default:  // an end group without a start, or wire types 6 and 7
      return fail(Errc::kProtocol, "protobuf wire type");
  }
}

Status parse_item(Reader r, int depth, CgroupItemView* out) {
  *out = CgroupItemView{};
  while (!r.done()) {
    uint32_t tag = 0;
    uint64_t v = 0;
    NETIPC_PB_CHECK(r.tag(&tag), "cgroup item tag");
    switch (tag) {
      case make_tag(kItemHash, kVarint):
        NETIPC_PB_CHECK(r.varint(&v), "cgroup item hash");
        out->hash = static_cast<uint32_t>(v);
        break;
      case make_tag(kItemOptions, kVarint):
        NETIPC_PB_CHECK(r.varint(&v), "cgroup item options");
        out->options = static_cast<uint32_t>(v);
        break;
      case make_tag(kItemEnabled, kVarint):
        NETIPC_PB_CHECK(r.varint(&v), "cgroup item enabled");
        out->enabled = static_cast<uint32_t>(v);
        break;
      case make_tag(kItemName, kLengthDelimited):
        NETIPC_PB_CHECK(r.length(&v), "cgroup item name");
        out->name = std::string_view(reinterpret_cast<const char*>(r.p), v);
        r.p += v;
        break;
      case make_tag(kItemPath, kLengthDelimited):
        NETIPC_PB_CHECK(r.length(&v), "cgroup item path");
        out->path = std::string_view(reinterpret_cast<const char*>(r.p), v);
        r.p += v;
        break;
      case make_tag(kItemCgroupId, kVarint):
        NETIPC_PB_CHECK(r.varint(&v), "cgroup item cgroup_id");
        out->cgroup_id = v;
        break;
      default:
        NETIPC_RETURN_IF_ERROR(skip_field(&r, tag, depth));
        break;
    }
  }
  return ok_status();
}

// The number of top-level item fields, counted by skipping over every
// field once; stops at the first malformed one (parse_snapshot reports it).
// Lets the decode size its item array in one allocation instead of
// growing it by doubling (each step a copy and fresh pages to fault in).
size_t count_items(ByteSpan payload) {
  Reader r{payload.data, payload.data + payload.size};
  size_t n = 0;
  while (!r.done()) {
    uint32_t tag = 0;
    if (r.tag(&tag) != Errc::kOk) break;
    if (tag == make_tag(kSnapItems, kLengthDelimited)) ++n;
    if (!skip_field(&r, tag, kMaxDepth).ok()) break;
  }
  return n;
}

Status parse_snapshot(ByteSpan payload, CgroupsSnapshotViews* out) {
  // A first decode counts the items to allocate the array once. A reused
  // array (every steady decode into the same views) keeps its capacity and
  // is resident already: no counting pass, no pre-fault; it grows by
  // doubling only when the snapshot outgrew it.
  if (out->items.capacity() == 0) {
    out->items.reserve(count_items(payload));
    prefault_large_array(out->items.data(), out->items.capacity() * sizeof(CgroupItemView));
  }
  Reader r{payload.data, payload.data + payload.size};
  while (!r.done()) {
    uint32_t tag = 0;
    uint64_t v = 0;
    NETIPC_PB_CHECK(r.tag(&tag), "cgroups snapshot tag");
    switch (tag) {
      case make_tag(kSnapGeneration, kVarint):
        NETIPC_PB_CHECK(r.varint(&v), "cgroups snapshot generation");
        out->generation = v;
        break;
      case make_tag(kSnapSystemdEnabled, kVarint):
        NETIPC_PB_CHECK(r.varint(&v), "cgroups snapshot systemd_enabled");
        out->systemd_enabled = static_cast<uint32_t>(v);
        break;
      case make_tag(kSnapItems, kLengthDelimited): {
        NETIPC_PB_CHECK(r.length(&v), "cgroups snapshot item length");
        CgroupItemView item;
        NETIPC_RETURN_IF_ERROR(parse_item(Reader{r.p, r.p + v}, kMaxDepth - 1, &item));
        out->items.push_back(item);
        r.p += v;
        break;
      }
      default:
        NETIPC_RETURN_IF_ERROR(skip_field(&r, tag, kMaxDepth));
        break;
    }
  }
  return ok_status();
}

}  // namespace

// ---- Public API ----------------------------------------------------------------

uint64_t cgroups_snapshot_v2_size(const std::vector<CgroupItem>& items, uint32_t systemd_enabled,
                                  uint64_t generation) noexcept {
  uint64_t total = scalar_field_size(generation) + scalar_field_size(systemd_enabled);
  for (const CgroupItem& it : items) {
    const uint64_t body = item_body_size(it);
    total += 1 + varint_size(body) + body;
  }
  return total;
}

Status encode_cgroups_snapshot_v2(const std::vector<CgroupItem>& items, uint32_t systemd_enabled,
                                  uint64_t generation, std::vector<uint8_t>* out,
                                  uint64_t max_payload) noexcept {
  if (out == nullptr) return make_error(Errc::kInvalidArgument, "cgroups snapshot v2 encode");
  const uint64_t total = cgroups_snapshot_v2_size(items, systemd_enabled, generation);
  if (total > std::min({max_payload, kCgroupsMaxPayload, kProtobufMaxMessage})) {
    return make_error(Errc::kLimitExceeded, "cgroups snapshot v2 bytes");
  }
  try {
    out->resize(static_cast<size_t>(total));  // every byte is written below
  } catch (const std::exception&) {
    return make_error(Errc::kNoMemory, "cgroups snapshot v2 encode");
  }
  uint8_t* p = out->data();
  p = put_scalar(p, kSnapGeneration, generation);
  p = put_scalar(p, kSnapSystemdEnabled, systemd_enabled);
  for (const CgroupItem& it : items) {
    *p++ = static_cast<uint8_t>(make_tag(kSnapItems, kLengthDelimited));
    p = put_varint(p, item_body_size(it));
    p = put_scalar(p, kItemHash, it.hash);
    p = put_scalar(p, kItemOptions, it.options);
    p = put_scalar(p, kItemEnabled, it.enabled);
    p = put_bytes(p, kItemName, it.name);
    p = put_bytes(p, kItemPath, it.path);
    p = put_scalar(p, kItemCgroupId, it.cgroup_id);
  }
  if (p != out->data() + total) {  // the size pass and the write pass disagree
    return make_error(Errc::kInternalError, "cgroups snapshot v2 encode size");
  }
  return ok_status();
}

Status decode_cgroups_snapshot_v2(ByteSpan payload, CgroupsSnapshotViews* out) noexcept {
  if (out == nullptr) return make_error(Errc::kInvalidArgument, "cgroups snapshot v2 decode");
  out->generation = 0;
  out->systemd_enabled = 0;
  out->items.clear();
  Status s;
  try {
    s = parse_snapshot(payload, out);
  } catch (const std::exception&) {
    s = make_error(Errc::kNoMemory, "cgroups snapshot v2 decode");
  }
  if (!s.ok()) {
    out->generation = 0;
    out->systemd_enabled = 0;
    out->items.clear();
  }
  return s;
}

Status decode_cgroups_snapshot_v2(ByteSpan payload, uint32_t* systemd_enabled, uint64_t* generation,
                                  std::vector<CgroupItem>* items) noexcept {
  if (systemd_enabled == nullptr || generation == nullptr || items == nullptr) {
    return make_error(Errc::kInvalidArgument, "cgroups snapshot v2 decode");
  }
  items->clear();
  try {
    CgroupsSnapshotViews views;
    NETIPC_RETURN_IF_ERROR(decode_cgroups_snapshot_v2(payload, &views));
    items->reserve(views.items.size());
    for (const CgroupItemView& v : views.items)
      items->push_back(v.to_owned());
    *systemd_enabled = views.systemd_enabled;
    *generation = views.generation;
  } catch (const std::exception&) {
    items->clear();
    return make_error(Errc::kNoMemory, "cgroups snapshot v2 decode");
  }
  return ok_status();
}

}  // namespace netipc::codec
