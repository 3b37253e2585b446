// Shared helpers of the wire and codec unit tests: spec vectors written as
// hex text, little-endian fields to check or overwrite by offset, the
// cgroups snapshot spec vector (docs/codecs.md §2.6) with its items,
// deterministic cgroup items, and a checked layout-1 decode. Header-only.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/cgroup_item.h"
#include "netipc/codec/cgroups.h"
#include "netipc/result.h"

namespace netipc::codec_test {

// Bytes from hex text; anything but hex digits (spaces) is skipped.
inline std::vector<uint8_t> hex(const std::string& s) {
  std::string digits;
  for (char c : s) {
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  }
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// One little-endian field of a wire structure: where, how wide, what value.
struct Field {
  size_t offset;
  size_t width;  // 1 to 8 bytes
  uint64_t value;
};
inline Field u16_at(size_t offset, uint16_t value) {
  return Field{offset, 2, value};
}
inline Field u32_at(size_t offset, uint32_t value) {
  return Field{offset, 4, value};
}
inline Field u64_at(size_t offset, uint64_t value) {
  return Field{offset, 8, value};
}

// `bytes` with each of `fields` written over it (to corrupt a valid
// structure one field at a time, or to build one field by field).
inline std::vector<uint8_t> with_fields(std::vector<uint8_t> bytes,
                                        std::initializer_list<Field> fields) {
  for (const Field& f : fields) {
    for (size_t i = 0; i < f.width; ++i)
      bytes.at(f.offset + i) = static_cast<uint8_t>(f.value >> (8 * i));
  }
  return bytes;
}

// Expects each of `fields` at its offset in `bytes`.
inline void expect_fields(const uint8_t* bytes, std::initializer_list<Field> fields) {
  for (const Field& f : fields) {
    uint64_t got = 0;
    for (size_t i = 0; i < f.width; ++i)
      got |= uint64_t{bytes[f.offset + i]} << (8 * i);
    EXPECT_EQ(got, f.value) << "the " << f.width << "-byte field at offset " << f.offset;
  }
}

// Expects bytes [from, to) to still hold `fill`: an encoder wrote no further.
inline void expect_untouched(const uint8_t* bytes, size_t from, size_t to, uint8_t fill) {
  for (size_t i = from; i < to; ++i)
    EXPECT_EQ(bytes[i], fill) << "byte " << i;
}

// docs/codecs.md §2.6: a layout-1 snapshot of cgroups_spec_items(), systemd_enabled 1,
// generation 999; 266 bytes.
inline constexpr const char* kCgroupsSnapshotSpecVectorHex =
    "01000000 03000000 01000000 00000000  e7030000 00000000 00000000 45000000"
    "48000000 6b000000 b8000000 22000000  01000000 64000000 00000000 01000000"
    "20000000 0a000000 2b000000 19000000  696e6974 2e73636f 7065002f 7379732f"
    "66732f63 67726f75 702f696e 69742e73  636f7065 00000000 01000000 c8000000"
    "02000000 00000000 20000000 1d000000  3e000000 2c000000 73797374 656d2e73"
    "6c696365 2f646f63 6b65722d 6162632e  73636f70 65002f73 79732f66 732f6367"
    "726f7570 2f737973 74656d2e 736c6963  652f646f 636b6572 2d616263 2e73636f"
    "70650000 00000000 01000000 2c010000  00000000 01000000 20000000 00000000"
    "21000000 00000000 0000";

inline const std::vector<uint8_t>& cgroups_spec_vector() {
  static const std::vector<uint8_t> v = hex(kCgroupsSnapshotSpecVectorHex);
  return v;
}

inline std::vector<CgroupItem> cgroups_spec_items() {
  return {
      {100, 0, 1, "init.scope", "/sys/fs/cgroup/init.scope", 0},
      {200, 0x02, 0, "system.slice/docker-abc.scope",
       "/sys/fs/cgroup/system.slice/docker-abc.scope", 0},
      {300, 0, 1, "", "", 0},
  };
}

// `len` pseudo-random hex digits, the same for the same seed (container ids).
inline std::string hex_id(uint64_t seed, size_t len) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < len; ++i) {
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    s.push_back(kDigits[(x >> 59) & 0xF]);
  }
  return s;
}

// An item whose hash is its name's, as the provider computes it.
inline CgroupItem make_item(std::string name, std::string path, uint32_t options, uint32_t enabled,
                            uint64_t cgroup_id) {
  CgroupItem it;
  it.hash = fnv1a32(name);
  it.options = options;
  it.enabled = enabled;
  it.name = std::move(name);
  it.path = std::move(path);
  it.cgroup_id = cgroup_id;
  return it;
}

// `n` kubernetes-like items; item i has cgroup id i * id_step + 1.
inline std::vector<CgroupItem> large_corpus(size_t n, uint64_t id_step = 1) {
  std::vector<CgroupItem> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    v.push_back(make_item("cgroup_k8s_ns" + std::to_string(i % 50) + "_pod" + std::to_string(i),
                          "/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/pod" +
                              std::to_string(i) + "/cri-containerd-" + hex_id(i, 64) +
                              ".scope/cgroup.procs",
                          kCgroupOptIsUnified, static_cast<uint32_t>(i & 1), i * id_step + 1));
  }
  return v;
}

// Layout 1 does not carry cgroup_id.
inline std::vector<CgroupItem> without_ids(std::vector<CgroupItem> items) {
  for (auto& it : items)
    it.cgroup_id = 0;
  return items;
}

// Every item of a layout-1 payload, each checked (test failures otherwise).
inline std::vector<CgroupItem> decode_all_v1(const std::vector<uint8_t>& payload) {
  auto view = codec::CgroupsSnapshotView::parse(ByteSpan(payload));
  EXPECT_TRUE(view.ok()) << errc_name(view.code());
  std::vector<CgroupItem> out;
  if (!view.ok()) return out;
  EXPECT_TRUE(view->validate_all().ok());
  for (uint32_t i = 0; i < view->size(); ++i) {
    auto it = view->item(i);
    EXPECT_TRUE(it.ok()) << "item " << i << ": " << errc_name(it.code());
    if (it.ok()) out.push_back(it->to_owned());
  }
  return out;
}

}  // namespace netipc::codec_test
