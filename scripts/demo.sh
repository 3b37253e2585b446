#!/usr/bin/env bash
# The main job, on this machine: builds the project (release preset) and
# runs the demonstration. Stops cleanly on Ctrl-C.
#
# Until the cgroups-snapshot provider lands this is an INCREMENT server and
# client doing round trips over a Unix socket, printing what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
bin=build/release/tools
run_dir=$(mktemp -d /tmp/netipc-demo.XXXXXX)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting: netipc-cli serve increment --run-dir $run_dir --service demo"
coproc SERVER { exec "$bin/netipc-cli" serve increment --run-dir "$run_dir" --service demo; }
server_pid=$SERVER_PID
read -r -t 10 line <&"${SERVER[0]}" || { echo "server did not start"; exit 1; }
echo "server says: $line"

echo "== one call, verbose"
"$bin/netipc-cli" call increment --run-dir "$run_dir" --service demo --value 41 --verbose
echo "== 100000 chained round trips"
start=$(date +%s%N)
result=$("$bin/netipc-cli" call increment --run-dir "$run_dir" --service demo --value 0 --count 100000)
end=$(date +%s%N)
echo "final reply: $result (expected 100000) in $(( (end - start) / 1000000 )) ms"
echo "== a wrong auth token is refused"
"$bin/netipc-cli" call increment --run-dir "$run_dir" --service demo --value 1 --auth-token 0x1 || true
echo "== done"
