/**
 * The README demo. Builds its own throwaway world (a node netns with no
 * uplink, pod netns beside it), shows podnet at work there, and removes
 * everything, also on failure. Only addresses inside that world are pinged.
 *
 * @module
 */

import {
  addrAdd,
  addrList,
  linkAddVeth,
  linkList,
  linkSet,
  linkSetAddrGenMode,
  neighList,
  neighSet,
  routeAdd,
  routeList,
  Socket,
  sysctlWrite,
  withNetns,
} from "../mod.ts";

const tag = `pndemo-${Deno.pid.toString(36)}`;
const made: string[] = [];
const dec = new TextDecoder();

function sh(cmd: string, ...args: string[]): { ok: boolean; out: string } {
  const o = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  return { ok: o.success, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

function netns(name: string): string {
  const ns = `${tag}-${name}`;
  const r = sh("ip", "netns", "add", ns);
  if (!r.ok) throw new Error(`ip netns add ${ns}: ${r.out}`);
  made.push(ns);
  return ns;
}

function step(title: string): void {
  console.log(`\n\x1b[1m== ${title}\x1b[0m`);
}

function show(label: string, rows: string[]): void {
  console.log(`  ${label}:`);
  for (const r of rows) console.log(`    ${r}`);
}

function ping(ns: string, addr: string): void {
  const r = sh("ip", "netns", "exec", ns, "ping", "-c1", "-W2", addr);
  const rtt = r.out.match(/time=([\d.]+ ms)/)?.[1];
  console.log(`  ping ${addr} from ${ns.slice(tag.length + 1)}: ${r.ok ? `ok (${rtt})` : "FAILED"}`);
  if (!r.ok) throw new Error(`ping ${addr} from ${ns} failed`);
}

/** Attaches one pod Calico-style with the netlink layer (the CNI plugin automates this). */
function attach(nodePath: string, podNs: string, i: number, v4: string, v6: string): void {
  using node = Socket.open(nodePath);
  const host = linkAddVeth(node, {
    name: `pndemo${i}`,
    peerName: "eth0",
    peerNetns: `/run/netns/${podNs}`,
    mac: `ee:ee:ee:00:00:0${i}`,
  });
  linkSetAddrGenMode(node, host, "none");
  linkSet(node, host, { up: true, alias: `demo/pod${i}/eth0` });
  addrAdd(node, host, "fe80::1/64", { nodad: true });
  withNetns(nodePath, () => {
    sysctlWrite(`net/ipv4/conf/${host.name}/forwarding`, 1);
    sysctlWrite(`net/ipv6/conf/${host.name}/forwarding`, 1);
  });
  routeAdd(node, { dst: `${v4}/32`, link: host });
  routeAdd(node, { dst: `${v6}/128`, link: host });

  using pod = Socket.open(`/run/netns/${podNs}`);
  withNetns(`/run/netns/${podNs}`, () => sysctlWrite("net/ipv6/conf/eth0/accept_dad", 0));
  linkSet(pod, "eth0", { up: true });
  linkSet(pod, "lo", { up: true });
  addrAdd(pod, "eth0", `${v4}/32`);
  addrAdd(pod, "eth0", `${v6}/128`, { nodad: true });
  routeAdd(pod, { dst: "169.254.1.1/32", link: "eth0", scope: "link" });
  routeAdd(pod, { dst: "0.0.0.0/0", gateway: "169.254.1.1", link: "eth0" });
  routeAdd(pod, { dst: "::/0", gateway: "fe80::1", link: "eth0" });
  neighSet(pod, { link: "eth0", ip: "169.254.1.1", mac: host.mac });
  neighSet(pod, { link: "eth0", ip: "fe80::1", mac: host.mac });
}

async function main(): Promise<void> {
  step("podnet");
  console.log(`  ${sh(new URL("../bin/podnet", import.meta.url).pathname, "--version").out.trim()}`);

  step("a throwaway node netns (no uplink) and two pod netns");
  const node = netns("node");
  const nodePath = `/run/netns/${node}`;
  const pods = [netns("pod1"), netns("pod2")];
  using nodeSock = Socket.open(nodePath);
  linkSet(nodeSock, "lo", { up: true });
  // IPv6 forwarding between host ends needs it on for the node netns (the demo's own).
  withNetns(nodePath, () => sysctlWrite("net/ipv6/conf/all/forwarding", 1));

  step("attach both pods with routed veths through the netlink layer (no `ip` calls)");
  const t0 = performance.now();
  attach(nodePath, pods[0]!, 1, "10.244.1.11", "fd00:244:1::11");
  attach(nodePath, pods[1]!, 2, "10.244.1.12", "fd00:244:1::12");
  console.log(`  two pods attached in ${(performance.now() - t0).toFixed(1)} ms`);

  step("what the kernel holds now (read back through podnet's netlink layer)");
  show(
    "node links",
    linkList(nodeSock).map((l) =>
      `${l.index}: ${l.name} ${l.mac} mtu ${l.mtu} ${l.up ? "UP" : "DOWN"}${l.alias ? ` alias ${l.alias}` : ""}`
    ),
  );
  show(
    "node routes",
    [...routeList(nodeSock, { family: 4 }), ...routeList(nodeSock, { family: 6 })].map((r) =>
      `${r.dst}${r.gateway ? ` via ${r.gateway}` : ""} dev ${r.ifindex} proto ${r.protocol}`
    ),
  );
  using pod1 = Socket.open(`/run/netns/${pods[0]}`);
  show("pod1 addresses", addrList(pod1).map((a) => `${a.cidr} ifindex ${a.ifindex}${a.tentative ? " tentative" : ""}`));
  show(
    "pod1 routes",
    [...routeList(pod1, { family: 4 }), ...routeList(pod1, { family: 6 })].map((r) =>
      `${r.dst}${r.gateway ? ` via ${r.gateway}` : ""} scope ${r.scope}`
    ),
  );
  show("pod1 neighbors", neighList(pod1).map((n) => `${n.ip} lladdr ${n.mac} ${n.state.join(",")}`));

  step("pod to pod, IPv4 and IPv6, right away (no DAD wait, gateway pinned)");
  ping(pods[0]!, "10.244.1.12");
  ping(pods[0]!, "fd00:244:1::12");
  ping(pods[1]!, "10.244.1.11");
  ping(pods[1]!, "fd00:244:1::11");
  await Promise.resolve();
}

try {
  await main();
  console.log("\ndemo finished: all checks passed");
} catch (e) {
  console.error(`\ndemo failed: ${e instanceof Error ? e.message : e}`);
  Deno.exitCode = 1;
} finally {
  for (const ns of made.reverse()) sh("ip", "netns", "del", ns);
  console.log(`cleaned up ${made.length} namespaces`);
}
