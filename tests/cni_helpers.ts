/**
 * Shared pieces of the CNI plugin tests: a node netns with an uplink stand-in
 * (an `ifb` device carrying the node's addresses and default routes, so the
 * node has addresses to ping and proxy ARP has "another interface"), configs
 * with host-local IPAM keeping its leases in the world's temp dir, and a
 * runner that calls the real plugin through bin/podnet the way a runtime
 * does (bare environment, inside the node netns).
 *
 * @module
 */

import assert from "node:assert/strict";
import { ip, ipJson, run, runAsync, type World } from "./harness.ts";

export const PODNET = new URL("../bin/podnet", import.meta.url).pathname;
export const CNI_BIN = "/usr/lib/cni";
export const NODE_V4 = "10.99.0.1";
export const NODE_V6 = "fd00:99::1";
export const SUBNET4 = "10.244.1.0/24";
export const SUBNET6 = "fd00:244:1::/64";

/** A node netns plus what the tests need to drive the plugin in it. */
export interface Node {
  w: World;
  /** netns name of the node. */
  ns: string;
  path: string;
  dataDir: string;
  logFile: string;
  /** PODNET_STATE_DIR for the plugin (its IPAM version cache). */
  stateDir: string;
}

/** Builds the node netns: lo up, ifb0 up with NODE_V4/NODE_V6 and default routes through it. */
export function makeNode(w: World): Node {
  const ns = w.netns("node");
  ip(ns, "link", "add", "ifb0", "type", "ifb");
  ip(ns, "link", "set", "ifb0", "up");
  ip(ns, "addr", "add", `${NODE_V4}/24`, "dev", "ifb0");
  ip(ns, "addr", "add", `${NODE_V6}/64`, "dev", "ifb0", "nodad");
  ip(ns, "route", "add", "default", "dev", "ifb0");
  ip(ns, "-6", "route", "add", "default", "dev", "ifb0");
  const dir = w.tempDir();
  return {
    w,
    ns,
    path: w.path(ns),
    dataDir: `${dir}/ipam`,
    logFile: `${dir}/log/podnet.log`,
    stateDir: `${dir}/state`,
  };
}

/** Options for `netConf`. */
export interface ConfOpts {
  v4?: boolean;
  v6?: boolean;
  cniVersion?: string;
  gatewayMode?: string;
  name?: string;
  mtu?: number;
  /** Extra top-level fields (overrides). */
  extra?: Record<string, unknown>;
  /** Replaces the ipam object. */
  ipam?: Record<string, unknown>;
}

/** A podnet network config with host-local IPAM in the node's data dir. */
export function netConf(node: Node, o: ConfOpts = {}): Record<string, unknown> {
  const ranges: unknown[] = [];
  if (o.v4 ?? true) ranges.push([{ subnet: SUBNET4 }]);
  if (o.v6 ?? true) ranges.push([{ subnet: SUBNET6 }]);
  return {
    cniVersion: o.cniVersion ?? "1.1.0",
    name: o.name ?? "podnet",
    type: "podnet",
    ...(o.gatewayMode ? { gatewayMode: o.gatewayMode } : {}),
    ...(o.mtu ? { mtu: o.mtu } : {}),
    logFile: node.logFile,
    ipam: o.ipam ?? { type: "host-local", dataDir: node.dataDir, ranges },
    ...o.extra,
  };
}

/** What one plugin call returned; `json` is stdout parsed (null when empty). */
export interface CniRun {
  code: number;
  stdout: string;
  stderr: string;
  // deno-lint-ignore no-explicit-any
  json: any;
}

/** CNI_* for one call. */
export interface CallEnv {
  command: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  path?: string;
  /** Extra variables (test seams); a value of null drops a CNI_* variable. */
  env?: Record<string, string | null>;
}

/**
 * Runs `plugin` (default: podnet through bin/podnet) inside the node netns
 * with a bare environment, as container runtimes do.
 */
export async function cni(node: Node, e: CallEnv, config: unknown, plugin = PODNET): Promise<CniRun> {
  const env: Record<string, string> = {
    CNI_COMMAND: e.command,
    CNI_CONTAINERID: e.containerId ?? "ctr1",
    CNI_NETNS: e.netns ?? "",
    CNI_IFNAME: e.ifname ?? "eth0",
    CNI_PATH: e.path ?? CNI_BIN,
    PODNET_STATE_DIR: node.stateDir,
  };
  if (env.CNI_NETNS === "") delete env.CNI_NETNS;
  for (const [k, v] of Object.entries(e.env ?? {})) {
    if (v === null) delete env[k];
    else env[k] = v;
  }
  const stdin = typeof config === "string" ? config : JSON.stringify(config);
  const r = await runAsync("/usr/bin/nsenter", [`--net=${node.path}`, plugin], { stdin, env, clearEnv: true });
  let json = null;
  if (r.stdout.trim() !== "") {
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = { unparsable: r.stdout };
    }
  }
  return { ...r, json };
}

