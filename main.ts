/**
 * podnet entry point: argv/env dispatch only. Each role's module is loaded on
 * demand (core/load.ts) so a CNI ADD pays only for the CNI code.
 *
 * @module
 */

import { type Io, processIo } from "./core/io.ts";
import { UsageError } from "./core/errors.ts";
import { load } from "./core/load.ts";

/** A subcommand: one-line summary and a lazily loaded runner. */
interface Command {
  summary: string;
  run: (args: string[], io: Io) => Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  version: {
    summary: "print version facts (--json for machine-readable)",
    run: async (args, io) =>
      (await load<typeof import("./core/version_cmd.ts")>("core/version_cmd.ts")).versionCommand(args, io),
  },
  cni: {
    summary: "run as a CNI plugin (also automatic when CNI_COMMAND is set)",
    run: async (args, io) => (await load<typeof import("./cni/main.ts")>("cni/main.ts")).cniCommand(args, io),
  },
  capture: {
    summary: "record a netns's links, addresses, routes and gateway MACs as podnet.capture/v1 JSON",
    run: async (args, io) =>
      (await load<typeof import("./sandbox/capture.ts")>("sandbox/capture.ts")).captureCommand(args, io),
  },
  restore: {
    summary: "reinstall a snapshot (move link, addresses, routes, NUD_PERMANENT gateway pins)",
    run: async (args, io) =>
      (await load<typeof import("./sandbox/restore.ts")>("sandbox/restore.ts")).restoreCommand(args, io),
  },
  hook: {
    summary: "OCI prestart/createRuntime hook: capture + restore into the sandbox netns (state on stdin)",
    run: async (args, io) => (await load<typeof import("./sandbox/hook.ts")>("sandbox/hook.ts")).hookCommand(args, io),
  },
  install: {
    summary: "install podnet on this node: CNI binary, 10-podnet.conflist, OCI hook (atomic; --dry-run)",
    run: async (args, io) => (await load<typeof import("./ops/install.ts")>("ops/install.ts")).installCommand(args, io),
  },
  uninstall: {
    summary: "remove what install wrote (only files still as installed)",
    run: async (args, io) =>
      (await load<typeof import("./ops/install.ts")>("ops/install.ts")).uninstallCommand(args, io),
  },
  status: {
    summary: "attachments on this node and drift, from kernel state (--json; exit 1 on drift)",
    run: async (args, io) => (await load<typeof import("./ops/status.ts")>("ops/status.ts")).statusCommand(args, io),
  },
};

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
  Deno.exit(await main(Deno.args, processIo()));
}
