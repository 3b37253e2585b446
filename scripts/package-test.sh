#!/usr/bin/env bash
# Builds the Debian packages from the release build (docs/packages.md) and
# tests them on this machine, as root:
#  - lintian on each .deb (errors and warnings fail);
#  - each shared library has its SONAME and exports only the namespace
#    netipc and the C ABI;
#  - dpkg -i of the three packages; a find_package(netipc) consumer and a
#    pkg-config consumer build against /usr and run on the shared libraries;
#  - the tools answer --version and --help, the man pages are installed;
#  - the provider unit's ExecStart command line serves this machine's
#    cgroups to netipc-cli until SIGTERM;
#  - dpkg --purge leaves none of the files dpkg -L listed.
# Reuses build/release (configures it for /usr with NETIPC_DEB_PACKAGES=ON
# and builds what the packages hold: after scripts/test.sh, that is linking
# the shared libraries and writing the man pages).
# Refuses to run when the packages are already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
say() { echo "package-test: $*"; }
die() { echo "package-test: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (dpkg -i)"
packages=(libnetipc0 libnetipc-dev netipc-tools)
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed"; then
    die "$p is installed already; dpkg --purge it first"
  fi
done

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
log=build/release/package-test.log
run_logged() { "$@" >> "$log" 2>&1 || { tail -n 30 "$log" >&2; die "$* failed (log: $log)"; }; }
: > "$log"
run_logged cmake -S . -B build/release -DNETIPC_DEB_PACKAGES=ON -DCMAKE_INSTALL_PREFIX=/usr \
  -DCMAKE_INSTALL_LIBDIR="lib/$multiarch"
run_logged cmake --build build/release --target netipc_deb_contents
rm -rf build/release/deb-packages
run_logged cpack -G DEB --config build/release/CPackConfig.cmake -B "$PWD/build/release/deb-packages"
debs=()
for p in "${packages[@]}"; do
  files=(build/release/deb-packages/"${p}"_*.deb)
  f=${files[0]}
  [ -f "$f" ] || die "cpack made no $p package"
  debs+=("$f")
done
say "built ${debs[*]##*/} ($(( $(date +%s) - start ))s)"

work=$(mktemp -d /tmp/netipc-package-test.XXXXXX)
provider_pid=""
made_run_dir=""
cleanup() {
  if [ -n "$provider_pid" ]; then kill "$provider_pid" 2>/dev/null || true; fi
  [ -n "$made_run_dir" ] && rm -rf /run/netipc
  dpkg --purge "${packages[@]}" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# lintian: each package on its own (so a tag names its package).
lintian --fail-on error,warning --tag-display-limit 0 --suppress-tags-from-file packaging/deb/lintian-overrides \
  "${debs[@]}" || die "lintian reported errors or warnings"
say "lintian: no error, no warning"

# The runtime package's libraries: SONAME and exported symbols.
dpkg-deb -x "${debs[0]}" "$work/runtime"
libs=$(find "$work/runtime" -name 'lib*.so.*.*' -type f | sort)
[ -n "$libs" ] || die "libnetipc0 holds no shared library"
for so in $libs; do
  name=$(basename "$so")
  soname=$(objdump -p "$so" | awk '$1 == "SONAME" {print $2}')
  [ "$soname" = "${name%.so.*}.so.0" ] || die "$name has SONAME '$soname'"
  stray=$(nm -D --defined-only "$so" | awk '{print $NF}' |
    grep -Ev '^(_ZN6netipc|_ZNK6netipc|_ZT[ISVT]N6netipc|_ZTh|_ZTv|_ZZN6netipc|_ZZNK6netipc|_ZGVZN6netipc|_ZGVZNK6netipc|netipc_|NETIPC_0$)' || true)
  [ -z "$stray" ] || die "$name exports symbols outside netipc: $(echo "$stray" | head -n5 | tr '\n' ' ')"
  say "$name: SONAME $soname, $(nm -D --defined-only "$so" | wc -l) symbols, all netipc"
done

dpkg -i "${debs[@]}" >/dev/null || die "dpkg -i failed"
dpkg -L "${packages[@]}" | sort -u > "$work/listed"
say "installed: $(wc -l < "$work/listed") paths"

# Consumers against the installed packages (nothing of the build tree).
cmake -S packaging/install-test -B "$work/cmake-consumer" -G Ninja >/dev/null
cmake --build "$work/cmake-consumer" >/dev/null
"$work/cmake-consumer/install_test" >/dev/null || die "find_package(netipc) consumer failed"
# /lib is /usr/lib on a merged-/usr system; ldd may name either.
ldd "$work/cmake-consumer/install_test" > "$work/ldd.txt"
grep -Eq "libnetipc.so.0 => (/usr)?/lib/$multiarch/libnetipc.so.0 " "$work/ldd.txt" ||
  die "find_package(netipc) consumer does not run on the installed libnetipc.so.0: $(grep netipc "$work/ldd.txt" | tr -s "\t\n" "  ")"
say "find_package(netipc) consumer builds and runs on the shared libraries"
# shellcheck disable=SC2046
c++ -std=c++17 -o "$work/pc-consumer" packaging/install-test/main.cc \
  $(pkg-config --cflags --libs netipc netipc-uv netipc-glue-token) || die "pkg-config consumer does not build"
"$work/pc-consumer" >/dev/null || die "pkg-config consumer failed"
say "pkg-config consumer (netipc netipc-uv netipc-glue-token) builds and runs"

# The tools.
for tool in netipc-cli netipc-cgroups-provider; do
  v=$("$tool" --version) || die "$tool --version failed"
  [ "$v" = "$tool $(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' build/release/CMakeCache.txt)" ] ||
    die "$tool --version printed '$v'"
  "$tool" --help | grep -- --help >/dev/null || die "$tool --help"
  zcat "/usr/share/man/man1/$tool.1.gz" | grep "^\.SH DESCRIPTION" >/dev/null || die "$tool.1 has no DESCRIPTION"
done
zcat /usr/share/man/man1/netipc-cli.1.gz | grep "netipc-cli snapshot" >/dev/null || die "netipc-cli.1 lacks the subcommands"
say "tools: --version, --help, man pages"

# The unit's command line, as systemd would run it (RuntimeDirectory made here).
unit=/lib/systemd/system/netipc-cgroups-provider.service
[ -f "$unit" ] || unit=/usr/lib/systemd/system/netipc-cgroups-provider.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$exec_start" ] || die "no ExecStart in $unit"
if command -v systemd-analyze >/dev/null; then
  # Every key known and valid; only the man page check (man-db may be
  # absent) and a missing system bus are not the unit's business.
  verify=$(systemd-analyze verify "$unit" 2>&1 || true)
  bad=$(printf '%s\n' "$verify" | grep -v "Command 'man \|bus\|^$" || true)
  [ -z "$bad" ] || die "systemd-analyze verify $unit: $bad"
  say "systemd-analyze verify: the unit is valid"
fi
if [ -e /run/netipc ]; then die "/run/netipc exists; is a provider running?"; fi
mkdir -m 0755 /run/netipc
made_run_dir=1
# shellcheck disable=SC2086
$exec_start --rescan 0.2 > "$work/provider.out" 2> "$work/provider.err" &
provider_pid=$!
for _ in $(seq 100); do
  grep -q READY "$work/provider.out" 2>/dev/null && break
  kill -0 "$provider_pid" 2>/dev/null || die "provider exited: $(cat "$work/provider.err")"
  sleep 0.1
done
grep -q READY "$work/provider.out" || die "provider not READY in 10 s"
items=$(netipc-cli snapshot --run-dir /run/netipc --service cgroups-snapshot --json |
  sed -n 's/^  "item_count": \([0-9]*\),*$/\1/p')
[ -n "$items" ] || die "netipc-cli snapshot from the unit's provider failed"
kill -TERM "$provider_pid"
rc=0
wait "$provider_pid" || rc=$?
provider_pid=""
[ "$rc" -eq 0 ] || die "provider exited $rc on SIGTERM"
[ ! -e /run/netipc/cgroups-snapshot.sock ] || die "provider left its socket"
rm -rf /run/netipc
made_run_dir=""
say "unit's ExecStart: READY, snapshot of $items cgroups, clean exit on SIGTERM"

dpkg --purge "${packages[@]}" >/dev/null || die "dpkg --purge failed"
left=""
while IFS= read -r path; do
  [ -e "$path" ] || [ -L "$path" ] || continue
  if [ -d "$path" ] && [ ! -L "$path" ] && dpkg -S "$path" >/dev/null 2>&1; then continue; fi
  left+="$path "
done < "$work/listed"
[ -z "$left" ] || die "left behind after purge: $left"
say "dpkg --purge left nothing behind"
say "passed in $(( $(date +%s) - start ))s"
