// cgroups-snapshot payload codecs, layout 1 (the NetIPC v1 binary layout that
// Netdata's C/Go/Rust peers speak). Pure bytes, no I/O.
// Normative source: docs/codecs.md §2. Host byte order.
//
// The request's layout_version selects the response encoding: 1 = this
// binary layout, 2 = the protobuf-lite message (codec/cgroups_pb.h).
//
// Lifetimes: views (CgroupsSnapshotView, CgroupItemView, CgroupsSnapshotViews)
// borrow the payload bytes and are valid only while those bytes are. A
// builder borrows its output vector until finish().
// Threads: views are read-only and may be read from several threads at once;
// a builder belongs to one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/cgroup_item.h"
#include "netipc/result.h"

namespace netipc::codec {

inline constexpr uint16_t kCgroupsLayoutBinary = 1;    // NetIPC v1 binary layout
inline constexpr uint16_t kCgroupsLayoutProtobuf = 2;  // netipc.pb.CgroupsSnapshot

// Bit for `layout` in an accepted-layouts mask (0 for layouts that cannot be
// represented, so they are never accepted).
constexpr uint32_t cgroups_layout_bit(uint16_t layout) {
  return layout < 32 ? (uint32_t{1} << layout) : 0;
}
// What upstream peers accept: layout 1 only.
inline constexpr uint32_t kCgroupsLayoutsUpstream = cgroups_layout_bit(kCgroupsLayoutBinary);
// What our server accepts: layouts 1 and 2.
inline constexpr uint32_t kCgroupsLayoutsAll =
    cgroups_layout_bit(kCgroupsLayoutBinary) | cgroups_layout_bit(kCgroupsLayoutProtobuf);

inline constexpr size_t kCgroupsRequestLen = 4;
inline constexpr size_t kSnapshotHeaderLen = 24;
inline constexpr size_t kSnapshotDirEntryLen = 8;
inline constexpr size_t kCgroupItemFixedLen = 32;
// Offsets and lengths are u32 on the wire, and so is the outer payload_len.
inline constexpr uint64_t kCgroupsMaxPayload = UINT32_MAX;

// ---- Request: {u16 layout_version, u16 flags = 0} --------------------------

// Writes exactly 4 bytes.
void encode_cgroups_request(uint16_t layout, uint8_t out[kCgroupsRequestLen]) noexcept;

// Returns the requested layout. Fewer than 4 bytes -> kTruncated; flags != 0
// or a layout whose bit is not in `accepted_layouts_mask` -> kBadLayout.
// Bytes after the first 4 are ignored.
Result<uint16_t> decode_cgroups_request(ByteSpan payload, uint32_t accepted_layouts_mask) noexcept;

// ---- Response builder --------------------------------------------------------

// Writes the canonical layout-1 payload (docs/codecs.md §2.3, byte-exact with upstream)
// into a caller-owned vector that is reused between snapshots: in steady state
// (a payload no larger than the vector's capacity) nothing is allocated.
//
// The directory precedes the items, so the builder needs an upper bound on
// the item count up front; if fewer items are added, finish() moves the item
// area down over the unused directory slots.
class CgroupsSnapshotBuilder {
 public:
  // Starts a snapshot of at most `max_items` items. `max_payload` (clamped
  // to kCgroupsMaxPayload) is the negotiated response ceiling: running out
  // of it or of item slots is kLimitExceeded. `size_hint`, when the exact
  // payload size is known (cgroups_snapshot_v1_size), sizes the vector once.
  static Result<CgroupsSnapshotBuilder> start(std::vector<uint8_t>* out, uint32_t max_items,
                                              uint32_t systemd_enabled, uint64_t generation,
                                              uint64_t max_payload = kCgroupsMaxPayload,
                                              uint64_t size_hint = 0) noexcept;

  // Appends one item (cgroup_id is not part of layout 1). On error nothing
  // is written and the builder stays usable.
  Status add(uint32_t hash, uint32_t options, uint32_t enabled, std::string_view name,
             std::string_view path) noexcept;
  Status add(const CgroupItemView& item) noexcept {
    return add(item.hash, item.options, item.enabled, item.name, item.path);
  }

  // Completes the payload and sets out->size() to its length. The returned
  // span points into *out. After finish() the builder accepts nothing more.
  Result<ByteSpan> finish() noexcept;

  uint32_t added() const { return added_; }

