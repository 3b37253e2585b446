#include "netipc/snapshot.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace netipc {
namespace {

std::atomic<uint64_t> g_live_snapshots{0};

// Longest probe an insertion may need before the builder decides the
// producer's hashes are degenerate and switches to name-keyed buckets. With
// the table at most half full, an honest set of 10^6 FNV-1a hashes stays far
// below this.
constexpr size_t kMaxProbeBeforeNameKeyed = 128;

uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint32_t load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Byte equality of two equally long strings without a call into memcmp for
// the short names this cache holds; overlapping word loads never read past
// either string.
inline bool same_bytes(const char* a, const char* b, size_t n) noexcept {
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      if (load64(a + i) != load64(b + i)) return false;
    }
    return i == n || load64(a + n - 8) == load64(b + n - 8);
  }
  if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

inline bool same_name(const CgroupItemView* v, std::string_view name) noexcept {
  return v->name.size() == name.size() && same_bytes(v->name.data(), name.data(), name.size());
}

// Seeded 64-bit hash of a name, used only in name-keyed mode.
uint64_t name_hash(std::string_view s, uint64_t seed) noexcept {
  constexpr uint64_t kMul = 0xC2B2AE3D27D4EB4Full;
  uint64_t h = seed ^ (s.size() * 0x9E3779B97F4A7C15ull);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    h = (h ^ load64(s.data() + i)) * kMul;
    h ^= h >> 29;
  }
  for (; i < s.size(); ++i) {
    h = (h ^ static_cast<uint8_t>(s[i])) * kMul;
  }
  h ^= h >> 32;
  h *= kMul;
  return h ^ (h >> 29);
}

uint64_t new_seed() noexcept {
  static std::atomic<uint64_t> counter{0};
  uint64_t t = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  uint64_t x = t ^ (counter.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed) +
                    reinterpret_cast<uintptr_t>(&counter));
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  return x;
}

constexpr size_t align_up(size_t x, size_t a) {
  return (x + a - 1) & ~(a - 1);
}

size_t record_size(size_t name_len, size_t path_len) {
  return align_up(sizeof(CgroupItemView) + name_len + 1 + path_len + 1, 8);
}

}  // namespace

// ---------------------------------------------------------------------------
// Snapshot

Snapshot::Snapshot() noexcept {
  g_live_snapshots.fetch_add(1, std::memory_order_relaxed);
}

Snapshot::~Snapshot() {
  std::free(slots_);
  std::free(refs_);
  std::free(arena_);
  g_live_snapshots.fetch_sub(1, std::memory_order_relaxed);
}

uint64_t Snapshot::live_instances() noexcept {
  return g_live_snapshots.load(std::memory_order_relaxed);
}

const CgroupItemView& Snapshot::item(size_t i) const noexcept {
  return *record(refs_[i]);
}

uint64_t Snapshot::key_of(uint32_t hash, std::string_view name) const noexcept {
  return name_keyed_ ? hash ^ name_hash(name, seed_) : hash;
}

const CgroupItemView* Snapshot::find(uint32_t hash, std::string_view name) const noexcept {
  if (slots_ == nullptr) return find_linear(hash, name);
  size_t b = bucket_of(name_keyed_ ? key_of(hash, name) : hash);
  for (;;) {
    const Slot s = slots_[b];
    if (s.ref == kEmptyRef) return nullptr;
    if (s.hash == hash) {
      const CgroupItemView* v = record(s.ref);
      if (same_name(v, name)) return v;
    }
    b = (b + 1) & slot_mask_;
  }
}

const CgroupItemView* Snapshot::find_linear(uint32_t hash, std::string_view name) const noexcept {
  for (size_t i = 0; i < item_count_; ++i) {
    const CgroupItemView* v = record(refs_[i]);
    if (v->hash == hash && same_name(v, name)) return v;
  }
  return nullptr;
}

bool Snapshot::owns(const CgroupItemView* view) const noexcept {
  const auto p = reinterpret_cast<uintptr_t>(view);
  const auto lo = reinterpret_cast<uintptr_t>(arena_);
  if (arena_ == nullptr || p < lo || p >= lo + arena_bytes_) return false;
  if ((p - lo) % kRecordAlign != 0) return false;
  // Records are laid out in item order, so refs_ is strictly increasing.
  const auto ref = static_cast<uint32_t>((p - lo) / kRecordAlign);
  return std::binary_search(refs_, refs_ + item_count_, ref);
}

