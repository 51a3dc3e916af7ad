/**
 * capture / restore against real kernel state (no runsc): gateway
 * resolution, dependency order, re-resolution, and hostile inputs that must
 * fail with one clear line and change nothing. The hook:
 * tests/sandbox_hook_test.ts.
 */

import assert from "node:assert/strict";
import { linkByName, neighList, sendProbe, Socket } from "../netlink/mod.ts";
import { ip, ipJson, world } from "./harness.ts";
import { calicoPod, kernelState, permanent, podnet } from "../lab/sandbox.ts";

function snapshotOf(link: Record<string, unknown>): string {
  return JSON.stringify({ schema: "podnet.capture/v1", capturedAt: "2026-01-01T00:00:00Z", links: [link] });
}

// ------------------------------------------------------------------ capture

Deno.test("capture resolves both gateway MACs (169.254.1.1, fe80::1) after the pod's neighbor table was flushed", async () => {
  await using w = world();
  const pw = calicoPod(w, { hostOwnsGateway: true, dualStack: true });
  ip(pw.pod, "neigh", "flush", "all");
  assert.deepEqual(ipJson(pw.pod, "neigh", "show"), []);
  const r = await podnet(["capture", "--netns", pw.podPath, "--timeout-ms", "3000"]);
  assert.equal(r.code, 0, r.stderr);
  const snap = JSON.parse(r.stdout);
  assert.equal(snap.schema, "podnet.capture/v1");
  const link = snap.links[0];
  assert.equal(link.name, "eth0");
  assert.deepEqual(link.neighbors, [{ ip: "169.254.1.1", mac: pw.host.mac }, { ip: "fe80::1", mac: pw.host.mac }]);
  // Only routes restore must install: the kernel's own (fd00:9::5, fe80::/64) are left out.
  assert.deepEqual(link.routes, [
    { dst: "0.0.0.0/0", gateway: "169.254.1.1" },
    { dst: "169.254.1.1/32" },
    { dst: "::/0", gateway: "fe80::1" },
  ]);
  assert.ok(link.addresses.some((a: { cidr: string }) => a.cidr === "10.9.0.5/32"));
});

