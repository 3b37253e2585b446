// cgroups-snapshot payload codec, layout 2: the protobuf-lite message
// netipc.pb.CgroupsSnapshot (netipc/proto/netipc/cgroups_snapshot.proto).
// Pure bytes, no I/O; no protobuf type appears in this header.
//
// The encoder and decoder work on the protobuf wire format directly instead
// of going through the generated classes: for 100k items (~16 MB) the
// generated ParseFromArray (even on an Arena) took 25-40 ms of CPU and
// SerializeToArray of an already built message about 14 ms, against a 15 ms
// end-to-end budget; this codec takes 3-5 ms for either direction
// (bench/micro/codec_bench.cc, Release, 2-core VM). The
// generated classes stay the reference: the tests check that both sides
// accept each other's bytes and that our encoder's output is byte-identical
// to SerializeToString's.
//
// Decoding rules, matching the generated parser:
// - unknown fields (any field number, wire types 0, 1, 2, 5 and groups) are
//   skipped, so the schema can grow; a known field number with an unexpected
//   wire type is treated as unknown;
// - a scalar or string field that appears twice keeps the last value; every
//   occurrence of field 3 is one more item;
// - uint32 fields keep the low 32 bits of their varint;
// - field number 0, wire types 6 and 7, an unmatched end-group tag, varints
//   longer than 10 bytes (tags: 5), nesting deeper than 100 and any length
//   or value running past its enclosing message are rejected.
#pragma once

#include <cstdint>
#include <vector>

#include "netipc/bytes.h"
#include "netipc/cgroup_item.h"
#include "netipc/codec/cgroups.h"
#include "netipc/result.h"

namespace netipc::codec {

// protobuf's own ceiling on a message (ParseFromArray takes an int).
inline constexpr uint64_t kProtobufMaxMessage = 0x7FFFFFFF - 16;

// Exact encoded size of the snapshot.
uint64_t cgroups_snapshot_v2_size(const std::vector<CgroupItem>& items, uint32_t systemd_enabled,
                                  uint64_t generation) noexcept;

// Encodes canonically (fields in number order, zero scalars and empty
// strings omitted, exactly as SerializeToString does) into *out, reusing its
// capacity: one size pass, at most one resize, one memcpy per string.
// kLimitExceeded when the message would exceed max_payload or
// kProtobufMaxMessage.
Status encode_cgroups_snapshot_v2(const std::vector<CgroupItem>& items, uint32_t systemd_enabled,
                                  uint64_t generation, std::vector<uint8_t>* out,
                                  uint64_t max_payload = kCgroupsMaxPayload) noexcept;

// Zero-copy decode: item names and paths point into `payload`. *out is
// cleared first (keeping its capacity) and left empty on failure.
// kTruncated: a varint, length or fixed-size value runs past its message.
// kProtocol: any other malformed encoding (see the rules above).
Status decode_cgroups_snapshot_v2(ByteSpan payload, CgroupsSnapshotViews* out) noexcept;

// Decode into owned items (copies the strings).
Status decode_cgroups_snapshot_v2(ByteSpan payload, uint32_t* systemd_enabled, uint64_t* generation,
                                  std::vector<CgroupItem>* items) noexcept;

}  // namespace netipc::codec