size_t Snapshot::memory_bytes() const noexcept {
  size_t slots = slots_ != nullptr ? (slot_mask_ + 1) * sizeof(Slot) : 0;
  return sizeof(Snapshot) + arena_bytes_ + item_count_ * sizeof(uint32_t) + slots;
}

// ---------------------------------------------------------------------------
// SnapshotBuilder

SnapshotBuilder::SnapshotBuilder() noexcept : SnapshotBuilder(Options{}) {}
SnapshotBuilder::SnapshotBuilder(Options options) noexcept : options_(options) {}
SnapshotBuilder::SnapshotBuilder(SnapshotBuilder&&) noexcept = default;
SnapshotBuilder& SnapshotBuilder::operator=(SnapshotBuilder&&) noexcept = default;
SnapshotBuilder::~SnapshotBuilder() = default;

size_t SnapshotBuilder::size() const noexcept {
  return pending_.size();
}

Status SnapshotBuilder::reserve(size_t items, size_t string_bytes) {
  if (finished_) return make_error(Errc::kInvalidArgument, "snapshot builder: already finished");
  try {
    pending_.reserve(items);
    if (string_bytes != 0) strings_.reserve(string_bytes);
  } catch (const std::exception&) {
    return make_error(Errc::kNoMemory, "snapshot builder: reserve");
  }
  return ok_status();
}

Status SnapshotBuilder::add(const CgroupItemView& item) {
  if (finished_) return make_error(Errc::kInvalidArgument, "snapshot builder: already finished");
  if (pending_.size() >= 0xFFFFFFFEu || item.name.size() >= 0xFFFFFFFFu) {
    return make_error(Errc::kLimitExceeded, "snapshot builder: too many items or name too long");
  }
  const uint64_t rec = record_size(item.name.size(), item.path.size());
  const uint64_t limit = static_cast<uint64_t>(Snapshot::kEmptyRef) * Snapshot::kRecordAlign;
  if (record_bytes_ + rec >= limit) {
    return make_error(Errc::kLimitExceeded, "snapshot builder: records exceed 32 GiB");
  }
  if (options_.max_bytes != 0 && record_bytes_ + rec > options_.max_bytes) {
    return make_error(Errc::kLimitExceeded, "snapshot builder: max_bytes");
  }
  try {
    const uint64_t off = strings_.size();
    strings_.insert(strings_.end(), item.name.begin(), item.name.end());
    strings_.insert(strings_.end(), item.path.begin(), item.path.end());
    pending_.push_back(Pending{item.hash, item.options, item.enabled,
                               static_cast<uint32_t>(item.name.size()), off, item.path.size(),
                               item.cgroup_id});
  } catch (const std::exception&) {
    return make_error(Errc::kNoMemory, "snapshot builder: add");
  }
  record_bytes_ += rec;
  return ok_status();
}

bool Snapshot::fill_index(bool bounded, SnapshotIndexStats* stats) noexcept {
  size_t total_probe = 0;
  for (size_t i = 0; i < item_count_; ++i) {
    const uint32_t ref = refs_[i];
    const CgroupItemView* v = record(ref);
    size_t b = bucket_of(key_of(v->hash, v->name));
    size_t probe = 1;
    for (;;) {
      Slot& slot = slots_[b];
      if (slot.ref == kEmptyRef) {
        slot.hash = v->hash;
        slot.ref = ref;
        ++stats->indexed_items;
        total_probe += probe;
        if (probe > stats->max_probe) stats->max_probe = probe;
        break;
      }
      if (slot.hash == v->hash && same_name(record(slot.ref), v->name)) {
        ++stats->duplicate_items;  // an earlier item owns this key
        break;
      }
      if (bounded && probe >= kMaxProbeBeforeNameKeyed) return false;
      b = (b + 1) & slot_mask_;
      ++probe;
    }
  }
  if (stats->indexed_items != 0) {
    stats->mean_probe =
        static_cast<double>(total_probe) / static_cast<double>(stats->indexed_items);
  }
  return true;
}

