#!/usr/bin/env bash
# Same-run A/B comparison of netipc-bench between a baseline revision and
# this checkout, runs interleaved so that machine load hits both alike.
# See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bench-ab.sh [options] SCENARIO [SCENARIO...] [-- BENCH-ARGS...]

Runs `netipc-bench SCENARIO --seconds S BENCH-ARGS...` from two builds, the
baseline (A) and this checkout (B), alternately: for each round, for each
scenario, A then B. Then prints per scenario, for each build, the median and
the range (min..max) of the throughput over the rounds, the ratio of the
medians (this / baseline), the median CPU per unit in nanoseconds
((client_cpu_pct + server_cpu_pct) / 100 / throughput: client plus server
CPU time per item for batch scenarios, per request otherwise) and the median
round-trip p50 latency.

The baseline is built from `git archive REV` (release preset, benchmarks
only, ccache when installed, nice -n 19) under CACHE/<commit id>/ and reused
on later runs. This checkout's build/release is built (netipc-bench target)
unless --no-build is given; uncommitted changes are included.

Options:
  --baseline REV   git revision to compare against (default: main)
  --rounds N       A/B pairs per scenario (default 5)
  --seconds S      measured seconds of each run (default 2)
  --cache DIR      where baseline builds are kept (default /tmp/netipc-bench-ab)
  --build DIR      this checkout's build directory (default build/release)
  --no-build       use the existing netipc-bench of --build as it is
  --jobs N         parallel compile jobs (default 2)
  --raw FILE       also write every run's JSON line, tagged with its build and
                   round, to FILE
  -h, --help       this text

Everything after `--` is passed to both netipc-bench runs (e.g. --items 64).
Exit status: 0 when every run succeeded, 1 when a build or a run failed, 2 on
a usage error. The machine's load average is printed before and after.
EOF
}

die_usage() {
  echo "bench-ab: $1 (see --help)" >&2
  exit 2
}
die() {
  echo "bench-ab: $1" >&2
  exit 1
}

baseline=main
rounds=5
seconds=2
cache=/tmp/netipc-bench-ab
build=build/release
do_build=1
jobs=2
raw=""
scenarios=()
bench_args=()

need_value() {
  [ $# -ge 2 ] || die_usage "$1 needs a value"
}
is_count() {
  [[ "$1" =~ ^[1-9][0-9]*$ ]]
}

while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --baseline) need_value "$@"; baseline=$2; shift ;;
    --rounds) need_value "$@"; rounds=$2; shift
      is_count "$rounds" || die_usage "--rounds needs a positive integer, got '$rounds'" ;;
    --seconds) need_value "$@"; seconds=$2; shift
      [[ "$seconds" =~ ^[0-9]*\.?[0-9]+$ ]] && [[ ! "$seconds" =~ ^0*\.?0*$ ]] ||
        die_usage "--seconds needs a positive number, got '$seconds'" ;;
    --cache) need_value "$@"; cache=$2; shift ;;
    --build) need_value "$@"; build=$2; shift ;;
    --no-build) do_build=0 ;;
    --jobs) need_value "$@"; jobs=$2; shift
      is_count "$jobs" || die_usage "--jobs needs a positive integer, got '$jobs'" ;;
    --raw) need_value "$@"; raw=$2; shift ;;
    --) shift; bench_args=("$@"); break ;;
    -*) die_usage "unknown option '$1'" ;;
    *) scenarios+=("$1") ;;
  esac
  shift
