/**
 * IPAM delegation: the plugin named by `ipam.type` is executed from CNI_PATH
 * with the same CNI_* environment and the same config on stdin. Its CNI
 * version may be older than the runtime's (Debian's host-local stops at
 * 1.0.0), so podnet asks it for VERSION first and speaks the highest version
 * both sides support, converting the result.
 *
 * Every plugin call is bounded (`DEFAULT_IPAM_TIMEOUT_MS`, PODNET_IPAM_TIMEOUT_MS):
 * a plugin that hangs (a wedged lock, an unreachable DHCP daemon) is killed with
 * its whole process group and the call fails with code 11, so the runtime
 * retries instead of waiting forever with the veth half made.
 *
 * @module
 */

import { errorText } from "../core/errors.ts";
import { ensurePrivateDir, writeFileAtomic } from "../core/fsutil.ts";
import { executableIn, spawn, type Spawned } from "../sys/spawn.ts";
import { CNI_VERSIONS } from "../core/constants.ts";
import { ERROR_MEANINGS } from "./errors.ts";
import type { Attachment, CniEnv, NetConf } from "./config.ts";
import { versionAtLeast, versionNumber } from "./versions.ts";
import { CniError, ERR } from "./errors.ts";
import { formatResult, parseResult, type Result } from "./result.ts";

/** How long one IPAM plugin call may take: host-local needs milliseconds, a DHCP exchange seconds. */
export const DEFAULT_IPAM_TIMEOUT_MS = 60_000;

/** What a plugin process returned. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  /** Killed because it ran longer than the timeout. */
  timedOut: boolean;
}

/** A plugin binary found in CNI_PATH, with what identifies this build of it. */
export interface Plugin {
  path: string;
  /** dev:ino:size:mtime — changes when the binary is replaced or rewritten. */
  identity: string;
}

/** Finds `type` in the CNI_PATH directories (first match wins, as libcni does). */
export function findPlugin(type: string, path: string[]): Plugin {
  const found = executableIn(path, type);
  if (found === null) {
    throw new CniError(
      ERR.io,
      `IPAM plugin ${JSON.stringify(type)} not found in CNI_PATH`,
      `searched ${path.join(":")}`,
    );
  }
  const st = found.info;
  return { path: found.path, identity: `${st.dev}:${st.ino}:${st.size}:${st.mtime?.getTime() ?? 0}` };
}

/**
 * The version to speak with a plugin that supports `theirs`: the requested
 * version when it does (the config then goes through unchanged), else the
 * highest older version both support. Null when there is none.
 */
export function pickVersion(requested: string, theirs: string[]): string | null {
  if (theirs.includes(requested)) return requested;
  const req = versionNumber(requested) ?? 0;
  const both = CNI_VERSIONS.filter((v) => theirs.includes(v) && (versionNumber(v) ?? 0) <= req);
  return both.at(-1) ?? null;
}

/** A negotiated IPAM plugin for one invocation. */
export class Ipam {
  readonly type: string;
  readonly bin: string;
  /** The CNI version spoken with the plugin. */
  readonly version: string;
  readonly #env: CniEnv;
  readonly #conf: NetConf;
  readonly #timeoutMs: number;