void Snapshot::build_index(size_t slot_count) noexcept {
  slots_ = static_cast<Slot*>(std::malloc(slot_count * sizeof(Slot)));
  if (slots_ == nullptr) {  // no index: find() scans (docs/levels.md §3.2 rule 5)
    stats_ = SnapshotIndexStats{};
    stats_.indexed_items = item_count_;
    return;
  }
  slot_mask_ = slot_count - 1;
  unsigned bits = 0;
  while ((size_t{1} << bits) < slot_count)
    ++bits;
  shift_ = 64 - bits;
  seed_ = new_seed();
  // First try keying by the producer's hash alone; if that yields an
  // over-long chain, the hashes are degenerate: key by hash and name.
  for (int attempt = 0; attempt < 2; ++attempt) {
    name_keyed_ = attempt == 1;
    std::memset(slots_, 0xFF, slot_count * sizeof(Slot));
    SnapshotIndexStats stats{};
    stats.slot_count = slot_count;
    stats.name_keyed = name_keyed_;
    if (fill_index(/*bounded=*/attempt == 0, &stats)) {
      stats_ = stats;
      return;
    }
  }
}

Result<std::shared_ptr<const Snapshot>> SnapshotBuilder::finish() {
  if (finished_) return make_error(Errc::kInvalidArgument, "snapshot builder: already finished");
  finished_ = true;
  const size_t n = pending_.size();

  size_t slot_count = 8;
  while (slot_count < 2 * n)
    slot_count <<= 1;
  const uint64_t total = sizeof(Snapshot) + record_bytes_ + n * sizeof(uint32_t) +
                         (options_.build_index ? slot_count * sizeof(Snapshot::Slot) : 0);
  if (options_.max_bytes != 0 && total > options_.max_bytes) {
    return make_error(Errc::kLimitExceeded, "snapshot builder: max_bytes");
  }

  std::unique_ptr<Snapshot> snap(new (std::nothrow) Snapshot());
  if (!snap) return make_error(Errc::kNoMemory, "snapshot: object");
  snap->arena_ = static_cast<unsigned char*>(std::malloc(record_bytes_ != 0 ? record_bytes_ : 8));
  snap->refs_ = static_cast<uint32_t*>(std::malloc(n != 0 ? n * sizeof(uint32_t) : 4));
  if (snap->arena_ == nullptr || snap->refs_ == nullptr) {
    return make_error(Errc::kNoMemory, "snapshot: arena");
  }
  snap->arena_bytes_ = record_bytes_;
  snap->item_count_ = n;
  snap->generation_ = generation_;
  snap->systemd_enabled_ = systemd_enabled_;

  // Lay out the records: view, name, NUL, path, NUL, padding.
  size_t off = 0;
  for (size_t i = 0; i < n; ++i) {
    const Pending& p = pending_[i];
    unsigned char* rec = snap->arena_ + off;
    char* name = reinterpret_cast<char*>(rec + sizeof(CgroupItemView));
    char* path = name + p.name_len + 1;
    std::memcpy(name, strings_.data() + p.name_off, p.name_len);
    name[p.name_len] = '\0';
    std::memcpy(path, strings_.data() + p.name_off + p.name_len, p.path_len);
    path[p.path_len] = '\0';
    new (rec) CgroupItemView{p.hash,
                             p.options,
                             p.enabled,
                             std::string_view(name, p.name_len),
                             std::string_view(path, p.path_len),
                             p.cgroup_id};
    const size_t size = record_size(p.name_len, p.path_len);
    std::memset(path + p.path_len + 1, 0,
                size - (sizeof(CgroupItemView) + p.name_len + 1 + p.path_len + 1));
    snap->refs_[i] = static_cast<uint32_t>(off / Snapshot::kRecordAlign);
    off += size;
  }
  // The staging copies are no longer needed; release them before the index
  // is allocated so peak memory stays near one snapshot.
  std::vector<Pending>().swap(pending_);
  std::vector<char>().swap(strings_);

  if (options_.build_index) {
    snap->build_index(slot_count);
  } else {
    snap->stats_.indexed_items = n;
  }

  try {
    return std::shared_ptr<const Snapshot>(std::move(snap));
  } catch (const std::exception&) {
    return make_error(Errc::kNoMemory, "snapshot: control block");
  }
}

}  // namespace netipc
