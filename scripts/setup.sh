#!/bin/sh
# Installs what podnet needs on a Debian 12 machine, idempotently, as root:
# Debian packages (only the missing ones) and Deno pinned from the npm package
# `deno` (its real binary, not the node wrapper). Prints the Deno path.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
pkgs="libnl-3-200 libnl-route-3-200 iproute2 containernetworking-plugins runsc runc busybox-static iputils-ping jq podman containerd util-linux time npm"
missing=""
for p in $pkgs; do
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
fi
deno="$root/.tools/node_modules/@deno/linux-x64-glibc/deno"
want=$(sed -n 's/.*"deno": *"\([0-9.]*\)".*/\1/p' "$root/.tools/package.json")
if [ ! -x "$deno" ] || ! "$deno" --version 2>/dev/null | head -1 | grep -q "deno $want "; then
  echo "setup: installing deno $want from npm" >&2
  (cd "$root/.tools" && npm install --no-package-lock --no-save --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
fi
"$deno" --version | head -1 >&2
# The CNI role bundled into one file (dist/cni.js, ~10 ms off an ADD); rebuilt when a source
# changed. esbuild, which deno bundle uses, comes from the npm registry the first time.
export DENO_DIR="${DENO_DIR:-$root/.cache/deno}" DENO_NO_UPDATE_CHECK=1
if ! "$deno" run -A "$root/scripts/bundle.ts" --check >/dev/null 2>&1; then
  "$deno" run -A "$root/scripts/bundle.ts" >&2 ||
    echo "setup: warning: dist/cni.js not built; CNI calls run from source (slower)" >&2
fi
echo "$deno"
