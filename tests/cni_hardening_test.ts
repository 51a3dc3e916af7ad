/**
 * The CNI plugin against a hostile caller or a careless operator: concurrent
 * calls for one attachment, garbled prevResults, paths that are not what they
 * claim (FIFOs, symlinks, files), secrets in what plugins print, MTUs below
 * IPv6's minimum, names the kernel would expand, relative CNI_PATH entries.
 * Each test fails on the code before the fix it guards; each asserts on
 * kernel state and leases as well as on the answer.
 */

import assert from "node:assert/strict";
import { AttachmentLock } from "../sys/lock.ts";
import { add, assertCniError, cni, del, extraLinks, leases, makeNode, netConf, PODNET } from "./cni_helpers.ts";
import { ip, ipJson, run, runAsync, world } from "./harness.ts";
import { assertNoLeak, captureDirOf, fakeIpam, nodeState, pluginDir, relConf, script } from "./rel_helpers.ts";

Deno.test("two ADDs of one attachment at once: one wins, the other is refused, the winner's lease survives", async () => {
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const conf = relConf(node);
  const rounds = 30;
  const pods = Array.from({ length: rounds }, (_, i) => w.netns(`race${i}`));
  for (let i = 0; i < rounds; i++) {
    const e = { command: "ADD", containerId: `race-${i}`, netns: w.path(pods[i]!) };
    const [a, b] = await Promise.all([cni(node, e, conf), cni(node, e, conf)]);
    const won = [a, b].filter((r) => r.code === 0);
    assert.equal(won.length, 1, `round ${i}: exactly one ADD succeeds: ${a.stdout} | ${b.stdout}`);
    const lost = a.code === 0 ? b : a;
    assertCniError(lost, 4, /already exists/);
    const ips = won[0]!.json.ips.map((x: { address: string }) => x.address.split("/")[0]);
    // The loser's rollback released nothing of the winner's: its leases are still held.
    for (const addr of ips) assert.ok(leases(node.dataDir).includes(addr), `round ${i}: lease ${addr} kept`);
    assert.equal(leases(node.dataDir).length, 2 * (i + 1), `round ${i}: one lease pair per attachment`);
  }
  for (let i = 0; i < rounds; i++) await del(node, pods[i]!, conf, { containerId: `race-${i}` });
  await assertNoLeak(node, before, "racing ADDs", { pods });
});

Deno.test("a call for an attachment another call holds waits, then gives up with code 11, changing nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = netConf(node);
  // Hold the attachment's lock as another podnet call would (this test process is that other call).
  const held = AttachmentLock.acquire(`${node.stateDir}/locks`, "held/eth0");
  w.defer(() => held.release());
  const t0 = performance.now();
  const r = await cni(node, {
    command: "ADD",
    containerId: "held",
    netns: w.path(pod),
    env: { PODNET_LOCK_TIMEOUT_MS: "400" },
  }, conf);
  assertCniError(r, 11, /another podnet call holds attachment held\/eth0/);
  assert.ok(performance.now() - t0 >= 400, "it waited");
  assert.deepEqual(extraLinks(node.ns), []);
  assert.deepEqual(leases(node.dataDir), []);
  held.release();
  // Released: the next ADD goes through.
  await add(node, pod, conf, { containerId: "held" });
  await del(node, pod, conf, { containerId: "held" });
});

Deno.test("DEL with a garbled prevResult still removes the veth and releases the lease", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = netConf(node);
  await add(node, pod, conf);
  assert.equal(leases(node.dataDir).length, 2);
  const r = await cni(node, { command: "DEL", netns: w.path(pod) }, {
    ...conf,
    prevResult: { ips: [{ address: "x" }] },
  });
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(leases(node.dataDir), []);
  assert.deepEqual(extraLinks(node.ns), []);
  // CHECK with the same prevResult is the caller's fault: code 7, naming the field.
  await add(node, pod, conf);
  const c = await cni(node, { command: "CHECK", netns: w.path(pod) }, {
    ...conf,
    prevResult: { ips: [{ address: "x" }] },
  });
  assertCniError(c, 7, /prevResult is not a valid CNI result: ips\[0\]\.address: is not a CIDR/);
  await del(node, pod, conf);
});

Deno.test("paths that are not what they claim: FIFO netns, FIFO or symlinked logFile, symlinked or file captureDir", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const tmp = w.tempDir();
  run("mkfifo", [`${tmp}/fifo`]);
  const victim = `${tmp}/victim`;
  Deno.writeTextFileSync(victim, "");
  Deno.chmodSync(victim, 0o644);
  Deno.symlinkSync(victim, `${tmp}/link.log`);
  Deno.mkdirSync(`${tmp}/real`);
  Deno.symlinkSync(`${tmp}/real`, `${tmp}/linkdir`);
  Deno.writeTextFileSync(`${tmp}/file`, "");
  const conf = netConf(node);
  const bounded = async (what: string, p: Promise<{ code: number; stdout: string }>, code: number, msg: RegExp) => {
    const t0 = performance.now();
    const r = await p;
    assert.ok(performance.now() - t0 < 10_000, `${what}: did not hang`);
    assertCniError(r as never, code, msg);
  };
  await bounded("FIFO netns", cni(node, { command: "ADD", netns: `${tmp}/fifo` }, conf), 4, /not a network namespace/);
  await bounded(
    "FIFO logFile",
    cni(node, { command: "ADD", netns: w.path(pod) }, { ...conf, logFile: `${tmp}/fifo` }),
    7,
    /logFile exists and is not a regular file/,
  );
  await bounded(
    "symlinked logFile",
    cni(node, { command: "ADD", netns: w.path(pod) }, { ...conf, logFile: `${tmp}/link.log` }),
    7,
    /logFile is a symbolic link/,
  );
  await bounded(
    "symlinked captureDir",
    cni(node, { command: "ADD", netns: w.path(pod) }, { ...conf, captureDir: `${tmp}/linkdir` }),
    7,
    /captureDir is a symbolic link/,
  );
  await bounded(
    "file captureDir",
    cni(node, { command: "ADD", netns: w.path(pod) }, { ...conf, captureDir: `${tmp}/file` }),
    7,
    /captureDir exists and is not a directory/,
  );
  assert.equal(Deno.readTextFileSync(victim), "", "nothing was written through the symlink");
  assert.equal(Deno.statSync(victim).mode! & 0o777, 0o644);
  assert.deepEqual([...Deno.readDirSync(`${tmp}/real`)], [], "nothing was written through the symlinked dir");
  assert.deepEqual(extraLinks(node.ns), []);
  assert.deepEqual(leases(node.dataDir), []);
  // DEL must release what it can whatever the config says: a file captureDir is no reason to keep a lease.
  await add(node, pod, conf);
  const d = await cni(node, { command: "DEL", netns: w.path(pod) }, { ...conf, captureDir: `${tmp}/file` });
  assert.equal(d.code, 0, d.stdout);
  assert.deepEqual(leases(node.dataDir), []);
});

