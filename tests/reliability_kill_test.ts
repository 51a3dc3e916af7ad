/**
 * Reliability (issue 7, test 1): an ADD killed with SIGKILL at any moment —
 * at each step through the kill seam, and at 20 random moments from outside —
 * is cleaned up by one DEL of the same container (exit 0, nothing left: link,
 * route, neighbor, lease, sysctl, process), and a new ADD of that container
 * then succeeds.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runAsync, world } from "./harness.ts";
import { ADD_STEPS } from "../cni/seams.ts";
import { hostEnd } from "../core/names.ts";
import { cni, CNI_BIN, leases, makeNode, type Node, PODNET } from "./cni_helpers.ts";
import {
  assertNoLeak,
  linkIn,
  LONG,
  mustAdd,
  mustDel,
  nodeState,
  prng,
  relConf,
  seamEnv,
  seedFor,
} from "./rel_helpers.ts";

/** Starts an ADD the way a runtime does and SIGKILLs it after `delayMs`; resolves with its exit status. */
async function addKilledAfter(
  node: Node,
  id: string,
  pod: string,
  conf: unknown,
  delayMs: number,
): Promise<{ code: number; signal: string | null }> {
  const child = new Deno.Command("/usr/bin/nsenter", {
    args: [`--net=${node.path}`, PODNET],
    clearEnv: true,
    env: {
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: id,
      CNI_NETNS: `/run/netns/${pod}`,
      CNI_IFNAME: "eth0",
      CNI_PATH: CNI_BIN,
      PODNET_STATE_DIR: node.stateDir,
    },
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(conf))).catch(() => {});
  await w.close().catch(() => {});
  // nsenter execs the launcher, which execs Deno: one PID all along, whatever is running.
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }, delayMs);
  const st = await child.status;
  clearTimeout(timer);
  return { code: st.code, signal: st.signal };
}

Deno.test("an ADD killed right after each step is cleaned up by DEL, and the next ADD succeeds", async () => {
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const conf = relConf(node);
  const pods = ADD_STEPS.map((_, i) => w.netns(`k${i}`));
  await Promise.all(ADD_STEPS.map(async (step, i) => {
    const e = { containerId: `kill-${step}`, netns: w.path(pods[i]!) };
    const r = await cni(node, { ...e, command: "ADD", env: seamEnv({ PODNET_TEST_KILL_AT: step }) }, conf);
    assert.equal(r.code, 137, `${step}: the kill seam did not fire: ${r.stdout}`);
    await mustDel(node, { ...e, command: "DEL" }, conf);
    assert.equal(linkIn(node.ns, hostEnd("pn", e.containerId, "eth0").name), null, `${step}: host end left`);
    await mustAdd(node, { ...e, command: "ADD" }, conf);
    await mustDel(node, { ...e, command: "DEL" }, conf);
  }));
  await assertNoLeak(node, before, "kill at each step", { pods });
});

const KILLS = LONG ? 100 : 20;

Deno.test(`${KILLS} ADDs SIGKILLed at a random moment: DEL exits 0 and removes everything, a new ADD succeeds`, async () => {
  const rand = prng(seedFor("random SIGKILL"));
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const conf = relConf(node);
  // How long a whole ADD takes here and when its mutations happen (the debug log's step times,
  // counted back from the end), so that half of the kills land anywhere in the ADD (start-up
  // included) and half in the last part, where the veth, routes and lease are being made. The
  // second probe counts: the first also asks host-local for its VERSION (cached afterwards).
  const probe = w.netns("probe");
  const debugConf = { ...conf, logLevel: "debug" };
  let addMs = 0;
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    await mustAdd(node, { command: "ADD", containerId: "probe", netns: w.path(probe) }, debugConf);
    addMs = performance.now() - t0;
    await mustDel(node, { command: "DEL", containerId: "probe", netns: w.path(probe) }, conf);
  }
  const steps = new Map<string, number>();
  for (const line of Deno.readTextFileSync(node.logFile).split("\n")) {
    if (!line.includes('"add step done"')) continue;
    const j = JSON.parse(line) as { step: string; atMs: number };
    steps.set(j.step, j.atMs);
  }
  const busyMs = (steps.get("result") ?? 0) - (steps.get("veth") ?? 0) + 40; // + IPAM start and exit
  const delayFor = (i: number): number =>
    Math.round(i % 2 === 0 ? rand() * addMs * 1.05 : addMs - busyMs + rand() * (busyMs + 10));

  const seen = { nothingYet: 0, leaseLeft: 0, vethLeft: 0, finished: 0 };
  const pod = w.netns("pod");
  for (let i = 0; i < KILLS; i++) {
    const id = `rk${i}`;
    const e = { containerId: id, netns: w.path(pod) };
    const delay = delayFor(i);
    const st = await addKilledAfter(node, id, pod, conf, delay);
    const host = hostEnd("pn", id, "eth0").name;
    if (st.code === 0) seen.finished++;
    else if (linkIn(node.ns, host) !== null) seen.vethLeft++;
    else if (leases(node.dataDir).length > 0) seen.leaseLeft++;
    else seen.nothingYet++;
    // The runtime's clean-up comes at once, while an orphaned IPAM child may still be running.
    await mustDel(node, { ...e, command: "DEL" }, conf);
    await assertNoLeak(node, before, `kill #${i} after ${delay} ms (exit ${st.code}/${st.signal}), DEL`, {
      pods: [pod],
    });
    await mustAdd(node, { ...e, command: "ADD" }, conf);
    await mustDel(node, { ...e, command: "DEL" }, conf);
  }
  console.log(
    `ADD takes ${addMs.toFixed(0)} ms (mutating ~${busyMs.toFixed(0)}); ${KILLS} kills: ${JSON.stringify(seen)}`,
  );
  await assertNoLeak(node, before, "after all kills", { pods: [pod, probe] });
  // The kill moments must have hit ADDs in flight, not only before start or after the end.
  assert.ok(seen.vethLeft + seen.leaseLeft > 0, `no kill landed mid-ADD: ${JSON.stringify(seen)}`);
});

Deno.test("DEL of an ADD killed before it wrote anything exits 0 (nothing to clean)", async () => {
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const pod = w.netns("pod");
  const conf = relConf(node);
  const st = await addKilledAfter(node, "early", pod, conf, 0);
  assert.notEqual(st.code, 0);
  const r = await runAsync("/usr/bin/nsenter", [`--net=${node.path}`, PODNET], {
    clearEnv: true,
    env: {
      CNI_COMMAND: "DEL",
      CNI_CONTAINERID: "early",
      CNI_NETNS: w.path(pod),
      CNI_IFNAME: "eth0",
      CNI_PATH: CNI_BIN,
      PODNET_STATE_DIR: node.stateDir,
    },
    stdin: JSON.stringify(conf),
  });
  assert.equal(r.code, 0, r.stdout);
  await assertNoLeak(node, before, "early kill", { pods: [pod] });
});
