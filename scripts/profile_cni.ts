/**
 * Where a CNI ADD and DEL spend their time, phase by phase: runs podnet
 * through bin/podnet (as a runtime does) with PODNET_PROFILE=1 and prints the
 * median of each phase over the rounds (core/profile.ts marks them; the
 * launcher's start-up and the module load included), beside the wall time
 * of the whole call and of `deno run` of an empty file in the same run.
 *
 *   deno run -A scripts/profile_cni.ts [--rounds 20] [--json] [--installed]
 *
 * --v8-flags F passes DENO_V8_FLAGS=F to the plugin (to try V8 settings).
 * --rss prints the resident set size (KiB) after each phase instead of its time
 * (PODNET_PROFILE=rss: a /proc read at each mark). --installed profiles the plugin as `podnet install` writes it (lab/plugin.ts:
 * a frozen copy of dist/cni.js) instead of the checkout's bin/podnet.
 *
 * Needs root; builds its own netns world and removes it. Time it on a quiet
 * machine only (no suite or helper running beside it).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { installedPlugin } from "../lab/plugin.ts";
import { cniEnv, PODNET, runAsync, world } from "../lab/world.ts";
import { median } from "./stats.ts";

interface Profile {
  runtimeMs: number | null;
  loadMs: number;
  loadRssKiB: number;
  cpuMs: number | null;
  phases: { phase: string; ms: number; rssKiB: number }[];
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "20" },
    json: { type: "boolean" },
    installed: { type: "boolean" },
    rss: { type: "boolean" },
    "v8-flags": { type: "string" },
  },
});
const rounds = Number(values.rounds);
// Profile the code as it is: an out-of-date dist/cni.js would make every CNI call run from source.
const root = new URL("..", import.meta.url).pathname;
if (
  !new Deno.Command(Deno.execPath(), { args: ["run", "-A", `${root}scripts/bundle.ts`, "--check"] }).outputSync()
    .success
) {
  if (!new Deno.Command(Deno.execPath(), { args: ["run", "-A", `${root}scripts/bundle.ts`] }).outputSync().success) {
    throw new Error("profile_cni: dist/cni.js is out of date and could not be rebuilt");
  }
}
const empty = await Deno.makeTempFile({ suffix: ".ts" });
const deno = Deno.execPath();

/** Per series (`ADD ipv4` …): each phase's samples, in the order phases first appeared. */
const samples = new Map<string, Map<string, number[]>>();
const floor: number[] = [];

function record(series: string, p: Profile, wallMs: number): void {
  const m = samples.get(series) ?? new Map<string, number[]>();
  samples.set(series, m);
  const add = (k: string, v: number): void => void (m.get(k) ?? m.set(k, []).get(k)!).push(v);
  if (values.rss) {
    add("module load", p.loadRssKiB);
    for (const ph of p.phases) add(ph.phase, ph.rssKiB);
    return;
  }
  if (p.runtimeMs !== null) add("spawn + Deno start", p.runtimeMs);
  add("module load", p.loadMs);
  for (const ph of p.phases) add(ph.phase, ph.ms);
  add("(sum of phases)", (p.runtimeMs ?? 0) + p.loadMs + p.phases.reduce((a, b) => a + b.ms, 0));
  add("(wall, outside)", wallMs);
  if (p.cpuMs !== null) add("(CPU time, podnet alone)", p.cpuMs);
}

try {
  await using w = world();
  const node = w.netns("node");
  const tmp = w.tempDir();
  const dataDir = `${tmp}/ipam`, stateDir = `${tmp}/state`;
  const pods = [w.netns("p4"), w.netns("p6")];
  const plugin = values.installed ? installedPlugin(tmp).path : PODNET;
  const families = [
    { name: "ipv4", ranges: [[{ subnet: "10.120.0.0/16" }]] },
    { name: "dual", ranges: [[{ subnet: "10.121.0.0/16" }], [{ subnet: "fd00:121::/64" }]] },
  ];
  const call = async (command: string, id: string, netns: string, conf: unknown): Promise<[Profile, number]> => {
    const t0 = performance.now();
    const r = await runAsync("/usr/bin/nsenter", [`--net=${w.path(node)}`, plugin], {
      stdin: JSON.stringify(conf),
      clearEnv: true,
      env: {
        ...cniEnv(command, id, netns, stateDir),
        PODNET_PROFILE: values.rss ? "rss" : "1",
        ...(values["v8-flags"] ? { DENO_V8_FLAGS: values["v8-flags"] } : {}),
        // Now, as wall-clock ns: the profile's first phase then runs from here (nsenter, the plugin's exec, Deno's start).
        PODNET_PROFILE_T0: String(BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6))),
      },
    });
    const wall = performance.now() - t0;
    if (r.code !== 0) throw new Error(`${command} failed: ${r.stdout} ${r.stderr}`);
    const line = r.stderr.split("\n").find((l) => l.startsWith('{"podnetProfile"'));
    if (!line) throw new Error(`no profile on stderr: ${r.stderr}`);
    return [JSON.parse(line).podnetProfile as Profile, wall];
  };
  for (let round = -2; round < rounds; round++) { // two warm-up rounds: caches, the IPAM version cache
    const t0 = performance.now();
    await runAsync(deno, ["run", "--quiet", "--no-config", "--no-lock", "--cached-only", empty], { clearEnv: true });
    if (round >= 0) floor.push(performance.now() - t0);
    for (const [i, f] of families.entries()) {
      const conf = {
        cniVersion: "1.0.0",
        name: `prof${i}`,
        type: "podnet",
        ipam: { type: "host-local", dataDir, ranges: f.ranges },
      };
      const id = `prof-${f.name}-${round + 2}`;
      const [a, aw] = await call("ADD", id, w.path(pods[i]!), conf);
      const [d, dw] = await call("DEL", id, w.path(pods[i]!), conf);
      if (round >= 0) {
        record(`ADD ${f.name}`, a, aw);
        record(`DEL ${f.name}`, d, dw);
      }
    }
  }
} finally {
  await Deno.remove(empty);
}

const series = [...samples.keys()];
const phases = [...new Set(series.flatMap((s) => [...samples.get(s)!.keys()]))];
const table = phases.map((ph) => ({
  phase: ph,
  ...Object.fromEntries(series.map((s) => {
    const xs = samples.get(s)!.get(ph);
    return [s, xs ? +median(xs).toFixed(2) : null];
  })),
}));
if (values.json) {
  console.log(JSON.stringify({ rounds, floorP50: +median(floor).toFixed(2), table }));
} else {
  const how = values.installed ? "installed plugin" : "bin/podnet";
  const unit = values.rss ? "RSS after each phase, KiB" : "ms";
  console.log(`podnet CNI phases, median ${unit} over ${rounds} rounds (${how}, host-local IPAM, PODNET_PROFILE)`);
  console.log(`deno run of an empty file (the floor) in the same run: ${median(floor).toFixed(2)} ms`);
  console.log(`${"phase".padEnd(24)}${series.map((s) => s.padStart(12)).join("")}`);
  for (const row of table) {
    const r = row as Record<string, unknown>;
    console.log(`${row.phase.padEnd(24)}${series.map((s) => String(r[s] ?? "-").padStart(12)).join("")}`);
  }
}