/** ADD that must succeed; returns the result. */
// deno-lint-ignore no-explicit-any
export async function add(node: Node, pod: string, config: unknown, e: Partial<CallEnv> = {}): Promise<any> {
  const r = await cni(node, { command: "ADD", netns: node.w.path(pod), ...e }, config);
  assert.equal(r.code, 0, `ADD failed: ${r.stdout} ${r.stderr}`);
  return r.json;
}

/** DEL that must succeed, printing nothing; `pod` null leaves CNI_NETNS unset. */
export async function del(node: Node, pod: string | null, config: unknown, e: Partial<CallEnv> = {}): Promise<void> {
  const r = await cni(node, { command: "DEL", ...(pod !== null ? { netns: node.w.path(pod) } : {}), ...e }, config);
  assert.equal(r.code, 0, `DEL failed: ${r.stdout} ${r.stderr}`);
  assert.equal(r.stdout, "");
}

/** CHECK with `prevResult` (an ADD result) that must pass, printing nothing. */
export async function check(
  node: Node,
  pod: string,
  config: Record<string, unknown>,
  prevResult: unknown,
  e: Partial<CallEnv> = {},
): Promise<void> {
  const r = await cni(node, { command: "CHECK", netns: node.w.path(pod), ...e }, { ...config, prevResult });
  assert.equal(r.code, 0, `CHECK failed: ${r.stdout} ${r.stderr}`);
  assert.equal(r.stdout, "");
}

/** Asserts a CNI error object with `code` on stdout and a non-zero exit; returns the message. */
export function assertCniError(r: CniRun, code: number, msg?: RegExp): string {
  assert.notEqual(r.code, 0, `expected failure, got success: ${r.stdout}`);
  assert.equal(r.stdout.trim().split("\n").length, 1, `stdout must be one JSON line: ${r.stdout}`);
  assert.ok(r.json && typeof r.json === "object", `stdout is not JSON: ${r.stdout}`);
  assert.equal(r.json.code, code, `want code ${code}: ${r.stdout}`);
  assert.equal(typeof r.json.msg, "string");
  assert.equal(typeof r.json.cniVersion, "string");
  assert.ok(!/\n\s+at /.test(r.stdout) && !r.stdout.includes(".ts:"), `stack trace on stdout: ${r.stdout}`);
  if (msg) assert.match(r.json.msg, msg);
  return r.json.msg;
}

/** Links of a netns other than lo and the node's ifb0. */
// deno-lint-ignore no-explicit-any
export function extraLinks(ns: string): any[] {
  return ipJson(ns, "link", "show").filter((l: { ifname: string }) => l.ifname !== "lo" && l.ifname !== "ifb0");
}

/** IPs host-local has leased in `dataDir` (one file per address). */
export function leases(dataDir: string): string[] {
  const out: string[] = [];
  try {
    for (const net of Deno.readDirSync(dataDir)) {
      if (!net.isDirectory) continue;
      for (const f of Deno.readDirSync(`${dataDir}/${net.name}`)) {
        if (/^[0-9a-f.:]+$/.test(f.name) && (f.name.includes(".") || f.name.includes(":"))) out.push(f.name);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** Reads a sysctl inside a netns. */
export function sysctlIn(ns: string, key: string): string {
  return run("/usr/bin/nsenter", [`--net=/run/netns/${ns}`, "cat", `/proc/sys/${key}`]).trim();
}

/** All of net/ipv{4,6}/conf/{all,default}/* in a netns, as `path:value` lines. */
export function globalSysctls(ns: string): string {
  const dirs = ["ipv4/conf/all", "ipv4/conf/default", "ipv6/conf/all", "ipv6/conf/default"].map((d) =>
    `/proc/sys/net/${d}`
  );
  const out = new Deno.Command("/usr/bin/nsenter", {
    args: [`--net=/run/netns/${ns}`, "grep", "-rs", ".", ...dirs],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").sort().join("\n");
}

/** The routes of a netns (main table, one family) as `dst dev gw` strings, kernel ones dropped. */
export function routes(ns: string, family: 4 | 6): string[] {
  // deno-lint-ignore no-explicit-any
  return ipJson(ns, `-${family}`, "route", "show").filter((r: any) => r.protocol !== "kernel").map((r: any) =>
    [r.dst, r.dev, r.gateway ?? ""].join(" ").trim()
  ).sort();
}

/** Pings `dst` from inside `ns` once; returns whether it answered. */
export function ping(ns: string, dst: string): boolean {
  const out = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "ping", "-c1", "-W2", dst],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return out.success;
}
