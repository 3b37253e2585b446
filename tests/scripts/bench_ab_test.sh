#!/usr/bin/env bash
# scripts/bench-ab.sh argument handling, without building or running
# anything: --help succeeds and documents every option; each usage error
# exits 2 naming its cause; an unknown baseline revision exits 1 naming it.
set -uo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
ab="$src/scripts/bench-ab.sh"
failures=0

# expect CODE PATTERN ARGS...: runs bench-ab.sh ARGS, expects exit CODE and
# PATTERN (grep -E) in its output.
expect() {
  local code=$1 pattern=$2 rc=0 out
  shift 2
  out=$(bash "$ab" "$@" 2>&1) || rc=$?
  if [ "$rc" -ne "$code" ] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: bench-ab.sh $* -> exit $rc (want $code), output:"
    echo "$out"
    failures=$((failures + 1))
  else
    echo "ok: bench-ab.sh $* -> $code"
  fi
}

expect 0 '^Usage: scripts/bench-ab.sh' --help
for opt in --baseline --rounds --seconds --cache --build --no-build --jobs --raw; do
  expect 0 "^  $opt" -h
done
expect 2 'no scenario given' --rounds 3
expect 2 'unknown option .--frobnicate.' --frobnicate uds-ping-pong
expect 2 '--rounds needs a positive integer' --rounds 0 uds-ping-pong
expect 2 '--rounds needs a positive integer' --rounds x uds-ping-pong
expect 2 '--seconds needs a positive number' --seconds 0 uds-ping-pong
expect 2 '--seconds needs a positive number' --seconds -1 uds-ping-pong
expect 2 '--jobs needs a positive integer' --jobs 1.5 uds-ping-pong
expect 2 '--baseline needs a value' uds-ping-pong --baseline
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  expect 1 "baseline 'no-such-revision-here' is not a commit" \
    --baseline no-such-revision-here uds-ping-pong
else
  echo "note: $src is not a git checkout; the baseline lookup is not exercised"
fi

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
