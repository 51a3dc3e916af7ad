/**
 * Privileged tests of the typed netlink layer: every verb against the kernel,
 * each in its own throwaway netns world, asserted both on the returned values
 * and on what `ip -j` reports.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  addrAdd,
  addrDel,
  addrList,
  ifSysctlKey,
  isCurrentNetns,
  linkAddVeth,
  linkByIndex,
  linkByName,
  linkDel,
  linkFind,
  linkList,
  linkSet,
  linkSetAddrGenMode,
  linkSetAlias,
  linkSetDown,
  linkSetMac,
  linkSetMtu,
  linkSetName,
  linkSetNetns,
  linkSetUp,
  neighDel,
  neighList,
  neighResolve,
  neighSet,
  NetlinkError,
  routeAdd,
  routeDel,
  routeList,
  routeReplace,
  Socket,
  sysctlRead,
  sysctlTryRead,
  sysctlWrite,
  withNetns,
} from "../netlink/mod.ts";
import { ip, ipJson, run, type World, world } from "./harness.ts";

// deno-lint-ignore no-explicit-any
type J = any;

/** One link as `ip -j -d link show` reports it, or undefined. */
function ipLink(ns: string, name: string): J {
  return ipJson(ns, "-d", "link", "show").find((l: J) => l.ifname === name);
}

/** A veth pair built with `ip` (the world, not the verb under test), both ends up. */
function ipVeth(ns: string, a: string, b: string, bNs = ns): void {
  ip(ns, "link", "add", "name", a, "type", "veth", "peer", "name", b, "netns", bNs);
  ip(ns, "link", "set", a, "up");
  ip(bNs, "link", "set", b, "up");
}

/** Asserts that `fn` throws a NetlinkError matching `pred` and whose message contains `text`. */
function assertNetlinkError(fn: () => unknown, pred: (e: NetlinkError) => boolean, text: string): NetlinkError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof NetlinkError, `expected a NetlinkError, got ${String(caught)}`);
  assert.ok(pred(caught), `error has the wrong kind: ${caught.message} (code ${caught.code}, errno ${caught.errno})`);
  assert.ok(caught.message.includes(text), `message ${JSON.stringify(caught.message)} lacks ${JSON.stringify(text)}`);
  return caught;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------- links

Deno.test("linkList of a fresh netns matches ip -j link show", async () => {
  await using w = world();
  const ns = w.netns("a");
  ipVeth(ns, "v0", "v1");
  using s = Socket.open(w.path(ns));
  const links = linkList(s);
  const kernel = ipJson(ns, "link", "show");
  assert.deepEqual(links.map((l) => [l.index, l.name]).sort(), kernel.map((l: J) => [l.ifindex, l.ifname]).sort());
  const v0 = links.find((l) => l.name === "v0")!;
  assert.equal(v0.kind, "veth");
  assert.equal(v0.up, true);
  assert.equal(v0.mac, ipLink(ns, "v0").address);
  assert.equal(v0.parentIndex, ipLink(ns, "v1").ifindex);
  assert.equal(v0.linkNetnsId, null);
  assert.equal(links.find((l) => l.name === "lo")!.kind, null);
});

Deno.test("linkByName, linkByIndex and linkFind return the same link; missing ones are notFound/null", async () => {
  await using w = world();
  const ns = w.netns("a");
  ipVeth(ns, "v0", "v1");
  using s = Socket.open(w.path(ns));
  const byName = linkByName(s, "v0");
  assert.equal(byName.index, ipLink(ns, "v0").ifindex);
  assert.deepEqual(linkByIndex(s, byName.index), byName);
  assert.deepEqual(linkFind(s, "v0"), byName);
  assert.deepEqual(linkFind(s, byName.index), byName);
  assert.deepEqual(linkFind(s, { index: byName.index, name: "v0" }), byName);
  assert.equal(linkFind(s, "nope0"), null);
  assert.equal(linkFind(s, 999_999), null);
  const e = assertNetlinkError(() => linkByName(s, "nope0"), (e) => e.notFound && !e.exists, "nope0");
  assert.equal(e.action, "link show nope0");
  assertNetlinkError(() => linkByIndex(s, 999_999), (e) => e.notFound, "999999");
  // libnl aborts the whole process on a get request with ifindex <= 0; the layer must refuse it first.
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 32]) {
    assertNetlinkError(() => linkByIndex(s, bad), (e) => e.notFound, `index ${bad}`);
    assert.equal(linkFind(s, bad), null);
  }
});

Deno.test("linkAddVeth creates the peer directly in another netns with fixed MACs and MTU", async () => {
  await using w = world();
  const node = w.netns("node");
  const pod = w.netns("pod");
  // Watch the node netns's link events: a peer created there and then moved would show up.
  const monitor = new Deno.Command("ip", { args: ["-n", node, "-o", "monitor", "link"], stdout: "piped" }).spawn();
  const events = new Response(monitor.stdout).text();
  w.defer(async () => {
    try {
      monitor.kill();
    } catch { /* already exited */ }
    await monitor.status;
  });
  await sleep(150); // let ip subscribe before the request
  using s = Socket.open(w.path(node));
  const link = linkAddVeth(s, {
    name: "pn0",
    peerName: "eth0",
    peerNetns: w.path(pod),
    mac: "02:aa:bb:cc:dd:01",
    peerMac: "02:aa:bb:cc:dd:02",
    mtu: 1400,
  });
  ip(node, "link", "set", "pn0", "alias", "marker"); // a last event, so the first ones were delivered
  for (let i = 0; i < 100 && !ipLink(node, "pn0").ifalias; i++) await sleep(10);
  await sleep(150);
  monitor.kill();
  await monitor.status;
  const seen = await events;
  assert.match(seen, /\bpn0\b/, "the monitor saw the host end being created");
  assert.doesNotMatch(seen, /\beth0\b/, `the peer never existed in the node netns:\n${seen}`);
  assert.equal(link.name, "pn0");
  assert.equal(link.mac, "02:aa:bb:cc:dd:01");
  assert.equal(link.mtu, 1400);
  assert.equal(link.kind, "veth");
  assert.notEqual(link.linkNetnsId, null, "the peer lives in another netns");
  const host = ipLink(node, "pn0");
  assert.equal(host.ifindex, link.index);
  assert.equal(host.address, "02:aa:bb:cc:dd:01");
  assert.equal(host.mtu, 1400);
  assert.equal(host.linkinfo.info_kind, "veth");
  assert.equal(ipLink(node, "eth0"), undefined, "the peer was not created in the node netns first");
  const peer = ipLink(pod, "eth0");
  assert.equal(peer.address, "02:aa:bb:cc:dd:02");
  assert.equal(peer.mtu, 1400);
  assert.equal(peer.ifindex, link.parentIndex);
});

