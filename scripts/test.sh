#!/bin/sh
# The whole test suite: set-up, static checks, unit tests, privileged tests.
# Ends with one line "N passed, N failed". Run as root.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
deno=$(sh scripts/setup.sh) || { echo "0 passed, 1 failed"; exit 1; }
export DENO_DIR="$root/.cache/deno" DENO_NO_UPDATE_CHECK=1
log=$(mktemp /tmp/podnet-test.XXXXXX)
trap 'rm -f "$log"' EXIT
static_pass=0 static_fail=0
for check in "fmt --check" "lint" "task check"; do
  if $deno $check >"$log" 2>&1; then
    echo "static: deno $check ... ok"; static_pass=$((static_pass + 1))
  else
    cat "$log"; echo "static: deno $check ... FAILED"; static_fail=$((static_fail + 1))
  fi
done
# Unit tests sit beside the code; privileged tests in tests/ build their own netns worlds.
# --doc also runs the JSDoc examples of mod.ts (the public API).
$deno test --allow-all --no-prompt --doc ${PODNET_TEST_FILTER:+--filter "$PODNET_TEST_FILTER"} 2>&1 | tee "$log"
rc=$?
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -1)
passed=$(echo "$summary" | sed -n 's/.*| \([0-9]*\) passed.*/\1/p')
failed=$(echo "$summary" | sed -n 's/.*| \([0-9]*\) failed.*/\1/p')
if [ -z "$passed" ]; then passed=0; failed=$((1)); fi
[ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ] && failed=1
passed=$((passed + static_pass)); failed=$((${failed:-0} + static_fail))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
