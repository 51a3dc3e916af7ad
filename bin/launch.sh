# podnet launcher, common part: sourced (`. "$root/bin/launch.sh"`, no extra
# process) by bin/podnet and by the launcher `podnet install` writes, with
# `root` set to the checkout. Runs podnet with its permissions under a bare
# environment (no HOME, cwd /), as container runtimes call plugins.
deno=${PODNET_DENO:-$root/.tools/node_modules/@deno/linux-x64-glibc/deno}
if [ ! -x "$deno" ]; then
  echo "podnet: Deno not found at $deno (run scripts/setup.sh or set PODNET_DENO)" >&2
  exit 1
fi
export DENO_DIR="${DENO_DIR:-$root/.cache/deno}"
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
# A CNI call runs dist/cni.js when it exists: the CNI role bundled into one file (scripts/bundle.ts),
# one file to read and compile instead of ~40 modules. It checks that it matches the sources, else runs main.ts.
main=$root/main.ts
# PODNET_PROFILE=1 (scripts/profile_cni.ts): the wall clock at launch, so the profile covers Deno's start-up too.
if [ -n "${PODNET_PROFILE:-}" ] && [ -z "${PODNET_PROFILE_T0:-}" ]; then
  PODNET_PROFILE_T0=$(date +%s%N)
  export PODNET_PROFILE_T0
fi
v8=
case ${CNI_COMMAND:-} in
'') ;;
# VERSION (asked before every use of a plugin list) needs only the version list: version_entry.ts, from source.
VERSION) main=$root/version_entry.ts ;;
# --no-lazy: V8 compiles the whole bundle at once, so Deno's code cache holds every function and a
# call compiles nothing as it goes (~2-4 ms less wall and CPU time per ADD; scripts/profile_cni.ts).
*) if [ -f "$root/dist/cni.js" ]; then main=$root/dist/cni.js v8=--v8-flags=--no-lazy; fi ;;
esac
# --allow-all: Deno grants /proc/sys (per-interface sysctls) only with all permissions, and
# --allow-ffi already gives the process everything a narrower list would withhold.
exec "$deno" run --quiet --no-config --no-lock --cached-only --no-prompt --allow-all $v8 \
  "$main" "$@"
