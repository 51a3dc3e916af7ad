/**
 * GC and STATUS (CNI 1.1) through the real plugin with Debian's host-local,
 * which speaks only 1.0.0: GC deletes this network's stale host ends and
 * releases their leases with one IPAM DEL each.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ipJson, world } from "./harness.ts";
import { add, assertCniError, cni, extraLinks, leases, makeNode, netConf } from "./cni_helpers.ts";

Deno.test("GC removes this network's attachments not listed as valid, their leases and snapshots", async () => {
  await using w = world();
  const node = makeNode(w);
  const captureDir = `${w.tempDir()}/capture`;
  const conf = netConf(node, { extra: { captureDir } });
  const other = netConf(node, {
    name: "othernet",
    ipam: {
      type: "host-local",
      dataDir: node.dataDir,
      ranges: [[{ subnet: "10.245.1.0/24" }], [{ subnet: "fd00:245::/64" }]],
    },
  });
  const results = new Map<string, { host: string; pod: string }>();
  for (const id of ["keep1", "gone1", "gone2"]) {
    const pod = w.netns(id);
    const res = await add(node, pod, conf, { containerId: id });
    results.set(id, { host: res.interfaces[0].name, pod });
  }
  const otherPod = w.netns("other");
  const otherRes = await add(node, otherPod, other, { containerId: "gone1", ifname: "net1" });
  assert.equal(leases(node.dataDir).length, 8);

  const r = await cni(node, { command: "GC", env: { CNI_CONTAINERID: null, CNI_IFNAME: null } }, {
    ...conf,
    "cni.dev/valid-attachments": [{ containerID: "keep1", ifname: "eth0" }],
  });
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.stdout, "");
  const names = extraLinks(node.ns).map((l) => l.ifname).sort();
  assert.deepEqual(names, [results.get("keep1")!.host, otherRes.interfaces[0].name].sort());
  assert.deepEqual(extraLinks(results.get("gone1")!.pod), [], "the pod end went with the host end");
  assert.equal(leases(node.dataDir).length, 4, "keep1's two leases and othernet's two remain");
  assert.equal(ipJson(results.get("keep1")!.pod, "link", "show", "dev", "eth0").length, 1);
  assert.deepEqual([...Deno.readDirSync(captureDir)].map((e) => e.name), ["keep1-eth0.json"]);
  const log = Deno.readTextFileSync(node.logFile);
  assert.match(log, /"removed":\["gone1\/eth0","gone2\/eth0"\]/);
});

Deno.test("GC accepts cni.dev/attachments, refuses a missing list and cniVersion below 1.1.0", async () => {
  await using w = world();
  const node = makeNode(w);
  const conf = netConf(node);
  const pod = w.netns("pod");
  const res = await add(node, pod, conf, { containerId: "c1" });
  const gcEnv = { command: "GC", env: { CNI_CONTAINERID: null, CNI_IFNAME: null } };
  assertCniError(await cni(node, gcEnv, conf), 7, /valid-attachments/);
  assertCniError(
    await cni(node, gcEnv, { ...netConf(node, { cniVersion: "1.0.0" }), "cni.dev/valid-attachments": [] }),
    1,
  );
  const ok = await cni(node, gcEnv, { ...conf, "cni.dev/attachments": [{ containerID: "c1", ifname: "eth0" }] });
  assert.equal(ok.code, 0, ok.stdout);
  assert.deepEqual(extraLinks(node.ns).map((l) => l.ifname), [res.interfaces[0].name]);
  const all = await cni(node, gcEnv, { ...conf, "cni.dev/attachments": [] });
  assert.equal(all.code, 0, all.stdout);
  assert.deepEqual(extraLinks(node.ns), []);
  assert.deepEqual(leases(node.dataDir), []);
});

Deno.test("STATUS succeeds silently when IPAM is usable and answers 50 when it is not", async () => {
  await using w = world();
  const node = makeNode(w);
  const env = { command: "STATUS", env: { CNI_CONTAINERID: null, CNI_IFNAME: null } };
  const ok = await cni(node, env, netConf(node));
  assert.equal(ok.code, 0, ok.stdout);
  assert.equal(ok.stdout, "");
  assertCniError(await cni(node, env, netConf(node, { ipam: { type: "no-such-ipam" } })), 50, /cannot add pods/);
  assertCniError(await cni(node, env, netConf(node, { cniVersion: "1.0.0" })), 1, /STATUS needs cniVersion 1\.1\.0/);
});

/** A fake IPAM plugin speaking CNI 1.1.0 that records each call as `COMMAND stdin` lines. */
function fakeIpam(dir: string, statusFails: boolean): string {
  const log = `${dir}/calls`;
  Deno.writeTextFileSync(
    `${dir}/fake-ipam`,
    `#!/bin/sh
IFS= read -r in # a builtin: runtimes may give plugins no PATH
echo "$CNI_COMMAND $CNI_CONTAINERID $in" >> ${log}
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["0.4.0","1.0.0","1.1.0"]}' ;;
ADD) echo '{"cniVersion":"1.1.0","ips":[{"address":"10.250.0.5/24"}]}' ;;
STATUS) ${statusFails ? `echo '{"cniVersion":"1.1.0","code":50,"msg":"pool exhausted"}'; exit 1` : "true"} ;;
esac
`,
    { mode: 0o755 },
  );
  return log;
}

Deno.test("GC and STATUS go to an IPAM plugin that speaks 1.1.0 (one IPAM GC, no DEL; STATUS errors passed on)", async () => {
  await using w = world();
  const node = makeNode(w);
  const dir = w.tempDir();
  const calls = fakeIpam(dir, true);
  const conf = netConf(node, { ipam: { type: "fake-ipam" } });
  const path = `${dir}:/usr/lib/cni`;
  const pod = w.netns("pod");
  await add(node, pod, conf, { containerId: "stale", path });
  const valid = [{ containerID: "live", ifname: "eth0" }];
  const gc = await cni(node, { command: "GC", path, env: { CNI_CONTAINERID: null, CNI_IFNAME: null } }, {
    ...conf,
    "cni.dev/valid-attachments": valid,
  });
  assert.equal(gc.code, 0, gc.stdout);
  assert.deepEqual(extraLinks(node.ns), []);
  const lines = Deno.readTextFileSync(calls).trim().split("\n");
  const cmds = lines.map((l) => l.split(" ")[0]);
  assert.deepEqual(cmds.filter((c) => c !== "VERSION"), ["ADD", "GC"]);
  const gcLine = lines.find((l) => l.startsWith("GC"))!;
  const gcIn = JSON.parse(gcLine.slice(gcLine.indexOf("{")));
  assert.deepEqual(gcIn["cni.dev/valid-attachments"], valid);
  assert.equal(gcIn.cniVersion, "1.1.0");

  const st = await cni(node, { command: "STATUS", path, env: { CNI_CONTAINERID: null, CNI_IFNAME: null } }, conf);
  // The plugin's code is passed on with the spec's meaning; its own words are not (they may echo the config).
  assertCniError(
    st,
    50,
    /^IPAM plugin fake-ipam STATUS failed with CNI error code 50 \(the plugin is not available\)$/,
  );
  assert.ok(!st.stdout.includes("pool exhausted"));
});
