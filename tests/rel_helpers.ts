/**
 * Shared pieces of the reliability suite (tests/reliability_*_test.ts): a
 * whole-node leak check (links, routes of every table, neighbors, sysctls,
 * leases, processes, firewall), a seeded PRNG whose seed every test prints,
 * a bounded worker pool and a long-lived in-process plugin runner (to watch
 * a long-lived process's fds and per-call time).
 *
 * @module
 */

import assert from "node:assert/strict";
import { listDir } from "../core/fsutil.ts";
import { ipJson, run, type World } from "./harness.ts";
import { type CallEnv, cni, CNI_BIN, type CniRun, type ConfOpts, leases, netConf, type Node } from "./cni_helpers.ts";

/** Whether the long variants run (PODNET_LONG=1). */
export const LONG = Deno.env.get("PODNET_LONG") === "1";

/** mulberry32: small, fast, good enough to pick fuzz cases and kill moments reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed for `test`: PODNET_SEED when set (to reproduce a failure), else random; printed either way. */
export function seedFor(test: string): number {
  const env = Deno.env.get("PODNET_SEED");
  const seed = env ? Number(env) : Math.floor(Math.random() * 2 ** 31);
  console.log(`${test}: seed ${seed} (reproduce with PODNET_SEED=${seed})`);
  return seed;
}

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!, i);
  });
  await Promise.all(workers);
  return out;
}

/** The inode of a netns bind mount (what /proc/PID/ns/net links to). */
export function netnsInode(path: string): number {
  return Deno.statSync(path).ino!;
}