  // Move-only: two copies would write into the same vector.
  CgroupsSnapshotBuilder(CgroupsSnapshotBuilder&&) noexcept = default;
  CgroupsSnapshotBuilder& operator=(CgroupsSnapshotBuilder&&) noexcept = default;
  CgroupsSnapshotBuilder(const CgroupsSnapshotBuilder&) = delete;
  CgroupsSnapshotBuilder& operator=(const CgroupsSnapshotBuilder&) = delete;

  // Byte length of one item: 32 + name + NUL + path + NUL.
  static constexpr uint64_t item_size(uint64_t name_len, uint64_t path_len) {
    return kCgroupItemFixedLen + name_len + 1 + path_len + 1;
  }

 private:
  CgroupsSnapshotBuilder() = default;
  Status ensure_size(uint64_t n) noexcept;

  std::vector<uint8_t>* out_ = nullptr;
  uint32_t max_items_ = 0;
  uint32_t added_ = 0;
  uint64_t packed_start_ = 0;  // 24 + 8 * max_items
  uint64_t end_ = 0;           // bytes written so far
  uint64_t max_payload_ = 0;
  bool finished_ = false;
};

// Exact layout-1 payload size of these items.
uint64_t cgroups_snapshot_v1_size(const std::vector<CgroupItem>& items) noexcept;

// Encodes a whole snapshot: one size computation, at most one resize of *out,
// one memcpy per string. kLimitExceeded if it would exceed max_payload.
Status encode_cgroups_snapshot_v1(const std::vector<CgroupItem>& items, uint32_t systemd_enabled,
                                  uint64_t generation, std::vector<uint8_t>* out,
                                  uint64_t max_payload = kCgroupsMaxPayload) noexcept;

// ---- Response view -----------------------------------------------------------

// A zero-copy, validating view of a layout-1 payload. parse() checks the
// header and every directory entry (docs/codecs.md §2.4); item(i) checks item i
// (docs/codecs.md §2.5) each time it is called. cgroup_id is always 0 in layout 1.
class CgroupsSnapshotView {
 public:
  // kTruncated: shorter than 24 bytes, or a directory entry shorter than 32.
  // kBadLayout: header layout_version != 1, flags != 0 or reserved != 0.
  // kBadItemCount: the directory does not fit in the payload.
  // kBadAlignment: a directory offset is not a multiple of 8.
  // kOutOfBounds: a directory entry reaches past the packed area.
  static Result<CgroupsSnapshotView> parse(ByteSpan payload) noexcept;

  uint64_t generation() const { return generation_; }
  uint32_t systemd_enabled() const { return systemd_enabled_; }
  uint32_t size() const { return count_; }

  // kInvalidArgument: i >= size().
  // kBadLayout: item layout_version != 1, flags != 0, or name and path
  //   (each including its NUL) overlap.
  // kOutOfBounds: a string offset < 32 or a string (with NUL) past the item.
  // kMissingNul: the byte after a string is not 0.
  Result<CgroupItemView> item(uint32_t i) const noexcept;

  // Checks every item; the first failure is returned.
  Status validate_all() const noexcept;

 private:
  ByteSpan payload_;
  uint32_t count_ = 0;
  uint32_t systemd_enabled_ = 0;
  uint64_t generation_ = 0;
};

// ---- Decoded snapshot, either layout -------------------------------------------

// A decoded snapshot whose item strings borrow the payload. Reuse one across
// refreshes: decoding clears `items` but keeps its capacity.
struct CgroupsSnapshotViews {
  uint64_t generation = 0;
  uint32_t systemd_enabled = 0;
  std::vector<CgroupItemView> items;
};

// Parses and validates every item (any item failure fails the whole decode;
// *out is then left empty).
Status decode_cgroups_snapshot_v1(ByteSpan payload, CgroupsSnapshotViews* out) noexcept;

// Layout dispatch: 1 -> layout 1, 2 -> layout 2 (codec/cgroups_pb.h); any
// other layout -> kBadLayout.
Status encode_cgroups_snapshot(uint16_t layout, const std::vector<CgroupItem>& items,
                               uint32_t systemd_enabled, uint64_t generation,
                               std::vector<uint8_t>* out,
                               uint64_t max_payload = kCgroupsMaxPayload) noexcept;
Status decode_cgroups_snapshot(uint16_t layout, ByteSpan payload,
                               CgroupsSnapshotViews* out) noexcept;

}  // namespace netipc::codec
