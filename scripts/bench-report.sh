#!/usr/bin/env bash
# Runs the benchmark scenarios and writes docs/benchmarks.md with its plots
# (docs/benchmarks/*.png): transports next to the raw-limit probes, snapshot
# latency and provider/consumer RSS from 16 to 300,000 cgroups, cache lookups
# against the reference index. Fails when a scenario is missing or a ratio is
# below its target, naming each (the report is written either way).
#
# Usage: scripts/bench-report.sh [--quick] [--out FILE] [--note TEXT]
#   --quick   1-second runs and fewer repetitions (same scenarios and sizes)
#   --out     where the report goes (default docs/benchmarks.md; plots next
#             to it in benchmarks/)
#   --note    a sentence for the report's header (e.g. what else ran)
# Needs the release build of netipc-bench (built here if absent) and Debian's
# python3-matplotlib for /usr/bin/python3 (installed here if absent; root
# or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
out=docs/benchmarks.md
note=""
args=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; args+=" --quick" ;;
    --out) out=$2; shift ;;
    --note) note=$2; shift ;;
    *) echo "usage: scripts/bench-report.sh [--quick] [--out FILE] [--note TEXT]" >&2; exit 2 ;;
  esac
  shift
done

if ! /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  echo "bench-report: installing python3-matplotlib"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q --no-install-recommends python3-matplotlib >/dev/null ||
    { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q --no-install-recommends python3-matplotlib >/dev/null; }
fi
if [ ! -f build/release/build.ninja ]; then
  bash scripts/install-deps.sh
  cmake --preset release >/dev/null
fi
cmake --build build/release --target netipc-bench >/dev/null
bench=build/release/bench/netipc-bench

if [ "$quick" -eq 1 ]; then
  seconds=1 reps=3 cache_seconds=0.5
else
  seconds=3 reps=5 cache_seconds=1
fi
sizes="16 100 1000 10000 100000 300000"
work=build/bench-report
mkdir -p "$work"
raw=$work/raw.jsonl
: > "$raw"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)

steps=()
steps+=("ratios --seconds $seconds --repetitions $reps")
for s in uds-batch-ping-pong uds-pipeline-d16 uds-pipeline-batch-d16 shm-batch-ping-pong; do
  steps+=("$s --seconds $seconds")
done
for n in $sizes; do
  steps+=("snapshot-large --items $n --seconds $seconds")
  steps+=("provider-publish --items $n --seconds $seconds")
  steps+=("consumer-refresh --items $n --procs missing --seconds $seconds")
done
steps+=("cache-lookup --seconds $cache_seconds")

failed=()
i=0
for step in "${steps[@]}"; do
  i=$((i + 1))
  printf '[%2d/%d %4ds] netipc-bench %s\n' "$i" "${#steps[@]}" "$(( $(date +%s) - start ))" "$step"
  # shellcheck disable=SC2086
  if ! "$bench" $step >> "$raw" 2> "$work/last.err"; then
    echo "bench-report: netipc-bench $step failed: $(tail -n 3 "$work/last.err")" >&2
    failed+=("$step")
  fi
done
echo "bench-report: scenarios ran in $(( $(date +%s) - start ))s"

cat > "$work/meta.json" <<META
{"args": "$args", "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
 "commit": "$(git describe --always --dirty 2>/dev/null || echo unknown)",
 "cpus": "$(nproc)", "load_before": "$load_before", "load_after": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "seconds": "$seconds", "repetitions": "$reps", "cache_seconds": "$cache_seconds",
 "note": $(/usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$note")}
META
rc=0
/usr/bin/python3 bench/report/make_report.py --raw "$raw" --out "$out" --sizes "$sizes" --meta "$work/meta.json" || rc=1
echo "bench-report: wrote $out and $(dirname "$out")/benchmarks/*.png"
if [ ${#failed[@]} -gt 0 ]; then
  for s in "${failed[@]}"; do echo "bench-report: FAILED: netipc-bench $s" >&2; done
  rc=1
fi
exit $rc
