#!/usr/bin/env bash
# Installs the release build into a temporary prefix and builds a tiny
# consumer project against the installed CMake package (find_package), then
# a host project that vendors the tree with add_subdirectory.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d /tmp/netipc-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install build/release --prefix "$prefix" >/dev/null
cmake -S packaging/install-test -B "$prefix/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/build" >/dev/null
"$prefix/build/install_test"
echo "install-test: find_package(netipc) consumer builds and runs"
cmake -S packaging/subdir-test -B "$prefix/subdir" -G Ninja -DNETIPC_SOURCE_DIR="$PWD" >/dev/null
cmake --build "$prefix/subdir" --target subdir_test >/dev/null
"$prefix/subdir/subdir_test"
echo "install-test: add_subdirectory(netipc) host project builds and runs"