/** PIDs of processes inside the netns at `path`, except `except`. */
export function processesIn(path: string, except: number[] = []): { pid: number; cmd: string }[] {
  const want = `net:[${netnsInode(path)}]`;
  const out: { pid: number; cmd: string }[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const pid = Number(e.name);
    if (except.includes(pid)) continue;
    try {
      if (Deno.readLinkSync(`/proc/${pid}/ns/net`) !== want) continue;
      const cmd = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ").trim();
      out.push({ pid, cmd });
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return out;
}

/** Waits until no process is inside the netns (orphans of a killed plugin finish by themselves). */
export async function waitNoProcesses(path: string, except: number[] = [], timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const left = processesIn(path, except);
    if (left.length === 0) return;
    if (Date.now() > end) assert.fail(`processes left in ${path}: ${JSON.stringify(left)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every readable sysctl under net/ipv4 and net/ipv6 of a netns, as a key → value map. */
export function netSysctls(ns: string): Map<string, string> {
  const out = new Deno.Command("/usr/bin/nsenter", {
    args: [`--net=/run/netns/${ns}`, "grep", "-rs", "--", "", "/proc/sys/net/ipv4", "/proc/sys/net/ipv6"],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  const m = new Map<string, string>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const i = line.indexOf(":");
    if (i < 0) continue;
    const key = line.slice("/proc/sys/".length, i);
    // Multi-line values (none expected here) are joined rather than lost.
    m.set(key, m.has(key) ? `${m.get(key)}\n${line.slice(i + 1)}` : line.slice(i + 1));
  }
  return m;
}

/** Keys whose value differs, appeared or disappeared between two sysctl maps. */
export function sysctlDiff(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k)).sort();
}

/** The node's firewall as text: iptables-save (v4, v6) and nft's ruleset, counters dropped. */
export function firewall(ns: string): string {
  const parts: string[] = [];
  for (const cmd of [["iptables-save"], ["ip6tables-save"], ["nft", "list", "ruleset"]]) {
    const out = new Deno.Command("ip", { args: ["netns", "exec", ns, ...cmd], stdout: "piped", stderr: "piped" })
      .outputSync();
    const text = new TextDecoder().decode(out.stdout).split("\n")
      .filter((l) => !l.startsWith("#")) // iptables-save's timestamps
      .map((l) => l.replace(/\[\d+:\d+\]/g, "[]"))
      .join("\n");
    parts.push(`${cmd[0]} (${out.code}):\n${text}`);
  }
  return parts.join("\n");
}

/** The captureDir the suite's configs use (beside the node's state dir). */
export function captureDirOf(node: Node): string {
  return node.stateDir.replace(/\/state$/, "/capture");
}

/** `netConf` with a captureDir, so capture files are part of every leak check. */
export function relConf(node: Node, o: ConfOpts = {}): Record<string, unknown> {
  return netConf(node, { ...o, extra: { captureDir: captureDirOf(node), ...o.extra } });
}

/** Everything of a node netns a pod attachment could leave behind. */
export interface NodeState {
  links: string[];
  routes: string[];
  neighbors: string[];
  addrs: string[];
  sysctls: Map<string, string>;
  leaseFiles: string[];
  captureFiles: string[];
  firewall: string;
}

/** Reads the node's state (see `assertNoLeak`). */
export function nodeState(node: Node): NodeState {
  // deno-lint-ignore no-explicit-any
  const fmt = (o: any): string => JSON.stringify(o);
  return {
    // deno-lint-ignore no-explicit-any
    links: ipJson(node.ns, "link", "show").map((l: any) => `${l.ifname} ${l.address ?? ""} ${l.ifalias ?? ""}`).sort(),
    routes: [
      ...ipJson(node.ns, "-4", "route", "show", "table", "all"),
      ...ipJson(node.ns, "-6", "route", "show", "table", "all"),
    ].map(fmt).sort(),
    neighbors: ipJson(node.ns, "neigh", "show").map(fmt).sort(),
    // deno-lint-ignore no-explicit-any
    addrs: ipJson(node.ns, "addr", "show").map((l: any) => `${l.ifname} ${fmt(l.addr_info.map((a: any) => a.local))}`)
      .sort(),
    sysctls: netSysctls(node.ns),
    leaseFiles: leases(node.dataDir),
    captureFiles: listDir(captureDirOf(node)),
    firewall: firewall(node.ns),
  };
}

/**
 * Asserts the node is as it was in `before`: same links, routes (all tables),
 * neighbors, addresses, sysctls, firewall, no lease, no process inside it
 * (other than `except`) and, when given, no link or process in the pods.
 */
export async function assertNoLeak(
  node: Node,
  before: NodeState,
  what: string,
  o: { pods?: string[]; except?: number[] } = {},
): Promise<void> {
  await waitNoProcesses(node.path, o.except ?? []);
  for (const pod of o.pods ?? []) await waitNoProcesses(`/run/netns/${pod}`);
  const now = nodeState(node);
  assert.deepEqual(now.links, before.links, `${what}: links differ`);
  assert.deepEqual(now.routes, before.routes, `${what}: routes differ`);
  assert.deepEqual(now.neighbors, before.neighbors, `${what}: neighbors differ`);
  assert.deepEqual(now.addrs, before.addrs, `${what}: addresses differ`);
  assert.deepEqual(sysctlDiff(before.sysctls, now.sysctls), [], `${what}: sysctls differ`);
  assert.deepEqual(now.leaseFiles, [], `${what}: leases left`);
  assert.deepEqual(now.captureFiles, [], `${what}: capture files left`);
  assert.equal(now.firewall, before.firewall, `${what}: firewall changed`);
  for (const pod of o.pods ?? []) {
    // deno-lint-ignore no-explicit-any
    const links = ipJson(pod, "link", "show").filter((l: any) => l.ifname !== "lo");
    assert.deepEqual(links, [], `${what}: links left in ${pod}`);
  }
}

/** CNI call through the launcher with the test seams switched on. */
export function seamEnv(extra: Record<string, string>): Record<string, string> {
  return { PODNET_TEST_SEAMS: "1", ...extra };
}

/** ADD then asserts success; returns the run. */
export async function mustAdd(node: Node, e: CallEnv, conf: unknown): Promise<CniRun> {
  const r = await cni(node, { ...e, command: "ADD" }, conf);
  assert.equal(r.code, 0, `ADD ${e.containerId} failed: ${r.stdout} ${r.stderr}`);
  return r;
}

/** DEL then asserts success. */
export async function mustDel(node: Node, e: CallEnv, conf: unknown): Promise<CniRun> {
  const r = await cni(node, { ...e, command: "DEL" }, conf);
  assert.equal(r.code, 0, `DEL ${e.containerId} failed: ${r.stdout} ${r.stderr}`);
  return r;
}

/** Writes an executable shell script (a fake plugin). */
export function script(path: string, body: string): string {
  Deno.writeTextFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  Deno.chmodSync(path, 0o755);
  return path;
}

/** A fake IPAM plugin in `dir`: answers VERSION like host-local, runs `add` for ADD and `other` for any other command. */
export function fakeIpam(dir: string, name: string, add: string, other = "exit 0"): string {
  return script(
    `${dir}/${name}`,
    `/bin/cat >/dev/null
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}' ;;
ADD) ${add} ;;
*) ${other} ;;
esac`,
  );
}

/** A CNI_PATH directory holding host-local (symlinked) and whatever fakes the test adds. */
export function pluginDir(w: World): string {
  const dir = `${w.tempDir()}/bin`;
  Deno.mkdirSync(dir);
  Deno.symlinkSync(`${CNI_BIN}/host-local`, `${dir}/host-local`);
  return dir;
}

/** One in-process plugin call's outcome (see tests/rel_worker.ts). */
export interface WorkerReply {
  code: number;
  out: string;
  err: string;
  /** Set when the command threw instead of returning an exit code: a crash. */
  threw?: string;
  ms: number;
  /** The worker's open fds after the call, with their kinds (`openFds`). */
  fds: string[];
  rssKiB: number;
}

/**
 * A long-lived Deno process inside the node netns running podnet's `main()`
 * in-process, one JSON request per line: what a plugin daemon (or the
 * library's user) would be, so leaks of fds, sockets or memory across calls
 * show up, and per-call time is measured without process start-up.
 */
export class InProc {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  readonly pid: number;

  private constructor(child: Deno.ChildProcess, pid: number) {
    this.#child = child;
    this.pid = pid;
    this.#writer = child.stdin.getWriter();
    this.#lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter())[
      Symbol.asyncIterator
    ]();
  }

  /** Starts the worker inside `node`'s netns; waits until it is ready. */
  static async start(node: Node, cwd?: string): Promise<InProc> {
    const worker = new URL("./rel_worker.ts", import.meta.url).pathname;
    const child = new Deno.Command("/usr/bin/nsenter", {
      args: [`--net=${node.path}`, Deno.execPath(), "run", "-A", "--quiet", worker],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      // No update check: its DNS lookup holds sockets open for seconds (a UDP one, a Unix one for nscd).
      env: { PODNET_STATE_DIR: node.stateDir, DENO_NO_UPDATE_CHECK: "1" },
      ...(cwd ? { cwd } : {}),
    }).spawn();
    const p = new InProc(child, child.pid);
    const ready = await p.#lines.next();
    assert.equal(ready.value, "ready", "worker did not start");
    return p;
  }

  /** Runs `podnet ARGS` in-process with `env` and `stdin`. */
  async call(env: Record<string, string>, stdin: string | Uint8Array, args: string[] = []): Promise<WorkerReply> {
    const b64 = typeof stdin === "string" ? null : btoa(String.fromCharCode(...stdin));
    const req = JSON.stringify({ env, args, ...(b64 === null ? { stdin } : { stdinB64: b64 }) });
    await this.#writer.write(new TextEncoder().encode(`${req}\n`));
    const line = await this.#lines.next();
    if (line.done) throw new Error("worker exited");
    return JSON.parse(line.value) as WorkerReply;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#writer.close().catch(() => {});
    const st = await this.#child.status;
    assert.equal(st.code, 0, "worker exited badly");
  }
}

function lineSplitter(): TransformStream<string, string> {
  let buf = "";
  return new TransformStream({
    transform(chunk, ctl): void {
      buf += chunk;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        ctl.enqueue(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    },
  });
}

/** CNI_* for an in-process call. */
export function cniVars(node: Node, e: CallEnv): Record<string, string> {
  const env: Record<string, string> = {
    CNI_COMMAND: e.command,
    CNI_CONTAINERID: e.containerId ?? "ctr1",
    CNI_IFNAME: e.ifname ?? "eth0",
    CNI_PATH: e.path ?? CNI_BIN,
    PODNET_STATE_DIR: node.stateDir,
  };
  if (e.netns) env.CNI_NETNS = e.netns;
  for (const [k, v] of Object.entries(e.env ?? {})) {
    if (v === null) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Asserts a run ended as the spec wants: success, or one error JSON line with a non-zero exit and no stack. */
export function assertSpecOutcome(code: number, stdout: string, what: string): void {
  assert.ok(!/\n\s+at |\.ts:\d+/.test(stdout), `${what}: stack trace on stdout: ${stdout}`);
  if (code === 0) return;
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, 1, `${what}: stdout must be one JSON line, got ${JSON.stringify(stdout)}`);
  // deno-lint-ignore no-explicit-any
  let j: any;
  try {
    j = JSON.parse(lines[0]!);
  } catch {
    assert.fail(`${what}: stdout is not JSON: ${JSON.stringify(stdout.slice(0, 300))}`);
  }
  assert.equal(typeof j.code, "number", `${what}: no code: ${stdout}`);
  assert.equal(typeof j.msg, "string", `${what}: no msg: ${stdout}`);
  assert.equal(typeof j.cniVersion, "string", `${what}: no cniVersion: ${stdout}`);
  assert.ok(j.msg.length > 0 && j.msg.length < 2000, `${what}: msg empty or huge`);
}

/** `ip -j` in the node for one link, or null. */
// deno-lint-ignore no-explicit-any
export function linkIn(ns: string, name: string): any | null {
  // deno-lint-ignore no-explicit-any
  return ipJson(ns, "link", "show").find((l: any) => l.ifname === name) ?? null;
}

/** `cat` a file inside a netns's own sysfs view (`ip netns exec` mounts it). */
export function sysfsIn(ns: string, path: string): string {
  return run("ip", ["netns", "exec", ns, "cat", path]).trim();
}
