/**
 * Sandbox resume across nodes with real gVisor: two node netns stand for two
 * nodes, each with its own podnet attachments, host-local leases and runsc
 * root. A counter sandbox checkpointed in a pod on node 1 resumes in a new pod
 * on node 2; the new node's gateway MAC is pinned, never the snapshot's.
 */

import assert from "node:assert/strict";
import {
  type Attachment,
  capturePod,
  checkpoint,
  cniCall,
  COUNTER,
  Lab,
  type LabNode,
  labNode,
  leftovers,
  makeBundle,
  pingFrom,
  planRestore,
  proxyArpOn,
  restoreTarget,
  resultAddresses,
  resume,
  type ResumeOptions,
  type ResumeReport,
  retargetBundle,
  runsc,
  runscList,
  SNAPSHOT_FILE,
  snapshotAddresses,
  ticks,
  track,
  waitTicks,
} from "../scripts/resume.ts";
import { SCHEMA, type Snapshot } from "../core/snapshot.ts";
import { ip, ipJson, type Ran, run, runAsync, world } from "./harness.ts";
import { kernelState } from "../lab/sandbox.ts";

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
 * strips the netns it scrapes), run the counter, checkpoint, delete, DEL; and
 * check node 1 holds nothing of the pod afterwards.
 */
async function onNode1(
  s: Lab,
  n1: LabNode,
  subnets: string[],
  extraRoute?: string,
): Promise<Checkpointed> {
  const pod = attach(s, n1, "old", n1.config(...subnets));
  const added = await cniCall(n1.cni, "ADD", pod);
  if (extraRoute) ip(nsName(pod.podNetns), "route", "add", extraRoute, "via", "169.254.1.1", "dev", "eth0");
  const snapFile = `${n1.dir}/old.json`;
  const snapshot = await capturePod(pod.podNetns, "eth0", snapFile);
  assert.deepEqual(snapshotAddresses(snapshot, "eth0"), resultAddresses(added));

  const bundle = `${n1.dir}/bundle`;
  makeBundle(bundle, COUNTER, pod.podNetns);
  track(s, n1.runtime, "old");
  const log = `${n1.dir}/counter.log`;
  const r = await runsc(n1.runtime, ["run", "--bundle", bundle, "-detach", "old"], { log });
  assert.equal(r.code, 0, r.stderr);
  await waitTicks(log, 3);
  const ping = await pingFrom(n1.runtime, "old", n1.address);
  assert.equal(ping.code, 0, `the sandbox reaches node 1 before the checkpoint: ${ping.stdout}${ping.stderr}`);

  const image = `${n1.dir}/image`;
  const { imageBytes } = await checkpoint({ runtime: n1.runtime, id: "old", imageDir: image, snapshot: snapFile });
  assert.ok(imageBytes > 100_000, `image of ${imageBytes} bytes`);
  const last = ticks(log).at(-1)!;
  await cniCall(n1.cni, "DEL", pod);
  assert.deepEqual(await leftovers(n1), { links: [], leases: [], containers: [] }, "node 1 is clean after DEL");
  assert.deepEqual(ipJson(nsName(pod.podNetns), "link", "show").map((l) => l.ifname), ["lo"]);
  return { image, bundle, last, snapshot, staleMac: added!.interfaces![0]!.mac! };
}

/**
 * Node 2's side: the old bundle retargeted at the new pod, `resume` of the
 * checkpoint as container "new", and the first ping to node 2, which must answer.
 */
