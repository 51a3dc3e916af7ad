/**
 * capture / restore against real kernel state (no runsc): gateway
 * resolution, dependency order, re-resolution, hostile inputs that must fail
 * with one clear line and change nothing, and the roll-back of a restore that
 * moved a link and then failed. The hook: tests/sandbox_hook_test.ts.
 */

import assert from "node:assert/strict";
import { linkByName, neighList, sendProbe, Socket } from "../netlink/mod.ts";
import { ip, ipJson, run, runAsync, world } from "./harness.ts";
import { calicoPod, kernelState, NODE_IP, permanent, PODNET, podnet, type PodWorld } from "../lab/sandbox.ts";

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

/**
 * The pod as a CNI attachment leaves it, plus what a roll-back must not lose:
 * dual-stack, both gateways pinned, accept_dad=0, an MTU of its own, a static
 * route with a metric and a route in another table.
 */
function sourcePod(w: Parameters<typeof calicoPod>[0]): PodWorld {
  const pw = calicoPod(w, { hostOwnsGateway: true, dualStack: true });
  for (const gw of ["169.254.1.1", "fe80::1"]) {
    ip(pw.pod, "neigh", "replace", gw, "lladdr", pw.host.mac, "dev", "eth0", "nud", "permanent");
  }
  ip(pw.pod, "link", "set", "eth0", "mtu", "1400");
  ip(pw.pod, "route", "add", "10.77.0.0/16", "via", "169.254.1.1", "dev", "eth0", "proto", "static", "metric", "7");
  ip(pw.pod, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0", "table", "100");
  return pw;
}

/** Everything of the pod's eth0 a roll-back must return, as `ip -j` and /proc/sys show it. */
function podState(pw: PodWorld): unknown {
  const sysctl = (k: string): string => run("nsenter", [`--net=${pw.podPath}`, "cat", `/proc/sys/net/${k}`]).trim();
  return {
    ...kernelState(pw.pod),
    // Carrier flags settle asynchronously after a move (see kernelState): name, MAC, MTU, admin state.
    link: ipJson(pw.pod, "link", "show", "eth0").map((l) => [l.ifname, l.address, l.mtu, l.flags.includes("UP")]),
    table100: ipJson(pw.pod, "route", "show", "table", "100"),
    sysctls: ["ipv6/conf/eth0/accept_dad", "ipv6/conf/eth0/disable_ipv6", "ipv4/conf/eth0/forwarding"].map(sysctl),
  };
}

/** The pod pings its node (IPv4) and its gateway (IPv6 link-local) through eth0. */
async function podPings(pw: PodWorld): Promise<void> {
  for (const dst of [NODE_IP, "fe80::1%eth0"]) {
    const r = await runAsync("nsenter", [`--net=${pw.podPath}`, "ping", "-c", "3", "-i", "0.2", "-W", "2", dst]);
    assert.equal(r.code, 0, `ping ${dst} from the pod: ${r.stdout}${r.stderr}`);
  }
}

function eth0Of(pw: PodWorld, link: Record<string, unknown>): string {
  return snapshotOf({
    name: "eth0",
    mac: ipJson(pw.pod, "link", "show", "eth0")[0].address,
    mtu: 1500,
    addresses: [{ cidr: "10.9.0.5/32" }, { cidr: "fd00:9::5/128" }],
    routes: [{ dst: "169.254.1.1/32" }, { dst: "0.0.0.0/0", gateway: "169.254.1.1" }, {
      dst: "::/0",
      gateway: "fe80::1",
    }],
    neighbors: [{ ip: "169.254.1.1", mac: "02:00:00:00:00:99" }, { ip: "fe80::1", mac: "02:00:00:00:00:99" }],
    ...link,
  });
}

Deno.test("restore --link-netns refuses, before moving anything, what the kernel would refuse late; the pod still reaches its node", async () => {
  await using w = world();
  const pw = sourcePod(w);
  const q = w.netns("q");
  const busy = w.netns("busy"); // already has an eth0
  ip(busy, "link", "add", "eth0", "type", "ifb");
  const nov6 = w.netns("nov6"); // IPv6 off for links that arrive
  run("nsenter", [`--net=${w.path(nov6)}`, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"]);
  const before = podState(pw);
  const cases: [string, string, string, RegExp][] = [
    ["named lo", q, eth0Of(pw, { name: "lo" }), /restore lo in \S+: the target already has a link named lo$/],
    ["name taken", busy, eth0Of(pw, {}), /restore eth0 in \S+: the target already has a link named eth0$/],
    ["IPv6 off", nov6, eth0Of(pw, {}), /restore eth0 in \S+: the snapshot has IPv6 but IPv6 is disabled there/],
    [
      "route src",
      q,
      eth0Of(pw, { routes: [{ dst: "10.60.0.0/16", gateway: "169.254.1.1", src: "10.99.99.99" }] }),
      /route 10\.60\.0\.0\/16 via 169\.254\.1\.1: source 10\.99\.99\.99 is no address of the snapshot or the target$/,
    ],
    [
      "own gateway",
      q,
      eth0Of(pw, { routes: [{ dst: "10.61.0.0/16", gateway: "10.9.0.5" }] }),
      /route 10\.61\.0\.0\/16 via 10\.9\.0\.5: the gateway is the link's own address$/,
    ],
    [
      "IPv6 under MTU 1280",
      q,
      eth0Of(pw, { mtu: 1279, addresses: [{ cidr: "10.9.0.5/32" }], routes: [{ dst: "::/0", gateway: "fe80::1" }] }),
      /links\[0\]\.routes\[0\]\.dst: is IPv6 on a link of MTU 1279, below IPv6's minimum of 1280$/,
    ],
  ];
  for (const [what, target, text, pattern] of cases) {
    const targetBefore = kernelState(target.slice(target.lastIndexOf("/") + 1));
    const r = await podnet(["restore", "--from", "-", "--netns", w.path(target), "--link-netns", pw.podPath], text);
    assert.equal(r.code, 1, what);
    assert.match(r.stderr.trim(), pattern, what);
    assert.equal(r.stderr.trim().split("\n").length, 1, `${what}: one line`);
    assert.deepEqual(podState(pw), before, `${what}: the pod is as it was`);
    assert.deepEqual(kernelState(target), targetBefore, `${what}: the target is as it was`);
  }
  await podPings(pw);
});

Deno.test("restore --link-netns that fails late, at any step, puts the link back exactly as it was: the pod pings its node", async () => {
  await using w = world();
  const pw = sourcePod(w);
  const q = w.netns("q");
  await podPings(pw);
  const before = podState(pw);
  const text = eth0Of(pw, {
    name: "pod0",
    routes: [{ dst: "169.254.1.1/32" }, { dst: "0.0.0.0/0", gateway: "169.254.1.1" }, {
      dst: "10.60.0.0/16",
      gateway: "169.254.1.1",
    }],
  });
  for (const step of ["move", "link", "addresses", "routes", "neighbors"]) {
    const r = await runAsync(PODNET, ["restore", "--from", "-", "--netns", w.path(q), "--link-netns", pw.podPath], {
      stdin: text,
      env: { PODNET_TEST_SEAMS: "1", PODNET_TEST_FAIL_AT: `restore:${step}` },
    });
    assert.equal(r.code, 1, step);
    assert.match(
      r.stderr,
      new RegExp(
        `^podnet restore: restore pod0 in \\S+: injected failure after step ${step} \\(PODNET_TEST_FAIL_AT\\) \\(rolled back: eth0 is back in \\S+ as it was\\)\n$`,
      ),
      step,
    );
    assert.deepEqual(links(q), ["lo"], step);
    assert.deepEqual(podState(pw), before, `after a failure at ${step}, the pod is exactly as it was`);
    await podPings(pw);
  }
  // The seam is inert without PODNET_TEST_SEAMS: the same restore succeeds, with the snapshot's name and MTU.
  const ok = await runAsync(PODNET, ["restore", "--from", "-", "--netns", w.path(q), "--link-netns", pw.podPath], {
    stdin: text,
    env: { PODNET_TEST_FAIL_AT: "restore:routes" },
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(ipJson(q, "link", "show", "pod0").map((l) => l.mtu), [1500]);
  assert.deepEqual(links(pw.pod), ["lo"]);
});

function links(ns: string): string[] {
  return ipJson(ns, "link", "show").map((l) => l.ifname);
}

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
