/**
 * Sandbox resume across nodes with real gVisor: two node netns stand for two
 * nodes, each with its own podnet attachments, host-local leases and runsc
 * root. A counter sandbox checkpointed (`checkpoint`, `podnet checkpoint`) in
 * a pod on node 1 resumes (`resume`, `podnet resume`) in a new pod on node 2;
 * the new node's gateway MAC is pinned, never the snapshot's.
 */

import assert from "node:assert/strict";
import {
  attachAndResume,
  type Attachment,
  capturePod,
  cniCall,
  COUNTER,
  Lab,
  type LabNode,
  labNode,
  leftovers,
  type Move,
  type Moved,
  pingFrom,
  PODNET,
  proxyArpOn,
  resultAddresses,
  retargetBundle,
  runDetached,
  runtimeFlags,
  ticks,
  track,
  waitTicks,
} from "../lab/resume.ts";
import { kernelState, makeBundle } from "../lab/sandbox.ts";
import { checkpoint, SNAPSHOT_FILE } from "../sandbox/checkpoint.ts";
import { planRestore, snapshotAddresses } from "../sandbox/plan.ts";
import { resume } from "../sandbox/resume.ts";
import { runsc, runscExec, runscList, type RunscResult, runscStatus } from "../sandbox/runsc.ts";
import { SCHEMA, type Snapshot } from "../core/snapshot.ts";
import { ip, ipJson, type Ran, run, runAsync, world } from "./harness.ts";

run("runsc", ["--version"]); // fails the file at once, with a clear message, when runsc is missing

function nsName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function attach(s: Lab, node: LabNode, id: string, config: Record<string, unknown>): Attachment {
  const att = { containerId: id, podNetns: s.netns(id), ifname: "eth0", config };
  s.defer(async () => {
    await cniCall(node.cni, "DEL", att); // DEL of a detached pod succeeds too
  });
  return att;
}

/** What node 1 leaves for the resume: the image with the snapshot beside it, the last tick, the old gateway MAC. */
interface Checkpointed {
  image: string;
  bundle: string;
  last: number;
  snapshot: Snapshot;
  staleMac: string;
}

/**
 * Node 1's side: attach a pod, capture it (before the sandbox starts: runsc
 * strips the netns it scrapes), run the counter, checkpoint, DEL; and check
 * node 1 holds nothing of the pod afterwards.
 */
async function onNode1(s: Lab, n1: LabNode, subnets: string[], extraRoute?: string): Promise<Checkpointed> {
  const pod = attach(s, n1, "old", n1.config(...subnets));
  const added = await cniCall(n1.cni, "ADD", pod);
  if (extraRoute) ip(nsName(pod.podNetns), "route", "add", extraRoute, "via", "169.254.1.1", "dev", "eth0");
  const snapFile = `${n1.dir}/old.json`;
  const snapshot = capturePod(pod.podNetns, "eth0", snapFile);
  assert.deepEqual(snapshotAddresses(snapshot, "eth0"), resultAddresses(added));

  const bundle = `${n1.dir}/bundle`;
  makeBundle(bundle, COUNTER, pod.podNetns);
  track(s, n1.runtime, "old");
  const log = `${n1.dir}/counter.log`;
  await runDetached(n1.runtime, "old", bundle, log);
  await waitTicks(log, 3);
  const ping = await pingFrom(n1.runtime, "old", n1.address);
  assert.equal(ping.code, 0, `the sandbox reaches node 1 before the checkpoint: ${ping.stdout}${ping.stderr}`);

  const image = `${n1.dir}/image`;
  const notes: string[] = [];
  const rep = await checkpoint({
    runtime: n1.runtime,
    id: "old",
    imageDir: image,
    snapshot: snapFile,
    onNote: (l) => notes.push(l),
  });
  assert.ok(rep.imageBytes > 100_000, `image of ${rep.imageBytes} bytes`);
  assert.deepEqual(rep.tcp, { endpoints: [], opened: 0 }, "the counter never touched TCP");
  assert.deepEqual(notes, []);
  assert.equal(Deno.statSync(`${image}/${SNAPSHOT_FILE}`).mode! & 0o777, 0o600);
  assert.deepEqual(JSON.parse(Deno.readTextFileSync(`${image}/${SNAPSHOT_FILE}`)), snapshot);
  const last = ticks(log).at(-1)!;
  await cniCall(n1.cni, "DEL", pod);
  assert.deepEqual(await leftovers(n1), { links: [], leases: [], containers: [] }, "node 1 is clean after DEL");
  assert.deepEqual(ipJson(nsName(pod.podNetns), "link", "show").map((l) => l.ifname), ["lo"]);
  return { image, bundle, last, snapshot, staleMac: added!.interfaces![0]!.mac! };
}

