/**
 * podnet entry point: argv/env dispatch only, from the registry in
 * commands.ts. Each role's module is loaded on demand (sys/load.ts), so a CNI
 * ADD pays only for the CNI code.
 *
 * @module
 */

import { COMMANDS } from "./commands.ts";
import { type Io, processIo } from "./core/io.ts";
import { UsageError } from "./core/errors.ts";
import { profileStart } from "./core/profile.ts";

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    "podnet — routed-veth pod networking for CNI runtimes and gVisor sandboxes",
    "",
    "usage: podnet <command> [flags]      (or as a CNI plugin: CNI_COMMAND set in the environment)",
    "",
    "commands:",
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`),
    "",
    "flags: --version, --help; `podnet <command> --help` for a command's flags.",
    "exit codes: 0 ok, 1 runtime failure, 2 usage error.",
    "",
  ].join("\n");
}

/** Runs podnet with `args` and returns the exit code. */
export async function main(args: string[], io: Io): Promise<number> {
  if (io.env("CNI_COMMAND") !== undefined && COMMANDS.cni) return await COMMANDS.cni.run([], io);
  const [first, ...rest] = args;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    (first === undefined ? io.stderr : io.stdout)(usage());
    return first === undefined ? 2 : 0;
  }
  if (first === "--version" || first === "-V") {
    return await COMMANDS.version!.run(rest, io);
  }
  const cmd = COMMANDS[first];
  if (!cmd || !Object.hasOwn(COMMANDS, first)) {
    io.stderr(
      `podnet: unknown ${first.startsWith("-") ? "flag" : "command"} ${JSON.stringify(first)}; see podnet --help\n`,
    );
    return 2;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`${e.message}\n`);
      return 2;
    }
    io.stderr(`podnet ${first}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  const profile = Deno.env.get("PODNET_PROFILE");
  if (profile) profileStart(performance.now(), profile);
  Deno.exit(await main(Deno.args, processIo()));
}
