/**
 * Builds `dist/podnet`, a single executable of `main.ts`, with `deno compile`
 * and the launcher's permissions (read from `bin/launch.sh`, so the two cannot
 * drift apart).
 *
 * `deno compile` needs `denort`, the runtime it appends the program to. Deno
 * downloads it from Deno's servers unless `DENORT_BIN` names a local copy; a
 * machine without access to Deno's servers must set `DENORT_BIN`. When neither
 * works this script says so in one sentence and exits 1; it never produces a
 * binary that is not a real `deno compile` output.
 *
 * Usage: deno run --allow-read --allow-write --allow-run --allow-env scripts/compile.ts
 *          [--out FILE] [--timeout-ms N] [--print-command] [--verbose]
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { int, parseFlags, str, UsageError } from "../core/cli.ts";
import { ON_DEMAND } from "../commands.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const TARGET = "x86_64-unknown-linux-gnu";

const HELP = `usage: scripts/compile.ts [--out FILE] [--timeout-ms N] [--print-command] [--verbose]

Runs deno compile on main.ts with bin/launch.sh's permissions and writes FILE (default dist/podnet).
Set DENORT_BIN to a local denort ${Deno.version.deno} (${TARGET}) when Deno's servers are unreachable.
  --timeout-ms N     give up after N ms (default 60000)
  --print-command    print the deno compile command and exit
  --verbose          show deno compile's own output
`;

/** The `--allow-*` flags of the launcher's `exec` line. */
export function launcherPermissions(launcher = join(ROOT, "bin/launch.sh")): string[] {
  // Only the exec command counts (with its backslash continuations), not comments.
  const exec = Deno.readTextFileSync(launcher).replace(/\\\n/g, " ").split("\n").find((l) => /^\s*exec\s/.test(l));
  const flags = [...new Set(exec?.match(/--allow-[a-z-]+/g) ?? [])];
  if (flags.length === 0) throw new Error(`no --allow-* flags on the exec line of ${launcher}`);
  return flags;
}

/** The `deno compile` arguments that build `out` (a temp path) from main.ts. */
export function compileArgs(out: string): string[] {
  return [
    "compile",
    // The launcher runs main.ts with `deno run --no-config` (no type check); the suite's
    // `deno task check` covers types, so the build packages exactly what the launcher runs.
    "--no-config",
    "--no-lock",
    "--no-check",
    "--no-prompt",
    ...launcherPermissions(),
    // Role modules are imported with computed specifiers (sys/load.ts, listed in commands.ts), which deno compile cannot see.
    ...ON_DEMAND.flatMap((m) => ["--include", join(ROOT, m)]),
    "--output",
    out,
    join(ROOT, "main.ts"),
  ];
}

/** `s` without the terminal colour codes Deno puts into its messages. */
export function stripAnsi(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}

/** The innermost cause deno printed ("4: failed to lookup address information: …"), if any. */
function innermostCause(stderr: string): string | null {
  const chain = stderr.split(/^Stack backtrace:/m)[0]!.split(/^Caused by:/m)[1] ?? "";
  const causes = [...chain.matchAll(/^\s*\d+: (.+)$/gm)].map((m) => m[1]!.trim());
  return causes.at(-1) ?? null;
}

/** Runs the build; returns the exit code. Messages go to `say`. */
export async function compile(args: string[], say: (line: string) => void): Promise<number> {
  const { values } = parseFlags("compile", args, {
    out: { type: "string" },
    "timeout-ms": { type: "string" },
    "print-command": { type: "boolean" },
    verbose: { type: "boolean" },
  });
  if (values.help) {
    console.log(HELP.trimEnd());
    return 0;
  }
  const out = str(values, "out") ?? join(ROOT, "dist/podnet");
  const timeoutMs = int("compile", values, "timeout-ms", 60_000);
  const deno = Deno.execPath();
  const denort = Deno.env.get("DENORT_BIN") || undefined;
  const what = `cannot build ${out}`;

  if (values["print-command"]) {
    console.log([deno, ...compileArgs(out)].join(" "));
    return 0;
  }
  if (denort !== undefined) {
    let ok = false;
    try {
      ok = Deno.statSync(denort).isFile;
    } catch { /* reported below */ }
    if (!ok) {
      say(
        `compile: ${what}: DENORT_BIN=${denort} is not a file; point DENORT_BIN at a denort ${Deno.version.deno} binary for ${TARGET}.`,
      );
      return 1;
    }
  }

  // Build into a private temp dir and move the result into place only on
  // success, so a failed or killed build never leaves a (partial) binary at `out`.
  const tmp = Deno.makeTempDirSync({ prefix: "podnet-compile-" });
  try {
    const env: Record<string, string> = {
      ...Deno.env.toObject(),
      DENO_DIR: Deno.env.get("DENO_DIR") || join(ROOT, ".cache/deno"),
      DENO_NO_UPDATE_CHECK: "1",
    };
    if (denort === undefined) delete env.DENORT_BIN; // an empty DENORT_BIN means unset
    const built = join(tmp, "podnet");
    const signal = AbortSignal.timeout(timeoutMs);
    const child = new Deno.Command(deno, {
      args: compileArgs(built),
      clearEnv: true,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).spawn();
    const res = await child.output();
    const stderr = stripAnsi(new TextDecoder().decode(res.stderr));
    if (values.verbose) say(stderr.trimEnd());
    if (signal.aborted) {
      say(
        `compile: ${what}: deno compile did not finish within ${timeoutMs} ms (fetching denort from Deno's servers may hang here); set DENORT_BIN to a local denort ${Deno.version.deno} for ${TARGET}.`,
      );
      return 1;
    }
    if (!res.success) {
      const cause = innermostCause(stderr);
      if (denort === undefined && /denort/i.test(stderr)) {
        say(
          `compile: ${what}: deno compile needs the denort ${Deno.version.deno} runtime for ${TARGET} and could not download it from Deno's servers${
            cause ? ` (${cause})` : ""
          }; set DENORT_BIN to a local copy of denort and run again.`,
        );
      } else {
        say(`compile: ${what}: deno compile failed with exit code ${res.code}${cause ? ` (${cause})` : ""}.`);
        if (!values.verbose) say(stderr.trimEnd());
      }
      return 1;
    }
    // A DENORT_BIN that is not denort still "compiles"; only a binary that runs counts.
    const smoke = await new Deno.Command(built, {
      args: ["--version"],
      clearEnv: true,
      cwd: "/",
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(10_000),
    }).output().catch((e) => ({
      success: false,
      stdout: new Uint8Array(),
      stderr: new TextEncoder().encode(String(e)),
    }));
    const line = new TextDecoder().decode(smoke.stdout).trim().split("\n")[0]!;
    if (!smoke.success || !/^podnet \d+\.\d+\.\d+ /.test(line)) {
      const why = line || new TextDecoder().decode(smoke.stderr).trim().split("\n")[0] || "no output";
      say(
        `compile: ${what}: the binary deno compile built${
          denort ? ` on DENORT_BIN=${denort}` : ""
        } does not run podnet --version (${why}); use a denort ${Deno.version.deno} for ${TARGET}.`,
      );
      return 1;
    }
    Deno.mkdirSync(dirname(out), { recursive: true });
    const staged = `${out}.tmp-${Deno.pid}`;
    Deno.copyFileSync(built, staged);
    Deno.chmodSync(staged, 0o755);
    Deno.renameSync(staged, out);
    say(`compile: wrote ${out}`);
    return 0;
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await compile(Deno.args, (l) => console.error(l)));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(e.message);
      Deno.exit(2);
    }
    throw e;
  }
}
