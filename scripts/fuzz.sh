#!/usr/bin/env bash
# Builds every fuzz target with clang + libFuzzer (ASan/UBSan) and runs each
# for SECONDS (default 10), starting from its code-built seed corpus plus
# whatever earlier runs added under build/fuzz/corpus/<target>.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
shift || true
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$f" .cc)"); done
fi
status=0
for t in "${targets[@]}"; do
  corpus="build/fuzz/corpus/$t"
  mkdir -p "$corpus"
  "build/fuzz/tests/fuzz/${t}_seeds" --dump-seeds "$corpus" >/dev/null
  echo "== fuzz $t for ${seconds}s"
  if ! "build/fuzz/tests/fuzz/$t" "$corpus" -max_total_time="$seconds" -print_final_stats=1 \
      -rss_limit_mb=2048 2>"build/fuzz/$t.log"; then
    echo "FUZZ FAILURE in $t (log: build/fuzz/$t.log)"; tail -40 "build/fuzz/$t.log"; status=1
  else
    grep -E "stat::number_of_executed_units" "build/fuzz/$t.log" || true
  fi
done
exit $status
