/**
 * Measures CNI ADD and DEL latency of podnet against the reference ptp plugin
 * (/usr/lib/cni/ptp), IPv4-only and dual-stack, in one run with the four
 * series interleaved so machine noise hits all of them alike. Each call is
 * timed from the outside, as a runtime sees it: process start (podnet through
 * bin/podnet, under nsenter into a throwaway node netns) to exit.
 *
 *   deno run -A scripts/measure_cni.ts [--rounds 20] [--json] [--baseline DIR]
 *
 * --baseline DIR adds another podnet checkout (DIR/bin/podnet, e.g. made with
 * `git worktree add DIR <rev>` and `.tools/node_modules` linked in) as a third
 * contender, so an older and a newer podnet are compared in the same run.
 *
 * Also prints the p50 of a CNI VERSION call through bin/podnet: the floor
 * every podnet call pays (launcher, Deno start, module graph, FFI tables).
 *
 * Needs root; builds its own netns world (names pnt-*) and removes it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { CNI_BIN, cniEnv, PODNET, runAsync, world } from "../lab/world.ts";
import { pct } from "./stats.ts";

interface Series {
  plugin: "podnet" | "ptp" | "baseline";
  family: "ipv4" | "dual";
  add: number[];
  del: number[];
}

function ranges(family: Series["family"], n: number): unknown[] {
  const r: unknown[] = [[{ subnet: `10.${100 + n}.0.0/16` }]];
  if (family === "dual") r.push([{ subnet: `fd00:${100 + n}::/64` }]);
  return r;
}

function config(s: Series, n: number, dataDir: string): Record<string, unknown> {
  const ipam = { type: "host-local", dataDir, ranges: ranges(s.family, n) };
  return s.plugin === "ptp"
    ? { cniVersion: "1.0.0", name: `m${n}`, type: "ptp", ipMasq: false, ipam }
    : { cniVersion: "1.0.0", name: `m${n}`, type: "podnet", ipam };
}

async function call(
  nodePath: string,
  stateDir: string,
  s: Series,
  command: string,
  id: string,
  netns: string,
  conf: unknown,
): Promise<number> {
  const bin = s.plugin === "podnet" ? PODNET : s.plugin === "baseline" ? `${baseline}/bin/podnet` : `${CNI_BIN}/ptp`;
  const env = cniEnv(command, id, netns, stateDir);
  const t0 = performance.now();
  const r = await runAsync("/usr/bin/nsenter", [`--net=${nodePath}`, bin], {
    stdin: JSON.stringify(conf),
    env,
    clearEnv: true,
  });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`${s.plugin} ${s.family} ${command} failed: ${r.stdout} ${r.stderr}`);
  return ms;
}

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "20" }, json: { type: "boolean" }, baseline: { type: "string" } },
});
const rounds = Number(values.rounds);
const baseline = values.baseline?.replace(/\/$/, "") ?? null;
const floor: number[] = [];
const series: Series[] = [
  { plugin: "podnet", family: "ipv4", add: [], del: [] },
  { plugin: "ptp", family: "ipv4", add: [], del: [] },
  { plugin: "podnet", family: "dual", add: [], del: [] },
  { plugin: "ptp", family: "dual", add: [], del: [] },
];
if (baseline !== null) {
  series.splice(1, 0, { plugin: "baseline", family: "ipv4", add: [], del: [] });
  series.push({ plugin: "baseline", family: "dual", add: [], del: [] });
}
{
  await using w = world();
  const node = w.netns("node");
  const tmp = w.tempDir();
  const dataDir = `${tmp}/ipam`, stateDir = `${tmp}/state`;
  const pods = series.map((_, i) => w.netns(`m${i}`));
  for (let round = 0; round < rounds; round++) {
    // The floor of any podnet call: the launcher, Deno and podnet's module graph, no kernel or IPAM work.
    floor.push(await call(w.path(node), stateDir, series[0]!, "VERSION", "v", "", { cniVersion: "1.0.0" }));
    for (const [i, s] of series.entries()) {
      const conf = config(s, i, dataDir);
      const id = `m${i}-${round}`;
      s.add.push(await call(w.path(node), stateDir, s, "ADD", id, w.path(pods[i]!), conf));
      s.del.push(await call(w.path(node), stateDir, s, "DEL", id, w.path(pods[i]!), conf));
    }
  }
}
const rows = series.map((s) => ({
  plugin: s.plugin,
  family: s.family,
  addP50: +pct(s.add, 50).toFixed(1),
  addP90: +pct(s.add, 90).toFixed(1),
  delP50: +pct(s.del, 50).toFixed(1),
  delP90: +pct(s.del, 90).toFixed(1),
  n: s.add.length,
}));
if (values.json) {
  console.log(JSON.stringify({ rows, podnetVersionP50: +pct(floor, 50).toFixed(1) }));
} else {
  console.log(`CNI ADD/DEL wall time in ms, ${rounds} rounds interleaved (cniVersion 1.0.0, host-local IPAM)`);
  if (baseline !== null) console.log(`baseline = ${baseline}/bin/podnet`);
  console.log("plugin   family  ADD p50  ADD p90  DEL p50  DEL p90");
  for (const r of rows) {
    console.log(
      `${r.plugin.padEnd(8)} ${r.family.padEnd(6)} ${String(r.addP50).padStart(8)} ${String(r.addP90).padStart(8)} ${
        String(r.delP50).padStart(8)
      } ${String(r.delP90).padStart(8)}`,
    );
  }
  console.log(`podnet VERSION (process floor: launcher + Deno + modules) p50 ${pct(floor, 50).toFixed(1)} ms`);
}
