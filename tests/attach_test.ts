/**
 * The agent API (`attach`/`detach`, `podnet attach`/`podnet detach`): pods
 * with caller-given addresses, built by the same machinery as CNI ADD,
 * declarative and idempotent. Asserted on kernel state (`ip -j`) as well as
 * on what the calls return.
 */

import assert from "node:assert/strict";
import { attach, type AttachRequest, type AttachResult, detach, hostInterfaceName } from "../cni/attach.ts";
import { DEFAULT_PREFIX } from "../core/constants.ts";
import { hostEnd } from "../core/names.ts";
import { withNetns } from "../netlink/mod.ts";
import { cni, makeNode, netConf } from "./cni_helpers.ts";
import { ip, ipJson, PODNET, runAsync, type World, world } from "./harness.ts";

/** Everything of a netns an attachment touches, for before/after comparisons. */
function state(ns: string): string {
  const strip = (o: unknown): unknown =>
    JSON.parse(JSON.stringify(o, (k, v) => (["stats64", "ifindex", "linkinfo"].includes(k) ? undefined : v)));
  return JSON.stringify([
    strip(ipJson(ns, "link", "show")),
    ipJson(ns, "addr", "show"),
    ipJson(ns, "route", "show"),
    ipJson(ns, "-6", "route", "show"),
    ipJson(ns, "neigh", "show", "nud", "permanent"),
  ]);
}

function inNode(w: World, node: string, req: Omit<AttachRequest, "stateDir">, stateDir: string): AttachResult {
  return withNetns(w.path(node), () => attach({ ...req, stateDir }));
}

Deno.test("attach builds what CNI ADD builds from given addresses; a second identical attach changes nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const st = w.tempDir();
  const req = { netns: w.path(pod), containerId: "agent-1", ips: ["10.244.1.50", "fd00:244:1::50"] };
  const a = inNode(w, node.ns, req, st);
  assert.equal(a.outcome, "created");
  assert.equal(a.hostInterface, hostInterfaceName("agent-1", "eth0"));
  assert.deepEqual(a.addresses, ["10.244.1.50/32", "fd00:244:1::50/128"]);
  const host = ipJson(node.ns, "-d", "link", "show", a.hostInterface)[0];
  assert.equal(host.ifalias, "attach/agent-1/eth0", "the alias records the network attach");
  assert.equal(host.address, a.hostMac);
  const eth0 = ipJson(pod, "addr", "show", "eth0")[0];
  assert.equal(eth0.address, a.podMac);
  assert.deepEqual(
    eth0.addr_info.filter((x: { scope: string }) => x.scope === "global").map((x: { local: string }) => x.local),
    ["10.244.1.50", "fd00:244:1::50"],
  );
  const pins = ipJson(pod, "neigh", "show", "nud", "permanent").map((
    n: { dst: string; lladdr: string },
  ) => [n.dst, n.lladdr]);
  assert.deepEqual(pins.sort(), [["169.254.1.1", a.hostMac], ["fe80::1", a.hostMac]]);
  assert.ok(ipJson(node.ns, "route", "show", "10.244.1.50/32").length === 1);
  // The pod reaches the node at once over both families.
  const ping = (dst: string): number =>
    new Deno.Command("ip", { args: ["netns", "exec", pod, "ping", "-c1", "-W2", dst], stdout: "null", stderr: "null" })
      .outputSync().code;
  assert.equal(ping("10.99.0.1"), 0);
  assert.equal(ping("fd00:99::1"), 0);

  const before = [state(node.ns), state(pod)];
  const again = inNode(w, node.ns, req, st);
  assert.equal(again.outcome, "unchanged");
  assert.deepEqual([state(node.ns), state(pod)], before, "a second identical attach changes nothing");
});

