#!/usr/bin/env bash
# Chaos: the cgroups-snapshot provider is killed with SIGKILL and restarted,
# again and again, while consumers stay attached. See --help.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/reliability.sh

usage() {
  cat <<'EOF'
Usage: scripts/chaos.sh [options]

Kills netipc-cgroups-provider with SIGKILL and restarts it, CYCLES times per
transport, while CONSUMERS long-running `netipc-cli cache` processes (the
ebpf.plugin consumer) stay attached and refresh every 0.1 s. The provider
serves a directory tree shaped like a cgroup v2 host (CGROUPS cgroups whose
cgroup.procs files hold this script's PID), so no privilege is needed.

Each cycle: wait until every consumer has refreshed from the running provider,
wait a random 0-200 ms, kill -9 the provider, start a new one on the same run
directory (it must say READY within 20 s), wait until every consumer has
refreshed from it (within 20 s), then look at the run directory.

Counted, each must stay 0 (the script exits 1 otherwise):
  restart failures   a new provider that exits or is not READY within 20 s
  reconnect failures a consumer with no successful refresh from the new
                     provider within 20 s
  consumer deaths    a consumer process that ended
  lost caches        a consumer view whose item count fell below the tree's
                     after the consumer first had it all
  empty views        a consumer view with 0 targets after its first full one
  leftovers          files in the run directory beyond the socket and one
                     shared-memory region per consumer (shm) once every
                     consumer is back; and anything left after the final
                     clean stop (consumers, then provider, with SIGTERM)

Options:
  --cycles N        kill/restart cycles per transport (default 50)
  --transports LIST comma-separated, from uds,shm (default uds,shm)
  --consumers N     consumers attached per transport (default 2)
  --cgroups N       cgroups in the fake tree (default 50)
  --build DIR       build directory holding the tools (default build/release)
  --keep            keep the work directory (logs) even on success
  -h, --help        this text

Progress: one line per cycle on stdout. Logs: a work directory under /tmp,
named at the start, removed on success unless --keep.
EOF
}

cycles=50
transports=uds,shm
consumers=2
cgroups=50
build=build/release
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cycles) cycles=$(need_uint "$1" "${2:-}"); shift 2 ;;
    --transports) transports="${2:-}"; shift 2 ;;
    --consumers) consumers=$(need_uint "$1" "${2:-}"); shift 2 ;;
    --cgroups) cgroups=$(need_uint "$1" "${2:-}"); shift 2 ;;
    --build) build="${2:-}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "chaos.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for t in ${transports//,/ }; do
  case "$t" in uds|shm) ;; *) echo "chaos.sh: unknown transport '$t'" >&2; exit 2 ;; esac
done
[ "$consumers" -ge 1 ] || { echo "chaos.sh: --consumers must be at least 1" >&2; exit 2; }
[ "$cgroups" -ge 1 ] || { echo "chaos.sh: --cgroups must be at least 1" >&2; exit 2; }
find_tools "$build"

rel_workdir chaos
echo "chaos: $cycles cycles per transport ($transports), $consumers consumers, $cgroups cgroups; work dir $work"
rel_make_tree "$cgroups"

provider_pid=""
rel_before_cleanup() {
  if [ -n "$provider_pid" ]; then
    kill -KILL "$provider_pid" 2>/dev/null || true
    wait "$provider_pid" 2>/dev/null || true
  fi
}

# Ends the provider with SIGNAL and reaps it.
stop_provider() {
  kill "-$1" "$provider_pid" 2>/dev/null || true
  wait "$provider_pid" 2>/dev/null || true
  provider_pid=""
}

restart_failures=0
reconnect_failures=0
consumer_deaths=0
lost_caches=0
empty_views=0
leftovers=0

# Prints the number of entries of the run directory beyond those expected.
extra_files() {
  local run=$1 allowed=$2 n
  n=$(find "$run" -mindepth 1 -maxdepth 1 | wc -l)
  echo $(( n > allowed ? n - allowed : 0 ))
}

# Starts the provider; returns 1 if it is not READY within 20 s.
start_provider() {
  local t=$1 run=$2 log=$3 readies
  readies=$(grep -c '^READY' "$log" 2>/dev/null || true)
  "$provider" --cgroup-root "$tree" --run-dir "$run" --service chaos --rescan 1 \
    --transport "$t" >>"$log" 2>&1 &
  provider_pid=$!
  rel_wait 20 "[ \$(grep -c '^READY' '$log') -gt $readies ]" "kill -0 $provider_pid"
}

# Waits until every consumer's successful-refresh count exceeds the one in
# its element of the array named by $1 by at least 2 (so one refresh began
# after the new provider was READY). Counts the consumers that do not.
wait_consumers_back() {
  local -n base=$1
  local k missing=0
  for k in "${!cons_pids[@]}"; do
    if ! rel_wait 20 "[ \$(rel_ok_count '${cons_logs[$k]}') -ge $(( base[k] + 2 )) ]" \
        "kill -0 ${cons_pids[$k]}"; then
      missing=$((missing + 1))
    fi
  done
  echo "$missing"
}

