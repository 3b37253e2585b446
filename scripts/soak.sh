#!/usr/bin/env bash
# Soak: the cgroups-snapshot provider under mixed load for a long time, with
# its and its consumers' memory and descriptors tracked. See --help.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/reliability.sh

usage() {
  cat <<'EOF'
Usage: scripts/soak.sh [options]

Runs netipc-cgroups-provider (shared memory offered) on a directory tree
shaped like a cgroup v2 host for DURATION, under a mixed load:
  - two long-running consumers (`netipc-cli cache --every 0.2`), one over the
    Unix socket, one over shared memory;
  - churn: one cgroup added and, once the tree holds CGROUPS + 20, the oldest
    added one removed, every second (the provider rescans every 0.5 s);
  - short-lived clients, one after another: `netipc-cli snapshot` (layouts 1
    and 2, both transports) and `netipc-cli cache --once`, each a new
    connection and handshake.

Every SAMPLE seconds it records VmRSS and the number of open descriptors of
the provider and of both consumers (a CSV in the work directory) and prints
a progress line.

Fails (exit 1) when:
  - the provider or a consumer ends, or a short-lived client fails;
  - a process's peak RSS in the last fifth of the run exceeds its peak in
    the first fifth by more than RSS_GROWTH_KB;
  - a process's lowest descriptor count in the last fifth exceeds its
    lowest in the first fifth by more than FD_GROWTH (each sample is the
    lowest of five reads 0.1 s apart: short-lived sessions and cgroup.procs
    reads hold descriptors for a moment, a leak holds them for good).

Options:
  --duration D        how long: seconds, or with a suffix s, m or h
                      (default 3h)
  --sample S          seconds between samples (default 10; at most a tenth
                      of the duration is used)
  --cgroups N         cgroups in the tree at the start (default 200)
  --rss-growth-kb K   allowed RSS growth per process (default 2048)
  --fd-growth N       allowed descriptor growth per process (default 2)
  --build DIR         build directory holding the tools (default build/release)
  --keep              keep the work directory (logs, samples) even on success
  -h, --help          this text
EOF
}

duration=3h
sample=10
cgroups=200
rss_growth_kb=2048
fd_growth=2
build=build/release
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="${2:-}"; shift 2 ;;
    --sample) sample=$(need_uint "$1" "${2:-}"); shift 2 ;;
    --cgroups) cgroups=$(need_uint "$1" "${2:-}"); shift 2 ;;
    --rss-growth-kb) rss_growth_kb=$(need_uint "$1" "${2:-}"); shift 2 ;;
    --fd-growth) fd_growth=$(need_uint "$1" "${2:-}"); shift 2 ;;
    --build) build="${2:-}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "soak.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$duration" in
  *h) seconds=$(( $(need_uint --duration "${duration%h}") * 3600 )) ;;
  *m) seconds=$(( $(need_uint --duration "${duration%m}") * 60 )) ;;
  *s) seconds=$(need_uint --duration "${duration%s}") ;;
  *) seconds=$(need_uint --duration "$duration") ;;
esac
[ "$seconds" -ge 10 ] || { echo "soak.sh: --duration must be at least 10 s" >&2; exit 2; }
[ "$sample" -ge 1 ] || sample=1
if [ $(( sample * 10 )) -gt "$seconds" ]; then sample=$(( seconds / 10 )); fi
find_tools "$build"

rel_workdir soak
echo "soak: ${seconds}s, sample every ${sample}s, $cgroups cgroups (+20 churning);" \
  "bounds: RSS +${rss_growth_kb} kB, fds +${fd_growth}; work dir $work"
rel_make_tree "$cgroups"
run="$work/run"
mkdir -m 700 "$run"

"$provider" --cgroup-root "$tree" --run-dir "$run" --service soak --rescan 0.5 \
  --transport shm >"$work/provider.log" 2>&1 &
provider_pid=$!
rel_children+=("$provider_pid")
rel_wait 20 "grep -q '^READY' '$work/provider.log'" "kill -0 $provider_pid" ||
  { echo "soak: the provider did not start:"; tail -20 "$work/provider.log"; exit 1; }

rel_start_consumer "$run" soak uds 0.2 "$work/consumer-uds.log"
uds_pid=$rel_pid
rel_start_consumer "$run" soak shm 0.2 "$work/consumer-shm.log"
shm_pid=$rel_pid
rel_wait 20 "[ \$(rel_ok_count '$work/consumer-uds.log') -ge 1 ] && [ \$(rel_ok_count '$work/consumer-shm.log') -ge 1 ]" \
  "kill -0 $uds_pid && kill -0 $shm_pid" ||
  { echo "soak: the consumers never refreshed"; exit 1; }

# Churn: one cgroup in and, beyond 20 added, the oldest out, every second.
(
  n=0
  while :; do
    n=$((n + 1))
    rel_add_cgroup "churn-$n"
    if [ "$n" -gt 20 ]; then rel_remove_cgroup "churn-$((n - 20))"; fi
    sleep 1
  done
) &
rel_children+=("$!")