/**
 * Node 2's side: the old bundle retargeted at the new pod, the runtime's
 * attach plus podnet's `resume` of the checkpoint as container "new", and the
 * first ping to node 2, which must answer.
 */
async function onNode2(
  s: Lab,
  n2: LabNode,
  old: Checkpointed,
  pod: Attachment,
  o: Pick<Move, "sameAddress" | "sandboxNetns" | "viaHook">,
): Promise<{ rep: Moved; bundle: string; log: string; ping: RunscResult }> {
  const bundle = `${n2.dir}/bundle`;
  retargetBundle(old.bundle, bundle, pod.podNetns);
  track(s, n2.runtime, "new");
  const log = `${n2.dir}/counter.log`;
  const rep = await attachAndResume({ node: n2, attachment: pod, imageDir: old.image, bundle, id: "new", log, ...o });
  const ping = await pingFrom(n2.runtime, "new", n2.address);
  assert.equal(ping.code, 0, `the first ping after runsc restore answers: ${ping.stdout}${ping.stderr}`);
  return { rep, bundle, log, ping };
}

/** The host end on node 2 (its MAC is the new gateway MAC). */
function hostMac(node: LabNode): string {
  const links = ipJson(nsName(node.netns), "link", "show").filter((l) => l.ifname !== "lo" && l.ifname !== "ifb0");
  assert.equal(links.length, 1, `one host end on the node: ${JSON.stringify(links.map((l) => l.ifname))}`);
  return links[0].address;
}

function inside(n: LabNode, id: string, ...args: string[]): Promise<RunscResult> {
  return runscExec(n.runtime, id, ["/bin/busybox", ...args]);
}

Deno.test("resume: a counter checkpointed on node 1 carries on in a new pod on node 2 at the same addresses, pings node 2 at once; node 1 is left clean", async () => {
  await using w = world();
  const s = new Lab(w);
  const n1 = labNode(s, 1), n2 = labNode(s, 2);
  const subnets = ["10.244.0.0/16", "fd00:244::/64"]; // one network across the nodes
  const old = await onNode1(s, n1, subnets, "10.123.0.0/16");

  const pod = attach(s, n2, "new", n2.config(...subnets));
  const { rep, log, ping } = await onNode2(s, n2, old, pod, { sameAddress: true });
  assert.match(ping.stdout, /1 packets received/);

  assert.deepEqual(resultAddresses(rep.result), snapshotAddresses(old.snapshot, "eth0"));
  const mac = hostMac(n2);
  assert.notEqual(mac, old.staleMac);
  assert.deepEqual([...rep.pinned].sort(), [["169.254.1.1", mac], ["fe80::1", mac]]);
  assert.deepEqual(rep.plan.gateways.map((g) => g.stale), [old.staleMac, old.staleMac]);
  assert.deepEqual(rep.plan.carried, [{ dst: "10.123.0.0/16", gateway: "169.254.1.1" }]);
  assert.deepEqual([...proxyArpOn(n1.netns), ...proxyArpOn(n2.netns)], []);

  const first = await waitTicks(log, 1);
  assert.equal(ticks(log)[0], old.last + 1, `the counter continues: ${old.last} on node 1, then ${ticks(log)[0]}`);
  assert.ok(first > old.last);
  const routes = await inside(n2, "new", "ip", "route");
  assert.match(
    routes.stdout,
    /10\.123\.0\.0\/16 via 169\.254\.1\.1/,
    `route carried into the sandbox:\n${routes.stdout}`,
  );

  const del = await runsc(n2.runtime, ["delete", "-force", "new"]);
  assert.equal(del.code, 0, del.stderr);
  await cniCall(n2.cni, "DEL", pod);
  assert.deepEqual(await leftovers(n2), { links: [], leases: [], containers: [] });
});