Deno.test("linkAddVeth without a peer netns creates both ends in the socket's netns", async () => {
  await using w = world();
  const ns = w.netns("a");
  using s = Socket.open(w.path(ns));
  const a = linkAddVeth(s, { name: "va", peerName: "vb" });
  const b = linkByName(s, "vb");
  assert.equal(a.parentIndex, b.index);
  assert.equal(b.parentIndex, a.index);
  assert.equal(a.linkNetnsId, null);
  assert.equal(ipLink(ns, "vb").link, "va");
});

Deno.test("linkAddVeth with a taken name fails with exists and leaves the netns unchanged", async () => {
  await using w = world();
  const ns = w.netns("a");
  ipVeth(ns, "v0", "v1");
  using s = Socket.open(w.path(ns));
  const before = ipJson(ns, "link", "show").map((l: J) => l.ifname).sort();
  assertNetlinkError(() => linkAddVeth(s, { name: "v0", peerName: "v9" }), (e) => e.exists && !e.notFound, "v0");
  assertNetlinkError(() => linkAddVeth(s, { name: "v8", peerName: "v1" }), (e) => e.exists, "v8");
  assert.deepEqual(ipJson(ns, "link", "show").map((l: J) => l.ifname).sort(), before);
});

Deno.test("linkAddVeth fails with exists when the peer name is taken in the peer netns, creating nothing", async () => {
  await using w = world();
  const node = w.netns("node");
  const pod = w.netns("pod");
  ip(pod, "link", "add", "name", "eth0", "type", "veth", "peer", "name", "other0");
  using s = Socket.open(w.path(node));
  assertNetlinkError(
    () => linkAddVeth(s, { name: "pn0", peerName: "eth0", peerNetns: w.path(pod) }),
    (e) => e.exists,
    "peer eth0",
  );
  assert.deepEqual(ipJson(node, "link", "show").map((l: J) => l.ifname), ["lo"]);
  assert.deepEqual(ipJson(pod, "link", "show").map((l: J) => l.ifname).sort(), ["eth0", "lo", "other0"]);
  assertNetlinkError(
    () => linkAddVeth(s, { name: "pn0", peerName: "eth1", peerNetns: "/run/netns/pnt-does-not-exist" }),
    (e) => e.notFound,
    "/run/netns/pnt-does-not-exist",
  );
  assert.deepEqual(ipJson(node, "link", "show").map((l: J) => l.ifname), ["lo"]);
});

Deno.test("linkAddVeth rejects invalid names and MACs, naming the input, before touching the kernel", async () => {
  await using w = world();
  const ns = w.netns("a");
  using s = Socket.open(w.path(ns));
  for (const bad of ["", "a/b", "a:b", "a b", ".", "..", "0123456789abcdef"]) {
    const e = assertNetlinkError(
      () => linkAddVeth(s, { name: bad, peerName: "ok0" }),
      (e) => e.errno === 22,
      JSON.stringify(bad),
    );
    assert.match(e.message, /invalid interface name/);
  }
  assertNetlinkError(
    () => linkAddVeth(s, { name: "ok0", peerName: "ok1", mac: "zz:00:00:00:00:01" }),
    (e) => e.errno === 22,
    "zz:00:00:00:00:01",
  );
  assertNetlinkError(() => linkByName(s, "a/b"), (e) => e.errno === 22, '"a/b"');
  assert.deepEqual(ipJson(ns, "link", "show").map((l: J) => l.ifname), ["lo"]);
});

Deno.test("linkSetUp and linkSetDown toggle IFF_UP", async () => {
  await using w = world();
  const ns = w.netns("a");
  ip(ns, "link", "add", "name", "v0", "type", "veth", "peer", "name", "v1");
  using s = Socket.open(w.path(ns));
  assert.equal(linkByName(s, "v0").up, false);
  linkSetUp(s, "v0");
  assert.ok(ipLink(ns, "v0").flags.includes("UP"));
  assert.equal(linkByName(s, "v0").up, true);
  linkSetDown(s, linkByName(s, "v0"));
  assert.ok(!ipLink(ns, "v0").flags.includes("UP"));
  assert.equal(linkByName(s, "v0").up, false);
});

Deno.test("linkSetMtu, linkSetAlias and linkSetMac change the kernel's link", async () => {
  await using w = world();
  const ns = w.netns("a");
  ipVeth(ns, "v0", "v1");
  using s = Socket.open(w.path(ns));
  const v0 = linkByName(s, "v0");
  linkSetMtu(s, v0, 1280);
  linkSetAlias(s, v0.index, "podnet/c1/eth0");
  linkSetMac(s, "v0", "02:00:00:00:00:7F");
  const k = ipLink(ns, "v0");
  assert.equal(k.mtu, 1280);
  assert.equal(k.ifalias, "podnet/c1/eth0");
  assert.equal(k.address, "02:00:00:00:00:7f");
  const after = linkByName(s, "v0");
  assert.equal(after.mtu, 1280);
  assert.equal(after.alias, "podnet/c1/eth0");
  assert.equal(after.mac, "02:00:00:00:00:7f");
  assertNetlinkError(() => linkSetMac(s, "v0", "02:00:00:00:00"), (e) => e.errno === 22, "02:00:00:00:00");
  assertNetlinkError(() => linkSetMtu(s, "v0", 10), (e) => !e.notFound && !e.exists, "link set v0");
  assert.equal(ipLink(ns, "v0").mtu, 1280);
});

