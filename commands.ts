/**
 * The one command registry: every subcommand, the module that runs it and
 * the modules it loads on demand. main.ts dispatches from it, scripts/compile.ts
 * tells `deno compile` about `ON_DEMAND`, and bundle_entry.ts (the bundle) is
 * checked against the CNI role's modules. Adding a command is one entry here.
 *
 * Nothing here is imported eagerly but sys/load.ts: `typeof import(...)` is
 * type-only, so a CNI call loads the CNI role's code alone.
 *
 * @module
 */

import type { Io } from "./core/io.ts";
import { load } from "./sys/load.ts";

/** A subcommand: one-line summary, its module, the modules it may load later, and its runner. */
export interface Command {
  summary: string;
  /** Module (path from the repository root) holding the runner. */
  module: string;
  /** Further modules the command loads on demand (`load`). */
  lazy: readonly string[];
  run(args: string[], io: Io): Promise<number>;
}

type Runner = (args: string[], io: Io) => Promise<number>;

function command<M>(module: string, runner: (m: M) => Runner, summary: string, lazy: string[] = []): Command {
  return { summary, module, lazy, run: async (args, io) => await runner(await load<M>(module))(args, io) };
}

/** Every subcommand, in the order `podnet --help` lists them. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  version: command<typeof import("./ops/version.ts")>(
    "ops/version.ts",
    (m) => m.versionCommand,
    "print version facts (--json for machine-readable)",
  ),
  cni: command<typeof import("./cni/main.ts")>(
    "cni/main.ts",
    (m) => m.cniCommand,
    "run as a CNI plugin (also automatic when CNI_COMMAND is set)",
    ["cni/add.ts", "cni/del.ts", "cni/check.ts", "cni/gc.ts", "cni/capture.ts"],
  ),
  attach: command<typeof import("./cni/attach_cmd.ts")>(
    "cni/attach_cmd.ts",
    (m) => m.attachCommand,
    "attach a pod with known addresses (no CNI, no IPAM): declarative, idempotent; prints JSON",
  ),
  detach: command<typeof import("./cni/attach_cmd.ts")>(
    "cni/attach_cmd.ts",
    (m) => m.detachCommand,
    "remove a pod's attachment (and host routes to --ip even when the link is gone)",
  ),
  capture: command<typeof import("./sandbox/capture.ts")>(
    "sandbox/capture.ts",
    (m) => m.captureCommand,
    "record a netns's links, addresses, routes and gateway MACs as podnet.capture/v1 JSON",
  ),
  restore: command<typeof import("./sandbox/restore.ts")>(
    "sandbox/restore.ts",
    (m) => m.restoreCommand,
    "reinstall a snapshot (move link, addresses, routes, NUD_PERMANENT gateway pins)",
  ),
  hook: command<typeof import("./sandbox/hook.ts")>(
    "sandbox/hook.ts",
    (m) => m.hookCommand,
    "OCI prestart/createRuntime hook: capture + restore into the sandbox netns (state on stdin)",
  ),
  checkpoint: command<typeof import("./sandbox/checkpoint.ts")>(
    "sandbox/checkpoint.ts",
    (m) => m.checkpointCommand,
    "checkpoint a gVisor sandbox to move it: network record, TCP check, runsc checkpoint (docs/resume.md)",
  ),
  resume: command<typeof import("./sandbox/resume.ts")>(
    "sandbox/resume.ts",
    (m) => m.resumeCommand,
    "carry a checkpointed sandbox on in a new pod: gateways re-resolved here, restore, runsc restore",
  ),
  install: command<typeof import("./ops/install_cmd.ts")>(
    "ops/install_cmd.ts",
    (m) => m.installCommand,
    "install podnet on this node: CNI binary, 10-podnet.conflist, OCI hook (atomic; --dry-run)",
  ),
  uninstall: command<typeof import("./ops/install_cmd.ts")>(
    "ops/install_cmd.ts",
    (m) => m.uninstallCommand,
    "remove what install wrote (only files still as installed)",
  ),
  status: command<typeof import("./ops/status.ts")>(
    "ops/status.ts",
    (m) => m.statusCommand,
    "attachments on this node and drift, from kernel state (--json; exit 1 on drift)",
  ),
};

/** Modules loaded with `load` rather than imported: every command's, plus the flag parser (node:util is costly). */
export const ON_DEMAND: readonly string[] = [
  ...new Set([...Object.values(COMMANDS).flatMap((c) => [c.module, ...c.lazy]), "core/cli.ts"]),
];