Deno.test("resume: with a new address from node 2's range, into a separate sandbox netns the link is moved to", async () => {
  await using w = world();
  const s = new Lab(w);
  const n1 = labNode(s, 1), n2 = labNode(s, 2);
  const old = await onNode1(s, n1, ["10.244.1.0/24"]);

  const pod = attach(s, n2, "new", n2.config("10.244.2.0/24"));
  const sandbox = s.netns("sandbox");
  // The bundle is retargeted at the pod's netns; resume points it at the sandbox netns.
  const { rep, bundle, log } = await onNode2(s, n2, old, pod, { sameAddress: false, sandboxNetns: sandbox });

  const [before] = snapshotAddresses(old.snapshot, "eth0");
  const [after] = resultAddresses(rep.result);
  assert.match(before!, /^10\.244\.1\./);
  assert.match(after!, /^10\.244\.2\./);
  assert.deepEqual(rep.plan.addresses, { before: [before], after: [after] });
  const cfg = JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`));
  assert.deepEqual(cfg.linux.namespaces.find((n: { type: string }) => n.type === "network").path, sandbox);
  assert.deepEqual(ipJson(nsName(pod.podNetns), "link", "show").map((l) => l.ifname), ["lo"], "eth0 moved");
  assert.deepEqual(ipJson(nsName(sandbox), "link", "show").map((l) => l.ifname).sort(), ["eth0", "lo"]);
  const mac = hostMac(n2);
  assert.notEqual(mac, old.staleMac);
  assert.deepEqual([...rep.pinned], [["169.254.1.1", mac]]);
  assert.deepEqual([...proxyArpOn(n1.netns), ...proxyArpOn(n2.netns)], []);
  const addr = await inside(n2, "new", "ip", "addr");
  assert.match(addr.stdout, new RegExp(`inet ${after!.replaceAll(".", "\\.")}/32`), addr.stdout);

  await waitTicks(log, 1);
  assert.equal(ticks(log)[0], old.last + 1, `the counter continues: ${old.last} on node 1, then ${ticks(log)[0]}`);

  assert.equal((await runsc(n2.runtime, ["delete", "-force", "new"])).code, 0);
  await cniCall(n2.cni, "DEL", pod);
  assert.deepEqual(await leftovers(n2), { links: [], leases: [], containers: [] });
});

Deno.test("resume through the OCI hook: runsc makes the sandbox's netns and runs podnet hook at restore, which moves eth0 in", async () => {
  await using w = world();
  const s = new Lab(w);
  const n1 = labNode(s, 1), n2 = labNode(s, 2);
  const old = await onNode1(s, n1, ["10.244.0.0/16"], "10.123.0.0/16");

  const pod = attach(s, n2, "new", n2.config("10.244.0.0/16"));
  const { rep, bundle, log } = await onNode2(s, n2, old, pod, { sameAddress: true, viaHook: true });

  const cfg = JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`));
  assert.deepEqual(cfg.linux.namespaces.find((n: { type: string }) => n.type === "network"), { type: "network" });
  assert.deepEqual(cfg.hooks.prestart.map((h: { path: string; args: string[] }) => [h.path, h.args]), [[PODNET, [
    "podnet",
    "hook",
    "--link-netns",
    pod.podNetns,
    "--ifname",
    "eth0",
  ]]]);
  assert.deepEqual(ipJson(nsName(pod.podNetns), "link", "show").map((l) => l.ifname), ["lo"], "the hook took eth0");
  assert.deepEqual(resultAddresses(rep.result), snapshotAddresses(old.snapshot, "eth0"));
  const mac = hostMac(n2);
  assert.notEqual(mac, old.staleMac);
  assert.deepEqual([...rep.pinned], [["169.254.1.1", mac]]);
  const routes = await inside(n2, "new", "ip", "route");
  assert.match(
    routes.stdout,
    /10\.123\.0\.0\/16 via 169\.254\.1\.1/,
    `route carried into the sandbox:\n${routes.stdout}`,
  );
  assert.deepEqual([...proxyArpOn(n1.netns), ...proxyArpOn(n2.netns)], []);
  await waitTicks(log, 1);
  assert.equal(ticks(log)[0], old.last + 1, `the counter continues: ${old.last} on node 1, then ${ticks(log)[0]}`);

  assert.equal((await runsc(n2.runtime, ["delete", "-force", "new"])).code, 0);
  await cniCall(n2.cni, "DEL", pod);
  assert.deepEqual(await leftovers(n2), { links: [], leases: [], containers: [] });
});

