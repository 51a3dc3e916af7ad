/**
 * CNI ADD/CHECK/DEL through the real plugin: dual-stack, IPv4-only and
 * IPv6-only attachments, kernel state checked with `ip -j`, connectivity
 * right after ADD in both gateway modes, and no global sysctl touched.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ipJson, run, runAsync, world } from "./harness.ts";
import { readSnapshot } from "../sys/files.ts";
import {
  add,
  check,
  cni,
  del,
  extraLinks,
  globalSysctls,
  leases,
  makeNode,
  netConf,
  type Node,
  NODE_V4,
  NODE_V6,
  ping,
  PODNET,
  routes,
  sysctlIn,
} from "./cni_helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** Asserts the kernel state of one attachment against its ADD result. */
function assertAttached(
  node: Node,
  pod: string,
  res: Json,
  fam: { v4: boolean; v6: boolean },
  mode = "static-neighbor",
): void {
  const [hostIf, podIf] = res.interfaces;
  assert.match(hostIf.name, /^pn[0-9a-f]{13}$/);
  assert.equal(podIf.name, "eth0");
  assert.equal(podIf.sandbox, node.w.path(pod));
  assert.equal(hostIf.sandbox, undefined);

  const [h] = ipJson(node.ns, "-d", "link", "show", "dev", hostIf.name);
  assert.equal(h.address, hostIf.mac);
  assert.equal(h.ifalias, "podnet/ctr1/eth0");
  assert.ok(h.flags.includes("UP"));
  assert.equal(h.linkinfo.info_kind, "veth");
  assert.equal(h.inet6_addr_gen_mode, "none");
  assert.equal(parseInt(hostIf.mac.slice(0, 2), 16) & 3, 2, "host MAC is locally administered unicast");
  const [p] = ipJson(pod, "link", "show", "dev", "eth0");
  assert.equal(p.address, podIf.mac);
  assert.ok(p.flags.includes("UP"));

  const hostAddrs = ipJson(node.ns, "addr", "show", "dev", hostIf.name)[0].addr_info;
  const podAddrs = ipJson(pod, "addr", "show", "dev", "eth0")[0].addr_info;
  const v4 = res.ips.filter((i: Json) => !i.address.includes(":"));
  const v6 = res.ips.filter((i: Json) => i.address.includes(":"));
  assert.equal(v4.length, fam.v4 ? 1 : 0);
  assert.equal(v6.length, fam.v6 ? 1 : 0);
  for (const i of res.ips) {
    const [addr, len] = i.address.split("/");
    assert.equal(len, addr.includes(":") ? "128" : "32");
    assert.equal(i.interface, 1);
    assert.equal(i.gateway, addr.includes(":") ? "fe80::1" : "169.254.1.1");
    const a = podAddrs.find((x: Json) => x.local === addr);
    assert.ok(a, `${addr} on eth0`);
    assert.equal(a.prefixlen, Number(len));
    assert.ok(!a.tentative, `${addr} is tentative`);
  }
  // The host end has fe80::1 only (addrgenmode none), and only when the pod has IPv6.
  assert.deepEqual(
    hostAddrs.map((a: Json) => `${a.local}/${a.prefixlen}${a.tentative ? " tentative" : ""}`),
    fam.v6 ? ["fe80::1/64"] : [],
  );
  assert.deepEqual(podAddrs.filter((a: Json) => a.scope === "global").length, res.ips.length);

  // Host routes to the pod addresses.
  const hr4 = routes(node.ns, 4), hr6 = routes(node.ns, 6);
  for (const i of v4) assert.ok(hr4.includes(`${i.address.split("/")[0]} ${hostIf.name}`), hr4.join(", "));
  for (const i of v6) assert.ok(hr6.includes(`${i.address.split("/")[0]} ${hostIf.name}`), hr6.join(", "));

  // Pod routes.
  const pr4 = routes(pod, 4),
    pr6 = routes(pod, 6).filter((r) => !r.startsWith("fe80::/64") && !r.startsWith("multicast"));
  assert.deepEqual(pr4, fam.v4 ? ["169.254.1.1 eth0", "default eth0 169.254.1.1"] : []);
  assert.deepEqual(pr6, fam.v6 ? ["default eth0 fe80::1"] : []);
  assert.deepEqual(
    res.routes,
    [...(fam.v4 ? [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }] : []), ...(fam.v6 ? [{ dst: "::/0", gw: "fe80::1" }] : [])],
  );

  // Gateway pins (static-neighbor) or none (proxy-arp).
  const neigh = ipJson(pod, "neigh", "show", "dev", "eth0").filter((n: Json) => n.state?.includes("PERMANENT"));
  const pins = neigh.map((n: Json) => `${n.dst} ${n.lladdr}`).sort();
  const want = mode === "static-neighbor"
    ? [...(fam.v4 ? [`169.254.1.1 ${hostIf.mac}`] : []), ...(fam.v6 ? [`fe80::1 ${hostIf.mac}`] : [])]
    : [];
  assert.deepEqual(pins, want);

  // Per-interface sysctls.
  if (fam.v4) assert.equal(sysctlIn(node.ns, `net/ipv4/conf/${hostIf.name}/forwarding`), "1");
  if (fam.v6) {
    assert.equal(sysctlIn(node.ns, `net/ipv6/conf/${hostIf.name}/force_forwarding`), "1");
    assert.equal(sysctlIn(pod, "net/ipv6/conf/eth0/accept_dad"), "0");
  }
  assert.equal(sysctlIn(node.ns, `net/ipv6/conf/${hostIf.name}/accept_ra`), "0", "a pod cannot be the node's router");
  assert.equal(sysctlIn(node.ns, `net/ipv4/conf/${hostIf.name}/proxy_arp`), mode === "proxy-arp" ? "1" : "0");
  if (mode === "proxy-arp") assert.equal(sysctlIn(node.ns, `net/ipv4/neigh/${hostIf.name}/proxy_delay`), "0");
}

