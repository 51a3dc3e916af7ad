/**
 * Rollback: a failure injected after each ADD step (test seam), a real route
 * conflict and a killed ADD. A failed ADD must leave no link, route, sysctl or
 * lease; a host end left by a killed ADD is replaced by the next ADD, one of
 * another container is a clear error.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ip, ipJson, world } from "./harness.ts";
import { ADD_STEPS } from "../cni/seams.ts";
import { hostEnd } from "../core/names.ts";
import {
  add,
  assertCniError,
  check,
  cni,
  del,
  extraLinks,
  globalSysctls,
  leases,
  makeNode,
  netConf,
  type Node,
  routes,
} from "./cni_helpers.ts";

function snapshot(node: Node): string {
  return JSON.stringify({
    r4: routes(node.ns, 4),
    r6: routes(node.ns, 6),
    links: extraLinks(node.ns),
    s: globalSysctls(node.ns),
  });
}

function assertClean(node: Node, pod: string, before: string, what: string): void {
  assert.equal(snapshot(node), before, `${what}: node state changed`);
  assert.deepEqual(extraLinks(pod), [], `${what}: pod links left`);
  assert.deepEqual(routes(pod, 4), [], `${what}: pod routes left`);
  assert.deepEqual(leases(node.dataDir), [], `${what}: leases left`);
}

for (const mode of ["static-neighbor", "proxy-arp"]) {
  Deno.test(`${mode}: a failure injected after each ADD step rolls back everything (links, routes, sysctls, lease)`, async () => {
    await using w = world();
    const node = makeNode(w);
    const before = snapshot(node);
    const conf = netConf(node, { gatewayMode: mode });
    const runs = await Promise.all(ADD_STEPS.map((step, i) => {
      const pod = w.netns(`p${i}`);
      return cni(node, {
        command: "ADD",
        containerId: `ctr-${step}`,
        netns: w.path(pod),
        env: { PODNET_TEST_SEAMS: "1", PODNET_TEST_FAIL_AT: step },
      }, conf).then((r) => ({ r, pod, step }));
    }));
    for (const { r, pod, step } of runs) {
      assertCniError(r, 999, new RegExp(`injected failure after step ${step}`));
      assertClean(node, pod, before, step);
    }
  });
}

Deno.test("the failure seam is ignored without PODNET_TEST_SEAMS=1", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = netConf(node);
  await add(node, pod, conf, { env: { PODNET_TEST_FAIL_AT: "veth" } });
  await del(node, pod, conf);
});

Deno.test("a host route that cannot be added rolls back the veth and the lease", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  // host-local can hand out only 10.244.1.9, and the node already routes it elsewhere.
  ip(node.ns, "route", "add", "10.244.1.9/32", "dev", "ifb0");
  const before = snapshot(node);
  const conf = netConf(node, {
    ipam: {
      type: "host-local",
      dataDir: node.dataDir,
      ranges: [[{ subnet: "10.244.1.0/24", rangeStart: "10.244.1.9", rangeEnd: "10.244.1.9" }]],
    },
  });
  const r = await cni(node, { command: "ADD", netns: w.path(pod) }, conf);
  assertCniError(r, 999, /route add 10\.244\.1\.9\/32/);
  assertClean(node, pod, before, "route conflict");
});

Deno.test("a host end left by a killed ADD of the same container is replaced by the next ADD", async () => {
  await using w = world();
  const node = makeNode(w);
  const conf = netConf(node);
  for (const step of ["veth", "pod-routes"]) {
    const pod = w.netns(`pod-${step}`);
    const id = `ctr-${step}`;
    const killed = await cni(node, {
      command: "ADD",
      containerId: id,
      netns: w.path(pod),
      env: { PODNET_TEST_SEAMS: "1", PODNET_TEST_KILL_AT: step },
    }, conf);
    assert.equal(killed.code, 137);
    const host = hostEnd("pn", id, "eth0").name;
    assert.equal(ipJson(node.ns, "link", "show", "dev", host).length, 1, "the killed ADD left its host end");
    // The IPAM plugin is a process of its own, started before the veth: it finishes the lease even
    // though the ADD that started it was killed, possibly a moment after the kill.
    for (let i = 0; i < 100 && leases(node.dataDir).length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(leases(node.dataDir).length, 2, "and its lease");

    const res = await add(node, pod, conf, { containerId: id });
    assert.equal(res.interfaces[0].name, host);
    assert.equal(extraLinks(node.ns).length, 1, "exactly one host end");
    assert.equal(extraLinks(pod).length, 1, "exactly one pod end");
    assert.equal(leases(node.dataDir).length, 2, "the old lease was released");
    await check(node, pod, conf, res, { containerId: id });
    await del(node, pod, conf, { containerId: id });
    assert.deepEqual(extraLinks(node.ns), []);
    assert.deepEqual(leases(node.dataDir), []);
  }
});

Deno.test("a host end of another container with the same name is a clear error and stays untouched", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const host = hostEnd("pn", "ctr1", "eth0").name;
  ip(node.ns, "link", "add", host, "type", "veth", "peer", "name", "foreign0");
  ip(node.ns, "link", "set", host, "alias", "podnet/someone-else/eth0");
  const r = await cni(node, { command: "ADD", netns: w.path(pod) }, netConf(node));
  assertCniError(r, 999, new RegExp(`host interface ${host} already exists and is not this attachment's`));
  assert.equal(ipJson(node.ns, "link", "show", "dev", host)[0].ifalias, "podnet/someone-else/eth0");
  assert.deepEqual(extraLinks(pod), []);
  assert.deepEqual(leases(node.dataDir), []);
});

Deno.test("a failure after the capture snapshot was written removes it too", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const captureDir = `${w.tempDir()}/capture`;
  const before = snapshot(node);
  const r = await cni(node, {
    command: "ADD",
    netns: w.path(pod),
    env: { PODNET_TEST_SEAMS: "1", PODNET_TEST_FAIL_AT: "result" },
  }, netConf(node, { extra: { captureDir } }));
  assertCniError(r, 999, /injected failure after step result/);
  assertClean(node, pod, before, "capture");
  assert.deepEqual([...Deno.readDirSync(captureDir)], []);
});