/** Node 2 with an attached pod and an image dir holding `snapshot` (no image: the flow must stop before runsc). */
async function attachedOnNode2(
  s: Lab,
): Promise<{ n2: LabNode; pod: Attachment; image: string; bundle: string; good: Snapshot }> {
  const n2 = labNode(s, 2);
  const pod = attach(s, n2, "new", n2.config("10.244.2.0/24"));
  await cniCall(n2.cni, "ADD", pod);
  const image = `${n2.dir}/image`;
  Deno.mkdirSync(image);
  const good = capturePod(pod.podNetns, "eth0", `${n2.dir}/good.json`);
  const bundle = `${n2.dir}/bundle`;
  makeBundle(bundle, COUNTER, pod.podNetns);
  track(s, n2.runtime, "new");
  return { n2, pod, image, bundle, good };
}

Deno.test("resume: a corrupt snapshot fails before runsc restore with a clear error; the target pod is as it was", async () => {
  await using w = world();
  const s = new Lab(w);
  const { n2, pod, image, bundle, good } = await attachedOnNode2(s);
  const corrupt = structuredClone(good) as unknown as { links: { neighbors: { mac: string }[] }[] };
  corrupt.links[0]!.neighbors[0]!.mac = "ff:ff:ff:ff:ff:ff";
  Deno.writeTextFileSync(`${image}/${SNAPSHOT_FILE}`, JSON.stringify(corrupt));
  const before = [kernelState(nsName(pod.podNetns)), kernelState(nsName(n2.netns))];
  const config = Deno.readTextFileSync(`${bundle}/config.json`);
  const steps: string[] = [];
  const opts = {
    runtime: n2.runtime,
    podNetns: pod.podNetns,
    imageDir: image,
    bundle,
    id: "new",
    log: `${n2.dir}/counter.log`,
    onStep: (l: string) => steps.push(l),
  };
  await assert.rejects(
    resume(opts),
    /^ResumeError: snapshot \S+: invalid snapshot: links\[0\]\.neighbors\[0\]\.mac: is not a unicast MAC address/,
  );
  assert.deepEqual([kernelState(nsName(pod.podNetns)), kernelState(nsName(n2.netns))], before);
  assert.equal(Deno.readTextFileSync(`${bundle}/config.json`), config);
  assert.deepEqual(await runscList(n2.runtime), []);
  assert.deepEqual(steps, []);

  // The runtime's side reads it before its CNI ADD: a fresh pod netns stays empty.
  const fresh = { ...pod, containerId: "fresh", podNetns: s.netns("fresh") };
  const leases = (await leftovers(n2)).leases;
  await assert.rejects(
    attachAndResume({ ...opts, node: n2, attachment: fresh, sameAddress: true }),
    /invalid snapshot/,
  );
  assert.deepEqual(ipJson(nsName(fresh.podNetns), "link", "show").map((l) => l.ifname), ["lo"]);
  assert.deepEqual((await leftovers(n2)).leases, leases);
  assert.deepEqual(await runscList(n2.runtime), []);
});