async function lifecycle(fam: { v4: boolean; v6: boolean }): Promise<void> {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const routes4 = routes(node.ns, 4), routes6 = routes(node.ns, 6);
  const conf = netConf(node, fam);
  // What kubelet's runtimes pass; host-local must get it unchanged (it rejects unknown keys otherwise).
  const res = await add(node, pod, conf, {
    env: { CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0" },
  });
  assert.equal(res.cniVersion, "1.1.0");
  assertAttached(node, pod, res, fam);
  assert.equal(leases(node.dataDir).length, (fam.v4 ? 1 : 0) + (fam.v6 ? 1 : 0));
  await check(node, pod, conf, res);

  await del(node, pod, conf);
  assert.deepEqual(extraLinks(node.ns), []);
  assert.deepEqual(extraLinks(pod), []);
  assert.deepEqual(routes(node.ns, 4), routes4);
  assert.deepEqual(routes(node.ns, 6), routes6);
  assert.deepEqual(leases(node.dataDir), []);
}

Deno.test("dual-stack ADD configures both ends, CHECK passes, DEL removes link, routes and lease", async () => {
  await lifecycle({ v4: true, v6: true });
});

Deno.test("IPv4-only ADD/CHECK/DEL: no IPv6 address, route or pin", async () => {
  await lifecycle({ v4: true, v6: false });
});

Deno.test("IPv6-only ADD/CHECK/DEL: no IPv4 address, route or pin", async () => {
  await lifecycle({ v4: false, v6: true });
});

for (const mode of ["static-neighbor", "proxy-arp"]) {
  Deno.test(`${mode}: pods reach each other and the node over IPv4 and IPv6 right after ADD; no global sysctl changes`, async () => {
    await using w = world();
    const node = makeNode(w);
    const before = globalSysctls(node.ns);
    const conf = netConf(node, { gatewayMode: mode });
    const pod1 = w.netns("pod1"), pod2 = w.netns("pod2");
    const r1 = await add(node, pod1, conf, { containerId: "ctr1" });
    const r2 = await add(node, pod2, conf, { containerId: "ctr2" });
    assertAttached(node, pod1, r1, { v4: true, v6: true }, mode);
    const addr = (r: Json, v6: boolean): string =>
      r.ips.find((i: Json) => i.address.includes(":") === v6).address.split("/")[0];
    // No sleeps: nothing waits for DAD, and the gateway is usable at once.
    for (
      const [from, to] of [[pod1, addr(r2, false)], [pod1, addr(r2, true)], [pod2, addr(r1, false)], [
        pod2,
        addr(r1, true),
      ]]
    ) {
      assert.ok(ping(from!, to!), `${from} -> ${to}`);
    }
    assert.ok(ping(pod1, NODE_V4), "pod -> node IPv4");
    assert.ok(ping(pod1, NODE_V6), "pod -> node IPv6");
    await check(node, pod1, conf, r1, { containerId: "ctr1" });
    assert.equal(globalSysctls(node.ns), before, "node's all/default sysctls changed");
    await del(node, pod1, conf, { containerId: "ctr1" });
    await del(node, pod2, conf, { containerId: "ctr2" });
    assert.equal(globalSysctls(node.ns), before);
    assert.deepEqual(extraLinks(node.ns), []);
  });
}

Deno.test("every cniVersion gets its result shape (ips[].version before 1.0.0, interfaces[].mtu from 1.1.0)", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  for (const v of ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
    const conf = netConf(node, { cniVersion: v, mtu: 1400 });
    const res = await add(node, pod, conf);
    assert.equal(res.cniVersion, v);
    assert.deepEqual(Object.keys(res).sort(), ["cniVersion", "dns", "interfaces", "ips", "routes"]);
    assert.equal(res.interfaces.length, 2);
    for (const i of res.interfaces) assert.equal(i.mtu, v === "1.1.0" ? 1400 : undefined, `${v} mtu`);
    for (const i of res.ips) {
      if (v < "1.0.0") assert.equal(i.version, i.address.includes(":") ? "6" : "4", `${v} ips[].version`);
      else assert.equal(i.version, undefined, `${v} has no ips[].version`);
      assert.equal(i.interface, 1);
    }
    assert.equal(ipJson(pod, "link", "show", "dev", "eth0")[0].mtu, 1400);
    if (v !== "0.3.0" && v !== "0.3.1") await check(node, pod, conf, res);
    await del(node, pod, conf);
    assert.deepEqual(extraLinks(pod), []);
  }
});

