#!/usr/bin/env bash
# End-to-end proof of the Netdata patch series on a running daemon.
#
# Starts the patched `netdata` of BUILD_DIR (made by build.sh) with a private
# configuration, creates real cgroups, and checks with netipc-cli that the
# daemon's cgroups-snapshot service publishes exactly the cgroups Netdata
# discovered (names, enabled, paths, cgroup ids, hashes), that removed
# cgroups leave, that ebpf.plugin's cgroup code (its object file from the
# patched build, linked into a harness) tracks them with their PIDs, and
# that nothing of the legacy channel appears in /dev/shm. Optionally runs
# the unpatched build of the same release on the same cgroups to compare
# memory.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: packaging/netdata/e2e.sh BUILD_DIR [options]

  BUILD_DIR            a folder made by packaging/netdata/build.sh (holds
                       netdata/ and build/ with netdata and ebpf.plugin built)

Options:
  --cgroups N          test cgroups to create (default 2000)
  --baseline DIR       also run the unpatched build in DIR (build.sh --unpatched)
                       on the same cgroups and compare its memory
  --timeout SECONDS    how long each wait may take (default 300)
  --keep               keep the work folder (config, logs, outputs)
  -h, --help           this text

Needs root (it creates cgroups and runs the daemon as root). Prints one line
per check and a summary; exits 0 when every check passed, 1 otherwise, 2 on
bad arguments or a missing prerequisite.
EOF
}

die() { echo "e2e: $*" >&2; exit 2; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }

BUILD_DIR="" N=2000 BASELINE="" TIMEOUT=300 KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cgroups) N=${2:?}; shift 2 ;;
    --baseline) BASELINE=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) [ -z "$BUILD_DIR" ] || { usage >&2; exit 2; }; BUILD_DIR=$1; shift ;;
  esac
done
[ -n "$BUILD_DIR" ] || { usage >&2; exit 2; }
case "$N" in ''|*[!0-9]*) die "--cgroups needs a number" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (creates cgroups, runs the daemon)"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
NETDATA=$BUILD_DIR/build/netdata
[ -x "$NETDATA" ] || die "$NETDATA is missing: run packaging/netdata/build.sh first"
if [ -n "$BASELINE" ]; then
  BASELINE=$(cd "$BASELINE" && pwd)
  [ -x "$BASELINE/build/netdata" ] || die "$BASELINE/build/netdata is missing (build.sh --unpatched)"
fi

CLI=$REPO/build/release/tools/netipc-cli
if [ ! -x "$CLI" ]; then
  echo "e2e: building netipc-cli (release preset)"
  (cd "$REPO" && cmake --preset release >/dev/null && cmake --build --preset release --target netipc-cli >/dev/null)
fi

failures=0
WORK=$(mktemp -d /tmp/netipc-e2e.XXXXXX)
GROUP=netipc-e2e-$$
ND_PID="" SLEEPERS=()
INVOCATION_ID=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
RUN_DIR=""

# ---- cgroups ---------------------------------------------------------------
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
  CG_VERSION=2; CG_BASE=/sys/fs/cgroup
else
  CG_VERSION=1; CG_BASE=/sys/fs/cgroup/memory
fi
CG_ROOT=$CG_BASE/$GROUP

