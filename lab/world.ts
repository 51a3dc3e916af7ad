/**
 * Throwaway worlds for the tests, the demo and the measuring scripts: network
 * namespaces (a "node" with no uplink, pods beside it) and temp dirs, removed
 * again on dispose, also when what ran in them failed. Nothing here touches
 * the machine's root netns. `ip` is used only to build and inspect worlds
 * (podnet itself never shells out). Not part of the product: nothing under
 * cni/, sandbox/, ops/ or main.ts imports lab/.
 *
 * @module
 */

/** Prefix of every netns the suite creates, so a killed run's leftovers are recognisably ours. */
const NETNS_PREFIX = "pnt-";
let counter = 0;

/** Runs a command synchronously; throws with its stderr on failure. */
export function run(cmd: string, args: string[]): string {
  const out = new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).outputSync();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${dec.decode(out.stderr).trim()}`);
  }
  return dec.decode(out.stdout);
}

/** Result of a process run. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with optional stdin and env (killed after `timeoutMs`); never throws on non-zero exit. */
export async function runAsync(
  cmd: string,
  args: string[],
  opts: { stdin?: string; env?: Record<string, string>; clearEnv?: boolean; cwd?: string; timeoutMs?: number } = {},
): Promise<Ran> {
  const p = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    clearEnv: opts.clearEnv ?? false,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(opts.timeoutMs) }),
  }).spawn();
  const w = p.stdin.getWriter();
  // A process that exits without reading its stdin is judged by its exit code, not by EPIPE.
  await w.write(new TextEncoder().encode(opts.stdin ?? "")).catch(() => {});
  await w.close().catch(() => {});
  const out = await p.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** `ip -j [-n NS] ARGS…` parsed. */
// deno-lint-ignore no-explicit-any
export function ipJson(netns: string | null, ...args: string[]): any[] {
  const out = run("ip", [...(netns ? ["-n", netns] : []), "-j", ...args]).trim();
  return out === "" ? [] : JSON.parse(out);
}

/** `ip [-n NS] ARGS…` for building worlds. */
export function ip(netns: string | null, ...args: string[]): string {
  return run("ip", [...(netns ? ["-n", netns] : []), ...args]);
}

/** Name prefixes of a world's namespaces and temp dirs. */
export interface WorldPrefixes {
  /** Default `pnt-`, the suite's. */
  netns?: string;
  /** Default `podnet-test-`. */
  tempDir?: string;
}

/** A throwaway set of network namespaces, removed on dispose. */
export class World {
  readonly id: string;
  readonly #prefix: Required<WorldPrefixes>;
  readonly #netns: string[] = [];
  readonly #dirs: string[] = [];
  readonly #cleanups: (() => void | Promise<void>)[] = [];

  constructor(prefix: WorldPrefixes = {}) {
    this.id = `${Deno.pid.toString(36)}${(counter++).toString(36)}`;
    this.#prefix = { netns: prefix.netns ?? NETNS_PREFIX, tempDir: prefix.tempDir ?? "podnet-test-" };
  }

  /** Creates netns `<prefix>ID-NAME` (`pnt-ID-NAME` by default) with lo up; returns its name. */
  netns(name: string): string {
    const ns = `${this.#prefix.netns}${this.id}-${name}`;
    ip(null, "netns", "add", ns);
    this.#netns.push(ns);
    ip(ns, "link", "set", "lo", "up");
    return ns;
  }

  /** The bind-mount path of a netns name. */
  path(ns: string): string {
    return `/run/netns/${ns}`;
  }

  /** A private temp dir removed on dispose. */
  tempDir(): string {
    const d = Deno.makeTempDirSync({ prefix: this.#prefix.tempDir });
    this.#dirs.push(d);
    return d;
  }

  /** Registers extra clean-up (run before namespaces are removed, newest first). */
  defer(fn: () => void | Promise<void>): void {
    this.#cleanups.push(fn);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const errors: unknown[] = [];
    for (const fn of this.#cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        errors.push(e);
      }
    }
    for (const ns of this.#netns.reverse()) {
      try {
        ip(null, "netns", "del", ns);
      } catch (e) {
        errors.push(e);
      }
    }
    for (const d of this.#dirs) Deno.removeSync(d, { recursive: true });
    if (errors.length) throw new AggregateError(errors, "world clean-up failed");
  }
}

/** Creates a world; use as `await using w = world();`. */
export function world(): World {
  return new World();
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}

/** The podnet launcher: the same main.ts an installed /opt/cni/bin/podnet runs. */
export const PODNET = new URL("../bin/podnet", import.meta.url).pathname;
/** Where the reference plugins (host-local, ptp) live on Debian. */
export const CNI_BIN = "/usr/lib/cni";

/**
 * The CNI_* environment a runtime gives a plugin for `command` on `eth0`, and
 * podnet's state dir (its locks and IPAM version cache: one per throwaway
 * node, never the machine's /run/podnet). Run it with `clearEnv`.
 */
export function cniEnv(
  command: string,
  containerId: string,
  netns: string,
  stateDir: string,
  ifname = "eth0",
): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: netns,
    CNI_IFNAME: ifname,
    CNI_PATH: CNI_BIN,
    PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
    PODNET_STATE_DIR: stateDir,
  };
}

export { rssKiB } from "../core/profile.ts";