Deno.test("CHECK names the drift: a removed pin, a removed host route and a changed sysctl", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = netConf(node);
  const res = await add(node, pod, conf);
  const host = res.interfaces[0].name;
  const v4 = res.ips[0].address.split("/")[0];
  ipJson(pod, "neigh", "del", "169.254.1.1", "dev", "eth0");
  ipJson(node.ns, "route", "del", `${v4}/32`, "dev", host);
  new Deno.Command("/usr/bin/nsenter", {
    args: [`--net=${node.path}`, "sh", "-c", `echo 0 > /proc/sys/net/ipv4/conf/${host}/forwarding`],
  }).outputSync();
  const r = await cni(node, { command: "CHECK", netns: w.path(pod) }, { ...conf, prevResult: res });
  assert.notEqual(r.code, 0);
  assert.match(r.json.msg, /permanent neighbor 169\.254\.1\.1 on eth0 is missing/);
  assert.match(r.json.msg, new RegExp(`host route ${v4.replaceAll(".", "\\.")}/32 dev ${host} is missing`));
  assert.match(r.json.msg, new RegExp(`net\\.ipv4\\.conf\\.${host}\\.forwarding is 0, want 1`));
  await del(node, pod, conf);
});

Deno.test("ten ADDs at once succeed with distinct addresses; ten DELs at once leave nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const conf = netConf(node);
  const pods = Array.from({ length: 10 }, (_, i) => w.netns(`c${i}`));
  const results = await Promise.all(pods.map((p, i) => add(node, p, conf, { containerId: `par${i}` })));
  const addrs = results.flatMap((r) => r.ips.map((i: Json) => i.address));
  assert.equal(new Set(addrs).size, 20);
  assert.equal(extraLinks(node.ns).length, 10);
  await Promise.all(pods.map((p, i) => del(node, p, conf, { containerId: `par${i}` })));
  assert.deepEqual(extraLinks(node.ns), []);
  assert.deepEqual(leases(node.dataDir), []);
});

