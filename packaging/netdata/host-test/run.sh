#!/usr/bin/env bash
# The embedded (Netdata) build, end to end: vendors HEAD into a fake Netdata
# tree (packaging/netdata/vendor.sh), configures the host project next to
# this script against it (its configure-time checks), builds it, checks the
# built objects with nm/readelf, then runs a daemon-like program (provider)
# and a plugin-like program (consumer) against each other.
# One line per check; exit 0 when all hold. Needs cmake, ninja, pkg-config,
# libuv1-dev, libxxhash-dev (for /usr/include/xxhash.h), binutils.
# Usage: packaging/netdata/host-test/run.sh [BUILD_TYPE]   (default: Release)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build_type=${1:-Release}

work=$(mktemp -d /tmp/netipc-embed.XXXXXX)
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then kill -KILL "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
ok() { echo "netdata-embed: ok: $*"; }
fail() {
  echo "netdata-embed: FAIL: $*" >&2
  exit 1
}

# ---- a fake Netdata tree, filled by vendor.sh ---------------------------------
tree="$work/netdata"
mkdir -p "$tree/src/libnetdata/xxHash"
cp /usr/include/xxhash.h "$tree/src/libnetdata/xxHash/xxhash.h"
echo "# stands in for Netdata's top-level CMakeLists.txt (vendor.sh checks it exists)" >"$tree/CMakeLists.txt"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=all -- CMakeLists.txt cmake netipc cgroups-provider ebpf-consumer netdata-glue)" ]; then
  echo "netdata-embed: note: this tests HEAD's committed sources; uncommitted library changes are not part of it"
fi
bash "$repo/packaging/netdata/vendor.sh" --no-commit --allow-dirty "$tree" >"$work/vendor.log" 2>&1 ||
  { cat "$work/vendor.log" >&2; fail "vendor.sh"; }
vendored="$tree/src/libnetdata/netipc"
for d in CMakeLists.txt cmake netipc/CMakeLists.txt cgroups-provider ebpf-consumer netdata-glue README.md; do
  [ -e "$vendored/$d" ] || fail "vendored tree lacks $d"
done
for d in netipc/proto tests tools bench packaging docs scripts; do
  [ ! -e "$vendored/$d" ] || fail "vendored tree has $d"
done
ok "vendor.sh copied the libraries' sources and README.md, without netipc/proto, tests, tools, bench, packaging"

# ---- configure: the host project's checks ----------------------------------------
build="$work/build"
if ! cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
  -DNETDATA_TREE="$tree" >"$work/configure.log" 2>&1; then
  cat "$work/configure.log" >&2
  fail "configure of the host project"
fi
sed -n 's/^-- host-test: /netdata-embed: /p' "$work/configure.log"

# ---- build ------------------------------------------------------------------------
if ! cmake --build "$build" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  fail "build of the host project"
fi
ok "daemon_like (netipc_glue) and plugin_like (netipc_ebpf_consumer + netipc_glue_token) build from C11 files"

# ---- the built objects ---------------------------------------------------------------
# Symbol tables are read into variables first: `nm | grep -q` would fail
# under pipefail when grep stops reading early.
token_lib=$(find "$build/netipc" -name libnetipc_glue_token.a)
[ -n "$token_lib" ] || fail "no libnetipc_glue_token.a"
token_syms=$(nm "$token_lib")
if grep -q ' U XXH' <<<"$token_syms"; then fail "libnetipc_glue_token.a calls an external XXH function"; fi
grep -q ' T netipc_nd_token_from_uuid$' <<<"$token_syms" || fail "libnetipc_glue_token.a lacks netipc_nd_token_from_uuid"
ok "libnetipc_glue_token.a defines the token functions and calls no external XXH function (inline xxHash)"
if [ -n "$(find "$build/netipc" -name '*.so*')" ]; then fail "a shared library was built"; fi
ok "no shared library built although the host sets BUILD_SHARED_LIBS ON"
for p in daemon_like plugin_like; do
  needed=$(readelf -d "$build/$p")
  if grep -q 'NEEDED.*xxhash' <<<"$needed"; then fail "$p needs libxxhash"; fi
done
ok "neither program needs libxxhash"
# Positive control first: the daemon does carry the provider.
daemon_syms=$(nm -C "$build/daemon_like")
plugin_syms=$(nm -C "$build/plugin_like")
grep -q 'netipc::cgroups_provider::' <<<"$daemon_syms" || fail "daemon_like carries no provider code"
grep -q ' T netipc_nd_provider_start$' <<<"$daemon_syms" || fail "daemon_like lacks netipc_nd_provider_start"
if grep -q 'netipc::cgroups_provider::\|netipc_nd_provider_' <<<"$plugin_syms"; then
  fail "plugin_like carries provider code"
fi
ok "plugin_like carries no provider code (daemon_like does)"

# ---- run: the daemon's provider, the plugin's consumer ------------------------------
rundir="$work/run"
mkdir -m 700 "$rundir"
export NETDATA_INVOCATION_ID=4f1c6e2a9b3d47108e5ac12f73d406bb
mkfifo "$work/daemon.out"
"$build/daemon_like" "$rundir" >"$work/daemon.out" 2>&1 &
daemon_pid=$!
exec 3<"$work/daemon.out"
# Echoes the daemon's lines until READY (returns 0) or its end of output
# (returns 1); fails after 30 s without a line.
daemon_lines() {
  local line st
  while true; do
    if IFS= read -r -t 30 -u 3 line; then
      [ "$line" = READY ] && return 0
      echo "netdata-embed: $line"
      continue
    fi
    st=$?
    [ "$st" -le 128 ] || fail "daemon_like silent for 30 s"
    return 1
  done
}
daemon_lines || fail "daemon_like exited before it was ready"
plugin_rc=0
"$build/plugin_like" "$rundir" 2>&1 | sed 's/^/netdata-embed: /' || plugin_rc=$?
kill -TERM "$daemon_pid"
if daemon_lines; then fail "daemon_like printed READY twice"; fi
daemon_rc=0
wait "$daemon_pid" || daemon_rc=$?
daemon_pid=""
exec 3<&-
[ "$plugin_rc" -eq 0 ] || fail "plugin_like exited with $plugin_rc"
[ "$daemon_rc" -eq 0 ] || fail "daemon_like exited with $daemon_rc"
ok "daemon_like and plugin_like passed every check and exited 0"
