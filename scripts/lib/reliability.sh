# Shared by scripts/chaos.sh and scripts/soak.sh (sourced, not run): the
# tools, a work directory, a fake cgroup v2 tree, consumers and the parsing
# of their status lines.

# A non-negative integer argument, or exit 2.
need_uint() {
  case "$2" in
    ''|*[!0-9]*) echo "$(basename "$0"): $1 needs a non-negative integer, got '$2'" >&2; exit 2 ;;
  esac
  echo "$2"
}

# Sets provider and cli from a build directory, or exits 2 saying how to build them.
find_tools() {
  provider="$1/tools/provider/netipc-cgroups-provider"
  cli="$1/tools/netipc-cli"
  if [ ! -x "$provider" ] || [ ! -x "$cli" ]; then
    echo "$(basename "$0"): no tools in $1 (build them: cmake --preset release &&" \
      "cmake --build --preset release --target netipc-cli netipc-cgroups-provider)" >&2
    exit 2
  fi
}

rel_now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Every background process started through these helpers, ended on exit.
rel_children=()
rel_cleanup() {
  local p
  # A script's own processes first (chaos.sh: the provider of the moment).
  if declare -F rel_before_cleanup >/dev/null; then rel_before_cleanup; fi
  for p in "${rel_children[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${rel_children[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${keep:-0}" = 1 ]; then
    echo "$(basename "$0"): work directory kept: $work"
  else
    rm -rf "$work"
  fi
}

# Creates the work directory (sets work) and the exit trap.
rel_workdir() {
  work=$(mktemp -d "/tmp/netipc-$1.XXXXXX")
  trap rel_cleanup EXIT
  trap 'exit 130' INT TERM
}

# A directory tree shaped like a cgroup v2 host with N service cgroups under
# system.slice, each holding this script's PID (sets tree).
rel_make_tree() {
  tree="$work/host/sys/fs/cgroup"
  mkdir -p "$tree/system.slice"
  echo $$ >"$tree/cgroup.procs"
  echo $$ >"$tree/system.slice/cgroup.procs"
  local i
  for i in $(seq 1 "$1"); do rel_add_cgroup "svc-$i"; done
}
rel_add_cgroup() {
  mkdir "$tree/system.slice/$1.service"
  echo $$ >"$tree/system.slice/$1.service/cgroup.procs"
}
rel_remove_cgroup() { rm -rf "$tree/system.slice/$1.service"; }

# Polls COND every 50 ms for up to SECONDS; fails early once ALIVE (a
# command) fails. Returns 0 when COND held.
rel_wait() {
  local deadline=$(( $(rel_now_ms) + $1 * 1000 ))
  while [ "$(rel_now_ms)" -lt "$deadline" ]; do
    if eval "$2" 2>/dev/null; then return 0; fi
    if ! eval "$3" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

# Starts `netipc-cli cache` (RUN SERVICE TRANSPORT EVERY LOG): only its status
# lines are kept in LOG, its errors go to LOG.err. Sets rel_pid (the cli's).
rel_start_consumer() {
  "$cli" cache --run-dir "$1" --service "$2" --transport "$3" --every "$4" \
    > >(grep --line-buffered '  refreshes ' >"$5") 2>>"$5.err" &
  rel_pid=$!
  rel_children+=("$rel_pid")
}

# The value after the word FIELD in the last status line of LOG (0 if none).
rel_last_field() {
  tail -n 2 "$1" 2>/dev/null |
    awk -v f="$2" '{for (i = 1; i < NF; i++) if ($i == f) v = $(i + 1)} END {print v + 0}'
}
rel_ok_count() { rel_last_field "$1" refreshes; }
rel_view_count() { wc -l <"$1"; }

# "LOST EMPTY" for a consumer log: views after the first complete one
# (FULL_ITEMS items, FULL_TARGETS targets) with fewer items, and with no
# targets.
rel_view_faults() {
  awk -v items="$2" -v targets="$3" '
    { it = -1; tg = -1
      for (i = 1; i < NF; i++) { if ($i == "items") it = $(i + 1); if ($i == "targets") tg = $(i + 1) } }
    !full && it >= items && tg >= targets { full = 1; next }
    full && it < items { lost++ }
    full && tg == 0 { empty++ }
    END { print lost + 0, empty + 0 }' "$1"
}
