#include "netipc/codec/cgroups.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include "base/large_buffer.h"
#include "netipc/codec/cgroups_pb.h"

namespace netipc::codec {

namespace {

constexpr uint16_t kLayout = kCgroupsLayoutBinary;

// Validated directory entry i of a payload whose directory was checked.
struct Entry {
  uint64_t offset;  // from the start of the packed area
  uint64_t length;
};

// docs/codecs.md §2.4 rule 4, shared by parse() and item().
Status check_entry(const Entry& e, uint64_t packed_len) noexcept {
  if (e.offset % 8 != 0) return make_error(Errc::kBadAlignment, "cgroups snapshot directory");
  if (e.offset + e.length > packed_len) {
    return make_error(Errc::kOutOfBounds, "cgroups snapshot directory");
  }
  if (e.length < kCgroupItemFixedLen) {
    return make_error(Errc::kTruncated, "cgroups snapshot directory");
  }
  return ok_status();
}

// docs/codecs.md §2.5 rules 3 and 4 for one string field; 64-bit arithmetic throughout.
Status check_string(const uint8_t* item, uint64_t item_len, uint64_t off, uint64_t len,
                    const char* what) noexcept {
  if (off < kCgroupItemFixedLen || off + len + 1 > item_len) {
    return make_error(Errc::kOutOfBounds, what);
  }
  if (item[off + len] != 0) return make_error(Errc::kMissingNul, what);
  return ok_status();
}

}  // namespace

// ---- Request -------------------------------------------------------------------

void encode_cgroups_request(uint16_t layout, uint8_t out[kCgroupsRequestLen]) noexcept {
  store_u16(out, layout);
  store_u16(out + 2, 0);
}

Result<uint16_t> decode_cgroups_request(ByteSpan payload, uint32_t accepted_layouts_mask) noexcept {
  if (payload.size < kCgroupsRequestLen) {
    return make_error(Errc::kTruncated, "cgroups snapshot request");
  }
  const uint16_t layout = load_u16(payload.data);
  const uint16_t flags = load_u16(payload.data + 2);
  if (flags != 0 || (cgroups_layout_bit(layout) & accepted_layouts_mask) == 0) {
    return make_error(Errc::kBadLayout, "cgroups snapshot request");
  }
  return layout;
}

// ---- Builder -------------------------------------------------------------------

Result<CgroupsSnapshotBuilder> CgroupsSnapshotBuilder::start(
    std::vector<uint8_t>* out, uint32_t max_items, uint32_t systemd_enabled, uint64_t generation,
    uint64_t max_payload, uint64_t size_hint) noexcept {
  if (out == nullptr) return make_error(Errc::kInvalidArgument, "cgroups snapshot builder");
  CgroupsSnapshotBuilder b;
  b.out_ = out;
  b.max_items_ = max_items;
  b.max_payload_ = std::min(max_payload, kCgroupsMaxPayload);
  b.packed_start_ = kSnapshotHeaderLen + kSnapshotDirEntryLen * uint64_t{max_items};
  if (b.packed_start_ > b.max_payload_) {
    return make_error(Errc::kLimitExceeded, "cgroups snapshot directory");
  }
  // The vector is not cleared: every byte of the payload is written
  // explicitly, so reusing it costs no memset of old contents.
  try {
    if (size_hint > out->size() && size_hint <= b.max_payload_) {
      out->resize(static_cast<size_t>(size_hint));
    }
  } catch (const std::exception&) {
    return make_error(Errc::kNoMemory, "cgroups snapshot builder");
  }
  NETIPC_RETURN_IF_ERROR(b.ensure_size(b.packed_start_));
  uint8_t* h = out->data();
  store_u16(h, kLayout);
  store_u16(h + 2, 0);
  store_u32(h + 4, max_items);
  store_u32(h + 8, systemd_enabled);
  store_u32(h + 12, 0);
  store_u64(h + 16, generation);
  b.end_ = b.packed_start_;
  return b;
}

Status CgroupsSnapshotBuilder::ensure_size(uint64_t n) noexcept {
  const size_t size = out_->size();
  if (n <= size) return ok_status();
  // Grow geometrically, but within the existing capacity whenever that is
  // enough, so a reused vector never reallocates.
  uint64_t target = std::max<uint64_t>(n, uint64_t{size} + size / 2 + 4096);
  if (n <= out_->capacity()) target = std::min<uint64_t>(target, out_->capacity());
  try {
    out_->resize(static_cast<size_t>(target));
  } catch (const std::exception&) {
    return make_error(Errc::kNoMemory, "cgroups snapshot builder");
  }
  return ok_status();
}

Status CgroupsSnapshotBuilder::add(uint32_t hash, uint32_t options, uint32_t enabled,
                                   std::string_view name, std::string_view path) noexcept {
  if (finished_) return make_error(Errc::kInvalidArgument, "cgroups snapshot builder finished");
  if (added_ >= max_items_) return make_error(Errc::kLimitExceeded, "cgroups snapshot items");
  const uint64_t size = item_size(name.size(), path.size());
  const uint64_t start = packed_start_ + align8(end_ - packed_start_);
  const uint64_t end = start + size;
  if (end > max_payload_) return make_error(Errc::kLimitExceeded, "cgroups snapshot bytes");
  if (end > out_->size()) NETIPC_RETURN_IF_ERROR(ensure_size(end));

  uint8_t* base = out_->data();
  // Zero the alignment gap (< 8 bytes) with one store; the item's fixed
  // part overwrites whatever lands past it.
  if (start > end_) store_u64(base + end_, 0);
  uint8_t* item = base + start;
  const uint32_t name_len = static_cast<uint32_t>(name.size());
  const uint32_t path_len = static_cast<uint32_t>(path.size());
  const uint32_t path_off = static_cast<uint32_t>(kCgroupItemFixedLen) + name_len + 1;
  store_u16(item, kLayout);
  store_u16(item + 2, 0);
  store_u32(item + 4, hash);
  store_u32(item + 8, options);
  store_u32(item + 12, enabled);
  store_u32(item + 16, static_cast<uint32_t>(kCgroupItemFixedLen));
  store_u32(item + 20, name_len);
  store_u32(item + 24, path_off);
  store_u32(item + 28, path_len);
  if (name_len != 0) std::memcpy(item + kCgroupItemFixedLen, name.data(), name_len);
  item[kCgroupItemFixedLen + name_len] = 0;
  if (path_len != 0) std::memcpy(item + path_off, path.data(), path_len);
  item[path_off + path_len] = 0;

  uint8_t* entry = base + kSnapshotHeaderLen + kSnapshotDirEntryLen * added_;
  store_u32(entry, static_cast<uint32_t>(start - packed_start_));
  store_u32(entry + 4, static_cast<uint32_t>(size));
  ++added_;
  end_ = end;
  return ok_status();
}

Result<ByteSpan> CgroupsSnapshotBuilder::finish() noexcept {
  if (finished_) return make_error(Errc::kInvalidArgument, "cgroups snapshot builder finished");
  finished_ = true;
  uint8_t* base = out_->data();
  if (added_ < max_items_) {
    // Directory offsets are relative to the packed area, so moving the whole
    // area down keeps them valid.
    const uint64_t packed_start = kSnapshotHeaderLen + kSnapshotDirEntryLen * uint64_t{added_};
    const uint64_t packed_len = end_ - packed_start_;
    if (packed_len != 0) std::memmove(base + packed_start, base + packed_start_, packed_len);
    store_u32(base + 4, added_);
    end_ = packed_start + packed_len;
  }
  out_->resize(static_cast<size_t>(end_));  // shrinking never allocates
  return ByteSpan(out_->data(), out_->size());
}

uint64_t cgroups_snapshot_v1_size(const std::vector<CgroupItem>& items) noexcept {
  uint64_t packed = 0;
  for (const CgroupItem& it : items) {
    packed = align8(packed) + CgroupsSnapshotBuilder::item_size(it.name.size(), it.path.size());
  }
  return kSnapshotHeaderLen + kSnapshotDirEntryLen * uint64_t{items.size()} + packed;
}

Status encode_cgroups_snapshot_v1(const std::vector<CgroupItem>& items, uint32_t systemd_enabled,
                                  uint64_t generation, std::vector<uint8_t>* out,
                                  uint64_t max_payload) noexcept {
  if (items.size() > UINT32_MAX) return make_error(Errc::kLimitExceeded, "cgroups snapshot items");
  const uint64_t total = cgroups_snapshot_v1_size(items);
  if (total > std::min(max_payload, kCgroupsMaxPayload)) {
    return make_error(Errc::kLimitExceeded, "cgroups snapshot bytes");
  }
  auto b = CgroupsSnapshotBuilder::start(out, static_cast<uint32_t>(items.size()), systemd_enabled,
                                         generation, max_payload, total);
  if (!b.ok()) return b.error();
  for (const CgroupItem& it : items) {
    NETIPC_RETURN_IF_ERROR(b->add(it.hash, it.options, it.enabled, it.name, it.path));
  }
  auto done = b->finish();
  if (!done.ok()) return done.error();
  return ok_status();
}

// ---- View ----------------------------------------------------------------------

Result<CgroupsSnapshotView> CgroupsSnapshotView::parse(ByteSpan payload) noexcept {
  if (payload.size < kSnapshotHeaderLen) {
    return make_error(Errc::kTruncated, "cgroups snapshot header");
  }
  const uint8_t* p = payload.data;
  if (load_u16(p) != kLayout || load_u16(p + 2) != 0 || load_u32(p + 12) != 0) {
    return make_error(Errc::kBadLayout, "cgroups snapshot header");
  }
  const uint32_t count = load_u32(p + 4);
  const uint64_t packed_start = kSnapshotHeaderLen + kSnapshotDirEntryLen * uint64_t{count};
  if (packed_start > payload.size) {
    return make_error(Errc::kBadItemCount, "cgroups snapshot directory");
  }
  const uint64_t packed_len = payload.size - packed_start;
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* e = p + kSnapshotHeaderLen + kSnapshotDirEntryLen * i;
    NETIPC_RETURN_IF_ERROR(check_entry(Entry{load_u32(e), load_u32(e + 4)}, packed_len));
  }
  CgroupsSnapshotView v;
  v.payload_ = payload;
  v.count_ = count;
  v.systemd_enabled_ = load_u32(p + 8);
  v.generation_ = load_u64(p + 16);
  return v;
}

