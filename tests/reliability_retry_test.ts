/**
 * Reliability (issue 7, test 4): transient kernel answers are retried with a
 * bound (a fake libnl call answering NLE_DUMP_INTR / EBUSY / EAGAIN), an
 * interrupted dump under real table churn still returns the whole table, and
 * an IPAM plugin that is missing, failing or hanging gives a clear error
 * (code 11 where trying again can help) within a bound, leaving nothing — no
 * link, lease or process.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ip, run, world } from "./harness.ts";
import { NLE_AGAIN, NLE_BUSY, NLE_DUMP_INTR, NLE_EXIST } from "../ffi/libnl.ts";
import { addrList, NetlinkError, Socket } from "../netlink/mod.ts";
import { dump, request } from "../netlink/object.ts";
import { toCniError } from "../cni/errors.ts";
import { assertCniError, cni, makeNode } from "./cni_helpers.ts";
import { assertNoLeak, fakeIpam, nodeState, pluginDir, processesIn, relConf, script } from "./rel_helpers.ts";

Deno.test("an interrupted dump is retried and a busy kernel answer is retried at most 5 times (fake libnl calls)", () => {
  using sock = Socket.open(); // only its pointer is passed to the fakes; nothing is sent
  let calls = 0;
  const out = dump(sock, "fake dump", (_sk, slot) => {
    slot[0] = 0n; // an empty cache
    return ++calls <= 2 ? -NLE_DUMP_INTR : 0;
  }, () => null);
  assert.deepEqual([out, calls], [[], 3]);

  calls = 0;
  request("fake add", () => (++calls === 1 ? -NLE_AGAIN : 0));
  assert.equal(calls, 2);

  calls = 0;
  assert.throws(() => request("fake add", () => (calls++, -NLE_BUSY)), (e) => e instanceof NetlinkError && e.transient);
  assert.equal(calls, 5, "bounded: five attempts, then the error");

  calls = 0;
  assert.throws(() => request("fake add", () => (calls++, -NLE_EXIST)), (e) => e instanceof NetlinkError && e.exists);
  assert.equal(calls, 1, "a permanent answer is not retried");

  // What still fails transiently after the retries reaches the runtime as "try again later".
  assert.equal(toCniError(new NetlinkError("link add", NLE_BUSY, 16, "busy")).code, 11);
  assert.equal(toCniError(new NetlinkError("link add", NLE_EXIST, 17, "exists")).code, 999);
});

Deno.test("address dumps under address churn are interrupted by the kernel yet always come back whole", async () => {
  await using w = world();
  const ns = w.netns("churn");
  const n = 3000;
  ip(ns, "link", "add", "ifb0", "type", "ifb");
  const batch = `${w.tempDir()}/addrs`;
  Deno.writeTextFileSync(
    batch,
    Array.from({ length: n }, (_, i) => `addr add 10.${(i >> 8) & 255}.${i & 255}.1/32 dev ifb0\n`).join(""),
  );
  ip(ns, "-b", batch);
  const churn = new Deno.Command("sh", {
    args: [
      "-c",
      `while :; do ip -n ${ns} addr add 10.250.0.1/32 dev ifb0; ip -n ${ns} addr del 10.250.0.1/32 dev ifb0; done`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  w.defer(async () => {
    churn.kill("SIGKILL");
    await churn.status;
  });
  // Control: a raw RTM_GETADDR dump sees NLM_F_DUMP_INTR (0x10) under this churn, so the retry is exercised.
  const probe = `import socket, struct
hit = 0
for _ in range(40):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    s.send(struct.pack('=LHHLL', 24, 22, 0x301, 1, 0) + struct.pack('=BBBBL', 2, 0, 0, 0, 0))
    done = flagged = False
    while not done:
        data = s.recv(1 << 20); off = 0
        while off < len(data):
            ln, t, fl, _, _ = struct.unpack_from('=LHHLL', data, off)
            flagged |= bool(fl & 0x10); done |= t in (2, 3); off += (ln + 3) & ~3
    s.close(); hit += flagged
print(hit)`;
  const interrupted = Number(run("ip", ["netns", "exec", ns, "python3", "-c", probe]).trim());
  assert.ok(interrupted > 0, "the kernel never interrupted a dump: the churn is too slow to test anything");
  using sock = Socket.open(w.path(ns));
  for (let i = 0; i < 40; i++) {
    const got = addrList(sock, { family: 4 }).filter((a) => a.cidr !== "10.250.0.1/32" && a.cidr !== "127.0.0.1/8");
    assert.equal(got.length, n, `dump ${i} is not whole`);
    assert.equal(new Set(got.map((a) => a.cidr)).size, n, `dump ${i} has duplicates`);
    await new Promise((r) => setTimeout(r, 0));
  }
  console.log(`kernel interrupted ${interrupted}/40 raw dumps; 40/40 podnet dumps were whole`);
});

Deno.test("an IPAM plugin that is missing, exhausted or hanging fails ADD clearly, in bounded time, leaving nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const bin = pluginDir(w);
  // Hangs on ADD only, through a child of its own (which must die with it).
  fakeIpam(bin, "ipam-hang-add", "/bin/sleep 600; /bin/sleep 1");
  fakeIpam(bin, "ipam-hang-all", "exec /bin/sleep 600", "exec /bin/sleep 600");
  script(`${bin}/ipam-hang-version`, "exec /bin/sleep 600");
  const before = nodeState(node);
  const timeoutMs = 1500;
  const cases: { type: string; code: number; msg: RegExp; ipam?: Record<string, unknown> }[] = [
    { type: "ipam-missing", code: 5, msg: /IPAM plugin "ipam-missing" not found in CNI_PATH/ },
    { type: "ipam-hang-add", code: 11, msg: /IPAM plugin ipam-hang-add ADD did not finish within 1500 ms/ },
    { type: "ipam-hang-all", code: 11, msg: /IPAM plugin ipam-hang-all ADD did not finish within 1500 ms/ },
    { type: "ipam-hang-version", code: 11, msg: /IPAM plugin ipam-hang-version VERSION did not finish/ },
    {
      type: "host-local",
      code: 999,
      msg: /^IPAM plugin host-local ADD failed with CNI error code 999 \(internal failure\)$/,
      ipam: {
        type: "host-local",
        dataDir: node.dataDir,
        ranges: [[{ subnet: "10.244.1.0/24", rangeStart: "10.244.1.9", rangeEnd: "10.244.1.9" }]],
      },
    },
  ];
  const pods = cases.map((_, i) => w.netns(`h${i}`));
  // The exhausted range: its one address is taken by another pod first.
  const holder = w.netns("holder");
  const exhausted = relConf(node, { ipam: cases[4]!.ipam! });
  const held = await cni(node, { command: "ADD", containerId: "holder", netns: w.path(holder), path: bin }, exhausted);
  assert.equal(held.code, 0, held.stdout);
  await Promise.all(cases.map(async (c, i) => {
    const t0 = performance.now();
    const r = await cni(node, {
      command: "ADD",
      containerId: `ipam-${i}`,
      netns: w.path(pods[i]!),
      path: bin,
      env: { PODNET_IPAM_TIMEOUT_MS: String(timeoutMs) },
    }, relConf(node, { ipam: c.ipam ?? { type: c.type } }));
    const ms = performance.now() - t0;
    assertCniError(r, c.code, c.msg);
    // ADD's own wait plus the rollback's IPAM DEL (which may hang as well), plus start-up.
    assert.ok(ms < 2 * timeoutMs + 3000, `${c.type}: took ${ms.toFixed(0)} ms`);
  }));
  // The hung plugins (and the child one of them started) were killed, not left to the node.
  assert.deepEqual(processesIn(node.path), [], "processes left after the timeouts");
  // DEL through a plugin that hangs is bounded too, and says so.
  const del = await cni(node, {
    command: "DEL",
    containerId: "ipam-2",
    netns: w.path(pods[2]!),
    path: bin,
    env: { PODNET_IPAM_TIMEOUT_MS: String(timeoutMs) },
  }, relConf(node, { ipam: { type: "ipam-hang-all" } }));
  assertCniError(del, 11, /did not finish within/);
  assert.equal(
    (await cni(node, { command: "DEL", containerId: "holder", netns: w.path(holder), path: bin }, exhausted))
      .code,
    0,
  );
  await assertNoLeak(node, before, "IPAM missing/exhausted/hanging", { pods: [...pods, holder] });
});
