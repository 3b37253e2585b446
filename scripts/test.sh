#!/usr/bin/env bash
# Builds the project (release preset) and runs every test: unit,
# integration, regression and the fuzz targets' replay runs.
# Usage: scripts/test.sh [PRESET]   (default: release; also debug, asan, tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
bash scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset"
ctest --preset "$preset"
