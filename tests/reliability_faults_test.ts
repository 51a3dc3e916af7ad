/**
 * Reliability (issue 7, test 2): a failure at each step of ADD — injected
 * through the test seam (cni/seams.ts: PODNET_TEST_SEAMS=1 with
 * PODNET_TEST_FAIL_AT=<step>) for every step, and real faults (IPAM plugin
 * failing, garbled or empty, the result unwritable) — returns the right error
 * code and leaves nothing behind anywhere in the node or the pod.
 *
 * @module
 */

import assert from "node:assert/strict";
import { world } from "./harness.ts";
import { ADD_STEPS } from "../cni/seams.ts";
import { assertCniError, cni, makeNode, PODNET } from "./cni_helpers.ts";
import { assertNoLeak, fakeIpam, nodeState, pluginDir, pool, relConf, seamEnv } from "./rel_helpers.ts";

const VARIANTS = [
  { label: "dual-stack static-neighbor", opts: {} },
  { label: "IPv4 proxy-arp", opts: { v6: false, gatewayMode: "proxy-arp" } },
  { label: "IPv6 only", opts: { v4: false } },
];

Deno.test(`a failure injected after each of the ${ADD_STEPS.length} ADD steps returns code 999 and leaves nothing (3 layouts)`, async () => {
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const cases = VARIANTS.flatMap((v) => ADD_STEPS.map((step) => ({ ...v, step })));
  const pods = cases.map((_, i) => w.netns(`f${i}`));
  const runs = await pool(cases, 4, async (c, i) => {
    const r = await cni(node, {
      command: "ADD",
      containerId: `fail-${i}`,
      netns: w.path(pods[i]!),
      env: seamEnv({ PODNET_TEST_FAIL_AT: c.step }),
    }, relConf(node, c.opts));
    return { c, r };
  });
  for (const { c, r } of runs) {
    assertCniError(r, 999, new RegExp(`injected failure after step ${c.step}`));
  }
  await assertNoLeak(node, before, "injected failures", { pods });
});

Deno.test("a failing, garbled or empty IPAM answer fails ADD with the right code and leaves nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const bin = pluginDir(w);
  fakeIpam(bin, "ipam-busy", `echo '{"cniVersion":"1.0.0","code":11,"msg":"pool locked"}'; exit 1`);
  fakeIpam(bin, "ipam-crash", `echo 'panic: boom' >&2; exit 2`);
  fakeIpam(bin, "ipam-garbage", `echo 'this is not json'`);
  fakeIpam(bin, "ipam-empty", `echo '{"cniVersion":"1.0.0","ips":[]}'`);
  fakeIpam(bin, "ipam-badip", `echo '{"cniVersion":"1.0.0","ips":[{"address":"300.1.1.1/24"}]}'`);
  const before = nodeState(node);
  const cases: [string, number, RegExp][] = [
    // The plugin's code goes on with the spec's meaning; its words ("pool locked") do not (they may echo the config).
    ["ipam-busy", 11, /^IPAM plugin ipam-busy ADD failed with CNI error code 11 \(try again later\)$/],
    ["ipam-crash", 999, /IPAM plugin ipam-crash ADD exited with status 2/],
    ["ipam-garbage", 999, /IPAM plugin ipam-garbage printed no JSON result/],
    ["ipam-empty", 999, /returned no addresses/],
    ["ipam-badip", 999, /ipam-badip/],
  ];
  const pods = cases.map((_, i) => w.netns(`i${i}`));
  await Promise.all(cases.map(async ([type, code, msg], i) => {
    const r = await cni(
      node,
      { command: "ADD", containerId: `ipam-${i}`, netns: w.path(pods[i]!), path: bin },
      relConf(node, { ipam: { type } }),
    );
    assertCniError(r, code, msg);
  }));
  await assertNoLeak(node, before, "IPAM faults", { pods });
});

Deno.test("an ADD whose result cannot be written (stdout on /dev/full) fails and leaves nothing", async () => {
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const pod = w.netns("pod");
  const conf = JSON.stringify(relConf(node));
  const cmd = `exec /usr/bin/nsenter --net=${node.path} ${PODNET} >/dev/full`;
  const out = await new Deno.Command("sh", {
    args: ["-c", cmd],
    clearEnv: true,
    env: {
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: "full",
      CNI_NETNS: w.path(pod),
      CNI_IFNAME: "eth0",
      CNI_PATH: "/usr/lib/cni",
      PODNET_STATE_DIR: node.stateDir,
    },
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const wr = out.stdin.getWriter();
  await wr.write(new TextEncoder().encode(conf));
  await wr.close();
  const res = await out.output();
  const stderr = new TextDecoder().decode(res.stderr);
  assert.notEqual(res.code, 0, "an ADD the runtime never heard of must not report success");
  assert.ok(!/\n\s+at /.test(stderr), `stack trace: ${stderr}`);
  await assertNoLeak(node, before, "unwritable result", { pods: [pod] });
});