Deno.test("one UDP datagram sent from inside the pod netns makes the kernel resolve v4 and link-local v6 gateways", async () => {
  await using w = world();
  const pw = calicoPod(w, { hostOwnsGateway: true, dualStack: true });
  ip(pw.pod, "neigh", "flush", "all");
  using s = Socket.open(pw.podPath);
  const eth0 = linkByName(s, "eth0");
  await new Promise((r) => setTimeout(r, 100));
  const gws = ["169.254.1.1", "fe80::1"];
  const resolvedGws = (): string[] =>
    neighList(s, { ifindex: eth0.index }).filter((n) => n.resolved && gws.includes(n.ip)).map((n) => n.ip);
  assert.deepEqual(resolvedGws(), [], "nothing resolves the gateways by itself");
  for (const gw of ["169.254.1.1", "fe80::1"]) sendProbe(pw.podPath, eth0, gw);
  let macs: (string | null)[] = [];
  for (let i = 0; i < 100; i++) {
    const ns = neighList(s, { ifindex: eth0.index });
    macs = ["169.254.1.1", "fe80::1"].map((ip) => ns.find((n) => n.ip === ip && n.resolved)?.mac ?? null);
    if (macs.every((m) => m !== null)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.deepEqual(macs, [pw.host.mac, pw.host.mac]);
});

Deno.test("capture in a subnet design (/24 address, default via .1) records the default gateway's MAC", async () => {
  await using w = world();
  const node = w.netns("node"), pod = w.netns("pod");
  ip(node, "link", "add", "br-end", "type", "veth", "peer", "name", "eth0", "netns", pod);
  ip(node, "addr", "add", "10.22.0.1/24", "dev", "br-end");
  ip(node, "link", "set", "br-end", "up");
  ip(pod, "addr", "add", "10.22.0.5/24", "dev", "eth0");
  ip(pod, "link", "set", "eth0", "up");
  ip(pod, "route", "add", "default", "via", "10.22.0.1", "dev", "eth0");
  const mac = ipJson(node, "link", "show", "br-end")[0].address;
  const r = await podnet(["capture", "--netns", w.path(pod), "--ifname", "eth0"]);
  assert.equal(r.code, 0, r.stderr);
  const link = JSON.parse(r.stdout).links[0];
  assert.deepEqual(link.routes, [{ dst: "0.0.0.0/0", gateway: "10.22.0.1" }]);
  assert.deepEqual(link.neighbors, [{ ip: "10.22.0.1", mac }]);
});

Deno.test("capture of a gateway nobody answers fails with one line naming it", async () => {
  await using w = world();
  const pw = calicoPod(w); // host end does not own 169.254.1.1; proxy ARP off
  const r = await podnet(["capture", "--netns", pw.podPath, "--timeout-ms", "300"]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^podnet capture: gateway 169\.254\.1\.1 on eth0 in \S+ did not resolve within 300 ms/);
  assert.equal(r.stderr.trim().split("\n").length, 1);
});

// ------------------------------------------------------------------ restore

Deno.test("restore retries a gateway route with onlink when the kernel answers ENETUNREACH", async () => {
  await using w = world();
  const pw = calicoPod(w);
  const file = `${w.tempDir()}/s.json`;
  Deno.writeTextFileSync(
    file,
    snapshotOf({
      name: "eth0",
      mac: ipJson(pw.pod, "link", "show", "eth0")[0].address,
      mtu: 1400,
      addresses: [{ cidr: "10.9.0.5/32" }],
      routes: [{ dst: "10.50.0.0/16", gateway: "192.168.7.1" }], // no route covers 192.168.7.1
      neighbors: [{ ip: "192.168.7.1", mac: "02:00:00:00:07:01" }],
    }),
  );
  const r = await podnet(["restore", "--from", file, "--netns", pw.podPath]);
  assert.equal(r.code, 0, r.stderr);
  const route = ipJson(pw.pod, "route", "show", "10.50.0.0/16")[0];
  assert.equal(route.gateway, "192.168.7.1");
  assert.deepEqual(route.flags, ["onlink"]);
  assert.equal(ipJson(pw.pod, "link", "show", "eth0")[0].mtu, 1400);
  assert.deepEqual(permanent(pw.pod), [["192.168.7.1", "02:00:00:00:07:01"]]);
});

Deno.test("restore --resolve-gateways pins the MAC the gateway answers now, not the stale one in the snapshot", async () => {
  await using w = world();
  const pw = calicoPod(w, { hostOwnsGateway: true });
  const q = w.netns("q");
  const cap = await podnet(["capture", "--netns", pw.podPath]);
  assert.equal(cap.code, 0, cap.stderr);
  const snap = JSON.parse(cap.stdout);
  snap.links[0].neighbors[0].mac = "02:00:00:00:00:99"; // the host end was re-created since
  const file = `${w.tempDir()}/s.json`;
  Deno.writeTextFileSync(file, JSON.stringify(snap));
  // An unconfirmed (STALE) entry with an old MAC is not trusted: the gateway is asked on the wire.
  ip(pw.pod, "neigh", "replace", "169.254.1.1", "lladdr", "02:00:00:00:00:98", "dev", "eth0", "nud", "stale");
  const args = ["restore", "--from", file, "--netns", w.path(q), "--link-netns", pw.podPath, "--resolve-gateways"];
  for (let i = 0; i < 2; i++) {
    const r = await podnet(args);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(permanent(q), [["169.254.1.1", pw.host.mac]]);
  }
});

Deno.test("restore --resolve-gateways takes the new pod's pin from the link netns before the move (proxy ARP off)", async () => {
  await using w = world();
  const pw = calicoPod(w); // nobody answers ARP for 169.254.1.1: only the CNI-style pin knows the MAC
  ip(pw.pod, "neigh", "replace", "169.254.1.1", "lladdr", pw.host.mac, "dev", "eth0", "nud", "permanent");
  const q = w.netns("q");
  const text = snapshotOf({
    name: "eth0",
    mac: ipJson(pw.pod, "link", "show", "eth0")[0].address,
    mtu: 1500,
    addresses: [{ cidr: "10.9.0.5/32" }],
    routes: [{ dst: "169.254.1.1/32" }, { dst: "0.0.0.0/0", gateway: "169.254.1.1" }],
    neighbors: [{ ip: "169.254.1.1", mac: "02:00:00:00:00:99" }], // the old node's host end
  });
  const r = await podnet(
    ["restore", "--from", "-", "--netns", w.path(q), "--link-netns", pw.podPath, "--resolve-gateways"],
    text,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(permanent(q), [["169.254.1.1", pw.host.mac]]);
});

Deno.test("restore --resolve-gateways fails naming the gateway when nothing knows it, and pins nothing", async () => {
  await using w = world();
  const pw = calicoPod(w);
  ip(pw.pod, "neigh", "replace", "169.254.1.1", "lladdr", pw.host.mac, "dev", "eth0", "nud", "reachable");
  const cap = await podnet(["capture", "--netns", pw.podPath]);
  assert.equal(cap.code, 0, cap.stderr);
  ip(pw.pod, "neigh", "flush", "all");
  const q = w.netns("q");
  const r = await podnet(
    [
      "restore",
      "--from",
      "-",
      "--netns",
      w.path(q),
      "--link-netns",
      pw.podPath,
      "--resolve-gateways",
      "--timeout-ms",
      "300",
    ],
    cap.stdout,
  );
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^podnet restore: restore eth0 in \S+: gateway 169\.254\.1\.1 on eth0 .*did not resolve within 300 ms/,
  );
  assert.deepEqual(permanent(pw.pod), []);
  assert.deepEqual(permanent(q), []);
  assert.deepEqual(ipJson(q, "link", "show").map((l) => l.ifname), ["lo"], "nothing was moved");
});

Deno.test("restore refuses malformed snapshots with one clear line and changes nothing", async () => {
  await using w = world();
  const pw = calicoPod(w);
  const mac = pw.host.mac;
  const good = {
    name: "eth0",
    mac: ipJson(pw.pod, "link", "show", "eth0")[0].address,
    mtu: 1500,
    addresses: [{ cidr: "10.9.0.77/32" }],
    routes: [{ dst: "10.77.0.0/16", gateway: "169.254.1.1" }],
    neighbors: [{ ip: "169.254.1.1", mac }],
  };
  const cases: [string, string, RegExp][] = [
    [
      "bad MAC",
      snapshotOf({ ...good, neighbors: [{ ip: "169.254.1.1", mac: "zz:00:00:00:00:01" }] }),
      /neighbors\[0\]\.mac: is not a unicast MAC/,
    ],
    [
      "bad CIDR",
      snapshotOf({ ...good, addresses: [{ cidr: "10.9.0.300/32" }] }),
      /addresses\[0\]\.cidr: is not a CIDR/,
    ],
    ["bad name", snapshotOf({ ...good, name: "../../etc" }), /links\[0\]\.name: is not an interface name/],
    ["unknown field", snapshotOf({ ...good, script: "rm -rf /" }), /links\[0\]: has 1 unknown field/],
    ["schema", snapshotOf(good).replace("capture/v1", "capture/v9"), /schema: wants "podnet\.capture\/v1"/],
    ["not JSON", '{"schema":', /not valid JSON/],
    ["huge", `${snapshotOf(good)}${" ".repeat(2 << 20)}`, /more than the limit of 1048576/],
  ];
  const before = kernelState(pw.pod);
  const dir = w.tempDir();
  for (const [what, text, pattern] of cases) {
    const file = `${dir}/${what.replace(/ /g, "_")}.json`;
    Deno.writeTextFileSync(file, text);
    const r = await podnet(["restore", "--from", file, "--netns", pw.podPath]);
    assert.equal(r.code, 1, what);
    assert.match(r.stderr, pattern, what);
    assert.equal(r.stderr.trim().split("\n").length, 1, `${what}: one line`);
  }
  assert.deepEqual(kernelState(pw.pod), before);
});

Deno.test("a restore that fails after moving the link moves it back, configured, and names the failed route", async () => {
  await using w = world();
  const pw = calicoPod(w);
  const q = w.netns("q");
  // IPv4 view: the IPv6 link-local address comes back asynchronously (with carrier) after a move, and so do the
  // link's NO-CARRIER flag and operstate (the kernel's linkwatch settles them up to a second later).
  const v4 = (): unknown => [
    ipJson(pw.pod, "-4", "addr", "show").map((l) => [l.ifname, l.mtu, l.address, l.addr_info]),
    ipJson(pw.pod, "-4", "route", "show"),
    permanent(pw.pod),
  ];
  const before = v4();
  const text = snapshotOf({
    name: "eth0",
    mac: ipJson(pw.pod, "link", "show", "eth0")[0].address,
    mtu: 1500,
    addresses: [{ cidr: "10.9.0.5/32" }],
    routes: [
      { dst: "169.254.1.1/32" },
      { dst: "0.0.0.0/0", gateway: "169.254.1.1" },
      { dst: "10.60.0.0/16", gateway: "169.254.1.1", src: "10.99.99.99" }, // not a local address: EINVAL
    ],
    neighbors: [],
  });
  const r = await podnet(["restore", "--from", "-", "--netns", w.path(q), "--link-netns", pw.podPath], text);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /restore eth0 in \S+: route replace 10\.60\.0\.0\/16 via 169\.254\.1\.1 .*rolled back: eth0 moved back/,
  );
  assert.deepEqual(ipJson(q, "link", "show").map((l) => l.ifname), ["lo"]);
  assert.deepEqual(v4(), before);
});

Deno.test("restore finds the link by MAC under another name, moves it and gives it the snapshot's name", async () => {
  await using w = world();
  const pw = calicoPod(w);
  ip(pw.pod, "neigh", "replace", "169.254.1.1", "lladdr", pw.host.mac, "dev", "eth0", "nud", "permanent");
  const cap = await podnet(["capture", "--netns", pw.podPath]);
  assert.equal(cap.code, 0, cap.stderr);
  ip(pw.pod, "link", "set", "eth0", "down");
  ip(pw.pod, "link", "set", "eth0", "name", "tmp0");
  const q = w.netns("q");
  const r = await podnet(["restore", "--from", "-", "--netns", w.path(q), "--link-netns", pw.podPath], cap.stdout);
  assert.equal(r.code, 0, r.stderr);
  const eth0 = ipJson(q, "-4", "addr", "show", "eth0")[0];
  assert.ok(eth0.flags.includes("UP"));
  assert.deepEqual(eth0.addr_info.map((a: { local: string }) => a.local), ["10.9.0.5"]);
  assert.deepEqual(permanent(q), [["169.254.1.1", pw.host.mac]]);
});

Deno.test("restore names the link it cannot find", async () => {
  await using w = world();
  const pw = calicoPod(w);
  const text = snapshotOf({
    name: "eth7",
    mac: "02:00:00:00:00:07",
    mtu: 1500,
    addresses: [],
    routes: [],
    neighbors: [],
  });
  const r = await podnet(["restore", "--from", "-", "--netns", pw.podPath], text);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /link eth7 \(02:00:00:00:00:07\) not found in \/run\/netns\/pnt-/);
});