Deno.test("linkSetName renames a down link and refuses an invalid name", async () => {
  await using w = world();
  const ns = w.netns("a");
  ip(ns, "link", "add", "name", "v0", "type", "veth", "peer", "name", "v1");
  using s = Socket.open(w.path(ns));
  const index = linkByName(s, "v0").index;
  linkSetName(s, "v0", "eth7");
  assert.equal(ipLink(ns, "v0"), undefined);
  assert.equal(ipLink(ns, "eth7").ifindex, index);
  assert.equal(linkByIndex(s, index).name, "eth7");
  assertNetlinkError(() => linkSetName(s, "eth7", "bad name"), (e) => e.errno === 22, '"bad name"');
  assertNetlinkError(() => linkSetName(s, "eth7", "v1"), (e) => e.exists, "eth7");
});

Deno.test("linkSetNetns moves a link into another netns", async () => {
  await using w = world();
  const a = w.netns("a");
  const b = w.netns("b");
  ip(a, "link", "add", "name", "v0", "type", "veth", "peer", "name", "v1");
  using s = Socket.open(w.path(a));
  linkSetNetns(s, "v1", w.path(b));
  assert.equal(ipLink(a, "v1"), undefined);
  assert.notEqual(ipLink(b, "v1"), undefined);
  assert.equal(linkFind(s, "v1"), null);
  assert.notEqual(linkByName(s, "v0").linkNetnsId, null);
  using sb = Socket.open(w.path(b));
  assert.equal(linkByName(sb, "v1").index, ipLink(b, "v1").ifindex);
  assertNetlinkError(
    () => linkSetNetns(s, "v0", "/run/netns/pnt-does-not-exist"),
    (e) => e.notFound,
    "pnt-does-not-exist",
  );
  assert.notEqual(ipLink(a, "v0"), undefined);
});

Deno.test("linkSetAddrGenMode none keeps the kernel from adding a link-local address", async () => {
  await using w = world();
  const ns = w.netns("a");
  ip(ns, "link", "add", "name", "v0", "type", "veth", "peer", "name", "v1");
  using s = Socket.open(w.path(ns));
  linkSetAddrGenMode(s, "v0", "none");
  assert.equal(ipLink(ns, "v0").inet6_addr_gen_mode, "none");
  assert.equal(ipLink(ns, "v1").inet6_addr_gen_mode, "eui64");
  ip(ns, "link", "set", "v0", "up");
  ip(ns, "link", "set", "v1", "up");
  const ll = (dev: string): J[] => ipJson(ns, "-6", "addr", "show", "dev", dev).flatMap((l: J) => l.addr_info);
  assert.equal(ll("v0").length, 0, "no fe80:: address on v0");
  assert.equal(ll("v1").length, 1, "the eui64 end got its fe80:: address (the check can fail)");
  linkSetAddrGenMode(s, "v0", "eui64");
  assert.equal(ipLink(ns, "v0").inet6_addr_gen_mode, "eui64");
});

Deno.test("linkSet applies a rename, MTU, alias, MAC, addrgenmode and up in one request", async () => {
  await using w = world();
  const ns = w.netns("a");
  ip(ns, "link", "add", "name", "v0", "type", "veth", "peer", "name", "v1");
  using s = Socket.open(w.path(ns));
  const index = linkByName(s, "v0").index;
  linkSet(s, "v0", {
    name: "eth0",
    mtu: 9000,
    alias: "net/ctr/eth0",
    mac: "02:11:22:33:44:55",
    up: true,
    addrGenMode: "none",
  });
  const k = ipLink(ns, "eth0");
  assert.equal(k.inet6_addr_gen_mode, "none");
  assert.equal(k.ifindex, index);
  assert.equal(k.mtu, 9000);
  assert.equal(k.ifalias, "net/ctr/eth0");
  assert.equal(k.address, "02:11:22:33:44:55");
  assert.ok(k.flags.includes("UP"));
  const l = linkByIndex(s, index);
  assert.deepEqual([l.name, l.mtu, l.alias, l.mac, l.up], ["eth0", 9000, "net/ctr/eth0", "02:11:22:33:44:55", true]);
});

Deno.test("linkSet with netns and name moves and renames in one request", async () => {
  await using w = world();
  const node = w.netns("node");
  const pod = w.netns("pod");
  ip(node, "link", "add", "name", "v0", "type", "veth", "peer", "name", "tmp1");
  using s = Socket.open(w.path(node));
  linkSet(s, "tmp1", { netns: w.path(pod), name: "eth0", mtu: 1450 });
  assert.equal(ipLink(node, "tmp1"), undefined);
  const k = ipLink(pod, "eth0");
  assert.equal(k.mtu, 1450);
});

Deno.test("linkDel removes a veth and its peer; deleting a missing link is notFound", async () => {
  await using w = world();
  const a = w.netns("a");
  const b = w.netns("b");
  ipVeth(a, "v0", "v1", b);
  using s = Socket.open(w.path(a));
  linkDel(s, "v0");
  assert.equal(ipLink(a, "v0"), undefined);
  assert.equal(ipLink(b, "v1"), undefined, "the peer went with it");
  assertNetlinkError(() => linkDel(s, "v0"), (e) => e.notFound, "v0");
  assertNetlinkError(() => linkDel(s, 999_999), (e) => e.notFound, "999999");
});

