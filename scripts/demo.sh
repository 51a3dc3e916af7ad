#!/bin/sh
# The demo, end to end, on a fresh Debian machine as root: installs what it
# needs (idempotently), then builds a throwaway node netns with pods and shows
# podnet at work. Touches nothing outside the namespaces it creates.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
deno=$(sh "$root/scripts/setup.sh")
export DENO_DIR="$root/.cache/deno" DENO_NO_UPDATE_CHECK=1
exec "$deno" run --allow-all --no-prompt "$root/scripts/demo.ts" "$@"
