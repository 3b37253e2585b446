#!/usr/bin/env bash
# Checks the layering rules of docs/architecture.md on the #include lines and
# CMake files of a source tree (default: this checkout). Prints one line per
# violation, naming its rule, and exits 1 if there is any; 0 when clean.
#
# Rules:
#  core-no-uv           the core (netipc/ outside its uv/ folders) never
#                       includes libuv or the libuv adapter
#  codec-no-transport   a codec (netipc/src/codec/, netipc/include/netipc/codec/)
#                       includes no transport, session, client, server, cache
#                       or adapter header
#  public-only-public   a public header includes only public headers
#  provider-consumer    cgroups-provider and ebpf-consumer never include or
#                       link each other
#  outside-internals    nothing outside the library (components, tools,
#                       packaging) includes or adds netipc/src, or links
#                       netipc_internal; tests, fuzzers and benchmarks may
#  library-no-tests     no library file includes tests or benchmarks
#  core-no-proto        the library neither includes nor links the generated
#                       protobuf classes (netipc_proto)
#
# Usage: scripts/check-layers.sh [ROOT]
set -euo pipefail

root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
cd "$root"
[ -d netipc/include/netipc ] && [ -d netipc/src ] || {
  echo "check-layers: $root is not a netipc source tree" >&2
  exit 2
}

violations=0
checked=0
fail() {
  echo "check-layers: $1: $2: $3"
  violations=$((violations + 1))
}


# Headers a path above the codec layer would name.
above_codec='^"(transport|session|client|server|cache|uv)/|^"netipc/uv/|^<uv\.h>|^"netipc/(uds|uds_connection|session|handshake|client|client_config|client_state|dispatch|services|cgroups_snapshot_call|cgroups_snapshot_client|snapshot|snapshot_cache|snapshot_cache_client|snapshot_refresh)\.h"'

# An include an outside file resolves inside the library's src/: relative to
# the file or its component's include/ and src/ it does not exist, under
# netipc/src it does.
resolves_to_internal() {  # file component include
  local file=$1 comp=$2 inc=${3:1:-1}
  case "$3" in \<*) return 1 ;; esac
  case "$inc" in *netipc/src/* | netipc/src/*) return 0 ;; esac
  [ -e "${file%/*}/$inc" ] && return 1
  [ -n "$comp" ] && { [ -e "$comp/include/$inc" ] || [ -e "$comp/src/$inc" ]; } && return 1
  [ -e "netipc/include/$inc" ] || [ -e "netipc/common/$inc" ] && return 1
  [ -e "netipc/src/$inc" ]
}

mapfile -t sources < <(find netipc cgroups-provider ebpf-consumer netdata-glue tools packaging \
  -type f \( -name '*.h' -o -name '*.cc' -o -name '*.c' \) 2>/dev/null | sort)
checked=${#sources[@]}
# One "FILE INCLUDE" line per #include ("x.h" or <x.h>) of every source.
while read -r f inc; do
  case "$f" in
    netipc/*)
      case "$f" in
        netipc/src/uv/* | netipc/include/netipc/uv/*) ;;
        *)
          if [[ $inc =~ ^[\"\<]uv\.h[\"\>]$|^\"netipc/uv/|^\"uv/ ]]; then
            fail core-no-uv "$f" "$inc"
          fi
          ;;
      esac
      case "$f" in
        netipc/src/codec/* | netipc/include/netipc/codec/*)
          if [[ $inc =~ $above_codec ]]; then fail codec-no-transport "$f" "$inc"; fi
          ;;
      esac
      case "$f" in
        netipc/include/*)
          if [[ $inc == \"* && $inc != \"netipc/* ]]; then fail public-only-public "$f" "$inc"; fi
          ;;
      esac
      if [[ $inc =~ (^[\"\<]|/)(tests|bench|support)/|^[\"\<](gtest|gmock|benchmark)/ ]]; then
        fail library-no-tests "$f" "$inc"
      fi
      if [[ $f != netipc/proto/* && $inc =~ \.pb\.h[\"\>]$|^[\"\<]google/protobuf/ ]]; then
        fail core-no-proto "$f" "$inc"
      fi
      ;;
    cgroups-provider/* | ebpf-consumer/* | netdata-glue/* | tools/* | packaging/*)
      comp=${f%%/*}
      case "$f" in
        cgroups-provider/*)
          if [[ $inc =~ ebpf[-_]consumer ]]; then fail provider-consumer "$f" "$inc"; fi
          ;;
        ebpf-consumer/*)
          if [[ $inc =~ cgroups[-_]provider ]]; then fail provider-consumer "$f" "$inc"; fi
          ;;
      esac
      case "$comp" in tools | packaging) comp="" ;; esac
      if resolves_to_internal "$f" "$comp" "$inc"; then fail outside-internals "$f" "$inc"; fi
      ;;
  esac
done < <(grep -H '^[[:space:]]*#[[:space:]]*include' "${sources[@]}" |
  sed -n 's/^\([^:]*\):[[:space:]]*#[[:space:]]*include[[:space:]]*\(["<][^">]*[">]\).*/\1 \2/p')

# CMake: who may see the internals, and the two components apart.
while IFS= read -r f; do
  checked=$((checked + 1))
  case "$f" in
    netipc/* | tests/* | bench/*) ;;
    *)
      while IFS= read -r line; do
        fail outside-internals "$f" "$line"
      done < <(grep -nE 'netipc/src|netipc_internal' "$f" | grep -vE '^[0-9]+:[[:space:]]*#' || true)
      ;;
  esac
  case "$f" in
    cgroups-provider/*) pattern='netipc_ebpf_consumer|ebpf-consumer' ;;
    ebpf-consumer/*) pattern='netipc_cgroups_provider|cgroups-provider' ;;
    *) continue ;;
  esac
  while IFS= read -r line; do
    fail provider-consumer "$f" "$line"
  done < <(grep -nE "$pattern" "$f" | grep -vE '^[0-9]+:[[:space:]]*#' || true)
done < <(find . -path ./build -prune -o -path './.git' -prune -o -type f \
  \( -name CMakeLists.txt -o -name '*.cmake' \) -print 2>/dev/null | sed 's|^\./||' | sort)

# What netipc and netipc_uv are built from and linked with.
while IFS= read -r line; do
  fail core-no-proto netipc/CMakeLists.txt "$line"
done < <(awk '/(netipc_library|target_link_libraries)\(netipc(_uv)? /{on=1} on{print NR": "$0} on&&/\)[[:space:]]*$/{on=0}' \
  netipc/CMakeLists.txt | grep -iE 'proto' || true)

if [ "$violations" -gt 0 ]; then
  echo "check-layers: $violations violation(s); the rules are in docs/architecture.md" >&2
  exit 1
fi
echo "check-layers: ok ($checked files)"
