#!/usr/bin/env bash
# scripts/check-layers.sh on a copy of this tree: clean, it passes; with one
# violation planted per rule, it fails and names that rule and the file.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
check="$src/scripts/check-layers.sh"
tmp=$(mktemp -d /tmp/netipc-layers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
tree="$tmp/tree"
mkdir "$tree"
tar -C "$src" --exclude=./build --exclude=./.git -cf - . | tar -C "$tree" -xf -

failures=0
if ! out=$(bash "$check" "$tree" 2>&1); then
  echo "FAIL: the unmodified tree does not pass:"
  echo "$out"
  exit 1
fi
echo "ok: the unmodified tree passes ($out)"

# plant RULE FILE LINE: appends LINE to FILE, expects a failure naming RULE
# and FILE, then restores FILE.
plant() {
  local rule=$1 file=$2 line=$3
  [ -f "$tree/$file" ] || { echo "FAIL: $file is not in the tree (update this test)"; failures=$((failures + 1)); return; }
  cp "$tree/$file" "$tmp/saved"
  printf '%s\n' "$line" >>"$tree/$file"
  local rc=0
  out=$(bash "$check" "$tree" 2>&1) || rc=$?
  cp "$tmp/saved" "$tree/$file"
  if [ "$rc" -ne 1 ] || ! grep -q "check-layers: $rule: $file" <<<"$out"; then
    echo "FAIL: $rule not reported for '$line' in $file (exit $rc):"
    echo "$out"
    failures=$((failures + 1))
  else
    echo "ok: $rule caught in $file"
  fi
}

plant core-no-uv netipc/src/wire/wire.cc '#include <uv.h>'
plant core-no-uv netipc/include/netipc/client.h '#include "netipc/uv/server.h"'
plant codec-no-transport netipc/src/codec/increment.cc '#include "netipc/uds_connection.h"'
plant codec-no-transport netipc/include/netipc/codec/cgroups.h '#include "transport/shm/region.h"'
plant public-only-public netipc/include/netipc/wire.h '#include "base/abort.h"'
plant provider-consumer cgroups-provider/src/scanner.cc '#include "ebpf_consumer/netipc_ebpf.h"'
plant provider-consumer ebpf-consumer/src/consumer.cc '#include "cgroups_provider/provider.h"'
plant provider-consumer cgroups-provider/CMakeLists.txt 'target_link_libraries(netipc_cgroups_provider PRIVATE netipc_ebpf_consumer)'
plant outside-internals tools/cli/cmd_increment.cc '#include "../../netipc/src/client/client_policy.h"'
plant outside-internals ebpf-consumer/src/consumer.cc '#include "transport/shm/region.h"'
plant outside-internals netdata-glue/src/log_c.cc '#include "base/abort.h"'
plant outside-internals ebpf-consumer/CMakeLists.txt 'target_include_directories(netipc_ebpf_consumer PRIVATE ${PROJECT_SOURCE_DIR}/netipc/src)'
plant outside-internals tools/CMakeLists.txt 'target_link_libraries(netipc-cli PRIVATE netipc_internal)'
plant library-no-tests netipc/src/client/client.cc '#include "../../../tests/support/spec_peer.h"'
plant library-no-tests netipc/src/uv/server.cc '#include <gtest/gtest.h>'
plant core-no-proto netipc/src/codec/cgroups_pb.cc '#include "netipc/cgroups_snapshot.pb.h"'
plant core-no-proto netipc/CMakeLists.txt 'target_link_libraries(netipc PUBLIC netipc_proto)'

if [ "$failures" -gt 0 ]; then
  echo "$failures planted violation(s) not caught"
  exit 1
fi
echo "every planted violation was caught"