# Short-lived clients, one after another; failures are counted in a file.
(
  i=0
  while :; do
    i=$((i + 1))
    case $((i % 5)) in
      0) args=(snapshot --run-dir "$run" --service soak --layout 1) ;;
      1) args=(snapshot --run-dir "$run" --service soak --layout 2 --transport shm) ;;
      2) args=(snapshot --run-dir "$run" --service soak --layout 2) ;;
      3) args=(snapshot --run-dir "$run" --service soak --layout 1 --transport shm) ;;
      4) args=(cache --once --run-dir "$run" --service soak --transport shm) ;;
    esac
    if "$cli" "${args[@]}" >/dev/null 2>"$work/short.err"; then
      echo ok >>"$work/short.results"
    else
      echo "FAILED: netipc-cli ${args[*]}: $(head -c 300 "$work/short.err")" >>"$work/short.results"
    fi
    sleep 0.1
  done
) &
rel_children+=("$!")

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# Descriptor counts of the provider and both consumers, the lowest of five
# reads 0.1 s apart: a short-lived client's session or a cgroup.procs being
# read holds a descriptor for a moment, a leak holds it for good.
fds_low() {
  local pfd=999999 ufd=999999 sfd=999999 n _
  for _ in 1 2 3 4 5; do
    n=$(fds "$provider_pid"); [ "$n" -lt "$pfd" ] && pfd=$n
    n=$(fds "$uds_pid"); [ "$n" -lt "$ufd" ] && ufd=$n
    n=$(fds "$shm_pid"); [ "$n" -lt "$sfd" ] && sfd=$n
    sleep 0.1
  done
  echo "$pfd $ufd $sfd"
}

csv="$work/samples.csv"
echo "t_s,provider_rss_kb,provider_fds,uds_consumer_rss_kb,uds_consumer_fds,shm_consumer_rss_kb,shm_consumer_fds,short_ok,short_failed" >"$csv"
start=$(date +%s)
died=""
while :; do
  now=$(date +%s)
  el=$((now - start))
  for p in "provider:$provider_pid" "uds consumer:$uds_pid" "shm consumer:$shm_pid"; do
    kill -0 "${p##*:}" 2>/dev/null || died="$died ${p%%:*}"
  done
  short_ok=$(grep -c '^ok' "$work/short.results" 2>/dev/null || true)
  short_failed=$(grep -c '^FAILED' "$work/short.results" 2>/dev/null || true)
  read -r pfd ufd sfd < <(fds_low)
  row="$el,$(rss_kb $provider_pid),$pfd,$(rss_kb $uds_pid),$ufd,$(rss_kb $shm_pid),$sfd,${short_ok:-0},${short_failed:-0}"
  echo "$row" >>"$csv"
  IFS=, read -r _ prss pfd urss ufd srss sfd _ _ <<<"$row"
  printf 'soak: %5ds/%ds  provider %6d kB %3d fds | uds consumer %6d kB %3d fds (%d refreshes) | shm consumer %6d kB %3d fds (%d refreshes) | short clients %d ok, %d failed\n' \
    "$el" "$seconds" "$prss" "$pfd" "$urss" "$ufd" "$(rel_ok_count "$work/consumer-uds.log")" \
    "$srss" "$sfd" "$(rel_ok_count "$work/consumer-shm.log")" "${short_ok:-0}" "${short_failed:-0}"
  if [ -n "$died" ] || [ "$el" -ge "$seconds" ]; then break; fi
  sleep $(( sample < seconds - el ? sample : seconds - el ))
done

echo
echo "soak summary after ${el}s (samples: $csv)"
fail=0
if [ -n "$died" ]; then echo "  ENDED during the run:$died"; fail=1; fi
echo "  short-lived clients: ${short_ok:-0} ok, ${short_failed:-0} failed"
if [ "${short_failed:-0}" != 0 ]; then
  grep '^FAILED' "$work/short.results" | head -5 | sed 's/^/    /'; fail=1
fi
echo "  consumer refreshes: uds $(rel_ok_count "$work/consumer-uds.log") ok," \
  "shm $(rel_ok_count "$work/consumer-shm.log") ok;" \
  "failed: uds $(rel_last_field "$work/consumer-uds.log" /)," \
  "shm $(rel_last_field "$work/consumer-shm.log" /)"
# Per column, the first and the last fifth of the samples: RSS peaks, and
# descriptor floors (the lowest count).
report=$(awk -F, -v g="$rss_growth_kb" -v fg="$fd_growth" '
  NR == 1 { for (i = 2; i <= 7; i++) name[i] = $i; next }
  { n++; for (i = 2; i <= 7; i++) v[n, i] = $i }
  END {
    k = int(n / 5); if (k < 1) k = 1
    for (i = 2; i <= 7; i++) {
      rss = name[i] ~ /rss/
      a = v[1, i]; b = v[n, i]
      for (j = 1; j <= k; j++) if (rss ? v[j, i] > a : v[j, i] < a) a = v[j, i]
      for (j = n - k + 1; j <= n; j++) if (rss ? v[j, i] > b : v[j, i] < b) b = v[j, i]
      lim = rss ? g : fg
      verdict = (b - a > lim) ? "GROWTH BEYOND BOUND" : "ok"
      printf "  %-20s %s in the first fifth %7d, in the last fifth %7d, growth %6d (bound %d) %s\n", name[i], rss ? "peak " : "floor", a, b, b - a, lim, verdict
    }
  }' "$csv")
echo "$report"
if grep -q 'BEYOND' <<<"$report"; then fail=1; fi
if [ "$fail" != 0 ]; then echo "soak: FAILED (logs kept in $work)"; keep=1; exit 1; fi
echo "soak: passed"
