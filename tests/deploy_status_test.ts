/**
 * `podnet status` against attachments built by hand (Calico-style, the data
 * plane DESIGN.md describes) in throwaway namespaces: a node netns holding the
 * host end, a pod netns holding the peer. Status runs inside the node netns.
 */

import assert from "node:assert/strict";
import { withNetns } from "../netlink/mod.ts";
import { collectStatus, type StatusReport } from "../ops/status.ts";
import { ip, ipJson, run, runAsync, world } from "./harness.ts";

const HOST_MAC = "ee:ee:ee:00:00:01";
const LAUNCHER = new URL("../bin/podnet", import.meta.url).pathname;

/** Builds one attachment like podnet's: host end `host` in `node`, `eth0` in `pod`. */
function attach(
  node: string,
  pod: string,
  o: { host: string; alias: string; v4: string; v6: string; mac?: string; pins?: boolean },
): void {
  const mac = o.mac ?? HOST_MAC;
  ip(node, "link", "add", o.host, "address", mac, "type", "veth", "peer", "name", "eth0", "netns", pod);
  ip(node, "link", "set", o.host, "alias", o.alias, "addrgenmode", "none", "up");
  run("ip", ["netns", "exec", node, "sysctl", "-qw", `net.ipv4.conf.${o.host}.forwarding=1`]);
  ip(node, "route", "add", `${o.v4}/32`, "dev", o.host, "scope", "link");
  ip(node, "-6", "route", "add", `${o.v6}/128`, "dev", o.host);
  ip(pod, "link", "set", "eth0", "up");
  ip(pod, "addr", "add", `${o.v4}/32`, "dev", "eth0");
  ip(pod, "-6", "addr", "add", `${o.v6}/128`, "dev", "eth0", "nodad");
  ip(pod, "route", "add", "169.254.1.1/32", "dev", "eth0", "scope", "link");
  ip(pod, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0");
  if (o.pins ?? true) {
    ip(pod, "neigh", "replace", "169.254.1.1", "lladdr", mac, "dev", "eth0", "nud", "permanent");
    ip(pod, "-6", "neigh", "replace", "fe80::1", "lladdr", mac, "dev", "eth0", "nud", "permanent");
  }
}

function statusIn(path: string): StatusReport {
  return withNetns(path, () => collectStatus());
}

Deno.test("status lists a hand-built dual-stack attachment with matching pins and no drift", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  attach(node, pod, { host: "pn0a1b2c3d4e5f", alias: "podnet/ctr-one/eth0", v4: "10.244.1.5", v6: "fd00:244:1::5" });
  const r = statusIn(w.path(node));
  assert.equal(r.attachments.length, 1);
  const a = r.attachments[0]!;
  assert.equal(a.network, "podnet");
  assert.equal(a.containerId, "ctr-one");
  assert.equal(a.ifname, "eth0");
  assert.equal(a.hostInterface, "pn0a1b2c3d4e5f");
  assert.equal(a.hostMac, HOST_MAC);
  assert.deepEqual([...a.podAddresses].sort(), ["10.244.1.5", "fd00:244:1::5"]);
  assert.equal(a.gatewayMode, "static-neighbor");
  assert.equal(a.podNetns, w.path(pod));
  assert.equal(a.pins, "match");
  assert.deepEqual(a.pinned.map((p) => [p.ip, p.mac, p.permanent]), [
    ["169.254.1.1", HOST_MAC, true],
    ["fe80::1", HOST_MAC, true],
  ]);
  assert.deepEqual(a.drift, []);
  assert.equal(r.drift, 0);
});

Deno.test("status exits 1 and names the pin when the pod's gateway neighbor no longer matches the host-end MAC", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  attach(node, pod, { host: "pn11", alias: "podnet/ctr-two/eth0", v4: "10.244.1.6", v6: "fd00:244:1::6" });
  // Someone re-pinned the IPv4 gateway to another MAC (e.g. after the host end was recreated).
  ip(pod, "neigh", "replace", "169.254.1.1", "lladdr", "02:00:00:00:00:99", "dev", "eth0", "nud", "permanent");
  const out = await runAsync("nsenter", [`--net=${w.path(node)}`, LAUNCHER, "status", "--json"]);
  assert.equal(out.code, 1, out.stderr);
  const r = JSON.parse(out.stdout) as StatusReport;
  const a = r.attachments[0]!;
  assert.equal(a.pins, "mismatch");
  assert.equal(r.drift, 1);
  assert.ok(a.drift.some((d) => d.includes("169.254.1.1") && d.includes("02:00:00:00:00:99")), a.drift.join("; "));
  assert.ok(!a.drift.some((d) => d.includes("fe80::1")), "the IPv6 pin still matches");
  const text = await runAsync("nsenter", [`--net=${w.path(node)}`, LAUNCHER, "status"]);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /1 with drift/);
  assert.match(text.stdout, /pn11 .*static-neighbor\s+mismatch\s+drift/);
});

Deno.test("status reports a missing pin, a missing host route and a down host end as drift", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  attach(node, pod, { host: "pn22", alias: "podnet/ctr3/eth0", v4: "10.244.1.7", v6: "fd00:244:1::7", pins: false });
  ip(pod, "neigh", "replace", "169.254.1.1", "lladdr", HOST_MAC, "dev", "eth0", "nud", "permanent");
  ip(node, "-6", "route", "del", "fd00:244:1::7/128", "dev", "pn22");
  let a = statusIn(w.path(node)).attachments[0]!;
  // Without the /128 the pod's IPv6 address is unrouted, and IPv6 is no longer expected to be pinned.
  assert.deepEqual(a.podAddresses, ["10.244.1.7"]);
  assert.ok(a.drift.includes("pod address fd00:244:1::7 has no host route"), a.drift.join("; "));
  assert.equal(a.pins, "match");
  ip(node, "-6", "route", "add", "fd00:244:1::7/128", "dev", "pn22");
  a = statusIn(w.path(node)).attachments[0]!;
  assert.equal(a.pins, "missing");
  assert.deepEqual(a.drift, ["pin fe80::1 is missing in the pod"]);
  // A down host end loses its host routes with it (the kernel flushes them).
  ip(node, "link", "set", "pn22", "down");
  a = statusIn(w.path(node)).attachments[0]!;
  assert.ok(a.drift.includes("host end pn22 is down"), a.drift.join("; "));
  assert.ok(a.drift.includes("no /32 or /128 host route through pn22"), a.drift.join("; "));
});