for t in ${transports//,/ }; do
  run="$work/run-$t"
  mkdir -m 700 "$run"
  plog="$work/provider-$t.log"
  : >"$plog"
  if ! start_provider "$t" "$run" "$plog"; then
    echo "chaos: [$t] the first provider did not start:"; tail -20 "$plog"; exit 1
  fi
  cons_pids=()
  cons_logs=()
  for k in $(seq 1 "$consumers"); do
    clog="$work/consumer-$t-$k.log"
    rel_start_consumer "$run" chaos "$t" 0.1 "$clog"
    cons_pids+=("$rel_pid")
    cons_logs+=("$clog")
  done
  zero=()
  for k in "${!cons_pids[@]}"; do zero+=(0); done
  if [ "$(wait_consumers_back zero)" != 0 ]; then
    echo "chaos: [$t] consumers never refreshed from the first provider"; exit 1
  fi
  full_items=$(rel_last_field "${cons_logs[0]}" items)
  full_targets=$(rel_last_field "${cons_logs[0]}" targets)
  echo "chaos: [$t] provider up, $consumers consumers see $full_items items, $full_targets targets"
  if [ "$full_targets" -lt 1 ]; then echo "chaos: [$t] no targets in the view"; exit 1; fi
  allowed=1
  [ "$t" = shm ] && allowed=$((1 + consumers))

  for c in $(seq 1 "$cycles"); do
    sleep "0.$(printf '%03d' $((RANDOM % 200)))"
    stop_provider KILL
    before=()
    for k in "${!cons_logs[@]}"; do before+=("$(rel_ok_count "${cons_logs[$k]}")"); done
    t0=$(rel_now_ms)
    if ! start_provider "$t" "$run" "$plog"; then
      restart_failures=$((restart_failures + 1))
      echo "chaos: [$t] cycle $c: RESTART FAILURE"; tail -5 "$plog"
      stop_provider KILL
      start_provider "$t" "$run" "$plog" || { echo "chaos: [$t] cannot restart at all"; break; }
    fi
    t1=$(rel_now_ms)
    missing=$(wait_consumers_back before)
    t2=$(rel_now_ms)
    reconnect_failures=$((reconnect_failures + missing))
    dead=0
    for k in "${!cons_pids[@]}"; do kill -0 "${cons_pids[$k]}" 2>/dev/null || dead=$((dead + 1)); done
    extra=$(extra_files "$run" "$allowed")
    leftovers=$((leftovers + extra))
    printf 'chaos: [%s] cycle %d/%d: READY after %d ms, consumers back after %d ms%s%s%s\n' \
      "$t" "$c" "$cycles" $((t1 - t0)) $((t2 - t1)) \
      "$([ "$missing" = 0 ] || echo ", $missing NOT BACK")" \
      "$([ "$dead" = 0 ] || echo ", $dead CONSUMERS DEAD")" \
      "$([ "$extra" = 0 ] || echo ", $extra LEFTOVER FILES: $(ls "$run" | tr '\n' ' ')")"
    if [ "$dead" != 0 ]; then consumer_deaths=$dead; break; fi
  done

  # Clean stop: consumers, then the provider; the run dir must end empty.
  for k in "${!cons_pids[@]}"; do kill -TERM "${cons_pids[$k]}" 2>/dev/null || true; done
  for k in "${!cons_pids[@]}"; do wait "${cons_pids[$k]}" 2>/dev/null || true; done
  rel_children=()
  stop_provider TERM
  sleep 0.2  # the consumers' output filters flush
  end_left=$(extra_files "$run" 0)
  if [ "$end_left" != 0 ]; then
    echo "chaos: [$t] left in the run directory after the clean stop: $(ls "$run" | tr '\n' ' ')"
  fi
  leftovers=$((leftovers + end_left))
  for k in "${!cons_logs[@]}"; do
    read -r lost empty < <(rel_view_faults "${cons_logs[$k]}" "$full_items" "$full_targets")
    lost_caches=$((lost_caches + lost))
    empty_views=$((empty_views + empty))
    echo "chaos: [$t] consumer $((k + 1)): $(rel_view_count "${cons_logs[$k]}") views, $lost lost caches, $empty empty views"
  done
done

echo
echo "chaos summary: cycles per transport $cycles ($transports), consumers $consumers"
echo "  restart failures   $restart_failures"
echo "  reconnect failures $reconnect_failures"
echo "  consumer deaths    $consumer_deaths"
echo "  lost caches        $lost_caches"
echo "  empty views        $empty_views"
echo "  leftovers          $leftovers"
total=$((restart_failures + reconnect_failures + consumer_deaths + lost_caches + empty_views + leftovers))
if [ "$total" -ne 0 ]; then
  echo "chaos: FAILED (logs kept in $work)"; keep=1; exit 1
fi
echo "chaos: passed"