Deno.test("resume: a gateway node 2 cannot resolve fails before runsc restore naming it, never pinning the snapshot's MAC; the pod is as it was", async () => {
  await using w = world();
  const s = new Lab(w);
  const { n2, pod, image, bundle, good } = await attachedOnNode2(s);
  // The snapshot names the gateway with a MAC (a stale one, from the "old node")...
  const stale = structuredClone(good);
  for (const n of stale.links[0]!.neighbors) n.mac = "02:00:00:00:00:99";
  Deno.writeTextFileSync(`${image}/${SNAPSHOT_FILE}`, JSON.stringify(stale));
  // ...and the new pod has no pin, while with proxy ARP off nobody answers ARP for 169.254.1.1.
  ip(nsName(pod.podNetns), "neigh", "del", "169.254.1.1", "dev", "eth0");
  const before = [kernelState(nsName(pod.podNetns)), kernelState(nsName(n2.netns))];
  const steps: string[] = [];
  await assert.rejects(
    resume({
      runtime: n2.runtime,
      podNetns: pod.podNetns,
      imageDir: image,
      bundle,
      id: "new",
      log: `${n2.dir}/counter.log`,
      gatewayTimeoutMs: 300,
      onStep: (l) => steps.push(l),
    }),
    /^ResumeError: capture eth0 in \S+: gateway 169\.254\.1\.1 on eth0 in \S+ did not resolve within 300 ms/,
  );
  assert.deepEqual([kernelState(nsName(pod.podNetns)), kernelState(nsName(n2.netns))], before);
  assert.ok(!JSON.stringify(before).includes("02:00:00:00:00:99"));
  assert.deepEqual(await runscList(n2.runtime), []);
  assert.deepEqual(steps, []);
});

Deno.test("resume: when runsc restore itself fails, the container, the bundle and the pod's link are undone; the runtime's DEL leaves nothing", async () => {
  await using w = world();
  const s = new Lab(w);
  const n2 = labNode(s, 2);
  // A valid snapshot with no image beside it: everything up to runsc restore succeeds.
  const donor = attach(s, n2, "donor", n2.config("10.244.2.0/24"));
  await cniCall(n2.cni, "ADD", donor);
  const image = `${n2.dir}/image`;
  Deno.mkdirSync(image);
  ip(nsName(donor.podNetns), "route", "add", "10.123.0.0/16", "via", "169.254.1.1", "dev", "eth0");
  capturePod(donor.podNetns, "eth0", `${image}/${SNAPSHOT_FILE}`);
  await cniCall(n2.cni, "DEL", donor);
  const pod = attach(s, n2, "new", n2.config("10.244.2.0/24"));
  const bundle = `${n2.dir}/bundle`;
  makeBundle(bundle, COUNTER, pod.podNetns);
  const config = Deno.readTextFileSync(`${bundle}/config.json`);
  track(s, n2.runtime, "new");
  await cniCall(n2.cni, "ADD", pod);
  const before = [kernelState(nsName(pod.podNetns)), kernelState(nsName(n2.netns))];
  const steps: string[] = [];
  await assert.rejects(
    resume({
      runtime: n2.runtime,
      podNetns: pod.podNetns,
      imageDir: image,
      bundle,
      id: "new",
      log: `${n2.dir}/counter.log`,
      onStep: (l) => steps.push(l),
    }),
    /^ResumeError: restore new: runsc failed \(exit \d+\): .*undone: container new; undone: \S+config\.json; undone: eth0 put back/,
  );
  assert.ok(steps.some((l) => l.startsWith("carried over from the snapshot: 10.123.0.0/16")), steps.join("\n"));
  assert.ok(steps.some((l) => l.startsWith("restored eth0 into")), steps.join("\n"));
  assert.deepEqual([kernelState(nsName(pod.podNetns)), kernelState(nsName(n2.netns))], before);
  assert.equal(Deno.readTextFileSync(`${bundle}/config.json`), config);
  assert.deepEqual(await runscList(n2.runtime), []);
  await cniCall(n2.cni, "DEL", pod);
  assert.deepEqual(await leftovers(n2), { links: [], leases: [], containers: [] });
  assert.deepEqual(ipJson(nsName(pod.podNetns), "link", "show").map((l) => l.ifname), ["lo"]);
});

