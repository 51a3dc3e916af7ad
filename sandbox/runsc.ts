/**
 * The runsc (gVisor) adapter: `runsc` run the way this node needs it, as an
 * external program like an IPAM plugin (sys/spawn.ts), never through a shell
 * the caller controls.
 *
 * Why the wrapper: Debian's runsc (20221219) takes the existence of
 * /proc/sys/net/core/rmem_default for "I run in the root netns", and since
 * Linux 6.0 every netns has it, so it refuses `--network=sandbox`. Each call
 * therefore runs in a private mount namespace (`unshare -m --propagation
 * private`) with an empty directory bind-mounted over /proc/sys/net; the bind
 * mount dies with that namespace. runsc runs in the netns podnet runs in (the
 * node's), or in `netns` when given: the child is spawned while the calling
 * thread is inside it (netlink/netns.ts), so no `nsenter` is needed.
 *
 * A detached container's stdio is runsc's own (`run`/`restore -detach`), so
 * those calls send runsc's output to files instead of pipes: a pipe would stay
 * open as long as the container lives.
 *
 * @module
 */

import { type Flags, str, strs, UsageError, type Values } from "../core/cli.ts";
import { withNetns } from "../netlink/netns.ts";
import { executableIn, spawn, SpawnError } from "../sys/spawn.ts";

/** How to run runsc on this node. */
export interface RunscConfig {
  /** runsc state directory (`runsc --root`). */
  root: string;
  /** An empty directory, bind-mounted over /proc/sys/net (the Debian-runsc workaround above). */
  emptyDir: string;
  /** Netns runsc runs in; default podnet's own (the node's). */
  netns?: string | null;
  /** Global runsc flags; default `DEFAULT_FLAGS`. */
  flags?: readonly string[];
  /** The runsc executable; default `runsc` from PATH. */
  runsc?: string;
  /** Per call; default 60 s. */
  timeoutMs?: number;
}

/** What the node's runtime gives runsc: raw sockets for ping, netstack in the sandbox, no cgroup set-up. */
export const DEFAULT_FLAGS: readonly string[] = ["--net-raw", "--network=sandbox", "--ignore-cgroups"];

/** How one runsc call ended. */
export interface RunscResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** A runsc call that failed; the message is one line naming the call. */
export class RunscError extends Error {
  override readonly name = "RunscError";
  /** The call's result (null when it could not be started). */
  readonly result: RunscResult | null;
  constructor(message: string, result: RunscResult | null = null) {
    super(message);
    this.result = result;
  }
}

const SH = 'mount --bind "$1" /proc/sys/net || exit 125; shift; exec "$@"';
// "$2" is the log: stdout appended there, stderr to "$2.stderr".
const SH_LOGGED = 'mount --bind "$1" /proc/sys/net || exit 125; log=$2; shift 2; ' +
  'exec "$@" </dev/null >>"$log" 2>>"$log.stderr"';

/** `name` found in PATH (or the usual system directories when PATH is unset), as an absolute path. */
export function findExecutable(name: string): string {
  if (name.includes("/")) return name;
  const path = Deno.env.get("PATH") || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  const found = executableIn(path.split(":"), name);
  if (found === null) throw new RunscError(`${name}: not found in PATH`);
  return found.path;
}

/** The argv (after `unshare`) that runs `runsc ARGS…` with the workaround; with `log`, output goes there. */
export function runscArgv(cfg: RunscConfig, args: readonly string[], log?: string): string[] {
  return [
    "-m",
    "--propagation",
    "private",
    "/bin/sh",
    "-c",
    log === undefined ? SH : SH_LOGGED,
    "sh",
    cfg.emptyDir,
    ...(log === undefined ? [] : [log]),
    findExecutable(cfg.runsc ?? "runsc"),
    "--root",
    cfg.root,
    ...(cfg.flags ?? DEFAULT_FLAGS),
    ...args,
  ];
}

/** Options of one call. */
export interface CallOptions {
  /** Append runsc's stdout to this file and its stderr to `log.stderr` (for detached containers). */
  log?: string;
  timeoutMs?: number;
}

/** Runs `runsc ARGS…`; never throws for a non-zero exit (see `runscOk`). */
export async function runsc(cfg: RunscConfig, args: readonly string[], o: CallOptions = {}): Promise<RunscResult> {
  Deno.mkdirSync(cfg.emptyDir, { recursive: true, mode: 0o700 });
  const unshare = findExecutable("unshare");
  const start = () =>
    spawn(unshare, {
      args: runscArgv(cfg, args, o.log),
      env: {},
      stdin: new Uint8Array(),
      timeoutMs: o.timeoutMs ?? cfg.timeoutMs ?? 60_000,
    });
  let child;
  try {
    // posix_spawn forks the calling thread: the child starts in the netns the thread is in.
    child = withNetns(cfg.netns, start);
  } catch (e) {
    if (e instanceof SpawnError) throw new RunscError(`runsc ${args[0] ?? ""}: cannot start unshare: ${e.message}`);
    throw e;
  }
  const r = await child.done;
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr), timedOut: r.timedOut };
}