// ---------------------------------------------------------------- addresses

Deno.test("addrAdd adds IPv4 and IPv6 addresses that addrList and ip -j report", async () => {
  await using w = world();
  const ns = w.netns("a");
  ipVeth(ns, "v0", "v1");
  using s = Socket.open(w.path(ns));
  const v0 = linkByName(s, "v0");
  addrAdd(s, v0, "10.9.0.5/24");
  addrAdd(s, "v0", "fd00:9::5/64", { nodad: true });
  addrAdd(s, v0.index, "169.254.9.9/32", { scope: "link" });
  const k = ipJson(ns, "addr", "show", "dev", "v0")[0].addr_info.map((a: J) => `${a.local}/${a.prefixlen} ${a.scope}`);
  assert.ok(k.includes("10.9.0.5/24 global"), k);
  assert.ok(k.includes("fd00:9::5/64 global"), k);
  assert.ok(k.includes("169.254.9.9/32 link"), k);
  const mine = addrList(s, { ifindex: v0.index });
  assert.deepEqual(
    mine.filter((a) => !a.cidr.startsWith("fe80:")).map((a) => `${a.cidr} ${a.scope}`).sort(),
    ["10.9.0.5/24 universe", "169.254.9.9/32 link", "fd00:9::5/64 universe"],
  );
  const v4 = addrList(s, { family: 4 });
  assert.ok(v4.every((a) => a.family === 4));
  assert.ok(v4.some((a) => a.cidr === "127.0.0.1/8"), "lo's address is listed without an ifindex filter");
  assert.ok(addrList(s, { family: 6, ifindex: v0.index }).every((a) => a.family === 6 && a.ifindex === v0.index));
  assert.ok(mine.find((a) => a.cidr === "10.9.0.5/24")!.permanent);
});

Deno.test("addrAdd with nodad makes an IPv6 address usable at once; without it, it is tentative", async () => {
  await using w = world();
  const ns = w.netns("a");
  ipVeth(ns, "v0", "v1");
  // Wait for carrier: DAD only runs (and marks addresses tentative) on a running link.
  for (let i = 0; i < 50 && !ipLink(ns, "v0").flags.includes("LOWER_UP"); i++) await sleep(20);
  using s = Socket.open(w.path(ns));
  addrAdd(s, "v0", "fd00:9::1/64", { nodad: true });
  addrAdd(s, "v0", "fd00:9::2/64");
  const info = ipJson(ns, "-6", "addr", "show", "dev", "v0")[0].addr_info;
  const one = info.find((a: J) => a.local === "fd00:9::1");
  const two = info.find((a: J) => a.local === "fd00:9::2");
  assert.equal(one.tentative, undefined, JSON.stringify(one));
  assert.equal(one.nodad, true);
  assert.equal(two.tentative, true, "without nodad DAD runs (shows the check can fail)");
  const list = addrList(s, { family: 6 });
  const a1 = list.find((a) => a.cidr === "fd00:9::1/64")!;
  const a2 = list.find((a) => a.cidr === "fd00:9::2/64")!;
  assert.deepEqual([a1.tentative, a1.nodad], [false, true]);
  assert.deepEqual([a2.tentative, a2.nodad], [true, false]);
});

Deno.test("addrAdd twice is exists unless replace; addrDel removes; addrDel of a missing address is notFound", async () => {
  await using w = world();
  const ns = w.netns("a");
  ipVeth(ns, "v0", "v1");
  using s = Socket.open(w.path(ns));
  addrAdd(s, "v0", "10.9.0.5/24");
  assertNetlinkError(() => addrAdd(s, "v0", "10.9.0.5/24"), (e) => e.exists, "10.9.0.5/24");
  addrAdd(s, "v0", "10.9.0.5/24", { replace: true });
  addrDel(s, "v0", "10.9.0.5/24");
  assert.deepEqual(ipJson(ns, "-4", "addr", "show", "dev", "v0"), []);
  assert.equal(addrList(s, { family: 4 }).some((a) => a.cidr === "10.9.0.5/24"), false);
  assertNetlinkError(() => addrDel(s, "v0", "10.9.0.5/24"), (e) => e.notFound && !e.exists, "addr del 10.9.0.5/24");
  assertNetlinkError(() => addrDel(s, "v0", "fd00:9::77/64"), (e) => e.notFound, "fd00:9::77/64");
});

Deno.test("addrAdd rejects a bad CIDR and a missing link, naming them", async () => {
  await using w = world();
  const ns = w.netns("a");
  ipVeth(ns, "v0", "v1");
  using s = Socket.open(w.path(ns));
  for (const bad of ["10.9.0.300/24", "10.9.0.1/33", "fd00::g/64", "nonsense", ""]) {
    assertNetlinkError(() => addrAdd(s, "v0", bad), (e) => e.errno === 22, `"${bad}"`);
  }
  assertNetlinkError(() => addrAdd(s, "nope0", "10.9.0.1/24"), (e) => e.notFound, "nope0");
  assert.deepEqual(ipJson(ns, "-4", "addr", "show", "dev", "v0"), []);
});

// ---------------------------------------------------------------- routes

/** A netns with veths v0 (10.9.0.1/24, fd00:9::1/64) and w0 (10.8.0.1/24) up, their peers in the same netns. */
function routedNetns(w: World): { ns: string; s: Socket } {
  const ns = w.netns("r");
  ipVeth(ns, "v0", "v1");
  ipVeth(ns, "w0", "w1");
  ip(ns, "addr", "add", "10.9.0.1/24", "dev", "v0");
  ip(ns, "addr", "add", "fd00:9::1/64", "dev", "v0", "nodad");
  ip(ns, "addr", "add", "10.8.0.1/24", "dev", "w0");
  const s = Socket.open(w.path(ns));
  w.defer(() => s.close());
  return { ns, s };
}