Deno.test("attach converges: other addresses replace the old ones, a lost pin and a down link are restored", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const st = w.tempDir();
  const a = inNode(
    w,
    node.ns,
    { netns: w.path(pod), containerId: "agent-2", ips: ["10.244.1.60", "fd00:244:1::60"] },
    st,
  );
  ip(pod, "neigh", "del", "169.254.1.1", "dev", "eth0");
  ip(node.ns, "link", "set", a.hostInterface, "down");
  const b = inNode(w, node.ns, { netns: w.path(pod), containerId: "agent-2", ips: ["10.244.1.61"] }, st);
  assert.equal(b.outcome, "converged");
  assert.equal(b.hostInterface, a.hostInterface);
  const global = ipJson(pod, "addr", "show", "eth0")[0].addr_info.filter((x: { scope: string }) =>
    x.scope === "global"
  );
  assert.deepEqual(global.map((x: { local: string }) => x.local), ["10.244.1.61"]);
  assert.deepEqual(ipJson(node.ns, "route", "show", "dev", a.hostInterface).map((r: { dst: string }) => r.dst), [
    "10.244.1.61",
  ]);
  assert.deepEqual(
    ipJson(node.ns, "-6", "route", "show", "dev", a.hostInterface).filter((r: { dst: string }) =>
      r.dst.startsWith("fd00")
    ),
    [],
  );
  const pins = ipJson(pod, "neigh", "show", "nud", "permanent").map((n: { dst: string }) => n.dst);
  assert.deepEqual(pins, ["169.254.1.1"], "the IPv4 pin is back, the IPv6 one went with IPv6");
  assert.deepEqual(ipJson(pod, "-6", "route", "show").filter((r: { gateway?: string }) => r.gateway === "fe80::1"), []);
  assert.ok(ipJson(node.ns, "link", "show", a.hostInterface)[0].flags.includes("UP"));
});

Deno.test("detach removes the attachment, twice is fine, and given ips removes host routes to them without the link", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const st = w.tempDir();
  const before = state(node.ns);
  const a = inNode(w, node.ns, { netns: w.path(pod), containerId: "agent-3", ips: ["10.244.1.70"] }, st);
  const d = withNetns(node.path, () => detach({ containerId: "agent-3", stateDir: st }));
  assert.deepEqual(d, { hostInterface: a.hostInterface, removedLink: true, removedRoutes: [] });
  assert.equal(state(node.ns), before);
  assert.deepEqual(ipJson(pod, "link", "show").map((l: { ifname: string }) => l.ifname), ["lo"]);
  const again = withNetns(node.path, () => detach({ containerId: "agent-3", stateDir: st }));
  assert.deepEqual(again.removedLink, false);
  // The link is gone, a host route to the pod's address is still there (put back through the uplink).
  ip(node.ns, "route", "add", "10.244.1.70/32", "dev", "ifb0", "scope", "link");
  const r = withNetns(node.path, () => detach({ containerId: "agent-3", ips: ["10.244.1.70"], stateDir: st }));
  assert.deepEqual(r.removedRoutes, ["10.244.1.70/32"]);
  assert.equal(state(node.ns), before);
});

Deno.test("CNI GC of another network never touches attach's links", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const a = inNode(w, node.ns, { netns: w.path(pod), containerId: "agent-4", ips: ["10.244.1.80"] }, w.tempDir());
  const gc = await cni(node, { command: "GC", env: { CNI_CONTAINERID: null, CNI_IFNAME: null } }, {
    ...netConf(node),
    "cni.dev/valid-attachments": [],
  });
  assert.equal(gc.code, 0, gc.stdout);
  assert.equal(ipJson(node.ns, "link", "show", a.hostInterface).length, 1);
});

Deno.test("attach refuses an interface of that name it did not make, and a missing netns, changing nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  ip(pod, "link", "add", "eth0", "type", "veth", "peer", "name", "other0");
  const before = [state(node.ns), state(pod)];
  assert.throws(
    () => inNode(w, node.ns, { netns: w.path(pod), containerId: "agent-5", ips: ["10.244.1.90"] }, w.tempDir()),
    /interface eth0 already exists in .* and is not this attachment's/,
  );
  assert.throws(
    () =>
      inNode(
        w,
        node.ns,
        { netns: "/run/netns/pnt-no-such", containerId: "agent-5", ips: ["10.244.1.90"] },
        w.tempDir(),
      ),
    /does not exist/,
  );
  assert.deepEqual([state(node.ns), state(pod)], before);
});

