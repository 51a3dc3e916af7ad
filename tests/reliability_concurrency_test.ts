/**
 * Reliability (issue 7, test 3): concurrency and churn. 60 ADDs through the
 * launcher, 8 at a time, get 60 distinct address pairs that the kernel
 * really carries; 60 DELs at once remove all of it. Then 300 ADD/DEL cycles
 * over 40 live pods in one long-lived process (podnet's main() in-process,
 * so per-ADD time is the plugin's own work, not process start-up): ADD time
 * does not grow (median of the last 50 ≤ 1.3× the first 50), the process's
 * fds do not grow, and nothing is left afterwards.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ipJson, newFds, world } from "./harness.ts";
import { cni, makeNode, SUBNET6 } from "./cni_helpers.ts";
import {
  assertNoLeak,
  cniVars,
  InProc,
  LONG,
  mustAdd,
  nodeState,
  pool,
  prng,
  relConf,
  seedFor,
} from "./rel_helpers.ts";

Deno.test("60 ADDs 8 at a time get distinct addresses the kernel carries; 60 DELs at once remove everything", async () => {
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const conf = relConf(node);
  const n = 60;
  const pods = Array.from({ length: n }, (_, i) => w.netns(`c${i}`));
  const t0 = performance.now();
  const results = await pool(pods, 8, async (pod, i) => {
    const r = await mustAdd(node, { command: "ADD", containerId: `par-${i}`, netns: w.path(pod) }, conf);
    return r.json as { ips: { address: string }[]; interfaces: { name: string }[] };
  });
  const addMs = performance.now() - t0;
  const addrs = results.flatMap((r) => r.ips.map((ip) => ip.address));
  assert.equal(addrs.length, 2 * n, "one IPv4 and one IPv6 address each");
  assert.equal(new Set(addrs).size, 2 * n, "addresses must be distinct");
  assert.equal(new Set(results.map((r) => r.interfaces[0]!.name)).size, n, "host ends must be distinct");
  pods.forEach((pod, i) => {
    // deno-lint-ignore no-explicit-any
    const have = ipJson(pod, "addr", "show", "dev", "eth0")[0].addr_info.map((a: any) => `${a.local}/${a.prefixlen}`);
    for (const ip of results[i]!.ips) assert.ok(have.includes(ip.address), `${pod} lacks ${ip.address}`);
  });
  // deno-lint-ignore no-explicit-any
  const hostRoutes = ipJson(node.ns, "route", "show").filter((r: any) => r.dev?.startsWith("pn")).length;
  assert.equal(hostRoutes, n, "one /32 host route per pod");

  const t1 = performance.now();
  const dels = await Promise.all(
    pods.map((pod, i) => cni(node, { command: "DEL", containerId: `par-${i}`, netns: w.path(pod) }, conf)),
  );
  const delMs = performance.now() - t1;
  dels.forEach((r, i) => assert.equal(r.code, 0, `DEL ${i}: ${r.stdout}`));
  console.log(`${n} ADDs (8 parallel): ${addMs.toFixed(0)} ms; ${n} DELs (all at once): ${delMs.toFixed(0)} ms`);
  await assertNoLeak(node, before, "parallel ADD/DEL", { pods });
});

const LIVE = 40;
const CYCLES = 300;

Deno.test(`${CYCLES} ADD/DEL cycles over ${LIVE} live pods in one process: ADD time flat, fds flat, nothing left`, async () => {
  const rand = prng(seedFor("churn"));
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const conf = JSON.stringify(relConf(node));
  const pods = Array.from({ length: LIVE }, (_, i) => w.netns(`l${i}`));
  await using worker = await InProc.start(node);
  const ids = pods.map((_, i) => `live-${i}-0`);
  let fds: string[] = [];
  const call = async (cmd: string, i: number): Promise<number> => {
    const r = await worker.call(
      cniVars(node, { command: cmd, containerId: ids[i]!, netns: w.path(pods[i]!) }),
      conf,
    );
    assert.equal(r.code, 0, `${cmd} ${ids[i]}: ${r.out} ${r.err} ${r.threw ?? ""}`);
    assert.equal(r.threw, undefined);
    // A netlink socket is per operation (Socket is closed or disposed before the call returns).
    assert.deepEqual(r.fds.filter((f) => f.includes("netlink")), [], `${cmd} ${ids[i]} left netlink sockets open`);
    fds = r.fds;
    return r.ms;
  };
  for (let i = 0; i < LIVE; i++) await call("ADD", i);
  // Warmed up (modules loaded, IPAM version cached): the fd count from here on must not grow.
  const fds0 = fds;
  const times: number[] = [];
  const t0 = performance.now();
  for (let c = 0; c < CYCLES; c++) {
    const i = Math.floor(rand() * LIVE);
    await call("DEL", i);
    ids[i] = `live-${i}-${c + 1}`;
    times.push(await call("ADD", i));
  }
  const totalMs = performance.now() - t0;
  const fds1 = fds;
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const first = median(times.slice(0, 50)), last = median(times.slice(-50));
  console.log(
    `churn: ${CYCLES} cycles over ${LIVE} pods in ${(totalMs / 1000).toFixed(1)} s; ADD median first 50 ` +
      `${first.toFixed(1)} ms, last 50 ${last.toFixed(1)} ms (ratio ${
        (last / first).toFixed(2)
      }); fds ${fds0.length} → ${fds1.length}`,
  );
  assert.ok(last <= 1.3 * first, `ADD time grew: ${first.toFixed(1)} → ${last.toFixed(1)} ms`);
  assert.deepEqual(newFds(fds0, fds1), [], `the long-lived process keeps fds open: ${fds0.length} → ${fds1.length}`);
  const live = pods.flatMap((p) =>
    ipJson(p, "-4", "addr", "show", "dev", "eth0")[0].addr_info.map((a: { local: string }) => a.local)
  );
  assert.equal(new Set(live).size, LIVE, "live pods hold distinct addresses");
  for (let i = 0; i < LIVE; i++) await call("DEL", i);
  assert.deepEqual(newFds(fds0, fds), [], "fds after the last DEL");
  await assertNoLeak(node, before, "churn", { pods, except: [worker.pid] });
});

if (LONG) {
  Deno.test("PODNET_LONG: 300 ADD/DEL cycles over 40 live pods through the launcher keep ADD time flat", async () => {
    const rand = prng(seedFor("launcher churn"));
    await using w = world();
    const node = makeNode(w);
    const before = nodeState(node);
    const conf = relConf(node);
    const pods = Array.from({ length: LIVE }, (_, i) => w.netns(`m${i}`));
    const ids = pods.map((_, i) => `lch-${i}-0`);
    const e = (i: number): { containerId: string; netns: string } => ({
      containerId: ids[i]!,
      netns: w.path(pods[i]!),
    });
    for (let i = 0; i < LIVE; i++) await mustAdd(node, { command: "ADD", ...e(i) }, conf);
    const times: number[] = [];
    for (let c = 0; c < CYCLES; c++) {
      const i = Math.floor(rand() * LIVE);
      assert.equal((await cni(node, { command: "DEL", ...e(i) }, conf)).code, 0);
      ids[i] = `lch-${i}-${c + 1}`;
      const t0 = performance.now();
      await mustAdd(node, { command: "ADD", ...e(i) }, conf);
      times.push(performance.now() - t0);
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const first = median(times.slice(0, 50)), last = median(times.slice(-50));
    console.log(`launcher churn: ADD median first 50 ${first.toFixed(0)} ms, last 50 ${last.toFixed(0)} ms`);
    assert.ok(last <= 1.3 * first, `ADD time grew: ${first.toFixed(0)} → ${last.toFixed(0)} ms`);
    for (let i = 0; i < LIVE; i++) assert.equal((await cni(node, { command: "DEL", ...e(i) }, conf)).code, 0);
    await assertNoLeak(node, before, "launcher churn", { pods });
  });

  Deno.test("PODNET_LONG: 300 launcher ADDs 8 at a time then 300 parallel DELs leave nothing", async () => {
    await using w = world();
    const node = makeNode(w);
    const before = nodeState(node);
    // A /24 holds only 253 pods.
    const conf = relConf(node, {
      ipam: {
        type: "host-local",
        dataDir: node.dataDir,
        ranges: [[{ subnet: "10.240.0.0/16" }], [{ subnet: SUBNET6 }]],
      },
    });
    const pods = Array.from({ length: 300 }, (_, i) => w.netns(`L${i}`));
    await pool(
      pods,
      8,
      (pod, i) => mustAdd(node, { command: "ADD", containerId: `long-${i}`, netns: w.path(pod) }, conf),
    );
    const dels = await pool(
      pods,
      60,
      (pod, i) => cni(node, { command: "DEL", containerId: `long-${i}`, netns: w.path(pod) }, conf),
    );
    dels.forEach((r, i) => assert.equal(r.code, 0, `DEL ${i}: ${r.stdout}`));
    await assertNoLeak(node, before, "long parallel", { pods });
  });
}