cleanup() {
  set +e
  [ -n "$ND_PID" ] && kill -TERM "$ND_PID" 2>/dev/null && wait "$ND_PID" 2>/dev/null
  for p in "${SLEEPERS[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "${HARNESS_PID:-}" ] && kill "$HARNESS_PID" 2>/dev/null
  if [ -d "$CG_ROOT" ]; then
    find "$CG_ROOT" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
    rmdir "$CG_ROOT" 2>/dev/null
  fi
  if [ "$KEEP" = 1 ]; then echo "e2e: work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cg_name() { printf 'c%06d' "$1"; }

create_cgroups() {
  mkdir -p "$CG_ROOT"
  local i
  for ((i = 1; i <= N; i++)); do mkdir "$CG_ROOT/$(cg_name "$i")"; done
}

# Three sleepers in the first three cgroups: their PIDs must reach the targets.
start_sleepers() {
  local i
  for i in 1 2 3; do
    sleep 3600 &
    SLEEPERS+=("$!")
    echo "$!" > "$CG_ROOT/$(cg_name "$i")/cgroup.procs"
  done
}

# ---- the daemon ------------------------------------------------------------
PORT=$((20000 + RANDOM % 20000))

write_config() { # $1 = folder
  local d=$1
  mkdir -p "$d"/{etc,stock,log,web,cache,lib,home,lock,plugins}
  cp "$BUILD_DIR/build/src/collectors/cgroups.plugin/cgroup-name.sh" "$d/plugins/" 2>/dev/null || true
  chmod +x "$d/plugins/cgroup-name.sh" 2>/dev/null || true
  cat > "$d/netdata.conf" <<EOF
[global]
    run as user = root
    hostname = netipc-e2e
[directories]
    config = $d/etc
    stock config = $d/stock
    log = $d/log
    web = $d/web
    cache = $d/cache
    lib = $d/lib
    home = $d/home
    lock = $d/lock
    plugins = $d/plugins
[web]
    bind to = 127.0.0.1:$PORT
[db]
    mode = ram
    retention = 60s
[registry]
    enabled = no
[health]
    enabled = no
[ml]
    enabled = no
[plugins]
    enable running new plugins = no
    proc = no
    diskspace = no
    tc = no
    timex = no
    idlejitter = no
    statsd = no
    cgroups = yes
[plugin:cgroups]
    update every = 2
    check for new cgroups every = 2
    max cgroups to allow = $((N + 2000))
    run script to rename cgroups matching = !*$GROUP* !/ !*.mount !*.socket !*.partition /machine.slice/*.service !*.service !*.slice !*.swap !*.user !init.scope !*.scope/vcpu* !*.scope/emulator *.scope *docker* *lxc* *qemu* */kubepods/pod*/* */kubepods/*/pod*/* */*-kubepods-pod*/* */*-kubepods-*-pod*/* !*kubepods* !*kubelet* *.libvirt-qemu *
    script to get cgroup network interfaces = /bin/true
EOF
}

start_daemon() { # $1 = netdata binary, $2 = folder
  NETDATA_INVOCATION_ID=$INVOCATION_ID "$1" -D -c "$2/netdata.conf" > "$2/log/stdout.log" 2>&1 &
  ND_PID=$!
}

stop_daemon() {
  [ -n "$ND_PID" ] || return 0
  kill -TERM "$ND_PID" 2>/dev/null || true
  wait "$ND_PID" 2>/dev/null || true
  ND_PID=""
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# "anon A MB, file F MB, shmem S MB" of a process.
rss_parts() {
  awk '/^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} /^RssShmem:/ {s=$2}
       END {printf "anon %d MB, file %d MB, shmem %d MB", a/1024, f/1024, s/1024}' "/proc/$1/status"
}
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# The run directory the daemon picks: the first writable of these.
for d in /run /var/run /tmp; do
  if [ -d "$d" ] && [ -w "$d" ]; then RUN_DIR=$d/netdata; break; fi
done
SOCKET=$RUN_DIR/cgroups-snapshot.sock

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; } # $1 = from, $2 = to (now() values)
item_count() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['item_count'])" "$1"; }

