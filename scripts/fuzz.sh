#!/usr/bin/env bash
# Builds every fuzz target with clang + libFuzzer (ASan/UBSan) and runs each
# one, starting from its code-built seed corpus plus whatever earlier runs
# added under build/fuzz/corpus/<target>. See --help.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
       scripts/fuzz.sh --long [--runs N] [--max-time S] [TARGET...]

Builds the fuzz preset (clang, libFuzzer, ASan/UBSan) and runs each fuzz
target (default: every tests/fuzz/*_fuzz.cc), one after another, on its seed
corpus plus build/fuzz/corpus/<target> (which keeps what runs add).

Short form: each target runs for SECONDS (default 10).

--long: each target runs until it has executed N inputs (--runs, default
10000000), or until --max-time S seconds have passed (default: no limit),
whichever comes first. A summary table follows: executions, seconds,
executions per second, coverage (libFuzzer's "cov", covered code edges, and
"ft", features) and whether N was reached. While a target runs, its
progress (libFuzzer's status lines) is printed every 30 s.

Exit status: 0 when every target ran without a finding (and, with --long,
reached N); 1 on a crash, leak, timeout or sanitizer report (the log is
build/fuzz/<target>.log, the input is saved by libFuzzer in the current
directory); 3 with --long when a target stopped at --max-time short of N.
EOF
}

long=0
runs=10000000
max_time=0
seconds=10
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --long) long=1; shift ;;
    --runs) runs="${2:-}"; shift 2 ;;
    --max-time) max_time="${2:-}"; shift 2 ;;
    -*) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *)
      if [ $long = 0 ] && [ ${#targets[@]} -eq 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
        seconds="$1"
      else
        targets+=("$1")
      fi
      shift ;;
  esac
done
for n in "$runs" "$max_time"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --runs and --max-time take integers" >&2; exit 2; }
done

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$f" .cc)"); done
fi

# The last value libFuzzer printed for a stat (stat::NAME: V) or a status
# field (cov: V).
final_stat() { grep -o "stat::$2: *[0-9]*" "$1" | tail -n 1 | grep -o '[0-9]*$' || echo 0; }
status_field() { grep -o "$2: [0-9]*" "$1" | tail -n 1 | grep -o '[0-9]*$' || echo 0; }

status=0
summary=()
for t in "${targets[@]}"; do
  corpus="build/fuzz/corpus/$t"
  log="build/fuzz/$t.log"
  mkdir -p "$corpus"
  "build/fuzz/tests/fuzz/${t}_seeds" --dump-seeds "$corpus" >/dev/null
  if [ $long = 0 ]; then
    echo "== fuzz $t for ${seconds}s"
    args=(-max_total_time="$seconds")
  else
    echo "== fuzz $t until $runs executions$([ "$max_time" = 0 ] || echo " or ${max_time}s")"
    args=(-runs="$runs")
    [ "$max_time" = 0 ] || args+=(-max_total_time="$max_time")
  fi
  t0=$(date +%s)
  "build/fuzz/tests/fuzz/$t" "$corpus" "${args[@]}" -print_final_stats=1 -rss_limit_mb=2048 \
    2>"$log" &
  pid=$!
  if [ $long = 1 ]; then
    while kill -0 "$pid" 2>/dev/null; do
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 1; done
      kill -0 "$pid" 2>/dev/null && echo "   $t: $(grep -E '^#[0-9]+' "$log" | tail -n 1)"
    done
  fi
  if ! wait "$pid"; then
    echo "FUZZ FAILURE in $t (log: $log)"; tail -40 "$log"; status=1
    summary+=("$(printf '%-24s FAILED (see %s)' "$t" "$log")")
    continue
  fi
  execs=$(final_stat "$log" number_of_executed_units)
  echo "stat::number_of_executed_units: $execs"
  if [ $long = 1 ]; then
    secs=$(( $(date +%s) - t0 ))
    reached=yes
    if [ "$execs" -lt "$runs" ]; then
      reached="NO (stopped at --max-time)"; [ $status = 0 ] && status=3
    fi
    summary+=("$(printf '%-24s %11d %7d %9d %7d %7d  %s' "$t" "$execs" "$secs" \
      "$(final_stat "$log" average_exec_per_sec)" "$(status_field "$log" cov)" \
      "$(status_field "$log" ft)" "$reached")")
  fi
done
if [ $long = 1 ]; then
  echo
  printf '%-24s %11s %7s %9s %7s %7s  %s\n' target executions seconds execs/s cov ft \
    "reached $runs"
  printf '%s\n' "${summary[@]}"
fi
exit $status
