#!/usr/bin/env bash
# Applies this project's Netdata patch series to a copy of a Netdata v2.10.4
# tree and builds `netdata` and `ebpf.plugin` with Netdata's ordinary
# configure (no new option).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: packaging/netdata/build.sh NETDATA_TREE BUILD_DIR [options] [-- CMAKE_ARGS...]

  NETDATA_TREE   a Netdata v2.10.4 source tree (a release tarball, or a
                 checkout with its submodules); it is not modified
  BUILD_DIR      where the patched copy (BUILD_DIR/netdata) and the build
                 (BUILD_DIR/build) go; reused by later runs, so only what
                 changed is rebuilt

Steps: copy the tree, commit it as the base of a git repository, vendor this
checkout's sources with packaging/netdata/vendor.sh (one commit), apply
packaging/netdata/patches/*.patch with `git am`, configure once, then
`ninja netdata ebpf.plugin`.

Options:
  --unpatched        build the tree as it is (no vendoring, no patches): the
                     baseline the e2e test compares memory against
  --offline-kit DIR  configure with DIR/configure.sh (the kit that stands in
                     for Netdata's downloads on machines without internet).
                     Default: ../shared/netdata-offline beside this checkout
                     if it exists, else Netdata's plain configure.
  --online           ignore the offline kit even if it exists
  --allow-dirty      vendor HEAD although this checkout has uncommitted changes
                     under the vendored paths (they are not vendored)
  --jobs N           parallel build jobs (default: number of CPUs)
  -h, --help         this text

CMAKE_ARGS after -- go to the first configure. ccache is used when found
(CCACHE_BASEDIR defaults to BUILD_DIR's parent, so two build folders side by
side share compiled objects).
EOF
}

die() { echo "build.sh: $*" >&2; exit 2; }

TREE="" OUT="" UNPATCHED=0 KIT="" ONLINE=0 JOBS=$(nproc)
EXTRA=() VENDOR_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --unpatched) UNPATCHED=1; shift ;;
    --offline-kit) KIT=${2:?}; shift 2 ;;
    --online) ONLINE=1; shift ;;
    --allow-dirty) VENDOR_ARGS+=(--allow-dirty); shift ;;
    --jobs) JOBS=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    -*) usage >&2; exit 2 ;;
    *)
      if [ -z "$TREE" ]; then TREE=$1; elif [ -z "$OUT" ]; then OUT=$1; else usage >&2; exit 2; fi
      shift ;;
  esac
done
[ -n "$TREE" ] && [ -n "$OUT" ] || { usage >&2; exit 2; }

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
[ -d "$TREE" ] || die "no such folder: $TREE"
TREE=$(cd "$TREE" && pwd)
[ -f "$TREE/CMakeLists.txt" ] && [ -f "$TREE/src/collectors/cgroups.plugin/sys_fs_cgroup.c" ] ||
  die "$TREE does not look like a Netdata source tree"
version=$(cat "$TREE/packaging/version" 2>/dev/null || echo unknown)
case "$version" in
  v2.10.4*) ;;
  *) echo "build.sh: warning: $TREE is Netdata '$version'; the series is made for v2.10.4" >&2 ;;
esac
[ -f "$TREE/src/aclk/aclk-schemas/proto/agent/v1/cmds.proto" ] ||
  die "$TREE lacks the aclk-schemas submodule (git submodule update --init, or a release tarball)"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SRC=$OUT/netdata
BLD=$OUT/build

if [ -z "$KIT" ] && [ "$ONLINE" = 0 ] && [ -f "$REPO/../shared/netdata-offline/configure.sh" ]; then
  KIT=$(cd "$REPO/../shared/netdata-offline" && pwd)
fi

step() { echo "== $*"; }

# 1. A fresh copy. It keeps the times of the files, so a rebuild in the
# same BUILD_DIR recompiles only what the series changes.
step "copying $TREE -> $SRC"
rm -rf "$SRC"
mkdir -p "$SRC"
tar -C "$TREE" --exclude=./.git -cf - . | tar -C "$SRC" -xpf -

# 2. The base commit, the vendored sources and the series.
if [ "$UNPATCHED" = 0 ]; then
  step "git base commit"
  rm -rf "$SRC/.git"
  git -C "$SRC" init -q
  git -C "$SRC" -c user.name=netipc -c user.email=netipc@localhost add -A
  git -C "$SRC" -c user.name=netipc -c user.email=netipc@localhost commit -q -m "netdata $version"
  step "vendoring this checkout into src/libnetdata/netipc"
  GIT_COMMITTER_NAME=netipc GIT_COMMITTER_EMAIL=netipc@localhost \
  GIT_AUTHOR_NAME=netipc GIT_AUTHOR_EMAIL=netipc@localhost \
    "$HERE/vendor.sh" "${VENDOR_ARGS[@]}" "$SRC"
  step "git am $(ls "$HERE"/patches/*.patch | wc -l) patches"
  git -C "$SRC" -c user.name=netipc -c user.email=netipc@localhost am -q --committer-date-is-author-date "$HERE"/patches/*.patch
  git -C "$SRC" log --oneline | head -n 20
fi

# 3. Configure once; ninja re-runs CMake when a CMakeLists.txt changes.
LAUNCHER=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(dirname "$OUT")} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$BLD/CMakeCache.txt" ]; then
  if [ -n "$KIT" ]; then
    step "configuring with the offline kit $KIT"
    sh "$KIT/configure.sh" "$SRC" "$BLD" "${LAUNCHER[@]}" "${EXTRA[@]}"
  else
    step "configuring (Netdata's plain configure)"
    cmake -S "$SRC" -B "$BLD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCHER[@]}" "${EXTRA[@]}"
  fi
fi

# 4. Build.
step "ninja netdata ebpf.plugin (-j$JOBS)"
start=$(date +%s)
ninja -C "$BLD" -j "$JOBS" netdata ebpf.plugin
echo "build.sh: built in $(( $(date +%s) - start )) s:"
ls -l "$BLD/netdata" "$BLD/ebpf.plugin"