Deno.test("a container ID as long as an alias allows works with captureDir (the snapshot is named by its hash)", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = relConf(node);
  const id = `c${"x".repeat(239)}`; // 240 bytes: "podnet/" + id + "/eth0" is 252, under the alias's 255
  const r = await add(node, pod, conf, { containerId: id });
  assert.equal(r.ips.length, 2);
  const files = [...Deno.readDirSync(captureDirOf(node))].map((e) => e.name);
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^sha256-[0-9a-f]{64}-eth0\.json$/);
  await del(node, pod, conf, { containerId: id });
  assert.deepEqual([...Deno.readDirSync(captureDirOf(node))], []);
});

Deno.test("an IPAM plugin's words never reach the error or the log, in any encoding", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const bin = pluginDir(w);
  const secret = "PNT-<SECRET>-é";
  // Go's encoder writes < as \u003c, Python's json writes é as \u00e9: the redaction of raw text missed both.
  fakeIpam(
    bin,
    "ipam-leaky",
    `echo '{"cniVersion":"1.0.0","code":7,"msg":"bad token PNT-\\u003cSECRET\\u003e-\\u00e9","details":"PNT-<SECRET>-é"}'; exit 1`,
  );
  const conf = { ...netConf(node, { ipam: { type: "ipam-leaky", token: secret } }) };
  const r = await cni(node, { command: "ADD", netns: w.path(pod), path: bin }, conf);
  assertCniError(r, 7, /^IPAM plugin ipam-leaky ADD failed with CNI error code 7 \(invalid network config\)$/);
  const all = `${r.stdout}${r.stderr}${Deno.readTextFileSync(node.logFile)}`;
  for (const leak of ["SECRET", "\\u003c", "bad token"]) assert.ok(!all.includes(leak), `${leak} leaked: ${all}`);
});

Deno.test("interface names: % templates, NUL and 16 bytes are refused with code 4 before the kernel sees them", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  for (const ifname of ["eth%d", "%d", "abcdefghijklmnop"]) {
    const r = await cni(node, { command: "ADD", netns: w.path(pod), ifname }, netConf(node));
    assertCniError(r, 4, /CNI_IFNAME is not a valid interface name/);
    assert.ok(!r.stdout.includes(ifname), "the name is not echoed");
  }
  assert.deepEqual(ipJson(pod, "link", "show").map((l: { ifname: string }) => l.ifname), ["lo"]);
  assert.deepEqual(leases(node.dataDir), []);
});

Deno.test("MTU below IPv6's minimum is refused up front with code 7 naming mtu, touching nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  for (const v6 of [true, false]) {
    const r = await cni(node, { command: "ADD", netns: w.path(pod) }, netConf(node, { v6, mtu: 1000 }));
    assertCniError(r, 7, /mtu: 1000 is below 1280/);
  }
  assert.deepEqual(extraLinks(node.ns), []);
  assert.deepEqual(leases(node.dataDir), []);
  const ok = await add(node, pod, netConf(node, { mtu: 1280 }));
  assert.equal(ok.interfaces[1].mtu, 1280);
  await del(node, pod, netConf(node));
});

Deno.test("a relative CNI_PATH entry runs the plugin that was found, not one relative to /", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const cwd = w.tempDir();
  Deno.mkdirSync(`${cwd}/rel`);
  const marker = `${cwd}/ran`;
  // A host-local that leaves a mark: the plugin podnet checked is the one that must run.
  script(`${cwd}/rel/ipam-rel`, `/bin/touch ${marker}; exec /usr/lib/cni/host-local`);
  const conf = netConf(node, {
    ipam: { type: "ipam-rel", dataDir: node.dataDir, ranges: [[{ subnet: "10.244.9.0/24" }]] },
  });
  const r = await runAsync("/usr/bin/nsenter", [`--net=${node.path}`, PODNET], {
    stdin: JSON.stringify(conf),
    clearEnv: true,
    cwd,
    env: {
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: "rel",
      CNI_NETNS: w.path(pod),
      CNI_IFNAME: "eth0",
      CNI_PATH: "rel",
      PODNET_STATE_DIR: node.stateDir,
    },
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(Deno.statSync(marker).isFile, "the plugin found in ./rel ran");
  ip(pod, "link", "del", "eth0");
});