Deno.test("routeAdd installs scope-link and gateway routes that routeList and ip -j report", async () => {
  await using w = world();
  const { ns, s } = routedNetns(w);
  const v0 = linkByName(s, "v0");
  routeAdd(s, { dst: "169.254.1.1/32", link: v0, scope: "link" });
  routeAdd(s, { dst: "0.0.0.0/0", gateway: "169.254.1.1", link: "v0" });
  routeAdd(s, { dst: "10.77.0.0/16", gateway: "10.9.0.254", ifindex: v0.index, metric: 7 });
  const k = ipJson(ns, "-4", "route", "show");
  assert.deepEqual(
    k.find((r: J) => r.dst === "169.254.1.1"),
    { dst: "169.254.1.1", dev: "v0", scope: "link", flags: [] }, // ip -j omits the default "proto boot"
  );
  assert.deepEqual(k.find((r: J) => r.dst === "default"), {
    dst: "default",
    gateway: "169.254.1.1",
    dev: "v0",
    flags: [],
  });
  assert.equal(k.find((r: J) => r.dst === "10.77.0.0/16").metric, 7);
  const list = routeList(s, { family: 4 });
  const def = list.find((r) => r.dst === "0.0.0.0/0")!;
  assert.equal(def.gateway, "169.254.1.1");
  assert.equal(def.ifindex, v0.index);
  assert.equal(def.scope, "universe");
  assert.equal(def.protocol, "boot");
  assert.equal(def.type, "unicast");
  assert.equal(def.table, 254);
  assert.deepEqual(def.nexthops, [{ gateway: "169.254.1.1", ifindex: v0.index, onlink: false, weight: 1 }]);
  const gw = list.find((r) => r.dst === "169.254.1.1/32")!;
  assert.deepEqual([gw.scope, gw.gateway, gw.ifindex], ["link", null, v0.index]);
  assert.equal(list.find((r) => r.dst === "10.77.0.0/16")!.metric, 7);
  const kernelRoute = list.find((r) => r.dst === "10.9.0.0/24")!;
  assert.deepEqual([kernelRoute.protocol, kernelRoute.src], ["kernel", "10.9.0.1"]);
});

Deno.test("routeAdd of an unreachable gateway fails; with onlink it succeeds", async () => {
  await using w = world();
  const { ns, s } = routedNetns(w);
  const e = assertNetlinkError(
    () => routeAdd(s, { dst: "10.66.0.0/16", gateway: "192.0.2.1", link: "v0" }),
    (e) => !e.notFound && !e.exists,
    "route add 10.66.0.0/16 via 192.0.2.1 dev v0",
  );
  assert.equal(e.errno, 101, `ENETUNREACH is kept, not folded: ${e.message}`);
  routeAdd(s, { dst: "10.66.0.0/16", gateway: "192.0.2.1", link: "v0", onlink: true });
  const k = ipJson(ns, "route", "show", "10.66.0.0/16")[0];
  assert.equal(k.gateway, "192.0.2.1");
  assert.deepEqual(k.flags, ["onlink"]);
  const r = routeList(s).find((r) => r.dst === "10.66.0.0/16")!;
  assert.equal(r.onlink, true);
  assert.equal(r.nexthops[0]!.onlink, true);
});

Deno.test("routeAdd into another table with a metric; routeList filters by table", async () => {
  await using w = world();
  const { ns, s } = routedNetns(w);
  routeAdd(s, { dst: "10.55.0.0/16", gateway: "10.9.0.254", link: "v0", table: 100, metric: 50 });
  const k = ipJson(ns, "route", "show", "table", "100");
  assert.deepEqual(k.map((r: J) => [r.dst, r.gateway, r.metric]), [["10.55.0.0/16", "10.9.0.254", 50]]);
  assert.deepEqual(ipJson(ns, "route", "show", "10.55.0.0/16"), [], "not in the main table");
  assert.equal(routeList(s).some((r) => r.dst === "10.55.0.0/16"), false);
  const t100 = routeList(s, { table: 100 });
  assert.deepEqual(t100.map((r) => [r.dst, r.table, r.metric]), [["10.55.0.0/16", 100, 50]]);
  const all = routeList(s, { table: "all" });
  assert.ok(all.some((r) => r.table === 100) && all.some((r) => r.table === 254) && all.some((r) => r.table === 255));
  routeDel(s, { dst: "10.55.0.0/16", gateway: "10.9.0.254", link: "v0", table: 100, metric: 50 });
  assert.deepEqual(ipJson(ns, "route", "show", "table", "100"), []);
});

Deno.test("routeAdd installs IPv6 routes via a link-local gateway", async () => {
  await using w = world();
  const { ns, s } = routedNetns(w);
  routeAdd(s, { dst: "::/0", gateway: "fe80::1", link: "v0" });
  routeAdd(s, { dst: "fd00:77::/64", link: "v0", metric: 5 });
  const k = ipJson(ns, "-6", "route", "show");
  const def = k.find((r: J) => r.dst === "default");
  assert.deepEqual([def.gateway, def.dev], ["fe80::1", "v0"]);
  assert.equal(k.find((r: J) => r.dst === "fd00:77::/64").metric, 5);
  const list = routeList(s, { family: 6 });
  assert.ok(list.every((r) => r.family === 6));
  const d = list.find((r) => r.dst === "::/0")!;
  assert.deepEqual([d.gateway, d.ifindex], ["fe80::1", linkByName(s, "v0").index]);
  assert.equal(list.find((r) => r.dst === "fd00:77::/64")!.metric, 5);
  assertNetlinkError(
    () => routeAdd(s, { dst: "::/0", gateway: "10.9.0.254", link: "v0" }),
    (e) => e.errno === 22,
    "10.9.0.254",
  );
});