Deno.test("status reports proxy-arp mode from the host end's proxy_arp and does not expect pins", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  attach(node, pod, { host: "pn33", alias: "podnet/ctr4/eth0", v4: "10.244.1.8", v6: "fd00:244:1::8", pins: false });
  run("ip", ["netns", "exec", node, "sysctl", "-qw", "net.ipv4.conf.pn33.proxy_arp=1"]);
  const a = statusIn(w.path(node)).attachments[0]!;
  assert.equal(a.gatewayMode, "proxy-arp");
  assert.equal(a.pins, "n/a");
  assert.deepEqual(a.drift, []);
});

Deno.test("status says the pod side is unknown when the pod netns cannot be reached, without calling it drift", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  attach(node, pod, { host: "pn44", alias: "other-net/ctr5/net1", v4: "10.244.1.9", v6: "fd00:244:1::9" });
  // Keep the pod netns alive only through a bind mount status does not search.
  const hold = `${w.tempDir()}/podns`;
  Deno.writeTextFileSync(hold, "");
  run("mount", ["--bind", w.path(pod), hold]);
  w.defer(() => void run("umount", [hold]));
  ip(null, "netns", "del", pod);
  const r = statusIn(w.path(node));
  const a = r.attachments[0]!;
  assert.equal(a.network, "other-net");
  assert.equal(a.ifname, "net1");
  assert.equal(a.podNetns, null);
  assert.equal(a.pins, "unknown");
  assert.ok(a.warnings.some((x) => x.includes("pod side unknown")), a.warnings.join("; "));
  assert.deepEqual(a.drift, []);
  // The netns the world created is gone already; recreate the name so the world's clean-up succeeds.
  ip(null, "netns", "add", pod);
});

Deno.test("status flags a veth named like a podnet host end that has no podnet alias", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  ip(node, "link", "add", "pn5a5a", "type", "veth", "peer", "name", "eth0", "netns", pod);
  ip(node, "link", "add", "veth-other", "type", "veth", "peer", "name", "eth1", "netns", pod);
  const r = statusIn(w.path(node));
  assert.deepEqual(r.unlabelled, ["pn5a5a"]);
  assert.equal(r.attachments.length, 0);
  assert.equal(r.drift, 1);
  assert.deepEqual(ipJson(node, "link", "show", "pn5a5a").length, 1, "status changed nothing");
});

Deno.test("status --watch reports every round with its drift lines and exits with the last round's status", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  attach(node, pod, { host: "pn66", alias: "podnet/ctr7/eth0", v4: "10.244.1.11", v6: "fd00:244:1::11", pins: false });
  const out = await runAsync("nsenter", [`--net=${w.path(node)}`, LAUNCHER, "status", "--watch", "0", "--rounds", "2"]);
  assert.equal(out.code, 1, out.stderr);
  const lines = out.stdout.trim().split("\n");
  assert.equal(
    lines.filter((l) => /^\d{4}-\d\d-\d\dT.* podnet status: 1 attachment\(s\), 1 with drift$/.test(l)).length,
    2,
  );
  assert.equal(lines.filter((l) => l === "drift   ctr7/eth0: pin 169.254.1.1 is missing in the pod").length, 2);
});

Deno.test("status finds a pod netns that only a process holds, through /proc/PID/ns/net", async () => {
  await using w = world();
  const node = w.netns("node");
  // A netns with no name under /run/netns, kept alive by one process we started.
  const child = new Deno.Command("unshare", { args: ["--net", "sleep", "60"], stdout: "null", stderr: "null" }).spawn();
  w.defer(async () => {
    child.kill("SIGKILL");
    await child.status;
  });
  const pidNs = `/proc/${child.pid}/ns/net`;
  for (let i = 0; i < 50 && Deno.readLinkSync(pidNs) === Deno.readLinkSync("/proc/self/ns/net"); i++) {
    await new Promise((ok) => setTimeout(ok, 20)); // until unshare(2) has happened
  }
  ip(
    node,
    "link",
    "add",
    "pn77",
    "address",
    HOST_MAC,
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    String(child.pid),
  );
  ip(node, "link", "set", "pn77", "alias", "podnet/ctr8/eth0", "up");
  ip(node, "route", "add", "10.244.1.12/32", "dev", "pn77");
  run("nsenter", [`--net=${pidNs}`, "ip", "link", "set", "eth0", "up"]);
  run("nsenter", [`--net=${pidNs}`, "ip", "addr", "add", "10.244.1.12/32", "dev", "eth0"]);
  run("nsenter", [
    `--net=${pidNs}`,
    "ip",
    "neigh",
    "add",
    "169.254.1.1",
    "lladdr",
    HOST_MAC,
    "dev",
    "eth0",
    "nud",
    "permanent",
  ]);
  const a = statusIn(w.path(node)).attachments[0]!;
  assert.equal(a.podNetns, pidNs);
  assert.equal(a.pins, "match");
  assert.deepEqual(a.podAddresses, ["10.244.1.12"]);
});
