/**
 * Reliability (issue 7, test 7): udev-style MAC rewrites. systemd-udev's
 * MACAddressPolicy=persistent|random replaces a MAC only when the kernel made
 * it up (addr_assign_type 1, NET_ADDR_RANDOM). podnet sets both veth MACs at
 * creation, so they read as "set by user" (3) and survive such a pass; the
 * pod's pinned gateway neighbors keep matching the host end's MAC and the pod
 * keeps reaching the node.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ip, ipJson, world } from "./harness.ts";
import { cni, makeNode, NODE_V4, ping } from "./cni_helpers.ts";
import { assertNoLeak, mustAdd, mustDel, nodeState, relConf, sysfsIn } from "./rel_helpers.ts";

/** What udev's MAC policy does to a netns: a new MAC for every link whose MAC the kernel chose at random. */
function udevMacPass(ns: string): string[] {
  const rewritten: string[] = [];
  for (const l of ipJson(ns, "link", "show")) {
    if (l.ifname === "lo") continue;
    if (sysfsIn(ns, `/sys/class/net/${l.ifname}/addr_assign_type`) !== "1") continue;
    const mac = `02:${
      Array.from({ length: 5 }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, "0")).join(":")
    }`;
    try {
      ip(ns, "link", "set", "dev", l.ifname, "address", mac);
      rewritten.push(l.ifname);
    } catch (e) {
      // Some kinds (ifb) refuse a new MAC; udev logs that and goes on.
      if (!String(e).includes("Operation not supported")) throw e;
    }
  }
  return rewritten;
}

Deno.test("host and pod MACs are set at creation (addr_assign_type 3), survive a udev MAC pass and match the pinned neighbors", async () => {
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const pod = w.netns("pod");
  const conf = relConf(node);
  const e = { command: "ADD", containerId: "mac", netns: w.path(pod) };
  const res = (await mustAdd(node, e, conf)).json;
  const host = res.interfaces[0].name as string;
  const hostMac = ipJson(node.ns, "link", "show", "dev", host)[0].address as string;
  assert.equal(res.interfaces[0].mac, hostMac, "the result names the host end's real MAC");
  assert.equal(sysfsIn(node.ns, `/sys/class/net/${host}/addr_assign_type`), "3", "host end MAC: set by user");
  assert.equal(sysfsIn(pod, "/sys/class/net/eth0/addr_assign_type"), "3", "pod end MAC: set by user");

  // Control: a veth made without MACs is what the policy rewrites, so the pass below can bite.
  ip(node.ns, "link", "add", "ctl0", "type", "veth", "peer", "name", "ctl1");
  const rewritten = udevMacPass(node.ns);
  assert.deepEqual(rewritten.sort(), ["ctl0", "ctl1"], "the udev pass rewrites random MACs only");
  assert.deepEqual(udevMacPass(pod), [], "nothing to rewrite in the pod");
  ip(node.ns, "link", "del", "ctl0");

  assert.equal(ipJson(node.ns, "link", "show", "dev", host)[0].address, hostMac, "host end MAC changed");
  const pins = ipJson(pod, "neigh", "show", "dev", "eth0").filter((n: { state: string[] }) =>
    n.state.includes("PERMANENT")
  );
  assert.deepEqual(
    pins.map((n: { dst: string; lladdr: string }) => `${n.dst} ${n.lladdr}`).sort(),
    [`169.254.1.1 ${hostMac}`, `fe80::1 ${hostMac}`],
    "pinned gateway neighbors must carry the host end's MAC",
  );
  assert.ok(ping(pod, NODE_V4), "the pod reaches the node through its pinned gateway");
  const check = await cni(node, { ...e, command: "CHECK" }, { ...conf, prevResult: res });
  assert.equal(check.code, 0, check.stdout);
  await mustDel(node, { ...e, command: "DEL" }, conf);
  await assertNoLeak(node, before, "udev MAC", { pods: [pod] });
});