done
[ ${#scenarios[@]} -gt 0 ] || die_usage "no scenario given"

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v python3 >/dev/null || die "python3 is needed for the summary"
git rev-parse --git-dir >/dev/null 2>&1 || die "$root is not a git checkout"
commit=$(git rev-parse --verify --quiet "${baseline}^{commit}") ||
  die "baseline '$baseline' is not a commit in this repository"

if command -v ccache >/dev/null; then
  export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}
  export CMAKE_C_COMPILER_LAUNCHER=${CMAKE_C_COMPILER_LAUNCHER:-ccache}
fi

# ---- builds ----
base_dir=$cache/$commit
base_bench=$base_dir/src/build/release/bench/netipc-bench
if [ ! -x "$base_bench" ]; then
  echo "bench-ab: building baseline $commit in $base_dir/src (log: $base_dir/build.log)" >&2
  rm -rf "$base_dir"
  mkdir -p "$base_dir/src"
  git archive "$commit" | tar -x -C "$base_dir/src"
  (
    cd "$base_dir/src"
    nice -n 19 cmake --preset release -DNETIPC_BUILD_TESTS=OFF &&
      nice -n 19 cmake --build build/release --target netipc-bench -j "$jobs"
  ) >"$base_dir/build.log" 2>&1 || die "baseline build failed; see $base_dir/build.log"
fi
this_bench=$build/bench/netipc-bench
if [ "$do_build" -eq 1 ]; then
  if [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; then
    [ "$build" = build/release ] || die "$build is not a configured build directory"
    nice -n 19 cmake --preset release >/dev/null || die "configuring build/release failed"
  fi
  nice -n 19 cmake --build "$build" --target netipc-bench -j "$jobs" >/dev/null ||
    die "building netipc-bench in $build failed (run: cmake --build $build --target netipc-bench)"
fi
[ -x "$this_bench" ] || die "no netipc-bench at $this_bench"

for b in "$base_bench" "$this_bench"; do
  known=$("$b" --help | awk '{print $1}') || die "$b --help failed"
  for s in "${scenarios[@]}"; do
    grep -qxF -- "$s" <<<"$known" || die "scenario '$s' is not known to $b"
  done
done

# ---- interleaved runs ----
work=$(mktemp -d /tmp/bench-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "bench-ab: baseline $commit ($baseline), this tree $(git rev-parse --short HEAD)$(
  git diff --quiet HEAD -- 2>/dev/null || echo ' + uncommitted changes')"
echo "bench-ab: ${#scenarios[@]} scenario(s) x $rounds round(s) x 2 builds x ${seconds} s;" \
  "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run_one() {  # build-label round scenario binary
  local out
  if ! out=$("$4" "$3" --seconds "$seconds" "${bench_args[@]}" 2>"$work/stderr"); then
    cat "$work/stderr" >&2
    die "$1 run of $3 (round $2) failed"
  fi
  printf '%s\n' "$out" | grep '^{' | sed "s/^{/{\"ab_build\":\"$1\",\"ab_round\":$2,/" \
    >>"$work/runs.jsonl"
}
for ((r = 1; r <= rounds; r++)); do
  for s in "${scenarios[@]}"; do
    run_one baseline "$r" "$s" "$base_bench"
    run_one this "$r" "$s" "$this_bench"
  done
  echo "bench-ab: round $r/$rounds done" >&2
done
echo "bench-ab: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "$raw" ] || cp "$work/runs.jsonl" "$raw"

python3 - "$work/runs.jsonl" <<'EOF'
import json, statistics, sys

runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
order = []
by = {}
for r in runs:
    s = r["scenario"]
    if s not in by:
        order.append(s)
        by[s] = {"baseline": [], "this": []}
    by[s][r["ab_build"]].append(r)

def si(v):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return "%.3g%s" % (v / div, suffix)
    return "%.3g" % v

def cpu_ns(r):
    t = r["throughput"]
    return (r["client_cpu_pct"] + r["server_cpu_pct"]) / 100.0 * 1e9 / t if t > 0 else float("nan")

print()
print("%-26s %-9s %10s %19s %13s %8s %8s %8s" % (
    "scenario", "build", "median/s", "range", "cpu ns/unit", "cli cpu%", "srv cpu%", "p50 us"))
for s in order:
    med = {}
    for b in ("baseline", "this"):
        rs = by[s][b]
        if not rs:
            print("%-26s %-9s (no runs)" % (s, b))
            continue
        tp = [r["throughput"] for r in rs]
        med[b] = statistics.median(tp)
        print("%-26s %-9s %10s %19s %13.1f %8.0f %8.0f %8.1f" % (
            s, b, si(med[b]), si(min(tp)) + ".." + si(max(tp)),
            statistics.median(cpu_ns(r) for r in rs),
            statistics.median(r["client_cpu_pct"] for r in rs),
            statistics.median(r["server_cpu_pct"] for r in rs),
            statistics.median(r["p50_us"] for r in rs)))
    if len(med) == 2 and med["baseline"] > 0:
        unit = by[s]["this"][0].get("unit", "")
        pairs = [t["throughput"] / b["throughput"]
                 for b, t in zip(by[s]["baseline"], by[s]["this"]) if b["throughput"] > 0]
        print("%-26s ratio this/baseline %.2f (%s; per-round ratios %.2f..%.2f)" % (
            "", med["this"] / med["baseline"], unit, min(pairs), max(pairs)))
EOF