/** The last non-empty line of a failed call's output (or of its log's stderr file). */
export function lastLine(r: RunscResult, log?: string): string {
  let text = `${r.stderr}\n${r.stdout}`;
  if (log !== undefined) {
    try {
      text += `\n${Deno.readTextFileSync(`${log}.stderr`)}`;
    } catch {
      // no log written
    }
  }
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  if (r.timedOut) return `timed out, killed`;
  return lines.at(-1) ?? `exit ${r.code}`;
}

/** `runsc ARGS…`, throwing `RunscError` ("WHAT: runsc failed (exit N): LAST LINE") unless it exits 0. */
export async function runscOk(
  cfg: RunscConfig,
  what: string,
  args: readonly string[],
  o: CallOptions = {},
): Promise<RunscResult> {
  const r = await runsc(cfg, args, o);
  if (r.code !== 0) throw new RunscError(`${what}: runsc failed (exit ${r.code}): ${lastLine(r, o.log)}`, r);
  return r;
}

/** IDs of the containers runsc knows here. */
export async function runscList(cfg: RunscConfig): Promise<string[]> {
  const r = await runscOk(cfg, "runsc list", ["list", "-quiet"]);
  return r.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

/** A container's status (`running`, `stopped`, `created`, …), or null when runsc does not know it. */
export async function runscStatus(cfg: RunscConfig, id: string): Promise<string | null> {
  if (!(await runscList(cfg)).includes(id)) return null;
  const r = await runscOk(cfg, `runsc state ${id}`, ["state", id]);
  const m = /"status"\s*:\s*"([a-z]+)"/.exec(r.stdout);
  return m?.[1] ?? "unknown";
}

/** `runsc delete -force ID`; true when it was there. */
export async function runscDelete(cfg: RunscConfig, id: string): Promise<boolean> {
  return (await runsc(cfg, ["delete", "-force", id])).code === 0;
}

/** `runsc exec [--cap C]… ID ARGV…` (the container's own PATH finds ARGV[0]). */
export function runscExec(
  cfg: RunscConfig,
  id: string,
  argv: readonly string[],
  caps: readonly string[] = [],
): Promise<RunscResult> {
  return runsc(cfg, ["exec", ...caps.flatMap((c) => ["--cap", c]), id, ...argv]);
}

/** `runsc checkpoint --image-path DIR ID`: writes DIR/checkpoint.img and stops the container. */
export async function runscCheckpoint(cfg: RunscConfig, id: string, imageDir: string): Promise<void> {
  await runscOk(cfg, `checkpoint ${id}`, ["checkpoint", "--image-path", imageDir, id]);
}

/** `runsc restore --image-path DIR --bundle B -detach ID`, the container's output appended to `log` (`log.stderr`). */
export async function runscRestore(
  cfg: RunscConfig,
  id: string,
  imageDir: string,
  bundle: string,
  log: string,
): Promise<void> {
  await runscOk(cfg, `restore ${id}`, ["restore", "--image-path", imageDir, "--bundle", bundle, "-detach", id], {
    log,
  });
}

/** The flags `podnet checkpoint` and `podnet resume` share to reach runsc. */
export const RUNTIME_FLAGS = {
  "runsc-root": { type: "string" },
  "empty-dir": { type: "string" },
  runsc: { type: "string" },
  "runsc-flag": { type: "string", multiple: true },
} as const satisfies Flags;

/** Where the empty directory hidden over /proc/sys/net lives unless `--empty-dir` says otherwise. */
export const DEFAULT_EMPTY_DIR = "/run/podnet/empty";

/** Help text of `RUNTIME_FLAGS`. */
export const RUNTIME_HELP = `  --runsc-root DIR     runsc --root of this node's runtime (required)
  --empty-dir DIR      empty directory hidden over /proc/sys/net for runsc (default ${DEFAULT_EMPTY_DIR})
  --runsc PATH         the runsc executable (default: runsc from PATH)
  --runsc-flag FLAG    a global runsc flag (repeatable; default: ${DEFAULT_FLAGS.join(" ")})
`;

/** The runsc configuration from `RUNTIME_FLAGS`; a missing --runsc-root is a usage error. */
export function runtimeFromFlags(cmd: string, v: Values): RunscConfig {
  const root = str(v, "runsc-root");
  if (root === undefined || root === "") throw new UsageError(`podnet ${cmd}: --runsc-root DIR is required`);
  const cfg: RunscConfig = { root, emptyDir: str(v, "empty-dir") ?? DEFAULT_EMPTY_DIR };
  const bin = str(v, "runsc");
  if (bin !== undefined) cfg.runsc = bin;
  const flags = strs(v, "runsc-flag");
  if (flags.length > 0) cfg.flags = flags;
  return cfg;
}
