/**
 * Reliability (issue 7, test 6): host hygiene. A before/after diff of every
 * sysctl under net.ipv4 and net.ipv6 of the node netns shows only the host
 * ends' own per-interface keys (and of those only the ones podnet means to
 * set); nothing host-wide (no proxy_arp), no firewall rule; files podnet
 * creates are 0600 in 0700 directories even under umask 000; and a config's
 * secret values never reach stdout, stderr or the log, whatever fails.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ip, run, world } from "./harness.ts";
import { makeNode, type Node, PODNET } from "./cni_helpers.ts";
import {
  assertNoLeak,
  captureDirOf,
  firewall,
  netSysctls,
  nodeState,
  pluginDir,
  relConf,
  script,
  sysctlDiff,
} from "./rel_helpers.ts";

/** Runs podnet in the node netns under umask 000 with a bare environment; returns exit code and output. */
async function cniUmask0(
  node: Node,
  env: Record<string, string>,
  stdin: string,
  path = "/usr/lib/cni",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", `umask 000; exec /usr/bin/nsenter --net=${node.path} ${PODNET}`],
    clearEnv: true,
    env: { CNI_IFNAME: "eth0", CNI_PATH: path, PODNET_STATE_DIR: node.stateDir, ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin)).catch(() => {});
  await w.close().catch(() => {});
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function mode(path: string): string {
  return (Deno.statSync(path).mode! & 0o777).toString(8).padStart(4, "0");
}

/** Per-interface keys of `ifname` (conf and neigh, v4 and v6) whose value differs from the `default` entry's. */
function diffFromDefault(s: Map<string, string>, ifname: string): string[] {
  const out: string[] = [];
  for (const [k, v] of s) {
    const m = k.match(/^net\/(ipv[46])\/(conf|neigh)\/([^/]+)\/(.+)$/);
    if (!m || m[3] !== ifname) continue;
    const dflt = s.get(`net/${m[1]}/${m[2]}/default/${m[4]}`);
    if (dflt !== undefined && dflt !== v) out.push(`${m[1]}/${m[2]}/${m[4]}`);
  }
  return out.sort();
}

Deno.test("ADD changes only its host ends' own sysctls (none host-wide, no proxy_arp, no firewall rule); DEL restores all", async () => {
  await using w = world();
  const node = makeNode(w);
  // An unrelated interface with a non-default setting, which must stay as it is.
  ip(node.ns, "link", "add", "ifb1", "type", "ifb");
  run("ip", ["netns", "exec", node.ns, "sysctl", "-qw", "net.ipv4.conf.ifb1.rp_filter=2"]);
  const before = nodeState(node);
  // What a plain veth differs from `default` in by itself, in a netns of its own.
  const ctl = w.netns("ctl");
  ip(ctl, "link", "add", "v0", "type", "veth", "peer", "name", "v1");
  const natural = new Set(diffFromDefault(netSysctls(ctl), "v0"));

  const pods = [w.netns("sn"), w.netns("pa")];
  const modes = ["static-neighbor", "proxy-arp"];
  const hosts: string[] = [];
  for (const [i, gatewayMode] of modes.entries()) {
    const r = await cniUmask0(node, {
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: `hyg-${i}`,
      CNI_NETNS: w.path(pods[i]!),
    }, JSON.stringify(relConf(node, { gatewayMode })));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    hosts.push(JSON.parse(r.stdout).interfaces[0].name);
  }
  const after = netSysctls(node.ns);
  const changed = sysctlDiff(before.sysctls, after);
  const foreign = changed.filter((k) => !hosts.some((h) => new RegExp(`^net/ipv[46]/(conf|neigh)/${h}/`).test(k)));
  assert.deepEqual(foreign, [], "sysctls changed outside the host ends' own keys");
  for (const key of ["all", "default", "ifb0", "ifb1", "lo"]) {
    assert.equal(after.get(`net/ipv4/conf/${key}/proxy_arp`), "0", `${key}.proxy_arp`);
  }
  // Of a host end's own keys, only what podnet sets differs from a fresh interface's defaults.
  const allowed = {
    "static-neighbor": [
      "ipv4/conf/forwarding",
      "ipv6/conf/accept_ra",
      "ipv6/conf/addr_gen_mode",
      "ipv6/conf/force_forwarding",
    ],
    "proxy-arp": [
      "ipv4/conf/forwarding",
      "ipv4/conf/proxy_arp",
      "ipv4/neigh/proxy_delay",
      "ipv6/conf/accept_ra",
      "ipv6/conf/addr_gen_mode",
      "ipv6/conf/force_forwarding",
    ],
  } as Record<string, string[]>;
  hosts.forEach((h, i) => {
    const own = diffFromDefault(after, h).filter((k) => !natural.has(k));
    assert.deepEqual(own.filter((k) => !allowed[modes[i]!]!.includes(k)), [], `${h}: unexpected own sysctls`);
    assert.ok(own.includes("ipv4/conf/forwarding"), `${h}: forwarding not set (the diff sees nothing?)`);
  });
  assert.equal(firewall(node.ns), before.firewall, "ADD added firewall rules");

  for (const [i] of modes.entries()) {
    const r = await cniUmask0(node, {
      CNI_COMMAND: "DEL",
      CNI_CONTAINERID: `hyg-${i}`,
      CNI_NETNS: w.path(pods[i]!),
    }, JSON.stringify(relConf(node)));
    assert.equal(r.code, 0, r.stdout);
  }
  await assertNoLeak(node, before, "hygiene", { pods });
});