async function onNode2(
  s: Lab,
  n2: LabNode,
  old: Checkpointed,
  pod: Attachment,
  o: Pick<ResumeOptions, "sameAddress" | "sandboxNetns" | "viaHook">,
): Promise<{ rep: ResumeReport; bundle: string; log: string; ping: Ran }> {
  const bundle = `${n2.dir}/bundle`;
  retargetBundle(old.bundle, bundle, pod.podNetns);
  track(s, n2.runtime, "new");
  const log = `${n2.dir}/counter.log`;
  const rep = await resume({
    node: n2.cni,
    runtime: n2.runtime,
    attachment: pod,
    imageDir: old.image,
    bundle,
    id: "new",
    log,
    workDir: n2.dir,
    ...o,
  });
  const ping = await pingFrom(n2.runtime, "new", n2.address);
  assert.equal(ping.code, 0, `the first ping after runsc restore answers: ${ping.stdout}${ping.stderr}`);
  return { rep, bundle, log, ping };
}

/** The host end on node 2 of `att` (its MAC is the new gateway MAC). */
function hostMac(node: LabNode): string {
  const links = ipJson(nsName(node.netns), "link", "show").filter((l) => l.ifname !== "lo" && l.ifname !== "ifb0");
  assert.equal(links.length, 1, `one host end on the node: ${JSON.stringify(links.map((l) => l.ifname))}`);
  return links[0].address;
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
  const routes = await runsc(n2.runtime, ["exec", "new", "/bin/busybox", "ip", "route"]);
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
  const addr = await runsc(n2.runtime, ["exec", "new", "/bin/busybox", "ip", "addr"]);
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
  assert.deepEqual(cfg.hooks.prestart.map((h: { args: string[] }) => h.args), [[
    "podnet",
    "hook",
    "--link-netns",
    pod.podNetns,
  ]]);
  assert.deepEqual(ipJson(nsName(pod.podNetns), "link", "show").map((l) => l.ifname), ["lo"], "the hook took eth0");
  assert.deepEqual(resultAddresses(rep.result), snapshotAddresses(old.snapshot, "eth0"));
  const mac = hostMac(n2);
  assert.notEqual(mac, old.staleMac);
  assert.deepEqual([...rep.pinned], [["169.254.1.1", mac]]);
  const routes = await runsc(n2.runtime, ["exec", "new", "/bin/busybox", "ip", "route"]);
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
  const good = await capturePod(pod.podNetns, "eth0", `${n2.dir}/good.json`);
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
  const steps: string[] = [];
  const opts = {
    runtime: n2.runtime,
    attachment: pod,
    imageDir: image,
    bundle,
    id: "new",
    log: `${n2.dir}/counter.log`,
    workDir: n2.dir,
    onStep: (l: string) => steps.push(l),
  };
  await assert.rejects(
    restoreTarget(opts),
    /^ResumeError: snapshot \S+: invalid snapshot: links\[0\]\.neighbors\[0\]\.mac: is not a unicast MAC address/,
  );
  assert.deepEqual([kernelState(nsName(pod.podNetns)), kernelState(nsName(n2.netns))], before);
  assert.deepEqual(await runscList(n2.runtime), []);
  assert.deepEqual(steps, []);

  // The whole target side refuses it before the CNI ADD: a fresh pod netns stays empty.
  const fresh = { ...pod, containerId: "fresh", podNetns: s.netns("fresh") };
  const leases = (await leftovers(n2)).leases;
  await assert.rejects(resume({ ...opts, node: n2.cni, attachment: fresh, sameAddress: true }), /invalid snapshot/);
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
    restoreTarget({
      runtime: n2.runtime,
      attachment: pod,
      imageDir: image,
      bundle,
      id: "new",
      log: `${n2.dir}/counter.log`,
      workDir: n2.dir,
      gatewayTimeoutMs: 300,
      onStep: (l) => steps.push(l),
    }),
    /^ResumeError: capture eth0 in \S+: podnet capture: gateway 169\.254\.1\.1 on eth0 in \S+ did not resolve within 300 ms/,
  );
  assert.deepEqual([kernelState(nsName(pod.podNetns)), kernelState(nsName(n2.netns))], before);
  assert.deepEqual(await runscList(n2.runtime), []);
  assert.deepEqual(steps, []);
});