Deno.test("detach deletes only its own host end: another alias on the derived name and MAC stays; a bare leftover goes", async () => {
  await using w = world();
  const node = makeNode(w);
  const id = hostEnd(DEFAULT_PREFIX, "agent-7", "eth0");
  const inNodeDetach = () =>
    withNetns(w.path(node.ns), () => detach({ containerId: "agent-7", stateDir: w.tempDir() }));
  ip(node.ns, "link", "add", id.name, "address", id.mac, "type", "veth", "peer", "name", "peer7");
  // A veth with the derived name and MAC whose alias is not this attachment's: a foreign alias, another container's.
  for (const alias of ["someone-else's link", "attach/agent-8/eth0"]) {
    ip(node.ns, "link", "set", id.name, "alias", alias);
    assert.throws(inNodeDetach, /belongs to another attachment; left alone/, alias);
    assert.equal(ipJson(node.ns, "link", "show", id.name).length, 1, `${alias}: still there`);
  }
  // No alias at all (a creation killed before its last step): this attachment's leftover, removed.
  ip(node.ns, "link", "set", id.name, "alias", "");
  assert.equal(inNodeDetach().removedLink, true);
  assert.equal(ipJson(node.ns, "link", "show").filter((l: { ifname: string }) => l.ifname === id.name).length, 0);
});

Deno.test("podnet attach/detach on the command line: JSON out, exit 2 naming a bad flag, exit 1 for a missing netns", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const env = { PODNET_STATE_DIR: w.tempDir() };
  const run = (...args: string[]) => runAsync("nsenter", [`--net=${node.path}`, PODNET, ...args], { env });
  const ok = await run(
    "attach",
    "--netns",
    w.path(pod),
    "--container-id",
    "cli-1",
    "--ip",
    "10.244.1.100",
    "--mtu",
    "1400",
  );
  assert.equal(ok.code, 0, ok.stderr);
  const res = JSON.parse(ok.stdout);
  assert.equal(res.mtu, 1400);
  assert.equal(ipJson(pod, "link", "show", "eth0")[0].mtu, 1400);
  const bad: [string[], RegExp][] = [
    [["attach", "--container-id", "x", "--ip", "10.0.0.1"], /--netns is required/],
    [["attach", "--netns", w.path(pod), "--container-id=-x", "--ip", "10.0.0.1"], /--container-id must match/],
    [["attach", "--netns", w.path(pod), "--container-id", "x", "--ip", "nope"], /--ip #1 is not an IP address/],
    [["attach", "--netns", w.path(pod), "--container-id", "x"], /--ip: at least one IP address/],
    [
      ["attach", "--netns", w.path(pod), "--container-id", "x", "--ip", "10.0.0.1", "--ifname", "eth%d"],
      /--ifname .*"%"/,
    ],
    [
      ["attach", "--netns", w.path(pod), "--container-id", "x", "--ip", "10.0.0.1", "--mtu", "1000"],
      /--mtu must be a whole number from 1280/,
    ],
    [["attach", "--bogus"], /--bogus/],
    [["detach"], /--container-id is required/],
  ];
  for (const [args, want] of bad) {
    const r = await run(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, want);
  }
  const missing = await run(
    "attach",
    "--netns",
    "/run/netns/pnt-none",
    "--container-id",
    "cli-2",
    "--ip",
    "10.244.1.101",
  );
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^podnet attach: netns \/run\/netns\/pnt-none does not exist/);
  for (const cmd of ["attach", "detach"]) {
    const h = await run(cmd, "--help");
    assert.equal(h.code, 0);
    assert.match(h.stdout, new RegExp(`^usage: podnet ${cmd}`));
  }
  const gone = await run("detach", "--container-id", "cli-1");
  assert.equal(gone.code, 0, gone.stderr);
  assert.equal(JSON.parse(gone.stdout).removedLink, true);
  assert.deepEqual(ipJson(pod, "link", "show").map((l: { ifname: string }) => l.ifname), ["lo"]);
});