Deno.test("routeAdd installs a multipath route with weighted nexthops", async () => {
  await using w = world();
  const { ns, s } = routedNetns(w);
  routeAdd(s, {
    dst: "10.44.0.0/16",
    nexthops: [{ gateway: "10.9.0.254", link: "v0", weight: 1 }, { gateway: "10.8.0.254", link: "w0", weight: 3 }],
  });
  const k = ipJson(ns, "route", "show", "10.44.0.0/16")[0];
  assert.deepEqual(
    k.nexthops.map((h: J) => [h.gateway, h.dev, h.weight]),
    [["10.9.0.254", "v0", 1], ["10.8.0.254", "w0", 3]],
  );
  const r = routeList(s).find((r) => r.dst === "10.44.0.0/16")!;
  const [v0, w0] = [linkByName(s, "v0").index, linkByName(s, "w0").index];
  assert.deepEqual(r.nexthops.map((h) => [h.gateway, h.ifindex, h.weight]), [["10.9.0.254", v0, 1], [
    "10.8.0.254",
    w0,
    3,
  ]]);
  assert.deepEqual(routeList(s, { ifindex: w0 }).map((r) => r.dst).filter((d) => d === "10.44.0.0/16"), [
    "10.44.0.0/16",
  ]);
  routeDel(s, r); // a listed multipath route round-trips into a delete
  assert.deepEqual(ipJson(ns, "route", "show", "10.44.0.0/16"), []);
  assertNetlinkError(
    () => routeAdd(s, { dst: "10.44.0.0/16", nexthops: [{ gateway: "10.9.0.254", link: "v0", weight: 0 }] }),
    (e) => e.errno === 22,
    "weight 0",
  );
});

Deno.test("routeAdd twice is exists; routeReplace overwrites and creates; routeDel removes; missing is notFound", async () => {
  await using w = world();
  const { ns, s } = routedNetns(w);
  routeAdd(s, { dst: "10.33.0.0/16", gateway: "10.9.0.254", link: "v0" });
  assertNetlinkError(
    () => routeAdd(s, { dst: "10.33.0.0/16", gateway: "10.9.0.254", link: "v0" }),
    (e) => e.exists && !e.notFound,
    "route add 10.33.0.0/16",
  );
  routeReplace(s, { dst: "10.33.0.0/16", gateway: "10.8.0.254", link: "w0" });
  const k = ipJson(ns, "route", "show", "10.33.0.0/16");
  assert.deepEqual(k.map((r: J) => [r.gateway, r.dev]), [["10.8.0.254", "w0"]]);
  routeReplace(s, { dst: "10.34.0.0/16", gateway: "10.8.0.254", link: "w0" });
  routeReplace(s, { dst: "10.34.0.0/16", gateway: "10.8.0.254", link: "w0" });
  assert.equal(ipJson(ns, "route", "show", "10.34.0.0/16").length, 1);
  const listed = routeList(s).find((r) => r.dst === "10.33.0.0/16")!;
  routeDel(s, listed);
  assert.deepEqual(ipJson(ns, "route", "show", "10.33.0.0/16"), []);
  assertNetlinkError(
    () => routeDel(s, { dst: "10.33.0.0/16", gateway: "10.8.0.254", link: "w0" }),
    (e) => e.notFound && !e.exists,
    "route del 10.33.0.0/16",
  );
  assertNetlinkError(() => routeDel(s, { dst: "fd00:1234::/64" }), (e) => e.notFound, "fd00:1234::/64");
});

Deno.test("routeDel matches like ip route del: unspecified protocol, scope and type match any route", async () => {
  await using w = world();
  const { ns, s } = routedNetns(w);
  ip(ns, "route", "add", "10.5.0.0/16", "dev", "v0", "proto", "static");
  ip(ns, "route", "add", "10.6.0.0/16", "via", "10.9.0.254", "proto", "static");
  ip(ns, "route", "add", "10.7.0.0/16", "via", "10.9.0.254", "metric", "30");
  ip(ns, "route", "add", "10.8.0.0/16", "dev", "v0", "scope", "host");
  ip(ns, "route", "add", "blackhole", "10.4.0.0/16");
  ip(ns, "-6", "route", "add", "fd00:5::/64", "dev", "v0", "proto", "static");
  assertNetlinkError(
    () => routeDel(s, { dst: "10.5.0.0/16", link: "v0", protocol: "boot" }),
    (e) => e.notFound,
    "route del 10.5.0.0/16",
  );
  assertNetlinkError(() => routeDel(s, { dst: "10.8.0.0/16", scope: "link" }), (e) => e.notFound, "10.8.0.0/16");
  routeDel(s, { dst: "10.5.0.0/16", link: "v0" });
  routeDel(s, { dst: "10.6.0.0/16", gateway: "10.9.0.254" });
  routeDel(s, { dst: "10.7.0.0/16" });
  routeDel(s, { dst: "10.8.0.0/16", link: "v0" });
  routeDel(s, { dst: "10.4.0.0/16" });
  routeDel(s, { dst: "fd00:5::/64", link: "v0" });
  for (const dst of ["10.4.0.0/16", "10.5.0.0/16", "10.6.0.0/16", "10.7.0.0/16", "10.8.0.0/16"]) {
    assert.deepEqual(ipJson(ns, "route", "show", dst), [], dst);
  }
  assert.deepEqual(ipJson(ns, "-6", "route", "show", "fd00:5::/64"), []);
  assert.deepEqual(ipJson(ns, "route", "show", "10.9.0.0/24").length, 1, "nothing else went with them");
});