Deno.test("resume: when runsc restore itself fails, the container and the CNI ADD are undone", async () => {
  await using w = world();
  const s = new Lab(w);
  const n2 = labNode(s, 2);
  // A valid snapshot with no image beside it: everything up to runsc restore succeeds.
  const donor = attach(s, n2, "donor", n2.config("10.244.2.0/24"));
  await cniCall(n2.cni, "ADD", donor);
  const image = `${n2.dir}/image`;
  Deno.mkdirSync(image);
  await capturePod(donor.podNetns, "eth0", `${image}/${SNAPSHOT_FILE}`);
  await cniCall(n2.cni, "DEL", donor);
  const pod = attach(s, n2, "new", n2.config("10.244.2.0/24"));
  const bundle = `${n2.dir}/bundle`;
  makeBundle(bundle, COUNTER, pod.podNetns);
  track(s, n2.runtime, "new");
  const steps: string[] = [];
  await assert.rejects(
    resume({
      node: n2.cni,
      runtime: n2.runtime,
      attachment: pod,
      sameAddress: true,
      imageDir: image,
      bundle,
      id: "new",
      log: `${n2.dir}/counter.log`,
      workDir: n2.dir,
      onStep: (l) => steps.push(l),
    }),
    /^ResumeError: restore new: runsc failed \(exit \d+\): /,
  );
  assert.ok(steps.some((l) => l.startsWith("podnet restore")), steps.join("\n"));
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
  assert.equal((await runsc(n1.runtime, ["run", "--bundle", bundle, "-detach", "old"], { log })).code, 0);
  await waitTicks(log, 1);
  const late = await capturePod(pod.podNetns, "eth0", `${n1.dir}/late.json`);
  assert.deepEqual(late.links[0]!.addresses.filter((a) => !a.cidr.startsWith("fe80:")), []);
  await assert.rejects(
    checkpoint({ runtime: n1.runtime, id: "old", imageDir: `${n1.dir}/image`, snapshot: `${n1.dir}/late.json` }),
    /no addresses to keep \(was it captured after the sandbox started\?/,
  );
  const state = await runsc(n1.runtime, ["state", "old"]);
  assert.equal(JSON.parse(state.stdout).status, "running");
  assert.throws(() => Deno.statSync(`${n1.dir}/image/checkpoint.img`), Deno.errors.NotFound);
});

Deno.test("resume refuses a container ID that already exists on node 2, before the CNI ADD, and leaves that container running", async () => {
  await using w = world();
  const s = new Lab(w);
  const n2 = labNode(s, 2);
  const other = s.netns("other");
  const bundle = `${n2.dir}/bundle`;
  makeBundle(bundle, COUNTER, other);
  track(s, n2.runtime, "new");
  assert.equal(
    (await runsc(n2.runtime, ["run", "--bundle", bundle, "-detach", "new"], { log: `${n2.dir}/o.log` })).code,
    0,
  );
  const image = `${n2.dir}/image`;
  Deno.mkdirSync(image);
  const snapshot = snap({});
  Deno.writeTextFileSync(`${image}/${SNAPSHOT_FILE}`, JSON.stringify(snapshot));
  const pod = attach(s, n2, "pod", n2.config("10.244.0.0/16"));
  await assert.rejects(
    resume({
      node: n2.cni,
      runtime: n2.runtime,
      attachment: pod,
      sameAddress: false,
      imageDir: image,
      bundle,
      id: "new",
      log: `${n2.dir}/counter.log`,
      workDir: n2.dir,
    }),
    /^ResumeError: container new already exists on this node/,
  );
  assert.equal(JSON.parse((await runsc(n2.runtime, ["state", "new"])).stdout).status, "running");
  assert.deepEqual(ipJson(nsName(pod.podNetns), "link", "show").map((l) => l.ifname), ["lo"]);
  assert.deepEqual((await leftovers(n2)).links, []);
});

const RESUME_TS = new URL("../scripts/resume.ts", import.meta.url).pathname;

function resumeCli(args: string[]): Promise<Ran> {
  return runAsync(Deno.execPath(), ["run", "-A", RESUME_TS, ...args]);
}

Deno.test("resume.ts as commands: checkpoint on node 1, resume on node 2; a corrupt snapshot exits 1 with one line naming the field", async () => {
  await using w = world();
  const s = new Lab(w);
  const n1 = labNode(s, 1), n2 = labNode(s, 2);
  const pod1 = attach(s, n1, "old", n1.config("10.244.0.0/16"));
  await cniCall(n1.cni, "ADD", pod1);
  const snapFile = `${n1.dir}/old.json`;
  await capturePod(pod1.podNetns, "eth0", snapFile);
  const bundle1 = `${n1.dir}/bundle`;
  makeBundle(bundle1, COUNTER, pod1.podNetns);
  track(s, n1.runtime, "old");
  const log1 = `${n1.dir}/counter.log`;
  assert.equal((await runsc(n1.runtime, ["run", "--bundle", bundle1, "-detach", "old"], { log: log1 })).code, 0);
  await waitTicks(log1, 2);
  const image = `${n1.dir}/image`;
  const node1 = ["--node-netns", n1.netns, "--runsc-root", n1.runtime.root, "--empty-dir", n1.runtime.emptyDir];
  const cp = await resumeCli(["checkpoint", ...node1, "--id", "old", "--image-dir", image, "--snapshot", snapFile]);
  assert.equal(cp.code, 0, cp.stderr);
  assert.match(cp.stdout, /^checkpointed old: \d+ bytes/);
  const last = ticks(log1).at(-1)!;
  await cniCall(n1.cni, "DEL", pod1);

  const conf = `${n2.dir}/podnet.json`;
  Deno.writeTextFileSync(conf, JSON.stringify(n2.config("10.244.0.0/16")));
  const node2 = ["--node-netns", n2.netns, "--runsc-root", n2.runtime.root, "--empty-dir", n2.runtime.emptyDir];
  const pod2 = attach(s, n2, "new", n2.config("10.244.0.0/16"));
  const bundle2 = `${n2.dir}/bundle`;
  retargetBundle(bundle1, bundle2, pod2.podNetns);
  track(s, n2.runtime, "new");
  const log2 = `${n2.dir}/counter.log`;
  const target = (pod: string, id: string): string[] => [
    "resume",
    ...node2,
    "--cni-config",
    conf,
    "--container-id",
    id,
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
  const r = await resumeCli(target(pod2.podNetns, "new"));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /gateway 169\.254\.1\.1: snapshot MAC \S+ \(old node, not used\) → \S+ on this node/);
  assert.match(r.stdout, /^resumed new: network ready in \d+ ms, runsc restore \d+ ms$/m);
  assert.equal((await pingFrom(n2.runtime, "new", n2.address)).code, 0);
  await waitTicks(log2, 1);
  assert.equal(ticks(log2)[0], last + 1);
  assert.equal((await runsc(n2.runtime, ["delete", "-force", "new"])).code, 0);
  await cniCall(n2.cni, "DEL", pod2);

  const snap = JSON.parse(Deno.readTextFileSync(`${image}/${SNAPSHOT_FILE}`));
  snap.links[0].addresses[0].cidr = "10.244.0.300/32";
  Deno.writeTextFileSync(`${image}/${SNAPSHOT_FILE}`, JSON.stringify(snap));
  const pod3 = s.netns("third");
  const bad = await resumeCli(target(pod3, "third"));
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, "");
  assert.match(
    bad.stderr,
    /^resume\.ts: snapshot \S+: invalid snapshot: links\[0\]\.addresses\[0\]\.cidr: is not a CIDR \(address\/prefix\)\n$/,
  );
  assert.deepEqual(await leftovers(n2), { links: [], leases: [], containers: [] });
  assert.deepEqual(ipJson(nsName(pod3), "link", "show").map((l) => l.ifname), ["lo"]);
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