/** Sends one Router Advertisement (router lifetime 1800 s) out of `ifname` in `ns`. */
function sendRouterAdvertisement(ns: string, ifname: string): void {
  const py = `
import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.SOL_SOCKET, 25, b"${ifname}\\0")
s.sendto(struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0), ("ff02::1", 0, 0, socket.if_nametoindex("${ifname}")))
`;
  const out = new Deno.Command("ip", { args: ["netns", "exec", ns, "python3", "-c", py] }).outputSync();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

for (const fam of [{ v4: true, v6: true }, { v4: true, v6: false }]) {
  Deno.test(`a pod's Router Advertisement does not change the node's routes (${fam.v6 ? "dual-stack" : "IPv4-only"})`, async () => {
    await using w = world();
    const node = makeNode(w);
    const pod = w.netns("pod");
    const conf = netConf(node, fam);
    await add(node, pod, conf);
    const before = routes(node.ns, 6);
    const received = (): number =>
      Number(
        run("/usr/bin/nsenter", [`--net=${node.path}`, "cat", "/proc/net/snmp6"])
          .match(/^Icmp6InRouterAdvertisements\s+(\d+)/m)?.[1] ?? -1,
      );
    const seen = received();
    sendRouterAdvertisement(pod, "eth0");
    // The RA crosses the veth through the receive backlog: wait until the node has counted it,
    // so the route check below looks at a node that has processed it.
    for (let i = 0; i < 100 && received() === seen; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(received(), seen + 1, "the node never received the RA");
    assert.deepEqual(routes(node.ns, 6), before, "the pod's RA installed a route in the node");
    await del(node, pod, conf);
  });
}

Deno.test("IPAM routes go via the gateway; an IPAM default merges into podnet's (one per family); config dns returned", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const dns = { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"] };
  const conf = netConf(node, {
    extra: { dns },
    ipam: {
      type: "host-local",
      dataDir: node.dataDir,
      ranges: [[{ subnet: "10.244.1.0/24" }], [{ subnet: "fd00:244:1::/64" }]],
      routes: [{ dst: "0.0.0.0/0" }, { dst: "192.168.0.0/16" }, { dst: "::/0" }, { dst: "fd00:abcd::/32" }],
    },
  });
  const res = await add(node, pod, conf);
  assert.deepEqual(res.routes, [
    { dst: "0.0.0.0/0", gw: "169.254.1.1" },
    { dst: "::/0", gw: "fe80::1" },
    { dst: "192.168.0.0/16", gw: "169.254.1.1" },
    { dst: "fd00:abcd::/32", gw: "fe80::1" },
  ]);
  assert.deepEqual(res.dns, dns);
  assert.deepEqual(routes(pod, 4), ["169.254.1.1 eth0", "192.168.0.0/16 eth0 169.254.1.1", "default eth0 169.254.1.1"]);
  assert.deepEqual(
    routes(pod, 6).filter((r) => !r.startsWith("fe80::/64")),
    ["default eth0 fe80::1", "fd00:abcd::/32 eth0 fe80::1"],
  );
  await check(node, pod, conf, res);
  await del(node, pod, conf);
});

Deno.test("captureDir: ADD writes the pod's podnet.capture/v1 snapshot, restore uses it in a sandbox netns, DEL removes it", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const captureDir = `${w.tempDir()}/capture`;
  const conf = netConf(node, { extra: { captureDir } });
  const res = await add(node, pod, conf);
  const [hostIf, podIf] = res.interfaces;
  const file = `${captureDir}/ctr1-eth0.json`;
  assert.equal(Deno.statSync(file).mode! & 0o777, 0o600);
  assert.equal(Deno.statSync(captureDir).mode! & 0o777, 0o700);
  const snap = readSnapshot(file);
  assert.equal(snap.links.length, 1);
  const l = snap.links[0]!;
  assert.equal(l.name, "eth0");
  assert.equal(l.mac, podIf.mac);
  assert.deepEqual(l.addresses.map((a) => a.cidr), res.ips.map((i: Json) => i.address));
  assert.deepEqual(l.neighbors, [{ ip: "169.254.1.1", mac: hostIf.mac }, { ip: "fe80::1", mac: hostIf.mac }]);
  assert.deepEqual(l.routes, [
    { dst: "169.254.1.1/32", scope: "link" },
    { dst: "0.0.0.0/0", gateway: "169.254.1.1" },
    { dst: "::/0", gateway: "fe80::1" },
  ]);
  await check(node, pod, conf, res);

  // The sandbox restorer takes the pod end into another netns from this file alone.
  const sandbox = w.netns("sandbox");
  const r = await runAsync(PODNET, [
    "restore",
    "--from",
    file,
    "--netns",
    w.path(sandbox),
    "--link-netns",
    w.path(pod),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(ping(sandbox, NODE_V4), "sandbox -> node IPv4");
  assert.ok(ping(sandbox, NODE_V6), "sandbox -> node IPv6");

  Deno.removeSync(file);
  const drift = await cni(node, { command: "CHECK", netns: w.path(sandbox) }, {
    ...conf,
    prevResult: { ...res, interfaces: [hostIf, { ...podIf, sandbox: w.path(sandbox) }] },
  });
  assert.match(drift.json?.msg ?? "", /capture snapshot: cannot read snapshot .*ctr1-eth0\.json/);
  putPlaceholder(file); // DEL removes whatever is at the path
  await del(node, sandbox, conf);
  assert.deepEqual([...Deno.readDirSync(captureDir)], [], "DEL removed the snapshot");
  assert.deepEqual(extraLinks(node.ns), []);
});

function putPlaceholder(path: string): void {
  Deno.writeTextFileSync(path, "{}", { mode: 0o600 });
}
