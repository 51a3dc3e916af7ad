/**
 * Shared pieces of the CNI plugin tests: the CNI node of lab/node.ts (node
 * netns, configs, a runtime-like plugin runner) and the assertions on top of it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ipJson, run } from "./harness.ts";
import { type CallEnv, cni, type CniRun, type Node } from "../lab/node.ts";

export * from "../lab/node.ts";

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