Deno.test("checkpoint refuses a snapshot captured after the sandbox started (runsc took the addresses), before stopping it", async () => {
  await using w = world();
  const s = new Lab(w);
  const n1 = labNode(s, 1);
  const pod = attach(s, n1, "old", n1.config("10.244.0.0/16"));
  await cniCall(n1.cni, "ADD", pod);
  const bundle = `${n1.dir}/bundle`;
  makeBundle(bundle, COUNTER, pod.podNetns);
  track(s, n1.runtime, "old");
  const log = `${n1.dir}/counter.log`;
  await runDetached(n1.runtime, "old", bundle, log);
  await waitTicks(log, 1);
  const late = capturePod(pod.podNetns, "eth0", `${n1.dir}/late.json`);
  assert.deepEqual(late.links[0]!.addresses.filter((a) => !a.cidr.startsWith("fe80:")), []);
  const cases = [{ snapshot: `${n1.dir}/late.json` }, { netns: pod.podNetns, ifnames: ["eth0"] }];
  for (const c of cases) {
    await assert.rejects(
      checkpoint({ runtime: n1.runtime, id: "old", imageDir: `${n1.dir}/image`, ...c }),
      /no addresses to keep \(was it captured after the sandbox started\?/,
    );
  }
  assert.equal(await runscStatus(n1.runtime, "old"), "running");
  assert.throws(() => Deno.statSync(`${n1.dir}/image`), Deno.errors.NotFound);
});

Deno.test("resume refuses a container ID that already exists on node 2, before anything changes, and leaves that container running", async () => {
  await using w = world();
  const s = new Lab(w);
  const n2 = labNode(s, 2);
  const other = s.netns("other");
  const bundle = `${n2.dir}/bundle`;
  makeBundle(bundle, COUNTER, other);
  track(s, n2.runtime, "new");
  await runDetached(n2.runtime, "new", bundle, `${n2.dir}/o.log`);
  const image = `${n2.dir}/image`;
  Deno.mkdirSync(image);
  Deno.writeTextFileSync(`${image}/${SNAPSHOT_FILE}`, JSON.stringify(snap({})));
  const pod = attach(s, n2, "pod", n2.config("10.244.0.0/16"));
  await assert.rejects(
    attachAndResume({
      node: n2,
      attachment: pod,
      sameAddress: false,
      imageDir: image,
      bundle,
      id: "new",
      log: `${n2.dir}/counter.log`,
    }),
    /^ResumeError: container new already exists on this node/,
  );
  assert.equal(await runscStatus(n2.runtime, "new"), "running");
  assert.deepEqual(ipJson(nsName(pod.podNetns), "link", "show").map((l) => l.ifname), ["lo"], "the ADD was undone");
  assert.deepEqual((await leftovers(n2)).links, []);
});

/** `podnet ARGS…` run the way an operator runs it on a node: in the node's netns. */
function podnetOn(node: LabNode, args: string[]): Promise<Ran> {
  return runAsync("nsenter", [`--net=${node.netns}`, PODNET, ...args], { timeoutMs: 120_000 });
}

Deno.test("podnet checkpoint on node 1, podnet resume on node 2; a corrupt snapshot exits 1 with one line naming the field; bad flags exit 2", async () => {
  await using w = world();
  const s = new Lab(w);
  const n1 = labNode(s, 1), n2 = labNode(s, 2);
  const pod1 = attach(s, n1, "old", n1.config("10.244.0.0/16"));
  await cniCall(n1.cni, "ADD", pod1);
  const snapFile = `${n1.dir}/old.json`;
  capturePod(pod1.podNetns, "eth0", snapFile);
  const bundle1 = `${n1.dir}/bundle`;
  makeBundle(bundle1, COUNTER, pod1.podNetns);
  track(s, n1.runtime, "old");
  const log1 = `${n1.dir}/counter.log`;
  await runDetached(n1.runtime, "old", bundle1, log1);
  await waitTicks(log1, 2);
  const image = `${n1.dir}/image`;
  const cp = await podnetOn(n1, [
    "checkpoint",
    ...runtimeFlags(n1),
    "--id",
    "old",
    "--image-dir",
    image,
    "--snapshot",
    snapFile,
  ]);
  assert.equal(cp.code, 0, cp.stderr);
  assert.match(cp.stdout, /^checkpointed old: \d+ bytes in \S+\n$/);
  assert.equal(cp.stderr, "");
  const last = ticks(log1).at(-1)!;
  await cniCall(n1.cni, "DEL", pod1);

  // The runtime asks podnet which addresses to request, attaches with them, then resumes.
  const addrs = await podnetOn(n2, ["resume", "--addresses", "--image-dir", image]);
  assert.equal(addrs.code, 0, addrs.stderr);
  const want = JSON.parse(addrs.stdout);
  const pod2 = attach(s, n2, "new", n2.config("10.244.0.0/16"));
  assert.deepEqual(resultAddresses(await cniCall(n2.cni, "ADD", pod2, want)), want);
  const bundle2 = `${n2.dir}/bundle`;
  retargetBundle(bundle1, bundle2, pod2.podNetns);
  track(s, n2.runtime, "new");
  const log2 = `${n2.dir}/counter.log`;
  const target = (pod: string, id: string): string[] => [
    "resume",
    ...runtimeFlags(n2),
    "--pod-netns",
    pod,
    "--same-address",
    "--image-dir",
    image,
    "--bundle",
    bundle2,
    "--id",
    id,
    "--log",
    log2,
  ];
  const r = await podnetOn(n2, target(pod2.podNetns, "new"));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /gateway 169\.254\.1\.1: snapshot MAC \S+ \(old node, not used\) → \S+ on this node/);
  assert.match(r.stdout, /^resumed new: network ready in \d+ ms, runsc restore \d+ ms$/m);
  assert.equal((await pingFrom(n2.runtime, "new", n2.address)).code, 0);
  await waitTicks(log2, 1);
  assert.equal(ticks(log2)[0], last + 1);
  assert.equal((await runsc(n2.runtime, ["delete", "-force", "new"])).code, 0);
  await cniCall(n2.cni, "DEL", pod2);

  const snapshot = JSON.parse(Deno.readTextFileSync(`${image}/${SNAPSHOT_FILE}`));
  snapshot.links[0].addresses[0].cidr = "10.244.0.300/32";
  Deno.writeTextFileSync(`${image}/${SNAPSHOT_FILE}`, JSON.stringify(snapshot));
  const pod3 = s.netns("third");
  for (const args of [["resume", "--addresses", "--image-dir", image], target(pod3, "third")]) {
    const bad = await podnetOn(n2, args);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, "");
    assert.match(
      bad.stderr,
      /^podnet resume: snapshot \S+: invalid snapshot: links\[0\]\.addresses\[0\]\.cidr: is not a CIDR \(address\/prefix\)\n$/,
    );
  }
  assert.deepEqual(await leftovers(n2), { links: [], leases: [], containers: [] });
  assert.deepEqual(ipJson(nsName(pod3), "link", "show").map((l) => l.ifname), ["lo"]);

  const usage: [string[], RegExp][] = [
    [["checkpoint", "--image-dir", image, "--snapshot", snapFile, ...runtimeFlags(n1)], /--id ID is required/],
    [["checkpoint", "--id", "x", "--image-dir", image, ...runtimeFlags(n1)], /give --snapshot FILE or --netns PATH/],
    [["checkpoint", "--id", "x", "--image-dir", image, "--snapshot", snapFile], /--runsc-root DIR is required/],
    [["checkpoint", "--nope"], /Unknown option '--nope'/],
    [[...target(pod3, "third"), "--hook", "--sandbox-netns", pod3], /--hook and --sandbox-netns exclude/],
    [["resume", "--id", "x"], /--image-dir is required/],
    [target(pod3, "bad/id"), /--id is not a container ID/],
  ];
  for (const [args, pattern] of usage) {
    const u = await podnetOn(n2, args);
    assert.equal(u.code, 2, `${args.join(" ")}: ${u.stderr}`);
    assert.match(u.stderr, pattern);
    assert.equal(u.stderr.trim().split("\n").length, 1);
  }
  for (const cmd of ["checkpoint", "resume"]) {
    const h = await podnetOn(n2, [cmd, "--help"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, new RegExp(`^usage: podnet ${cmd} `));
  }
});

