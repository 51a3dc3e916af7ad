/**
 * The README demo, end to end. Builds its own throwaway world (a node netns
 * whose only "uplink" is an ifb device, pod netns beside it), shows podnet at
 * work there and removes everything, also on failure. Only addresses inside
 * that world are pinged; the machine's own network is never touched.
 *
 * 1. two pods attached by the podnet CNI plugin (dual-stack, host-local),
 *    pinging each other and the node over IPv4 and IPv6 right after ADD;
 * 2. what the kernel holds, read back through podnet's netlink layer, and `podnet status`;
 * 3. a gVisor (runsc) sandbox in a podnet pod reaching the node with proxy ARP off;
 * 4. DEL of everything, and what is left (nothing);
 * 4b. the agent API: `podnet attach`/`detach` of a pod with known addresses;
 * 5. a checkpointed gVisor sandbox resumed in a new pod on a second node;
 * 6. a pod started the way kubelet starts one: through containerd's CRI plugin,
 *    on a containerd node of its own (lab/containerd.ts).
 *
 * @module
 */

import { addrList, linkList, neighList, routeList, Socket } from "../mod.ts";
import {
  type Attachment,
  capturePod,
  cniCall,
  COUNTER,
  Lab,
  type LabNode,
  labNode,
  leftovers,
  pingFrom,
  PODNET,
  proxyArpOn,
  resultAddresses,
  retargetBundle,
  runDetached,
  runtimeFlags,
  ticks,
  track,
  waitFor,
  waitTicks,
} from "../lab/resume.ts";
import { makeBundle } from "../lab/sandbox.ts";
import { ip } from "../lab/world.ts";
import { containerdNode, NODE_V4, NODE_V6 } from "../lab/containerd.ts";
import { runscDelete, runscExec } from "../sandbox/runsc.ts";

const dec = new TextDecoder();
const NODE6 = "fd00:99::1";

function step(title: string): void {
  console.log(`\n\x1b[1m== ${title}\x1b[0m`);
}

function say(line: string): void {
  console.log(`  ${line}`);
}