Deno.test("files podnet creates are 0600 in 0700 directories, even under umask 000", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const base = w.tempDir();
  const logFile = `${base}/new/log/podnet.log`;
  const conf = relConf(node, { extra: { logFile, logLevel: "debug" } });
  const r = await cniUmask0(
    node,
    { CNI_COMMAND: "ADD", CNI_CONTAINERID: "files", CNI_NETNS: w.path(pod) },
    JSON.stringify(conf),
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const cap = captureDirOf(node);
  const capFiles = [...Deno.readDirSync(cap)].map((e) => `${cap}/${e.name}`);
  assert.equal(capFiles.length, 1, "one capture file");
  const cacheFiles = [...Deno.readDirSync(node.stateDir)].filter((e) => e.isFile).map((e) =>
    `${node.stateDir}/${e.name}`
  );
  assert.ok(cacheFiles.length > 0, "the IPAM version cache was written");
  const locks = `${node.stateDir}/locks`;
  const lockFiles = [...Deno.readDirSync(locks)].map((e) => `${locks}/${e.name}`);
  assert.equal(lockFiles.length, 1, "the attachment's lock file (kept while the attachment exists)");
  // `podnet capture --out` from the pod, as the hook's capture would.
  const snap = `${base}/snap.json`;
  run("/bin/sh", ["-c", `umask 000; exec ${PODNET} capture --netns ${w.path(pod)} --out ${snap}`]);
  const files = [logFile, ...capFiles, ...cacheFiles, ...lockFiles, snap];
  const dirs = [`${base}/new`, `${base}/new/log`, cap, node.stateDir, locks];
  assert.deepEqual(files.map((f) => `${f} ${mode(f)}`), files.map((f) => `${f} 0600`));
  assert.deepEqual(dirs.map((d) => `${d} ${mode(d)}`), dirs.map((d) => `${d} 0700`));
  const d = await cniUmask0(
    node,
    { CNI_COMMAND: "DEL", CNI_CONTAINERID: "files", CNI_NETNS: w.path(pod) },
    JSON.stringify(conf),
  );
  assert.equal(d.code, 0, d.stdout);
});

Deno.test("a config's secret values never appear on stdout, stderr or in the log, whatever the outcome", async () => {
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const bin = pluginDir(w);
  // An IPAM plugin that fails and echoes its whole stdin (the config, secrets included) to stderr.
  script(
    `${bin}/ipam-echo`,
    `case "$CNI_COMMAND" in VERSION) /bin/cat >/dev/null; echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}'; exit 0;; esac
/bin/cat >&2; echo; exit 1`,
  );
  const secret = `PNT-SECRET-${crypto.randomUUID()}`;
  const good = relConf(node, {
    extra: {
      logLevel: "debug",
      apiToken: secret,
      runtimeConfig: { token: secret },
      args: { cni: { password: secret } },
    },
  });
  (good.ipam as Record<string, unknown>).token = secret;
  const cases: { what: string; env?: Record<string, string>; stdin: string; path?: string; ok: boolean }[] = [
    { what: "ADD", stdin: JSON.stringify(good), ok: true },
    { what: "CHECK", env: { CNI_COMMAND: "CHECK" }, stdin: JSON.stringify(good), ok: false },
    { what: "ADD again (exists)", stdin: JSON.stringify(good), ok: false },
    { what: "DEL", env: { CNI_COMMAND: "DEL" }, stdin: JSON.stringify(good), ok: true },
    {
      what: "injected failure",
      env: { PODNET_TEST_SEAMS: "1", PODNET_TEST_FAIL_AT: "pod-routes" },
      stdin: JSON.stringify(good),
      ok: false,
    },
    { what: "malformed JSON", stdin: `{"apiToken": "${secret}", "cniVersion": "1.1.0",`, ok: false },
    { what: "secret in a bad mtu", stdin: JSON.stringify({ ...good, mtu: { token: secret } }), ok: false },
    { what: "unknown version", stdin: JSON.stringify({ ...good, cniVersion: "9.9.9" }), ok: false },
    { what: "not UTF-8", stdin: `{"apiToken": "${secret}\udc00"}`, ok: false },
    {
      what: "IPAM echoing its stdin",
      stdin: JSON.stringify({ ...good, ipam: { type: "ipam-echo", token: secret } }),
      path: bin,
      ok: false,
    },
  ];
  for (const c of cases) {
    const r = await cniUmask0(
      node,
      {
        CNI_COMMAND: "ADD",
        CNI_CONTAINERID: "secret",
        CNI_NETNS: w.path(pod),
        ...c.env,
      },
      c.stdin,
      c.path,
    );
    if (c.ok) assert.equal(r.code, 0, `${c.what}: ${r.stdout}`);
    else if (c.what !== "CHECK") assert.notEqual(r.code, 0, `${c.what}: should fail`);
    for (const [name, text] of [["stdout", r.stdout], ["stderr", r.stderr]]) {
      assert.ok(!text!.includes(secret), `${c.what}: the secret is on ${name}: ${text}`);
    }
  }
  const log = Deno.readTextFileSync(node.logFile);
  assert.ok(log.split("\n").length > cases.length, "the log has the operations");
  assert.ok(!log.includes(secret), "the secret is in the log");
  const d = await cniUmask0(
    node,
    { CNI_COMMAND: "DEL", CNI_CONTAINERID: "secret", CNI_NETNS: w.path(pod) },
    JSON.stringify(good),
  );
  assert.equal(d.code, 0);
});
