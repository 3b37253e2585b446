#!/usr/bin/env bash
# The main job, on this machine: builds the project (release preset), starts
# the cgroups-snapshot provider on this machine's real cgroups
# (/sys/fs/cgroup) with a private run directory under /tmp, and shows the
# consumer's live view (what ebpf.plugin would see: snapshot status and the
# cgroup targets with their PID counts), refreshed every 2 seconds.
# Ctrl-C stops both cleanly (the terminal sends SIGINT to both; the script
# also sends the provider SIGTERM), the provider removes its socket and
# shared-memory regions, the script prints its log and removes the run
# directory.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
bin=build/release/tools
run_dir=$(mktemp -d /tmp/netipc-demo.XXXXXX)
log="$run_dir/provider.log"
provider_pid=""

stop_provider() {
  [ -n "$provider_pid" ] || return 0
  local rc=0
  kill -TERM "$provider_pid" 2>/dev/null || true
  wait "$provider_pid" 2>/dev/null || rc=$?
  provider_pid=""
  echo "== provider stopped (exit $rc); its log:"
  sed 's/^/   /' "$log"
}
cleanup() {
  stop_provider
  rm -rf "$run_dir"
}
trap cleanup EXIT
# Ctrl-C must not end the script before the provider is stopped: the
# consumer in the foreground exits cleanly on it, then the script carries on.
trap ':' INT TERM

echo "== starting the provider: netipc-cgroups-provider --cgroup-root /sys/fs/cgroup" \
  "--run-dir $run_dir --transport shm --rescan 2"
coproc PROVIDER {
  exec "$bin/provider/netipc-cgroups-provider" --cgroup-root /sys/fs/cgroup --run-dir "$run_dir" \
    --transport shm --rescan 2 2>"$log"
}
provider_pid=$PROVIDER_PID
if ! read -r -t 60 line <&"${PROVIDER[0]}" || [ "$line" != "READY" ]; then
  echo "the provider did not start:"
  cat "$log"
  exit 1
fi
sed 's/^/   /' "$log"

echo "== the consumer's live view: netipc-cli cache --run-dir $run_dir" \
  "--service cgroups-snapshot --transport shm --every 2 (Ctrl-C to stop)"
rc=0
"$bin/netipc-cli" cache --run-dir "$run_dir" --service cgroups-snapshot --transport shm \
  --every 2 || rc=$?
echo "== consumer stopped (exit $rc)"
stop_provider
