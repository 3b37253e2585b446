#!/usr/bin/env bash
# Vendors this project's library sources into a Netdata source tree at
# src/libnetdata/netipc/, as Netdata's CMake builds them:
#   add_subdirectory(src/libnetdata/netipc EXCLUDE_FROM_ALL)
# See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: packaging/netdata/vendor.sh [--no-commit] [--allow-dirty] NETDATA_TREE

Copies the committed sources that Netdata's embedded build needs, taken from
HEAD of this netipc checkout with `git archive`:
  CMakeLists.txt  cmake/  netipc/ (without netipc/proto/)  cgroups-provider/
  ebpf-consumer/  netdata-glue/
into NETDATA_TREE/src/libnetdata/netipc/, replacing whatever is there, and
writes a README.md there naming the commit it came from.

NETDATA_TREE must be a Netdata source tree: it needs a top-level
CMakeLists.txt and src/libnetdata/xxHash/xxhash.h.

If NETDATA_TREE is the top of a git work tree, the result is committed there
(only src/libnetdata/netipc is added and committed) with the subject
"libnetdata: vendor netipc <git describe>". Nothing is committed when the
vendored folder is unchanged.

Options:
  --no-commit    copy and write the README only; do not commit
  --allow-dirty  go on although this checkout has uncommitted or untracked
                 files under the vendored paths (they are NOT copied: the
                 copy is always HEAD's committed content; the README says so)
  -h, --help     this text

Works from any current directory. Exit status: 0 done, 1 refused or failed,
2 bad usage.
EOF
}

indent() { sed 's/^/  /'; }

die() {
  echo "vendor.sh: $*" >&2
  exit 1
}

commit=1
allow_dirty=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --no-commit) commit=0 ;;
    --allow-dirty) allow_dirty=1 ;;
    --)
      shift
      args+=("$@")
      break
      ;;
    -*)
      echo "vendor.sh: unknown option $1 (see --help)" >&2
      exit 2
      ;;
    *) args+=("$1") ;;
  esac
  shift
done
if [ ${#args[@]} -ne 1 ]; then
  echo "vendor.sh: expected one NETDATA_TREE, got ${#args[@]} (see --help)" >&2
  exit 2
fi
tree=${args[0]}

# This project's checkout: two levels above this script.
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
git -C "$src" rev-parse --verify -q HEAD >/dev/null ||
  die "$src is not a git checkout with a commit; vendoring copies committed sources only"
[ "$(git -C "$src" rev-parse --show-toplevel)" = "$src" ] ||
  die "$src is not the top of its git checkout"

[ -d "$tree" ] || die "NETDATA_TREE $tree does not exist or is not a directory"
tree=$(cd "$tree" && pwd)
if [ ! -f "$tree/CMakeLists.txt" ] || [ ! -f "$tree/src/libnetdata/xxHash/xxhash.h" ]; then
  die "$tree does not look like a Netdata source tree (needs CMakeLists.txt and src/libnetdata/xxHash/xxhash.h)"
fi

paths=(CMakeLists.txt cmake netipc cgroups-provider ebpf-consumer netdata-glue)
# The generated protobuf classes are for tests and benchmarks only
# (NETIPC_BUILD_PROTO, off when embedded); the library needs no .proto.
excludes=(':(exclude)netipc/proto')

dirty=$(git -C "$src" status --porcelain --untracked-files=all -- "${paths[@]}" "${excludes[@]}")
if [ -n "$dirty" ]; then
  if [ "$allow_dirty" -eq 0 ]; then
    echo "vendor.sh: uncommitted changes under the vendored paths of $src:" >&2
    indent <<<"$dirty" >&2
    die "commit them first (only committed sources are vendored), or pass --allow-dirty to vendor HEAD without them"
  fi
  echo "vendor.sh: WARNING: uncommitted changes under the vendored paths are NOT vendored (HEAD's content is):" >&2
  indent <<<"$dirty" >&2
fi

sha=$(git -C "$src" rev-parse HEAD)
describe=$(git -C "$src" describe --always HEAD)
dest_parent="$tree/src/libnetdata"
dest="$dest_parent/netipc"

# Built next to the destination, then swapped in: a failure leaves the old
# copy untouched.
stage=$(mktemp -d "$dest_parent/.netipc-vendor.XXXXXX")
trap 'rm -rf "$stage"' EXIT
git -C "$src" archive --format=tar HEAD -- "${paths[@]}" "${excludes[@]}" | tar -x -C "$stage"

{
  echo "# netipc (vendored)"
  echo
  echo "NetIPC v1 for Netdata in C++17: the libraries Netdata links. The daemon links"
  echo "\`netipc_glue\` (cgroups-snapshot provider, log route, auth token); ebpf.plugin links"
  echo "\`netipc_ebpf_consumer\` and \`netipc_glue_token\`. Netdata's CMake builds them with"
  echo "\`add_subdirectory(src/libnetdata/netipc EXCLUDE_FROM_ALL)\`; the host settings"
  echo "(\`netipc_libuv_dep\`, \`NETIPC_XXHASH_INCLUDE_DIR\`) are in the project's docs/glue.md,"
  echo "\"Building inside Netdata\"."
  echo
  echo "**Generated; do not edit.** Changes belong in the netipc project; then regenerate."
  echo
  echo "- from netipc commit \`$sha\` (\`$describe\`)"
  echo "- content: \`git archive\` of ${paths[*]} (without netipc/proto) at that commit"
  if [ -n "$dirty" ]; then
    echo "- the source checkout had uncommitted changes under those paths; they are not included"
  fi
  echo
  echo "Regenerate from a netipc checkout:"
  echo
  echo '```sh'
  echo "packaging/netdata/vendor.sh /path/to/netdata"
  echo '```'
} >"$stage/README.md"

chmod 755 "$stage"
rm -rf "$dest"
mv "$stage" "$dest"
trap - EXIT
files=$(find "$dest" -type f | wc -l)
echo "vendor.sh: vendored netipc $describe ($files files) into $dest"

if [ "$commit" -eq 0 ]; then
  exit 0
fi
top=$(git -C "$tree" rev-parse --show-toplevel 2>/dev/null || true)
if [ "$top" != "$tree" ]; then
  echo "vendor.sh: $tree is not the top of a git work tree; nothing committed"
  exit 0
fi
rel=src/libnetdata/netipc
# -f: Netdata's .gitignore must not drop a vendored file.
git -C "$tree" add -A -f -- "$rel"
if git -C "$tree" diff --cached --quiet -- "$rel"; then
  echo "vendor.sh: $rel already matches netipc $describe; nothing committed"
  exit 0
fi
msg=$(
  cat <<EOF
libnetdata: vendor netipc $describe

Vendor netipc (NetIPC v1 in C++17) from its commit $sha
into $rel: the core library, the libuv adapter, the
cgroups-snapshot provider, the ebpf.plugin consumer and the daemon glue
with its auth token, built by add_subdirectory($rel EXCLUDE_FROM_ALL).
Generated; do not edit: packaging/netdata/vendor.sh in the netipc project
regenerates it.
EOF
)
# Only the vendored folder is committed, whatever else is staged.
git -C "$tree" commit -q -m "$msg" -- "$rel"
echo "vendor.sh: committed $(git -C "$tree" rev-parse --short HEAD) in $tree: libnetdata: vendor netipc $describe"