  private constructor(type: string, bin: string, version: string, env: CniEnv, conf: NetConf, timeoutMs: number) {
    this.type = type;
    this.bin = bin;
    this.version = version;
    this.#env = env;
    this.#conf = conf;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Finds the plugin and negotiates the version. The plugin's VERSION answer
   * is cached per binary identity in `stateDir`, so only the first call after
   * an install or upgrade pays for the extra exec (~15 ms of an ADD).
   */
  static async open(ctx: { conf: NetConf; env: CniEnv; stateDir: string; ipamTimeoutMs?: number }): Promise<Ipam> {
    const { conf, env } = ctx;
    const timeoutMs = ctx.ipamTimeoutMs ?? DEFAULT_IPAM_TIMEOUT_MS;
    const plugin = findPlugin(conf.ipamType, env.path);
    const bin = plugin.path;
    let theirs = readVersionCache(ctx.stateDir, plugin);
    if (theirs === null) {
      const versionCall = cniEnvVars({ ...env, command: "VERSION" });
      const ran = await start(bin, versionCall, JSON.stringify({ cniVersion: conf.cniVersion }), timeoutMs).done;
      if (ran.timedOut) throw timeoutError(conf.ipamType, "VERSION", timeoutMs);
      theirs = ["0.1.0", "0.2.0"]; // what a plugin without VERSION support speaks (spec)
      if (ran.code === 0) {
        try {
          const v = JSON.parse(ran.stdout) as { supportedVersions?: unknown };
          if (Array.isArray(v.supportedVersions)) {
            theirs = v.supportedVersions.filter((x): x is string => typeof x === "string");
            writeVersionCache(ctx.stateDir, plugin, theirs);
          }
        } catch {
          // keep the spec's default, and do not cache a garbled answer
        }
      }
    }
    const version = pickVersion(conf.cniVersion, theirs);
    if (version === null) {
      throw new CniError(
        ERR.incompatibleVersion,
        `IPAM plugin ${conf.ipamType} supports no CNI version podnet can speak at or below ${conf.cniVersion}`,
        `it supports ${theirs.join(", ")}`,
      );
    }
    return new Ipam(conf.ipamType, bin, version, env, conf, timeoutMs);
  }

  /** Whether the spoken version has GC and STATUS (1.1.0+). */
  get hasGcStatus(): boolean {
    return versionAtLeast(this.version, "1.1.0");
  }

  #stdin(extra: Record<string, unknown> = {}): string {
    const o: Record<string, unknown> = { ...this.#conf.raw, cniVersion: this.version, ...extra };
    // A prevResult must be in the version the plugin speaks (it decodes it by cniVersion); one that
    // did not parse (DEL goes on without it) is not passed on.
    delete o.prevResult;
    if (this.#conf.prev !== null) o.prevResult = formatResult(this.#conf.prev, this.version);
    return JSON.stringify(o);
  }

  /**
   * Starts the plugin and returns once its stdin is written and closed, so it
   * runs on while the caller does synchronous netlink work (a sync FFI call
   * blocks the event loop, which would otherwise hold back the stdin write).
   */
  #start(command: string, overrides: Partial<CniEnv>, stdin: string): Pending<string> {
    const env = { ...this.#env, ...overrides, command } as CniEnv;
    const running = start(this.bin, cniEnvVars(env), stdin, this.#timeoutMs);
    const done = running.done.then((ran) => {
      if (ran.timedOut) throw timeoutError(this.type, command, this.#timeoutMs);
      if (ran.code === 0) return ran.stdout;
      throw pluginError(this.type, command, ran);
    });
    done.catch(() => {}); // handled by whoever awaits `done`; never an unhandled rejection meanwhile
    return { done };
  }

  async #run(command: string, overrides: Partial<CniEnv>, stdin: string): Promise<string> {
    return await this.#start(command, overrides, stdin).done;
  }

  /** Starts IPAM ADD; `done` is the result in podnet's internal shape. */
  startAdd(): Pending<Result> {
    const p = this.#start("ADD", {}, this.#stdin());
    const done = p.done.then((out) => {
      let v: unknown;
      try {
        v = JSON.parse(out);
      } catch {
        throw new CniError(ERR.internal, `IPAM plugin ${this.type} printed no JSON result for ADD`);
      }
      return parseResult(v, `IPAM plugin ${this.type}'s result`);
    });
    done.catch(() => {});
    return { done };
  }

  /** Starts IPAM DEL for this container or the given attachment. */
  startDel(att?: Attachment): Pending<string> {
    const o: Partial<CniEnv> = att ? { containerId: att.containerID, ifname: att.ifname, netns: "" } : {};
    return this.#start("DEL", o, this.#stdin());
  }

  /** IPAM DEL, for this container or the given attachment. */
  async del(att?: Attachment): Promise<void> {
    await this.startDel(att).done;
  }

  /** IPAM CHECK (0.4.0+), with the config's prevResult. */
  async check(): Promise<void> {
    await this.#run("CHECK", {}, this.#stdin());
  }

  /** IPAM GC (1.1.0+) with the attachments still in use. */
  async gc(valid: Attachment[]): Promise<void> {
    await this.#run("GC", {}, this.#stdin({ "cni.dev/valid-attachments": valid }));
  }

  /** IPAM STATUS (1.1.0+). */
  async status(): Promise<void> {
    await this.#run("STATUS", {}, this.#stdin());
  }
}

/** Cache file of IPAM plugins' supported versions: `{ [path]: { identity, versions } }`. */
const VERSION_CACHE = "ipam-versions.json";

type VersionCache = Record<string, { identity: string; versions: string[] }>;

function loadCache(stateDir: string): VersionCache {
  try {
    const v = JSON.parse(Deno.readTextFileSync(`${stateDir}/${VERSION_CACHE}`));
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v as VersionCache : {};
  } catch {
    return {};
  }
}

function readVersionCache(stateDir: string, p: Plugin): string[] | null {
  const e = loadCache(stateDir)[p.path];
  return e && e.identity === p.identity && Array.isArray(e.versions) ? e.versions : null;
}

function writeVersionCache(stateDir: string, p: Plugin, versions: string[]): void {
  try {
    ensurePrivateDir(stateDir);
    const cache = loadCache(stateDir);
    cache[p.path] = { identity: p.identity, versions };
    writeFileAtomic(`${stateDir}/${VERSION_CACHE}`, JSON.stringify(cache));
  } catch {
    // A read-only or missing state dir only costs the VERSION exec next time.
  }
}

/** The CNI_* variables for a delegated call; unset ones are passed empty so inherited values cannot leak in. */
function cniEnvVars(env: CniEnv): Record<string, string> {
  return {
    CNI_COMMAND: env.command,
    CNI_CONTAINERID: env.containerId,
    CNI_NETNS: env.netns,
    CNI_IFNAME: env.ifname,
    CNI_ARGS: env.args,
    CNI_PATH: env.path.join(":"),
  };
}

/**
 * The error for a plugin call that failed. What the plugin printed is never
 * passed on, in any form: a plugin that repeats its input (the config, with
 * its secrets) in a message would carry them into podnet's error and log,
 * and no redaction catches every encoding. The plugin, the command and its
 * CNI code (with the spec's meaning) say what failed; the operator runs the
 * plugin by hand to read its own words.
 */
function pluginError(type: string, command: string, ran: Ran): CniError {
  let code: number | null = null;
  try {
    const e = JSON.parse(ran.stdout) as { code?: unknown };
    if (typeof e.code === "number" && Number.isInteger(e.code) && e.code > 0) code = e.code;
  } catch {
    // not a CNI error object
  }
  if (code === null) {
    return new CniError(
      ERR.internal,
      `IPAM plugin ${type} ${command} exited with status ${ran.code} without a CNI error`,
    );
  }
  const meaning = ERROR_MEANINGS[code] ?? "plugin-specific";
  return new CniError(
    code,
    `IPAM plugin ${type} ${command} failed with CNI error code ${code} (${meaning})`,
    "the plugin's own message is not repeated (it may echo the configuration); run the plugin by hand to read it",
  );
}

/** A started plugin call; `done` settles when it has exited. */
export interface Pending<T> {
  done: Promise<T>;
}

function timeoutError(type: string, command: string, ms: number): CniError {
  return new CniError(
    ERR.tryAgainLater,
    `IPAM plugin ${type} ${command} did not finish within ${ms} ms; it was killed`,
    "PODNET_IPAM_TIMEOUT_MS sets the limit",
  );
}

/**
 * Spawns a plugin binary with `env` added to this process's environment and
 * `stdin` fed in; returns once stdin is written and closed.
 * The plugin leads its own process group (a new session), so a timeout kills it
 * together with any children it started (which would otherwise hold its
 * output pipes open, and the wait with them). core/spawn.ts says why it is
 * not `Deno.Command`.
 */
function start(bin: string, env: Record<string, string>, stdin: string, timeoutMs: number): Pending<Ran> {
  let child: Spawned;
  try {
    child = spawn(bin, { env, cwd: "/", stdin: new TextEncoder().encode(stdin), timeoutMs });
  } catch (e) {
    throw new CniError(ERR.io, `cannot execute ${bin}: ${errorText(e)}`);
  }
  const done = child.done.then((out) => {
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), timedOut: out.timedOut };
  });
  return { done };
}
