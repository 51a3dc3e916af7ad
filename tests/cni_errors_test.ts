/**
 * Bad input to the real plugin: every validation case of cni/config.ts gets the
 * spec's error code as one JSON object on stdout, a non-zero exit, no stack
 * trace, and leaves nothing behind. Also VERSION, `podnet cni --help`, and
 * that logs never contain the raw config.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ip, runAsync, world } from "./harness.ts";
import {
  add,
  assertCniError,
  cni,
  type CniRun,
  del,
  extraLinks,
  leases,
  makeNode,
  netConf,
  PODNET,
} from "./cni_helpers.ts";

Deno.test("each bad environment variable fails with code 4 and touches nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = netConf(node);
  const netns = w.path(pod);
  const cases: [string, Parameters<typeof cni>[1]][] = [
    ["unknown CNI_COMMAND", { command: "FROB", netns }],
    ["missing CNI_COMMAND value", { command: "", netns }],
    ["missing CNI_CONTAINERID", { command: "ADD", netns, env: { CNI_CONTAINERID: null } }],
    ["containerID starting with a dash", { command: "ADD", netns, containerId: "-abc" }],
    ["containerID with a slash", { command: "ADD", netns, containerId: "a/b" }],
    ["containerID with a space", { command: "ADD", netns, containerId: "a b" }],
    ["missing CNI_IFNAME", { command: "ADD", netns, env: { CNI_IFNAME: null } }],
    ["ifname of 16 chars", { command: "ADD", netns, ifname: "abcdefghijklmnop" }],
    ["ifname with /", { command: "ADD", netns, ifname: "eth/0" }],
    ["ifname with :", { command: "ADD", netns, ifname: "eth:0" }],
    ["ifname with whitespace", { command: "ADD", netns, ifname: "eth 0" }],
    ["ifname .", { command: "ADD", netns, ifname: "." }],
    ["ifname ..", { command: "ADD", netns, ifname: ".." }],
    ["missing CNI_NETNS", { command: "ADD" }],
    ["relative CNI_NETNS", { command: "ADD", netns: "run/netns/x" }],
    ["CNI_NETNS that does not exist", { command: "ADD", netns: "/run/netns/pnt-does-not-exist" }],
    ["CNI_NETNS that is the plugin's own netns", { command: "ADD", netns: node.path }],
    ["CNI_NETNS that is not a netns", { command: "ADD", netns: "/etc/hostname" }],
    ["missing CNI_PATH", { command: "ADD", netns, env: { CNI_PATH: null } }],
  ];
  const runs = await Promise.all(cases.map(([, e]) => cni(node, e, conf)));
  runs.forEach((r, i) => {
    try {
      assertCniError(r, 4);
    } catch (e) {
      throw new Error(`${cases[i]![0]}: ${(e as Error).message}`);
    }
  });
  assert.match(runs[3]!.json.msg, /CNI_CONTAINERID/);
  assert.match(runs[7]!.json.msg, /CNI_IFNAME/);
  assert.match(runs[16]!.json.msg, /own network namespace/);
  assert.deepEqual(extraLinks(node.ns), []);
  assert.deepEqual(extraLinks(pod), []);
  assert.deepEqual(leases(node.dataDir), []);
});

Deno.test("each bad network config fails with the spec's code (1, 2, 5, 6, 7) and touches nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const netns = w.path(pod);
  const base = netConf(node);
  const cases: [string, unknown, number][] = [
    ["not JSON", "{not json", 6],
    ["a JSON array", "[]", 6],
    ["unsupported cniVersion", { ...base, cniVersion: "0.2.0" }, 1],
    ["future cniVersion", { ...base, cniVersion: "9.9.9" }, 1],
    ["missing cniVersion", { ...base, cniVersion: undefined }, 7],
    ["missing name", { ...base, name: undefined }, 7],
    ["bad name", { ...base, name: "-x" }, 7],
    ["mtu too small", { ...base, mtu: 10 }, 7],
    ["mtu not a number", { ...base, mtu: "1500" }, 7],
    ["unknown gatewayMode", { ...base, gatewayMode: "magic" }, 2],
    ["hostInterfacePrefix too long", { ...base, hostInterfacePrefix: "podnetxx" }, 7],
    ["relative logFile", { ...base, logFile: "podnet.log" }, 7],
    ["bad logLevel", { ...base, logLevel: "loud" }, 7],
    ["missing ipam", { ...base, ipam: undefined }, 7],
    ["ipam.type with a slash", { ...base, ipam: { type: "../bin/sh" } }, 7],
    ["ipam plugin not in CNI_PATH", { ...base, ipam: { type: "no-such-ipam" } }, 5],
    ["dns not an object", { ...base, dns: "8.8.8.8" }, 7],
  ];
  const runs: CniRun[] = await Promise.all(cases.map(([, c]) => cni(node, { command: "ADD", netns }, c)));
  runs.forEach((r, i) => {
    try {
      assertCniError(r, cases[i]![2]);
    } catch (e) {
      throw new Error(`${cases[i]![0]}: ${(e as Error).message}`);
    }
  });
  assert.match(
    runs[9]!.json.msg,
    /gatewayMode: it wants one of "static-neighbor", "proxy-arp"/,
    "code 2 names the key",
  );
  assert.ok(!runs[9]!.stdout.includes("magic"), "a rejected free-text value is not echoed");
  assert.equal(runs[2]!.json.cniVersion, "1.1.0", "unsupported version: error in a version podnet speaks");
  assert.deepEqual(extraLinks(node.ns), []);
  assert.deepEqual(extraLinks(pod), []);
  assert.deepEqual(leases(node.dataDir), []);
});

Deno.test("an IPAM failure is passed on with its code and leaves nothing behind", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  // host-local rejects a range without a subnet.
  const conf = netConf(node, { ipam: { type: "host-local", dataDir: node.dataDir, ranges: [[{}]] } });
  const r = await cni(node, { command: "ADD", netns: w.path(pod) }, conf);
  const msg = assertCniError(r, 999); // host-local reports a bad range as a plain (999) error
  assert.match(msg, /IPAM plugin host-local ADD failed/);
  assert.deepEqual(extraLinks(node.ns), []);
  assert.deepEqual(extraLinks(pod), []);
});

Deno.test("ADD fails touching nothing when CNI_IFNAME already exists in the pod netns", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  ip(pod, "link", "add", "eth0", "type", "veth", "peer", "name", "other0");
  const r = await cni(node, { command: "ADD", netns: w.path(pod) }, netConf(node));
  assertCniError(r, 4, /eth0 already exists/);
  assert.deepEqual(extraLinks(node.ns), []);
  assert.deepEqual(leases(node.dataDir), []);
  assert.equal(extraLinks(pod).length, 2, "the existing links are untouched");
});

Deno.test("VERSION echoes the requested version with the supported list, config or not", async () => {
  await using w = world();
  const node = makeNode(w);
  for (const [stdin, want] of [['{"cniVersion":"0.4.0"}', "0.4.0"], ["", "1.1.0"]] as const) {
    const r = await cni(node, { command: "VERSION", env: { CNI_CONTAINERID: null, CNI_IFNAME: null } }, stdin);
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(r.json, { cniVersion: want, supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
  }
});

Deno.test("podnet cni --help prints help on stdout; without CNI_COMMAND it is a usage error", async () => {
  const h = await runAsync(PODNET, ["cni", "--help"]);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /^usage: podnet cni/);
  assert.match(h.stdout, /gatewayMode/);
  const bare = await runAsync(PODNET, ["cni"], { env: {}, clearEnv: true });
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /CNI_COMMAND is not set/);
  const bad = await runAsync(PODNET, ["cni", "--bogus"], { clearEnv: true });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--bogus/);
});

Deno.test("the log file gets one JSON line per operation, mode 0600 in a 0700 dir, never the raw config", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = netConf(node, { extra: { secretToken: "hunter2-do-not-log" } });
  await add(node, pod, conf);
  // Another container's ADD into the same pod netns finds eth0 taken.
  assertCniError(await cni(node, { command: "ADD", containerId: "ctr2", netns: w.path(pod) }, conf), 4);
  await del(node, pod, conf);
  const text = Deno.readTextFileSync(node.logFile);
  assert.ok(!text.includes("hunter2"), "raw config leaked into the log");
  const lines = text.trim().split("\n").map((l) => JSON.parse(l));
  const ops = lines.filter((l) => l.msg.startsWith("cni "));
  assert.deepEqual(ops.map((l) => [l.command, l.outcome]), [["ADD", "ok"], ["ADD", "error"], ["DEL", "ok"]]);
  assert.deepEqual(ops.map((l) => l.containerID), ["ctr1", "ctr2", "ctr1"]);
  for (const l of ops) {
    assert.equal(l.ifname, "eth0");
    assert.equal(typeof l.durationMs, "number");
    assert.ok(typeof l.ts === "string" && typeof l.level === "string");
  }
  assert.equal(ops[1].code, 4);
  // podnet's own field names are logged; an unknown key is input too (it may itself be a secret): only counted.
  assert.ok(ops[0].configFields.includes("ipam") && !ops[0].configFields.includes("secretToken"), text);
  assert.equal(ops[0].otherFields, 1);
  assert.equal(Deno.statSync(node.logFile).mode! & 0o777, 0o600);
  assert.equal(Deno.statSync(node.logFile.slice(0, node.logFile.lastIndexOf("/"))).mode! & 0o777, 0o700);
});