function sh(cmd: string, args: string[]): { ok: boolean; out: string } {
  const o = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  return { ok: o.success, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

/** One ping from inside `netns` (nsenter, not `ip netns exec`: no /sys remount). */
function ping(netns: string, label: string, addr: string): void {
  const t = performance.now();
  const r = sh("nsenter", [`--net=${netns}`, "ping", "-c1", "-W2", addr]);
  const rtt = r.out.match(/time=([\d.]+ ms)/)?.[1];
  say(
    `ping ${addr.padEnd(16)} from ${label}: ${r.ok ? `ok, rtt ${rtt}` : "FAILED"} (${
      (performance.now() - t).toFixed(0)
    } ms incl. ping start)`,
  );
  if (!r.ok) throw new Error(`ping ${addr} from ${label} failed`);
}

async function main(): Promise<void> {
  step("podnet");
  say(sh(PODNET, ["--version"]).out.trim());

  await using lab = new Lab();
  const node = labNode(lab, 0);
  ip(node.netns.slice("/run/netns/".length), "addr", "add", `${NODE6}/128`, "dev", "ifb0");
  const subnets = ["10.244.1.0/24", "fd00:244:1::/64"];
  const config = node.config(...subnets);
  step(`a throwaway node netns (uplink stand-in ifb0: ${node.address}, ${NODE6}) and pod netns`);
  say(
    `network config: ${JSON.stringify({ ...config, logFile: "…", ipam: { ...config.ipam as object, dataDir: "…" } })}`,
  );

  step("CNI ADD of two pods by the podnet plugin (dual-stack, host-local IPAM)");
  const pods: Attachment[] = [];
  const results: unknown[] = [];
  for (const name of ["pod1", "pod2"]) {
    const att: Attachment = { containerId: `demo-${name}`, podNetns: lab.netns(name), ifname: "eth0", config };
    const t = performance.now();
    const res = await cniCall(node.cni, "ADD", att);
    const ms = performance.now() - t;
    pods.push(att);
    results.push(res);
    lab.defer(async () => void await cniCall(node.cni, "DEL", att).catch(() => null));
    const host = res?.interfaces?.find((i) => !i.sandbox);
    say(
      `${name}: ${resultAddresses(res).join(", ")} on eth0, host end ${host?.name} ${host?.mac} (ADD ${
        ms.toFixed(0)
      } ms)`,
    );
  }
  const [p1, p2] = [pods[0]!, pods[1]!];
  await cniCall(node.cni, "CHECK", { ...p1, config: { ...config, prevResult: results[0] } });
  say("CNI CHECK pod1 against its ADD result: ok (links, addresses, routes, pins, sysctls match the kernel)");

  step("pod to pod and pod to node, IPv4 and IPv6, right after ADD (no DAD wait, gateway pinned)");
  const addrs = (att: Attachment): string[] => {
    using s = Socket.open(att.podNetns);
    return addrList(s).filter((a) => a.scope === "universe" && !a.cidr.startsWith("127.") && a.cidr !== "::1/128")
      .map((a) => a.cidr.slice(0, a.cidr.indexOf("/")));
  };
  const [v4b, v6b] = [addrs(p2).find((a) => !a.includes(":"))!, addrs(p2).find((a) => a.includes(":"))!];
  ping(p1.podNetns, "pod1", v4b);
  ping(p1.podNetns, "pod1", v6b);
  ping(p2.podNetns, "pod2", node.address);
  ping(p2.podNetns, "pod2", NODE6);

  step("what the kernel holds (read back through podnet's netlink layer, no `ip`)");
  {
    using n = Socket.open(node.netns);
    for (const l of linkList(n)) {
      say(`node link ${l.index}: ${l.name} ${l.mac} ${l.up ? "UP" : "DOWN"}${l.alias ? ` alias ${l.alias}` : ""}`);
    }
    for (const r of [...routeList(n, { family: 4 }), ...routeList(n, { family: 6 })]) {
      if (r.protocol !== "kernel") say(`node route ${r.dst} dev ${r.ifindex}`);
    }
    using p = Socket.open(p1.podNetns);
    for (const r of [...routeList(p, { family: 4 }), ...routeList(p, { family: 6 })]) {
      if (r.protocol !== "kernel") say(`pod1 route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""} scope ${r.scope}`);
    }
    for (const nb of neighList(p).filter((x) => x.permanent)) say(`pod1 neighbor ${nb.ip} lladdr ${nb.mac} PERMANENT`);
    for (const a of addrList(p).filter((x) => x.family === 6 && x.scope === "universe")) {
      say(`pod1 address ${a.cidr}${a.tentative ? " TENTATIVE" : " (not tentative: usable at once)"}`);
    }
  }
  const status = sh("nsenter", [`--net=${node.netns}`, PODNET, "status"]);
  say(`podnet status (exit ${status.ok ? 0 : 1}):`);
  for (const l of status.out.trim().split("\n")) say(`  ${l}`);

  step("a gVisor (runsc) sandbox in a podnet pod reaches the node with proxy ARP off");
  say(`proxy_arp on in the node netns: ${proxyArpOn(node.netns).join(", ") || "nowhere"}`);
  const p3: Attachment = { containerId: "demo-gvisor", podNetns: lab.netns("pod3"), ifname: "eth0", config };
  const r3 = await cniCall(node.cni, "ADD", p3);
  lab.defer(async () => void await cniCall(node.cni, "DEL", p3).catch(() => null));
  say(`pod3: CNI ADD gave ${resultAddresses(r3).join(", ")}; the gateways are pinned PERMANENT, which runsc copies`);
  const bundle = `${node.dir}/gvisor-bundle`;
  makeBundle(bundle, COUNTER, p3.podNetns);
  track(lab, node.runtime, "demo-gvisor");
  const log = `${node.dir}/gvisor.log`;
  const t = performance.now();
  await runDetached(node.runtime, "demo-gvisor", bundle, log);
  await waitTicks(log, 1);
  say(`runsc run -detach demo-gvisor: ${(performance.now() - t).toFixed(0)} ms`);
  const dm = await runscExec(node.runtime, "demo-gvisor", ["/bin/busybox", "dmesg"]);
  say(`inside: ${dm.stdout.split("\n")[0]?.trim()}  (gVisor's kernel)`);
  for (const dst of [node.address, NODE6]) {
    const pr = await pingFrom(node.runtime, "demo-gvisor", dst, 2);
    say(`sandbox ping ${dst}: ${pr.code === 0 ? `ok, ${pr.stdout.match(/time=([\d.]+ ms)/)?.[1]}` : "FAILED"}`);
    if (pr.code !== 0) throw new Error(`the gVisor sandbox could not reach ${dst}`);
  }
  await runscDelete(node.runtime, "demo-gvisor");

  step("CNI DEL of every pod; what is left on the node");
  for (const att of [p1, p2, p3]) {
    const td = performance.now();
    await cniCall(node.cni, "DEL", att);
    say(`DEL ${att.containerId}: ${(performance.now() - td).toFixed(0)} ms; DEL again: ok (idempotent)`);
    await cniCall(node.cni, "DEL", att);
  }
  const left = await leftovers(node);
  say(`left: ${left.links.length} host ends, ${left.leases.length} leases, ${left.containers.length} sandboxes`);
  if (left.links.length + left.leases.length + left.containers.length > 0) throw new Error("something was left behind");

  step("the agent API: podnet attach / detach a pod whose addresses the caller knows (no CNI, no IPAM)");
  const p4 = lab.netns("pod4");
  const attachArgs = [
    "attach",
    "--netns",
    p4,
    "--container-id",
    "demo-agent",
    "--ip",
    "10.244.7.5",
    "--ip",
    "fd00:244:7::5",
  ];
  const at = sh("nsenter", [`--net=${node.netns}`, PODNET, ...attachArgs]);
  if (!at.ok) throw new Error(`podnet attach failed: ${at.out.trim()}`);
  const built = JSON.parse(at.out) as { hostInterface: string; addresses: string[]; outcome: string };
  say(`podnet attach: ${built.outcome} ${built.hostInterface}, pod addresses ${built.addresses.join(", ")}`);
  ping(p4, "pod4", node.address);
  ping(p4, "pod4", NODE6);
  const again = JSON.parse(sh("nsenter", [`--net=${node.netns}`, PODNET, ...attachArgs]).out) as { outcome: string };
  say(`the same attach again: ${again.outcome} (declarative: nothing to change)`);
  const gone = sh("nsenter", [`--net=${node.netns}`, PODNET, "detach", "--container-id", "demo-agent"]);
  say(`podnet detach: ${gone.out.trim()}`);

  step("resume: a gVisor sandbox checkpointed on node 1 carries on in a new pod on node 2");
  await resumeAct(say);

  step("the Kubernetes node path: a pod through containerd's CRI plugin, as kubelet starts one");
  await criDemo();
}

/** One pod through CRI on a containerd node (lab/containerd.ts), torn down again. */
async function criDemo(): Promise<void> {
  const t0 = performance.now();
  await using n = await containerdNode();
  const v = await n.cri.version();
  say(`containerd ${v.runtime_version} (CRI ${v.runtime_api_version}) in a node netns of its own, up in ${ms(t0)}`);
  say(
    `podnet installed by \`podnet install --runtime containerd\`; its config.toml carries the settings install printed`,
  );
  let t = performance.now();
  const pod = await n.runPod("demo");
  const st = (await n.cri.podSandboxStatus(pod.id)).status;
  say(
    `RunPodSandbox: ${ms(t)}, ${st.state}, ip ${st.network?.ip}, additional_ips ${
      st.network?.additional_ips.map((a) => a.ip).join(", ")
    }`,
  );
  t = performance.now();
  const cid = await n.runContainer(pod, "ping", `ping -c1 -W2 ${NODE_V4} && ping -6 -c1 -W2 ${NODE_V6}`);
  const code = await n.waitExited(cid);
  const log = Deno.readTextFileSync((await n.cri.containerStatus(cid)).log_path);
  say(
    `busybox container pinging ${NODE_V4} and ${NODE_V6}: exit ${code}, ${
      (log.match(/bytes from/g) ?? []).length
    } replies (${ms(t)})`,
  );
  if (code !== 0) throw new Error(`the pod could not reach the node:\n${log}`);
  const status = await n.status();
  say(
    `podnet status on that node: exit ${status.code}, ${status.report.attachments.length} attachment(s), pins ${
      status.report.attachments[0]?.pins
    }`,
  );
  await n.cri.removeContainer(cid);
  t = performance.now();
  await n.cri.stopPodSandbox(pod.id);
  await n.cri.removePodSandbox(pod.id);
  const left = n.leftovers([pod.id]);
  say(`StopPodSandbox + RemovePodSandbox: ${ms(t)}; left: ${left.length ? left.join(", ") : "nothing"}`);
  if (left.length) throw new Error("the CRI pod left something behind");
}

function ms(t0: number): string {
  return `${(performance.now() - t0).toFixed(0)} ms`;
}

/** `podnet ARGS…` as an operator runs it on `node`: in the node's netns. Throws with its stderr on failure. */
function podnetOn(node: LabNode, args: string[]): string {
  const r = sh("nsenter", [`--net=${node.netns}`, PODNET, ...args]);
  if (!r.ok) throw new Error(`podnet ${args[0]}: ${r.out.trim()}`);
  return r.out;
}

/**
 * The closing act: a counter sandbox checkpointed on node 1 (`podnet
 * checkpoint`) resumes in a new pod on node 2 at the same address (`podnet
 * resume`), its gateway MAC re-resolved there, and pings node 2 at once. Its
 * own two-node world, removed also on failure.
 */
async function resumeAct(log: (line: string) => void): Promise<void> {
  await using lab = new Lab();
  const n1 = labNode(lab, 1), n2 = labNode(lab, 2);
  const subnets = ["10.244.0.0/16", "fd00:244::/64"]; // one network over both nodes: it keeps the pod's addresses
  log(`two nodes: node 1 (${n1.address}) and node 2 (${n2.address}), podnet + host-local over ${subnets.join(" + ")}`);

  const podA: Attachment = {
    containerId: "resume-a",
    podNetns: lab.netns("pod-a"),
    ifname: "eth0",
    config: n1.config(...subnets),
  };
  const added = await cniCall(n1.cni, "ADD", podA);
  lab.defer(async () => void await cniCall(n1.cni, "DEL", podA).catch(() => {}));
  const snapFile = `${n1.dir}/pod-a.json`;
  const snap = capturePod(podA.podNetns, "eth0", snapFile);
  const gw = snap.links[0]!.neighbors.map((n) => `${n.ip} → ${n.mac}`).join(", ");
  log(`node 1: CNI ADD pod a: ${resultAddresses(added).join(", ")}; captured at attach: gateway ${gw}`);
  const bundle1 = `${n1.dir}/bundle`;
  makeBundle(bundle1, COUNTER, podA.podNetns);
  track(lab, n1.runtime, "resume-a");
  const log1 = `${n1.dir}/counter.log`;
  await runDetached(n1.runtime, "resume-a", bundle1, log1);
  await waitTicks(log1, 3);
  const image = `${n1.dir}/image`;
  const cp = podnetOn(n1, [
    "checkpoint",
    ...runtimeFlags(n1),
    "--id",
    "resume-a",
    "--image-dir",
    image,
    "--snapshot",
    snapFile,
  ]);
  const last = ticks(log1).at(-1)!;
  await cniCall(n1.cni, "DEL", podA);
  const left = await leftovers(n1);
  log(
    `node 1: podnet checkpoint → ${cp.trim()} (after tick ${last}); CNI DEL; left on node 1: ` +
      `${left.links.length} links, ${left.leases.length} leases, ${left.containers.length} containers`,
  );

  const ips: string[] = JSON.parse(podnetOn(n2, ["resume", "--addresses", "--image-dir", image]));
  const podB: Attachment = {
    containerId: "resume-b",
    podNetns: lab.netns("pod-b"),
    ifname: "eth0",
    config: n2.config(...subnets),
  };
  lab.defer(async () => void await cniCall(n2.cni, "DEL", podB).catch(() => {}));
  log(
    `node 2: CNI ADD pod b asking for ${ips.join(", ")}: got ${
      resultAddresses(await cniCall(n2.cni, "ADD", podB, ips)).join(", ")
    }`,
  );
  const bundle2 = `${n2.dir}/bundle`;
  retargetBundle(bundle1, bundle2, podB.podNetns);
  track(lab, n2.runtime, "resume-b");
  const log2 = `${n2.dir}/counter.log`;
  const t0 = performance.now();
  const out = podnetOn(n2, [
    "resume",
    ...runtimeFlags(n2),
    "--id",
    "resume-b",
    "--image-dir",
    image,
    "--bundle",
    bundle2,
    "--log",
    log2,
    "--pod-netns",
    podB.podNetns,
    "--same-address",
  ]);
  for (const l of out.trim().split("\n")) log(`node 2: podnet resume: ${l}`);
  const p2 = await pingFrom(n2.runtime, "resume-b", n2.address);
  if (p2.code !== 0) throw new Error(`ping ${n2.address} from the resumed sandbox failed`);
  const first = await waitFor("the counter on node 2", 10_000, () => ticks(log2)[0] ?? null);
  log(
    `node 2: ping ${n2.address} from the resumed sandbox: ok, ${(performance.now() - t0).toFixed(0)} ms after ` +
      `podnet resume started (proxy_arp on: ${
        [...proxyArpOn(n1.netns), ...proxyArpOn(n2.netns)].join(", ") || "nowhere"
      })`,
  );
  log(`node 2: the counter carries on: tick ${last} on node 1, tick ${first} next on node 2`);
}

try {
  await main();
  console.log("\ndemo finished: every step checked; all namespaces, links and temp dirs removed");
} catch (e) {
  console.error(`\ndemo failed: ${e instanceof Error ? e.message : e}`);
  Deno.exitCode = 1;
}