Deno.test("routeList filters by family and ifindex", async () => {
  await using w = world();
  const { s } = routedNetns(w);
  routeAdd(s, { dst: "10.22.0.0/16", gateway: "10.8.0.254", link: "w0" });
  routeAdd(s, { dst: "fd00:22::/64", link: "v0" });
  const [v0, w0] = [linkByName(s, "v0").index, linkByName(s, "w0").index];
  const onW0 = routeList(s, { ifindex: w0 });
  assert.deepEqual(onW0.filter((r) => r.family === 4).map((r) => r.dst).sort(), ["10.22.0.0/16", "10.8.0.0/24"]);
  assert.ok(onW0.every((r) => r.nexthops.some((h) => h.ifindex === w0)));
  const v6OnV0 = routeList(s, { family: 6, ifindex: v0 });
  assert.ok(v6OnV0.some((r) => r.dst === "fd00:22::/64"));
  assert.ok(v6OnV0.every((r) => r.family === 6 && r.ifindex === v0));
  assert.ok(routeList(s, { family: 4 }).every((r) => r.family === 4));
});

Deno.test("route verbs reject a bad destination or gateway, naming it", async () => {
  await using w = world();
  const { s } = routedNetns(w);
  assertNetlinkError(() => routeAdd(s, { dst: "10.0.0.0/40", link: "v0" }), (e) => e.errno === 22, '"10.0.0.0/40"');
  assertNetlinkError(
    () => routeAdd(s, { dst: "10.0.0.0/8", gateway: "10.0.0.x", link: "v0" }),
    (e) => e.errno === 22,
    '"10.0.0.x"',
  );
  assertNetlinkError(() => routeAdd(s, { dst: "10.0.0.0/8", link: "nope0" }), (e) => e.notFound, "nope0");
});

// ---------------------------------------------------------------- neighbors

Deno.test("neighSet pins a permanent neighbor, replaces it idempotently, and neighDel removes it", async () => {
  await using w = world();
  const ns = w.netns("a");
  ipVeth(ns, "v0", "v1");
  using s = Socket.open(w.path(ns));
  const v0 = linkByName(s, "v0");
  neighSet(s, { link: v0, ip: "169.254.1.1", mac: "ee:ee:ee:ee:ee:ee" });
  neighSet(s, { link: v0, ip: "169.254.1.1", mac: "ee:ee:ee:ee:ee:ee" });
  neighSet(s, { link: "v0", ip: "fe80::1", mac: "EE:EE:EE:EE:EE:EE" });
  const k = (): J[] => ipJson(ns, "neigh", "show", "dev", "v0").filter((n: J) => n.state.includes("PERMANENT"));
  assert.deepEqual(k().map((n: J) => [n.dst, n.lladdr]).sort(), [
    ["169.254.1.1", "ee:ee:ee:ee:ee:ee"],
    ["fe80::1", "ee:ee:ee:ee:ee:ee"],
  ]);
  neighSet(s, { link: v0, ip: "169.254.1.1", mac: "02:00:00:00:00:01" });
  assert.equal(k().find((n: J) => n.dst === "169.254.1.1").lladdr, "02:00:00:00:00:01");
  const list = neighList(s, { ifindex: v0.index });
  const n4 = list.find((n) => n.ip === "169.254.1.1")!;
  assert.deepEqual(
    { ...n4 },
    {
      ifindex: v0.index,
      family: 4,
      ip: "169.254.1.1",
      mac: "02:00:00:00:00:01",
      state: ["permanent"],
      permanent: true,
      resolved: true,
    },
  );
  assert.ok(neighList(s, { family: 6 }).every((n) => n.family === 6));
  assert.ok(neighList(s, { family: 6 }).some((n) => n.ip === "fe80::1" && n.permanent));
  neighSet(s, { link: v0, ip: "10.9.0.9", mac: "02:00:00:00:00:09", permanent: false });
  assert.ok(ipJson(ns, "neigh", "show", "10.9.0.9", "dev", "v0")[0].state.includes("REACHABLE"));
  neighDel(s, v0, "169.254.1.1");
  neighDel(s, "v0", "fe80::1");
  assert.deepEqual(k(), []);
  assertNetlinkError(() => neighDel(s, v0, "169.254.1.1"), (e) => e.notFound, "neigh del 169.254.1.1");
  assertNetlinkError(
    () => neighSet(s, { link: v0, ip: "169.254.1.1", mac: "ee:ee" }),
    (e) => e.errno === 22,
    '"ee:ee"',
  );
  assertNetlinkError(
    () => neighSet(s, { link: v0, ip: "169.254.1", mac: "ee:ee:ee:ee:ee:ee" }),
    (e) => e.errno === 22,
    '"169.254.1"',
  );
});

Deno.test("neighResolve learns the MAC of a peer that answers, and leaves a probing entry for one that does not", async () => {
  await using w = world();
  const node = w.netns("node");
  const pod = w.netns("pod");
  ipVeth(pod, "eth0", "pn0", node);
  ip(pod, "addr", "add", "10.9.0.2/24", "dev", "eth0");
  ip(node, "addr", "add", "10.9.0.1/24", "dev", "pn0");
  const nodeMac = ipLink(node, "pn0").address;
  using s = Socket.open(w.path(pod));
  const eth0 = linkByName(s, "eth0");
  assert.equal(neighList(s, { ifindex: eth0.index }).some((n) => n.ip === "10.9.0.1"), false);
  neighResolve(s, eth0, "10.9.0.1");
  neighResolve(s, eth0, "10.9.0.77");
  let answered: { ip: string; mac: string | null; resolved: boolean } | undefined;
  for (let i = 0; i < 100; i++) {
    answered = neighList(s, { ifindex: eth0.index }).find((n) => n.ip === "10.9.0.1");
    if (answered?.resolved) break;
    await sleep(20);
  }
  assert.ok(answered?.resolved, `10.9.0.1 resolved: ${JSON.stringify(answered)}`);
  assert.equal(answered.mac, nodeMac);
  const k = ipJson(pod, "neigh", "show", "dev", "eth0");
  assert.equal(k.find((n: J) => n.dst === "10.9.0.1").lladdr, nodeMac);
  const silent = neighList(s, { ifindex: eth0.index }).find((n) => n.ip === "10.9.0.77");
  assert.ok(silent, "an entry was created for the silent address");
  assert.equal(silent.resolved, false);
  assert.ok(
    silent.state.some((st) => st === "incomplete" || st === "failed"),
    `silent entry state ${silent.state.join(",")}`,
  );
  const ks = ipJson(pod, "neigh", "show", "10.9.0.77", "dev", "eth0")[0];
  assert.ok(ks.state.includes("INCOMPLETE") || ks.state.includes("FAILED"), JSON.stringify(ks));
});