Result<CgroupItemView> CgroupsSnapshotView::item(uint32_t i) const noexcept {
  if (i >= count_) return make_error(Errc::kInvalidArgument, "cgroups snapshot item index");
  const uint64_t packed_start = kSnapshotHeaderLen + kSnapshotDirEntryLen * uint64_t{count_};
  const uint8_t* e = payload_.data + kSnapshotHeaderLen + kSnapshotDirEntryLen * i;
  const Entry entry{load_u32(e), load_u32(e + 4)};
  NETIPC_RETURN_IF_ERROR(check_entry(entry, payload_.size - packed_start));

  const uint8_t* item = payload_.data + packed_start + entry.offset;
  if (load_u16(item) != kLayout || load_u16(item + 2) != 0) {
    return make_error(Errc::kBadLayout, "cgroups snapshot item");
  }
  const uint64_t name_off = load_u32(item + 16);
  const uint64_t name_len = load_u32(item + 20);
  const uint64_t path_off = load_u32(item + 24);
  const uint64_t path_len = load_u32(item + 28);
  NETIPC_RETURN_IF_ERROR(check_string(item, entry.length, name_off, name_len, "cgroup item name"));
  NETIPC_RETURN_IF_ERROR(check_string(item, entry.length, path_off, path_len, "cgroup item path"));
  // Both ranges include the NUL, so sharing only a terminator is an overlap.
  const uint64_t name_end = name_off + name_len + 1;
  const uint64_t path_end = path_off + path_len + 1;
  if (name_off < path_end && path_off < name_end) {
    return make_error(Errc::kBadLayout, "cgroup item name/path overlap");
  }
  CgroupItemView v;
  v.hash = load_u32(item + 4);
  v.options = load_u32(item + 8);
  v.enabled = load_u32(item + 12);
  v.name = std::string_view(reinterpret_cast<const char*>(item + name_off), name_len);
  v.path = std::string_view(reinterpret_cast<const char*>(item + path_off), path_len);
  v.cgroup_id = 0;
  return v;
}

