/**
 * DEL idempotence through the real plugin: twice in a row, after the pod
 * netns is gone, for a container never added; the lease is always released.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ip, world } from "./harness.ts";
import { add, cni, del, extraLinks, leases, makeNode, netConf, routes } from "./cni_helpers.ts";

Deno.test("DEL twice succeeds and the second DEL changes nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = netConf(node);
  await add(node, pod, conf);
  for (let i = 0; i < 2; i++) {
    const r = await cni(node, { command: "DEL", netns: w.path(pod) }, conf);
    assert.equal(r.code, 0, `DEL #${i + 1}: ${r.stdout}`);
    assert.equal(r.stdout, "");
  }
  assert.deepEqual(extraLinks(node.ns), []);
  assert.deepEqual(leases(node.dataDir), []);
});

Deno.test("DEL succeeds after the pod netns is gone, removing the host end and the lease", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = netConf(node);
  const res = await add(node, pod, conf);
  const hostName = res.interfaces[0].name;
  // Deleting the netns destroys the veth pair; the lease is what DEL still has to release.
  ip(null, "netns", "del", pod);
  assert.equal(leases(node.dataDir).length, 2);
  await del(node, pod, conf);
  assert.equal(extraLinks(node.ns).filter((l) => l.ifname === hostName).length, 0);
  assert.deepEqual(routes(node.ns, 4), ["default ifb0"]);
  assert.deepEqual(leases(node.dataDir), []);
  // Without CNI_NETNS at all (the runtime no longer knows it) DEL still succeeds.
  await del(node, null, conf);
  ip(null, "netns", "add", pod); // so the world's clean-up finds what it created
});

Deno.test("DEL for a container never added succeeds and touches nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = netConf(node);
  await add(node, pod, conf, { containerId: "other" });
  await del(node, pod, conf, { containerId: "never-added" });
  assert.equal(extraLinks(node.ns).length, 1, "the other attachment is untouched");
  assert.equal(leases(node.dataDir).length, 2);
  await del(node, pod, conf, { containerId: "other" });
});

Deno.test("DEL leaves a same-named host interface of another attachment alone", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = netConf(node);
  const res = await add(node, pod, conf);
  const hostName = res.interfaces[0].name;
  // Another network (same prefix) claims nothing of ours: DEL of network "other" must not delete it.
  await del(node, pod, { ...conf, name: "other" });
  assert.equal(extraLinks(node.ns).filter((l) => l.ifname === hostName).length, 1);
  await del(node, pod, conf);
  assert.deepEqual(extraLinks(node.ns), []);
});
