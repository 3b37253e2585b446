#!/usr/bin/env bash
# Installs the release build into a temporary prefix and builds a tiny
# consumer project against the installed CMake package (find_package), then
# a host project that vendors the tree with add_subdirectory, then the
# embedded Netdata build (packaging/netdata/host-test/run.sh: vendor.sh into
# a fake Netdata tree, a host project with Netdata's settings, both sides run).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d /tmp/netipc-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install build/release --prefix "$prefix" >/dev/null
cmake -S packaging/install-test -B "$prefix/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/build" >/dev/null
"$prefix/build/install_test"
echo "install-test: find_package(netipc) consumer builds and runs (core, libuv adapter, auth token)"
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' build/release/CMakeCache.txt)
pc_libs=$(PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig" pkg-config --define-variable=prefix="$prefix" \
  --libs --static netipc netipc-uv)
case "$pc_libs" in
  *-lnetipc_uv*-lnetipc*) ;;
  *) echo "install-test: pkg-config netipc netipc-uv gave '$pc_libs'" >&2; exit 1 ;;
esac
case "$pc_libs" in
  *protobuf* | *netipc_proto*) echo "install-test: netipc.pc still names protobuf: '$pc_libs'" >&2; exit 1 ;;
esac
echo "install-test: pkg-config netipc netipc-uv resolve, without protobuf"
cmake -S packaging/subdir-test -B "$prefix/subdir" -G Ninja -DNETIPC_SOURCE_DIR="$PWD" >/dev/null
cmake --build "$prefix/subdir" --target subdir_test >/dev/null
"$prefix/subdir/subdir_test"
echo "install-test: add_subdirectory(netipc) host project builds and runs"
bash packaging/netdata/host-test/run.sh
echo "install-test: embedded Netdata build (vendor.sh, host project, daemon and plugin sides) passes"