const MAC_OLD = "02:00:00:00:01:01", MAC_NEW = "02:00:00:00:02:02";

function snap(link: Partial<Snapshot["links"][number]>): Snapshot {
  return {
    schema: SCHEMA,
    capturedAt: "2026-01-01T00:00:00Z",
    links: [{
      name: "eth0",
      mac: "02:00:00:00:00:05",
      mtu: 1500,
      addresses: [{ cidr: "10.244.1.5/32" }],
      routes: [{ dst: "169.254.1.1/32", scope: "link" }, { dst: "0.0.0.0/0", gateway: "169.254.1.1" }],
      neighbors: [{ ip: "169.254.1.1", mac: MAC_OLD }],
      ...link,
    }],
  };
}

Deno.test("plan: the new pod's link, addresses and gateway MACs; the snapshot's extra routes carried; stale MACs only reported", () => {
  const source = snap({ routes: [...snap({}).links[0]!.routes, { dst: "10.50.0.0/16", gateway: "169.254.1.1" }] });
  const target = snap({
    mac: "02:00:00:00:00:07",
    addresses: [{ cidr: "10.244.2.7/32" }],
    neighbors: [{ ip: "169.254.1.1", mac: MAC_NEW }],
  });
  const plan = planRestore(source, target, "eth0");
  assert.deepEqual(plan.gateways, [{ ip: "169.254.1.1", stale: MAC_OLD, mac: MAC_NEW }]);
  assert.deepEqual(plan.carried, [{ dst: "10.50.0.0/16", gateway: "169.254.1.1" }]);
  assert.deepEqual(plan.addresses, { before: ["10.244.1.5"], after: ["10.244.2.7"] });
  const l = plan.snapshot.links[0]!;
  assert.equal(l.mac, "02:00:00:00:00:07");
  assert.deepEqual(l.neighbors, [{ ip: "169.254.1.1", mac: MAC_NEW }]);
  assert.equal(l.routes.length, 3);
  assert.ok(!JSON.stringify(plan.snapshot).includes(MAC_OLD), "the stale MAC is nowhere in what gets restored");
});

Deno.test("plan: refuses a snapshot route whose gateway the new node did not resolve, or whose source address is gone", () => {
  const target = snap({ addresses: [{ cidr: "10.244.2.7/32" }], neighbors: [{ ip: "169.254.1.1", mac: MAC_NEW }] });
  assert.throws(
    () => planRestore(snap({ routes: [{ dst: "10.50.0.0/16", gateway: "10.244.1.1", onlink: true }] }), target, "eth0"),
    /route 10\.50\.0\.0\/16 via 10\.244\.1\.1 from the snapshot: 10\.244\.1\.1 is not a gateway of the new pod/,
  );
  assert.throws(
    () =>
      planRestore(
        snap({ routes: [{ dst: "10.60.0.0/16", gateway: "169.254.1.1", src: "10.244.1.5" }] }),
        target,
        "eth0",
      ),
    /route 10\.60\.0\.0\/16 via 169\.254\.1\.1 from the snapshot: source address 10\.244\.1\.5 is not the new pod's/,
  );
  assert.throws(() => planRestore(snap({ name: "net1" }), target, "eth0"), /the snapshot has no link eth0/);
});
