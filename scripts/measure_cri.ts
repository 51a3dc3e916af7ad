/**
 * Measures what kubelet waits for on a node: RunPodSandbox and StopPodSandbox
 * through containerd's CRI plugin (lab/containerd.ts: containerd 1.6 in a
 * throwaway node netns), for three networks with the same chain after the
 * main plugin (portmap, tuning):
 *
 *   podnet dual-stack  the list `podnet install --runtime containerd` writes
 *   ptp dual-stack     the reference plugin, IPv4 + IPv6
 *   ptp IPv4-only      the reference plugin, IPv4
 *
 * Each network runs in a containerd of its own; one round starts and stops a
 * pod in each, in an order that rotates per round, so machine noise hits all
 * three alike. Each call is timed from the client, as kubelet sees it.
 *
 *   deno run -A scripts/measure_cri.ts [--rounds 10] [--json]
 *
 * Needs root; builds its own netns worlds (pncri-*) and removes them.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type ContainerdNode, containerdNode } from "../lab/containerd.ts";
import { SUBNET4, SUBNET6 } from "../lab/node.ts";
import { pct } from "./stats.ts";

interface Series {
  label: string;
  /** The ptp list in podnet's place; none for podnet's own. */
  ptp: string[] | null;
  run: number[];
  stop: number[];
}

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "10" }, json: { type: "boolean", default: false } },
});
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds wants a positive whole number`);

const series: Series[] = [
  { label: "podnet dual-stack", ptp: null, run: [], stop: [] },
  { label: "ptp dual-stack", ptp: [SUBNET4, SUBNET6], run: [], stop: [] },
  { label: "ptp IPv4-only", ptp: [SUBNET4], run: [], stop: [] },
];

/** A pod through CRI in `n`: RunPodSandbox and StopPodSandbox timed, RemovePodSandbox not. */
async function onePod(n: ContainerdNode, name: string): Promise<[number, number]> {
  const t0 = performance.now();
  const pod = await n.runPod(name);
  const t1 = performance.now();
  await n.cri.stopPodSandbox(pod.id);
  const t2 = performance.now();
  await n.cri.removePodSandbox(pod.id);
  return [t1 - t0, t2 - t1];
}

const nodes: ContainerdNode[] = [];
try {
  for (const s of series) {
    const ranges = s.ptp?.map((subnet) => [{ subnet }]);
    nodes.push(
      await containerdNode(
        ranges
          ? {
            // The same list shape podnet install writes, ptp in podnet's place.
            conflist: (node, network) => ({
              cniVersion: "1.0.0",
              name: network,
              plugins: [
                { type: "ptp", ipMasq: false, ipam: { type: "host-local", dataDir: node.dataDir, ranges } },
                { type: "portmap", capabilities: { portMappings: true } },
                { type: "tuning" },
              ],
            }),
          }
          : {},
      ),
    );
  }
  // One unmeasured pod each: page cache, podnet's IPAM version cache, containerd's first-use paths.
  for (const [i, n] of nodes.entries()) await onePod(n, `warm${i}`);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < series.length; k++) {
      const i = (r + k) % series.length;
      const [run, stop] = await onePod(nodes[i]!, `m${r}`);
      series[i]!.run.push(run);
      series[i]!.stop.push(stop);
    }
  }
} finally {
  for (const n of nodes.reverse()) await n[Symbol.asyncDispose]();
}

const base = series[2]!;
const row = (s: Series): Record<string, number | string> => ({
  network: s.label,
  runP50: pct(s.run, 50),
  runP90: pct(s.run, 90),
  stopP50: pct(s.stop, 50),
  stopP90: pct(s.stop, 90),
  runVsPtp4: pct(s.run, 50) / pct(base.run, 50),
  stopVsPtp4: pct(s.stop, 50) / pct(base.stop, 50),
});
if (values.json) {
  console.log(JSON.stringify({ rounds, series: series.map(row) }));
} else {
  const f = (x: number): string => x.toFixed(0).padStart(6);
  console.log(`RunPodSandbox / StopPodSandbox through containerd's CRI, ${rounds} rounds interleaved (ms)`);
  console.log("network              Run p50  p90   Stop p50  p90   Run/ptp4  Stop/ptp4");
  for (const s of series) {
    const r = row(s);
    console.log(
      `${s.label.padEnd(19)} ${f(r.runP50 as number)} ${f(r.runP90 as number)}   ${f(r.stopP50 as number)} ${
        f(r.stopP90 as number)
      }   ${(r.runVsPtp4 as number).toFixed(2).padStart(8)} ${(r.stopVsPtp4 as number).toFixed(2).padStart(10)}`,
    );
  }
}