Status CgroupsSnapshotView::validate_all() const noexcept {
  for (uint32_t i = 0; i < count_; ++i) {
    auto it = item(i);
    if (!it.ok()) return it.error();
  }
  return ok_status();
}

// ---- Decoded snapshot, either layout -------------------------------------------

Status decode_cgroups_snapshot_v1(ByteSpan payload, CgroupsSnapshotViews* out) noexcept {
  if (out == nullptr) return make_error(Errc::kInvalidArgument, "cgroups snapshot decode");
  out->items.clear();
  auto view = CgroupsSnapshotView::parse(payload);
  if (!view.ok()) return view.error();
  const CgroupItemView* before = out->items.data();
  try {
    out->items.reserve(view->size());
  } catch (const std::exception&) {
    return make_error(Errc::kNoMemory, "cgroups snapshot decode");
  }
  // Only a new array has pages to fault in; a reused one (every steady
  // decode into the same views) is resident already.
  if (out->items.data() != before) {
    prefault_large_array(out->items.data(), out->items.capacity() * sizeof(CgroupItemView));
  }
  for (uint32_t i = 0; i < view->size(); ++i) {
    auto it = view->item(i);
    if (!it.ok()) {
      out->items.clear();
      return it.error();
    }
    out->items.push_back(*it);  // within the reserved capacity
  }
  out->generation = view->generation();
  out->systemd_enabled = view->systemd_enabled();
  return ok_status();
}

Status encode_cgroups_snapshot(uint16_t layout, const std::vector<CgroupItem>& items,
                               uint32_t systemd_enabled, uint64_t generation,
                               std::vector<uint8_t>* out, uint64_t max_payload) noexcept {
  switch (layout) {
    case kCgroupsLayoutBinary:
      return encode_cgroups_snapshot_v1(items, systemd_enabled, generation, out, max_payload);
    case kCgroupsLayoutProtobuf:
      return encode_cgroups_snapshot_v2(items, systemd_enabled, generation, out, max_payload);
    default:
      return make_error(Errc::kBadLayout, "cgroups snapshot layout");
  }
}

Status decode_cgroups_snapshot(uint16_t layout, ByteSpan payload,
                               CgroupsSnapshotViews* out) noexcept {
  switch (layout) {
    case kCgroupsLayoutBinary:
      return decode_cgroups_snapshot_v1(payload, out);
    case kCgroupsLayoutProtobuf:
      return decode_cgroups_snapshot_v2(payload, out);
    default:
      return make_error(Errc::kBadLayout, "cgroups snapshot layout");
  }
}

}  // namespace netipc::codec
