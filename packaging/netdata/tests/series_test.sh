#!/usr/bin/env bash
# The Netdata patch series against this checkout, without a Netdata tree
# (CI has none): the series is well formed, never touches the vendored
# folder, and everything it uses from this project exists here (C ABI
# functions, types and constants, headers, CMake targets and variables), so
# renaming any of them fails CI instead of the next Netdata build. Also the
# scripts' command lines. One line per check; exit 0 when all hold.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nd=$(cd "$here/.." && pwd)
repo=$(cd "$nd/../.." && pwd)
failures=0
ok() { echo "series: ok: $*"; }
fail() { echo "series: FAIL: $*"; failures=$((failures + 1)); }

mapfile -t patches < <(ls "$nd"/patches/*.patch 2>/dev/null | sort)
[ "${#patches[@]}" -gt 0 ] || { echo "series: FAIL: no patches in $nd/patches" >&2; exit 1; }

# 1. Numbered 0001..000N, each a git format-patch of [PATCH i/N].
n=${#patches[@]}
i=0
for p in "${patches[@]}"; do
  i=$((i + 1))
  base=$(basename "$p")
  [ "${base:0:4}" = "$(printf '%04d' "$i")" ] || fail "$base: expected number $(printf '%04d' "$i")"
  head -n 1 "$p" | grep -Eq '^From [0-9a-f]{40} ' || fail "$base: not a git format-patch file"
  grep -q "^Subject: \[PATCH $i/$n\] " "$p" || fail "$base: subject is not [PATCH $i/$n]"
  git apply --stat "$p" >/dev/null 2>&1 || fail "$base: git apply cannot parse it"
done
[ "$failures" -eq 0 ] && ok "$n patches, numbered and parseable"

# 2. The vendored folder is vendor.sh's, never the series'.
touched=$(cat "${patches[@]}" | sed -n 's#^diff --git a/\([^ ]*\) b/.*#\1#p' | sort -u)
# (grep reads here-strings: under pipefail an early exit of grep -q would fail a pipe.)
if grep -q '^src/libnetdata/netipc/' <<<"$touched"; then
  fail "the series edits src/libnetdata/netipc/ (vendor.sh owns it)"
else
  ok "the series touches only netdata's files: $(printf '%s\n' "$touched" | wc -l) files"
fi

# 3. Every netipc C ABI name the series adds exists in this checkout's headers.
added=$(cat "${patches[@]}" | grep '^+' | grep -v '^+++' || true)
headers="$repo/netdata-glue/include/netdata_glue/netipc_nd.h $repo/ebpf-consumer/include/ebpf_consumer/netipc_ebpf.h"
names=$(printf '%s\n' "$added" | grep -oE '\b(netipc_(nd|ebpf)_[a-z0-9_]+|NETIPC_(ND|EBPF)_[A-Z0-9_]+)\b' | sort -u)
missing=0
for name in $names; do
  # shellcheck disable=SC2086
  if ! grep -qw "$name" $headers; then
    fail "the series uses $name, which this checkout's C headers do not declare"
    missing=1
  fi
done
[ "$missing" -eq 0 ] && ok "$(printf '%s\n' "$names" | wc -l) C ABI names used by the series are declared"

# 4. Headers the series includes.
for inc in $(printf '%s\n' "$added" | sed -n 's/^+#include "\(netdata_glue\/[^"]*\|ebpf_consumer\/[^"]*\)"/\1/p' | sort -u); do
  if [ -f "$repo/netdata-glue/include/$inc" ] || [ -f "$repo/ebpf-consumer/include/$inc" ]; then
    ok "header $inc exists"
  else
    fail "the series includes $inc, which does not exist here"
  fi
done

# 5. CMake targets the series links, and what it hands the subproject.
cmake_added=$(cat "${patches[@]}" | awk '/^diff --git a\/CMakeLists.txt/{c=1;next} /^diff --git/{c=0} c && /^\+/ && !/^\+\+\+/')
for target in $(printf '%s\n' "$cmake_added" | grep -oE '\bnetipc_[a-z_]+\b' | sort -u); do
  case "$target" in
    netipc_libuv_dep)
      grep -rq 'TARGET netipc_libuv_dep' "$repo/cmake" && ok "netipc_libuv_dep is taken from the host" ||
        fail "this checkout's CMake no longer takes netipc_libuv_dep from the host" ;;
    *)
      grep -rqE "netipc_library\(${target}( |$)" "$repo"/*/CMakeLists.txt && ok "CMake target $target exists" ||
        fail "the series links $target, which this checkout's CMake does not define" ;;
  esac
done
if grep -q 'NETIPC_XXHASH_INCLUDE_DIR' <<<"$cmake_added"; then
  grep -q 'NETIPC_XXHASH_INCLUDE_DIR' "$repo/netdata-glue/CMakeLists.txt" && ok "NETIPC_XXHASH_INCLUDE_DIR is honoured" ||
    fail "the series sets NETIPC_XXHASH_INCLUDE_DIR, which this checkout ignores"
fi
grep -q 'add_subdirectory(src/libnetdata/netipc' <<<"$cmake_added" &&
  ok "the series adds the vendored folder vendor.sh fills" || fail "the series does not add src/libnetdata/netipc"
grep -q 'src/libnetdata/netipc' "$nd/vendor.sh" || fail "vendor.sh does not fill src/libnetdata/netipc"

# 6. The legacy channel only leaves.
legacy='netdata_shm_cgroup_ebpf|netdata_sem_cgroup_ebpf|NETDATA_SHARED_MEMORY_EBPF_CGROUP_NAME|NETDATA_NAMED_SEMAPHORE_EBPF_CGROUP_NAME|netdata_ebpf_cgroup_shm|shm_ebpf_cgroup|shm_cgroup_ebpf'
removed=$(cat "${patches[@]}" | grep '^-' | grep -v '^---' || true)
if grep -qE "$legacy" <<<"$added"; then
  fail "the series adds legacy channel code: $(grep -E "$legacy" <<<"$added" | head -n 3)"
elif grep -qE "$legacy" <<<"$removed"; then
  ok "the legacy channel's names are only removed"
else
  fail "the series does not remove the legacy channel"
fi

# 7. The scripts' command lines.
expect_exit() { # $1 = code, rest = command
  local want=$1 got=0
  shift
  "$@" >/dev/null 2>&1 || got=$?
  [ "$got" = "$want" ] && ok "exit $want: ${*#"$nd"/}" || fail "exit $got (want $want): $*"
}
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
expect_exit 0 bash "$nd/build.sh" --help
expect_exit 2 bash "$nd/build.sh"
expect_exit 2 bash "$nd/build.sh" "$empty" "$empty/out"
expect_exit 2 bash "$nd/build.sh" "$empty/missing" "$empty/out"
expect_exit 0 bash "$nd/e2e.sh" --help
expect_exit 2 bash "$nd/e2e.sh"
expect_exit 2 bash "$nd/e2e.sh" "$empty" --cgroups many
expect_exit 0 bash "$nd/vendor.sh" --help

if [ "$failures" -ne 0 ]; then
  echo "series: $failures check(s) failed"
  exit 1
fi
echo "series: all checks passed"