wait_until() { # $1 = seconds, rest = command; returns 1 on timeout
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

snapshot() { # writes $WORK/snapshot.json; layout 2 carries the cgroup id
  "$CLI" snapshot --run-dir "$RUN_DIR" --service cgroups-snapshot --invocation-id "$INVOCATION_ID" \
    --layout 2 --json > "$WORK/snapshot.json" 2> "$WORK/snapshot.err"
}

# Counts items of the test group in the snapshot (enabled ones).
test_items_in_snapshot() {
  snapshot || return 1
  python3 - "$WORK/snapshot.json" "$GROUP" "$1" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
n = sum(1 for it in doc["items"] if sys.argv[2] in it["name"] and it["name"].count("/") == 1 and it["enabled"])
sys.exit(0 if n == int(sys.argv[3]) else 1)
EOF
}

build_harness() {
  local b=$BUILD_DIR/build obj=CMakeFiles/ebpf.plugin.dir/src/collectors/ebpf.plugin/ebpf_cgroup.c.o
  local compile link
  compile=$(ninja -C "$b" -t commands ebpf.plugin | grep -F -- "-o $obj -c" | head -n 1)
  link=$(ninja -C "$b" -t commands ebpf.plugin | grep -F -- "-o ebpf.plugin " | tail -n 1)
  [ -n "$compile" ] && [ -n "$link" ] || { echo "cannot find ebpf.plugin's build commands"; return 1; }
  # ebpf_cgroup.c finds "ebpf.h" beside itself; the harness is elsewhere.
  compile=${compile/-o $obj -c */-I$BUILD_DIR/netdata/src/collectors/ebpf.plugin -o $WORK/harness.o -c $HERE/harness/ebpf_cgroup_harness.c}
  # Every ebpf.plugin object but ebpf_cgroup.c.o is replaced by the harness.
  link=$(printf '%s\n' "$link" | sed -E "s# CMakeFiles/ebpf\\.plugin\\.dir/[^ ]+\\.o# #g; s# -o ebpf\\.plugin # $obj $WORK/harness.o -o $WORK/ebpf-cgroup-harness #")
  (cd "$b" && eval "$compile" && eval "$link")
}

# ebpf.plugin inherits NETDATA_INVOCATION_ID (and NETDATA_RUN_DIR) from the daemon.
# A plain command (env execs the harness), so a background start's $! is
# the harness itself.
HARNESS=(env NETDATA_INVOCATION_ID="$INVOCATION_ID" NETDATA_RUN_DIR="$RUN_DIR" "$WORK/ebpf-cgroup-harness")

# The first discovery pass has published (the host's own cgroups).
first_generation() {
  snapshot || return 1
  [ "$(item_count "$WORK/snapshot.json")" -gt 0 ]
}

# ---- run ---------------------------------------------------------------------
echo "e2e: cgroup v$CG_VERSION, $N test cgroups under $CG_ROOT, work folder $WORK"
[ -e /dev/shm/netdata_shm_cgroup_ebpf ] && die "/dev/shm/netdata_shm_cgroup_ebpf exists: another (unpatched) netdata runs"
[ -S "$SOCKET" ] && "$CLI" snapshot --run-dir "$RUN_DIR" --service cgroups-snapshot >/dev/null 2>&1 &&
  die "a live cgroups-snapshot service already answers on $SOCKET"

build_harness > "$WORK/harness-build.log" 2>&1 || { cat "$WORK/harness-build.log"; die "cannot build the harness"; }
pass "harness built from the patched ebpf_cgroup.c.o"

write_config "$WORK/patched"
start_daemon "$NETDATA" "$WORK/patched"
if wait_until "$TIMEOUT" test -S "$SOCKET"; then pass "daemon (pid $ND_PID) serves $SOCKET"; else
  fail "no socket $SOCKET after ${TIMEOUT}s"; tail -n 30 "$WORK/patched/log/"*.log; exit 1; fi

if wait_until "$TIMEOUT" first_generation; then
  pass "first discovery pass published $(item_count "$WORK/snapshot.json") host cgroups"
else
  fail "no snapshot after ${TIMEOUT}s"; cat "$WORK/snapshot.err" || true
fi
# Before any test cgroup exists: the harness sees the host's cgroups.
"${HARNESS[@]}" 1 > "$WORK/harness-0.txt" 2>> "$WORK/harness.log"

SNAP_S=n/a HARNESS_S=n/a
t0=$(now)
create_cgroups
start_sleepers
t_created=$(now)
echo "e2e: created $N cgroups in $(secs "$t0" "$t_created") s"

if wait_until "$TIMEOUT" test_items_in_snapshot "$N"; then
  SNAP_S=$(secs "$t_created" "$(now)")
  pass "all $N test cgroups are in the snapshot, enabled ($SNAP_S s after the last was created)"
else
  fail "the snapshot does not hold the $N test cgroups after ${TIMEOUT}s"; cat "$WORK/snapshot.err" || true
fi

# Item by item: name, hash, enabled, options, path, cgroup id.
python3 - "$WORK/snapshot.json" "$GROUP" "$CG_BASE" "$CG_VERSION" "$N" <<'EOF' && pass "names, hashes, options, paths and cgroup ids of the test cgroups are right" || fail "item fields differ (above)"
import json, os, sys
doc = json.load(open(sys.argv[1])); group, base, version, n = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def fnv1a(s):
    h = 0x811C9DC5
    for b in s.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h
items = {it["name"]: it for it in doc["items"]}
bad = 0
for i in range(1, n + 1):
    cid = f"/{group}/c{i:06d}"
    name = "cgroup_" + cid[1:]
    it = items.get(name)
    if it is None:
        print(f"  missing {name}"); bad += 1; continue
    want_path = f"{base}{cid}/cgroup.procs"
    want_id = os.stat(f"{base}{cid}").st_ino
    want_opt = 0x4 if version == 2 else 0
    errs = []
    if it["hash"] != fnv1a(name): errs.append(f"hash {it['hash']:#x} != {fnv1a(name):#x}")
    if it["enabled"] != 1: errs.append("not enabled")
    if it["path"] != want_path: errs.append(f"path {it['path']} != {want_path}")
    if it.get("cgroup_id") != want_id: errs.append(f"cgroup_id {it.get('cgroup_id')} != {want_id}")
    if it["options"] != want_opt: errs.append(f"options {it['options']:#x} != {want_opt:#x}")
    if errs:
        bad += 1
        if bad <= 10: print(f"  {name}: " + "; ".join(errs))
print(f"  {n - bad} of {n} test cgroups exactly right; snapshot has {len(items)} items, generation {doc['generation']}")
sys.exit(1 if bad else 0)
EOF

# Exactly what Netdata discovered: the enabled items are the cgroups it charts.
compare_with_charts() {
  curl -sf "http://127.0.0.1:$PORT/api/v1/charts" -o "$WORK/charts.json" || return 1
  snapshot || return 1
  python3 - "$WORK/snapshot.json" "$WORK/charts.json" <<'EOF'
import json, sys
snap = json.load(open(sys.argv[1])); charts = json.load(open(sys.argv[2]))["charts"]
enabled = {it["name"] for it in snap["items"] if it["enabled"]}
charted = {c["type"] for c in charts.values() if c["type"].startswith(("cgroup_", "systemd_"))}
extra, missing = enabled - charted, charted - enabled
open(sys.argv[1] + ".diff", "w").write(f"served but not charted: {sorted(extra)[:20]}\ncharted but not served: {sorted(missing)[:20]}\n")
print(len(enabled), len(charted), file=open(sys.argv[1] + ".counts", "w"))
sys.exit(0 if not extra and not missing else 1)
EOF
}
if wait_until "$TIMEOUT" compare_with_charts; then
  pass "enabled items == cgroups Netdata charts ($(cat "$WORK/snapshot.json.counts" | cut -d' ' -f1) each)"
else
  fail "served and charted cgroups differ:"; cat "$WORK/snapshot.json.diff" 2>/dev/null || true
fi

# ebpf.plugin's view: the test cgroups as targets, the sleepers' PIDs in them.
t_h0=$(now)
"${HARNESS[@]}" 1 > "$WORK/harness-1.txt" 2>> "$WORK/harness.log"
HARNESS_S=$(secs "$t_h0" "$(now)")
python3 - "$WORK/harness-1.txt" "$GROUP" "$N" "${SLEEPERS[@]}" <<'EOF' && pass "ebpf.plugin's cgroup code tracks the $N test cgroups with the sleepers' PIDs (refresh $HARNESS_S s)" || fail "ebpf targets wrong (above)"
import sys
lines = open(sys.argv[1]).read().splitlines()
group, n, sleepers = sys.argv[2], int(sys.argv[3]), [int(p) for p in sys.argv[4:]]
head = lines[0].split()
targets = {}
for l in lines:
    if l.startswith("target "):
        f = l.split()
        kv = dict(x.split("=", 1) for x in f[2:6])
        pids = [int(p) for p in f[6].split(",")] if len(f) > 6 and f[6] else []
        targets[f[1]] = (kv, pids)
ok = True
if "active=1" not in head: print("  integration not active:", lines[0]); ok = False
mine = {k: v for k, v in targets.items() if group in k and k.count("/") == 1}
if len(mine) != n: print(f"  {len(mine)} test targets, want {n}"); ok = False
for i, pid in enumerate(sleepers, 1):
    t = mine.get(f"cgroup_{group}/c{i:06d}")
    if not t or t[1] != [pid]: print(f"  target c{i:06d}: {t}, want pids [{pid}]"); ok = False
print(f"  {lines[0]}")
sys.exit(0 if ok else 1)
EOF

# The service's own charts: netdata.cgroups_snapshot_items holds the items served.
chart_items() {
  curl -sf "http://127.0.0.1:$PORT/api/v1/data?chart=netdata.cgroups_snapshot_items&after=-4&points=1&format=json" \
    -o "$WORK/chart.json" || return 1
  python3 - "$WORK/chart.json" "$WORK/snapshot.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); items = json.load(open(sys.argv[2]))["item_count"]
v = d["data"][0][1] if d.get("data") else None
sys.exit(0 if v == items else 1)
EOF
}
snapshot || true
if wait_until 30 chart_items; then
  pass "netdata.cgroups_snapshot_items charts the $(item_count "$WORK/snapshot.json") items served"
else
  fail "netdata.cgroups_snapshot_items does not chart the items served: $(head -c 300 "$WORK/chart.json" 2>/dev/null)"
fi

# No legacy channel.
if ls /dev/shm/netdata_shm_cgroup_ebpf /dev/shm/sem.netdata_sem_cgroup_ebpf >/dev/null 2>&1; then
  fail "legacy shared memory or semaphore present in /dev/shm"
else
  pass "nothing legacy in /dev/shm ($(ls /dev/shm | tr '\n' ' '))"
fi

# Memory of the daemon with every test cgroup published, charted and tracked.
sleep 10
P_RSS=$(rss_kb "$ND_PID"); P_HWM=$(hwm_kb "$ND_PID"); P_PARTS=$(rss_parts "$ND_PID")
"$CLI" snapshot --run-dir "$RUN_DIR" --service cgroups-snapshot --invocation-id "$INVOCATION_ID" > "$WORK/snapshot-l1.txt"
"$CLI" snapshot --run-dir "$RUN_DIR" --service cgroups-snapshot --invocation-id "$INVOCATION_ID" --json > "$WORK/snapshot-l1.json"
L1_ITEMS=$(item_count "$WORK/snapshot-l1.json")

# Removal: half of the test cgroups (sleepers' cgroups kept) leave, while
# ebpf.plugin's cgroup code keeps refreshing (every second here, every 30 s
# in the plugin): a removed target must stay one refresh with updated=0 (so
# the modules obsolete its charts) and be gone at the next.
HALF=$((N / 2))
"${HARNESS[@]}" 100000 1000 > "$WORK/harness-2.txt" 2>> "$WORK/harness.log" &
HARNESS_PID=$!
wait_until 60 grep -q '^end 1$' "$WORK/harness-2.txt" || true
t_r0=$(now)
for ((i = N; i > N - HALF; i--)); do rmdir "$CG_ROOT/$(cg_name "$i")"; done
if wait_until "$TIMEOUT" test_items_in_snapshot "$((N - HALF))"; then
  pass "$HALF removed cgroups left the snapshot ($(secs "$t_r0" "$(now)") s from the first rmdir)"
else
  fail "removed cgroups still in the snapshot after ${TIMEOUT}s"
fi
# Two more complete refreshes after the snapshot settled.
refreshes() { grep -c '^end ' "$WORK/harness-2.txt" || true; }
refreshes_at_least() { [ "$(refreshes)" -ge "$1" ]; }
wait_until "$TIMEOUT" refreshes_at_least $(($(refreshes) + 2)) || fail "the harness stopped refreshing"
kill "$HARNESS_PID" 2>/dev/null || true
wait "$HARNESS_PID" 2>/dev/null || true
python3 - "$WORK/harness-2.txt" "$GROUP" "$N" "$HALF" <<'EOF' && pass "ebpf targets follow the removal: each removed target obsoleted for one refresh, then gone" || fail "ebpf targets after removal wrong (above)"
import sys
group, n, half = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
blocks, cur = [], None
for l in open(sys.argv[1]).read().splitlines():
    if l.startswith("refresh "): cur = {"head": l, "t": {}, "done": False}; blocks.append(cur)
    elif l.startswith("target ") and cur is not None:
        f = l.split(); cur["t"][f[1]] = dict(x.split("=", 1) for x in f[2:6])
    elif l.startswith("end ") and cur is not None: cur["done"] = True
blocks = [b for b in blocks if b["done"]]
mine = lambda b: {k: v for k, v in b["t"].items() if group in k and k.count("/") == 1}
removed = {f"cgroup_{group}/c{i:06d}" for i in range(n - half + 1, n + 1)}
ok, obsoleted = True, set()
for prev, b in zip(blocks, blocks[1:]):
    stale = {k for k, v in mine(prev).items() if v["updated"] == "0"}
    if stale - removed: print(f"  not removed but updated=0: {sorted(stale - removed)[:5]}"); ok = False
    if stale & set(b["t"]): print(f"  still listed a refresh after updated=0: {sorted(stale & set(b['t']))[:5]}"); ok = False
    obsoleted |= stale
    if stale and "send_cgroup_chart=1" not in prev["head"]: print(f"  membership changed without send_cgroup_chart: {prev['head']}"); ok = False
changes = sum(1 for b in blocks if "send_cgroup_chart=1" in b["head"])
print(f"  {len(blocks)} refreshes, {changes} with membership changes; {len(obsoleted)} targets seen with updated=0 before leaving")
if obsoleted != removed: print(f"  {len(removed - obsoleted)} removed targets never seen with updated=0"); ok = False
last = mine(blocks[-1])
if len(last) != n - half or any(v["updated"] != "1" for v in last.values()):
    print(f"  last refresh: {len(last)} test targets, want {n - half} all updated"); ok = False
sys.exit(0 if ok else 1)
EOF

stop_daemon
if [ -e "$SOCKET" ]; then fail "socket left behind after SIGTERM"; else pass "daemon stopped; socket removed"; fi

# [plugin:cgroups] enable cgroups-snapshot service = no: no socket, said once.
write_config "$WORK/disabled"
printf '[plugin:cgroups]\n    enable cgroups-snapshot service = no\n' >> "$WORK/disabled/netdata.conf"
start_daemon "$NETDATA" "$WORK/disabled"
if wait_until 60 grep -q "cgroups-snapshot service disabled" "$WORK/disabled/log/collector.log" 2>/dev/null &&
   [ ! -e "$SOCKET" ]; then
  pass "'enable cgroups-snapshot service = no' serves nothing and says so"
else
  fail "with the service disabled: socket $( [ -e "$SOCKET" ] && echo present || echo absent ), log line missing"
fi
stop_daemon

echo
echo "summary: cgroups=$N version=v$CG_VERSION"
echo "  creation -> snapshot: $SNAP_S s (netdata's discovery);" \
     "one ebpf.plugin refresh with all targets: $HARNESS_S s (the plugin refreshes every 30 s)"
echo "  snapshot items (all discovered cgroups): $L1_ITEMS"
echo "  patched daemon: VmRSS $((P_RSS / 1024)) MB ($P_PARTS), VmHWM $((P_HWM / 1024)) MB"

if [ -n "$BASELINE" ]; then
  # The unpatched release on the same cgroups (all N again).
  for ((i = N - HALF + 1; i <= N; i++)); do mkdir "$CG_ROOT/$(cg_name "$i")"; done
  write_config "$WORK/baseline"
  start_daemon "$BASELINE/build/netdata" "$WORK/baseline"
  legacy_count() {
    [ -e /dev/shm/netdata_shm_cgroup_ebpf ] || return 1
    local c; c=$(od -An -N4 -td4 /dev/shm/netdata_shm_cgroup_ebpf | tr -d ' ')
    [ "${c:-0}" -ge "$N" ]
  }
  # Measured as the patched daemon was: every test cgroup charted, then 10 s.
  all_charted() {
    curl -sf "http://127.0.0.1:$PORT/api/v1/charts" -o "$WORK/charts-baseline.json" || return 1
    python3 - "$WORK/charts-baseline.json" "$GROUP" "$N" <<'EOF'
import json, sys
charts = json.load(open(sys.argv[1]))["charts"]
n = len({c["type"] for c in charts.values() if c["type"].startswith("cgroup_" + sys.argv[2] + "/")})
sys.exit(0 if n >= int(sys.argv[3]) else 1)
EOF
  }
  if wait_until "$TIMEOUT" legacy_count && wait_until "$TIMEOUT" all_charted; then
    sleep 10
    B_RSS=$(rss_kb "$ND_PID"); B_HWM=$(hwm_kb "$ND_PID"); B_PARTS=$(rss_parts "$ND_PID")
    SHM_BYTES=$(stat -c %s /dev/shm/netdata_shm_cgroup_ebpf)
    SHM_COUNT=$(od -An -N4 -td4 /dev/shm/netdata_shm_cgroup_ebpf | tr -d ' ')
    echo "  unpatched daemon: VmRSS $((B_RSS / 1024)) MB ($B_PARTS), VmHWM $((B_HWM / 1024)) MB;" \
         "legacy region $SHM_BYTES bytes for $SHM_COUNT entries (capacity = max cgroups to allow = $((N + 2000)))"
    echo "  difference (patched - unpatched): VmRSS $(((P_RSS - B_RSS) / 1024)) MB"
    if [ "$L1_ITEMS" -gt 1000 ]; then
      pass "the snapshot carries $L1_ITEMS cgroups: past the legacy channel's default 1,000-entry capacity"
    fi
  else
    fail "the unpatched daemon did not publish $N cgroups in its legacy region"
  fi
  stop_daemon
fi

echo
if [ "$failures" -eq 0 ]; then echo "e2e: PASS"; exit 0; fi
echo "e2e: $failures check(s) FAILED (logs in $WORK, kept)"; KEEP=1; exit 1