Deno.test("neighResolve leaves a permanent entry pinned and keeps the MAC of a stale one", async () => {
  await using w = world();
  const ns = w.netns("a");
  ipVeth(ns, "v0", "v1");
  ip(ns, "addr", "add", "10.9.0.1/24", "dev", "v0");
  ip(ns, "neigh", "add", "10.9.0.50", "lladdr", "02:00:00:00:00:50", "dev", "v0", "nud", "permanent");
  ip(ns, "neigh", "add", "fe80::50", "lladdr", "02:00:00:00:00:50", "dev", "v0", "nud", "permanent");
  ip(ns, "neigh", "add", "10.9.0.51", "lladdr", "02:00:00:00:00:51", "dev", "v0", "nud", "stale");
  using s = Socket.open(w.path(ns));
  neighResolve(s, "v0", "10.9.0.50");
  neighResolve(s, "v0", "FE80::50");
  neighResolve(s, "v0", "10.9.0.51");
  for (const dst of ["10.9.0.50", "fe80::50"]) {
    const k = ipJson(ns, "neigh", "show", dst, "dev", "v0")[0];
    assert.deepEqual([k.lladdr, k.state], ["02:00:00:00:00:50", ["PERMANENT"]], dst);
  }
  const stale = ipJson(ns, "neigh", "show", "10.9.0.51", "dev", "v0")[0];
  assert.equal(stale.lladdr, "02:00:00:00:00:51", JSON.stringify(stale));
  assert.ok(!stale.state.includes("PERMANENT") && !stale.state.includes("INCOMPLETE"), JSON.stringify(stale));
});

Deno.test("neighResolve works for IPv6 over link-local addresses", async () => {
  await using w = world();
  const node = w.netns("node");
  const pod = w.netns("pod");
  ipVeth(pod, "eth0", "pn0", node);
  ip(node, "addr", "add", "fe80::1/64", "dev", "pn0", "nodad");
  ip(pod, "addr", "add", "fd00:9::2/64", "dev", "eth0", "nodad");
  const nodeMac = ipLink(node, "pn0").address;
  using s = Socket.open(w.path(pod));
  let n;
  for (let i = 0; i < 100; i++) {
    // The link-local source may still be tentative at first; ask again until answered.
    if (i % 10 === 0) neighResolve(s, "eth0", "fe80::1");
    n = neighList(s, { family: 6 }).find((n) => n.ip === "fe80::1");
    if (n?.resolved) break;
    await sleep(20);
  }
  assert.ok(n?.resolved, JSON.stringify(n));
  assert.equal(n.mac, nodeMac);
});

// ---------------------------------------------------------------- sysctls

Deno.test("sysctlWrite and sysctlRead inside withNetns address that netns only", async () => {
  await using w = world();
  const ns = w.netns("a");
  ipVeth(ns, "pntsys0", "pntsys1"); // names no real host link has
  const fwd = ifSysctlKey(4, "pntsys0", "forwarding");
  const fwd6 = ifSysctlKey(6, "pntsys0", "forwarding");
  const delay = ifSysctlKey(4, "pntsys0", "proxy_delay", "neigh");
  assert.equal(fwd, "net/ipv4/conf/pntsys0/forwarding");
  assert.equal(delay, "net/ipv4/neigh/pntsys0/proxy_delay");
  const read = withNetns(w.path(ns), () => {
    assert.ok(isCurrentNetns(w.path(ns)));
    assert.equal(sysctlRead(fwd), "0");
    sysctlWrite(fwd, 1);
    sysctlWrite(fwd6, "1");
    sysctlWrite(delay, 0);
    assertNetlinkError(() => sysctlWrite(fwd, "bogus"), (e) => !e.notFound, `sysctl write ${fwd}=bogus`);
    return [sysctlRead(fwd), sysctlRead(fwd6), sysctlRead(delay)];
  });
  assert.deepEqual(read, ["1", "1", "0"]);
  const inNs = (key: string): string => run("nsenter", [`--net=${w.path(ns)}`, "cat", `/proc/sys/${key}`]).trim();
  assert.equal(inNs(fwd), "1");
  assert.equal(inNs(fwd6), "1");
  assert.equal(inNs(delay), "0");
  assert.equal(isCurrentNetns(w.path(ns)), false);
  assert.equal(sysctlTryRead(fwd), null, "pntsys0 does not exist outside the test netns");
  assert.equal(withNetns(w.path(ns), () => sysctlTryRead(ifSysctlKey(4, "pntsys0", "no_such_knob"))), null);
  const e = assertNetlinkError(
    () => sysctlRead("net/ipv4/conf/pntsys0/forwarding"),
    (e) => e.notFound,
    "pntsys0/forwarding",
  );
  assert.equal(e.code, 0);
  assertNetlinkError(() => sysctlRead("net/../../etc/passwd"), (e) => e.errno === 22, "net/../../etc/passwd");
  assertNetlinkError(() => ifSysctlKey(4, "a/b", "forwarding"), (e) => e.errno === 22, '"a/b"');
});
