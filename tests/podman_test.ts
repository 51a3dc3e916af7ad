/**
 * Real-engine end to end: Debian's podman 4.3 (CNI backend; libcni validates
 * every list with VERSION before use and calls VERSION before each ADD/DEL)
 * driving podnet as installed by `podnet install` into temp dirs. podman runs
 * inside a throwaway node netns (`nsenter --net=`; `ip netns exec` would hide
 * the cgroup mounts), with containers.conf/storage.conf pointing into a temp
 * dir (vfs storage, cgroupfs, low default ulimits, as in the verified recipe)
 * and `--rootfs` of busybox-static, so no image registry is involved.
 * The node owns 10.250.0.1 and fd00:250::1 on an ifb device, which the
 * containers ping; nothing leaves the test namespaces.
 */

import assert from "node:assert/strict";
import { listDir } from "../core/fsutil.ts";
import type { StatusReport } from "../ops/status.ts";
import { ip, ipJson, type Ran, run, runAsync, type World, world } from "./harness.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const LAUNCHER = `${ROOT}/bin/podnet`;
const NODE_V4 = "10.250.0.1", NODE_V6 = "fd00:250::1";
const SUBNET_V4 = "10.244.7.0/24", SUBNET_V6 = "fd00:244:7::/64";
const RESULTS_CACHE = "/var/lib/cni/results"; // libcni's cache; podman 4.3 has no setting for it

/** One podman set-up: temp config/storage, a node netns, podnet installed into temp CNI dirs. */
interface Engine {
  dir: string;
  node: string;
  nodePath: string;
  rootfs: string;
  podman: (...args: string[]) => Promise<Ran>;
  /** podman, failing the test with its stderr when it exits non-zero. */
  ok: (...args: string[]) => Promise<string>;
  status: () => Promise<{ code: number; report: StatusReport }>;
}

/** Replaces `from` in `text`, failing when it is not there (so the shipped file and this test cannot drift apart). */
function swap(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `deploy/podman file no longer contains ${JSON.stringify(from)}`);
  return text.replaceAll(from, to);
}

/**
 * deploy/podman/containers.conf as shipped, with every host path moved under `dir`, plus the
 * machine-specific settings of the verified recipe (shared/recipes/podman): cgroupfs, low default
 * ulimits, file events, vfs storage.
 */
function containersConf(dir: string): string {
  let c = Deno.readTextFileSync(`${ROOT}/deploy/podman/containers.conf`);
  c = swap(c, '"/opt/cni/bin"', `"${dir}/cni-bin"`);
  c = swap(c, '"/etc/cni/net.d"', `"${dir}/net.d"`);
  c = swap(c, '["/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d"]', `["${dir}/hooks.d"]`);
  c = swap(c, '"/usr/local/libexec/podnet/runsc-wrap"', `"${dir}/runsc-wrap"`);
  // Not "podnet": were podnet's list rejected, podman would build an in-memory bridge under the
  // default name and use it (leases in /var/lib/cni/networks). Tests always pass --network podnet.
  c = swap(c, 'default_network = "podnet"', 'default_network = "pnt-unused"');
  c = swap(
    c,
    "[engine]\n",
    `[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "${dir}/events.log"
runtime = "runc"
tmp_dir = "${dir}/tmp"
static_dir = "${dir}/storage/root/libpod"
volume_path = "${dir}/storage/root/volumes"
`,
  );
  return `[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "bridge"
${c}`;
}

function storageConf(dir: string): string {
  return `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/storage/root"\nrunroot = "${dir}/storage/runroot"\n`;
}

/** deploy/podman/runsc-wrap as shipped, its state under `dir`, logging each call. */
function runscWrapper(dir: string): string {
  let w = Deno.readTextFileSync(`${ROOT}/deploy/podman/runsc-wrap`);
  w = swap(w, "RUNSC_ROOT=/run/runsc-podman", `RUNSC_ROOT=${dir}/runsc-root`);
  w = swap(w, "EMPTY_DIR=/run/podnet/empty", `EMPTY_DIR=${dir}/emptydir`);
  return swap(w, "#!/bin/sh\n", `#!/bin/sh\necho "$(date +%T) runsc $*" >> ${dir}/runsc-logs/argv.log\n`);
}

async function engine(w: World): Promise<Engine> {
  const dir = w.tempDir();
  const node = w.netns("node");
  const nodePath = w.path(node);
  ip(node, "link", "add", "up0", "type", "ifb");
  ip(node, "link", "set", "up0", "up");
  ip(node, "addr", "add", `${NODE_V4}/32`, "dev", "up0");
  ip(node, "-6", "addr", "add", `${NODE_V6}/128`, "dev", "up0", "nodad");
  // A node has an uplink; proxy ARP would need this route (docs/architecture.md), static-neighbor does not.
  ip(node, "route", "add", "default", "dev", "up0");
  ip(node, "-6", "route", "add", "default", "dev", "up0");
  for (const d of ["rootfs/bin", "tmp", "emptydir", "runsc-root", "runsc-logs"]) {
    Deno.mkdirSync(`${dir}/${d}`, { recursive: true });
  }
  Deno.copyFileSync("/bin/busybox", `${dir}/rootfs/bin/busybox`);
  Deno.chmodSync(`${dir}/rootfs/bin/busybox`, 0o755);
  Deno.writeTextFileSync(`${dir}/containers.conf`, containersConf(dir));
  Deno.writeTextFileSync(`${dir}/storage.conf`, storageConf(dir));
  Deno.writeTextFileSync(`${dir}/runsc-wrap`, runscWrapper(dir), { mode: 0o755 });
  const env = { CONTAINERS_CONF: `${dir}/containers.conf`, CONTAINERS_STORAGE_CONF: `${dir}/storage.conf` };
  const podman = (...args: string[]): Promise<Ran> =>
    runAsync("nsenter", [`--net=${nodePath}`, "podman", ...args], { env });
  const ok = async (...args: string[]): Promise<string> => {
    const r = await podman(...args);
    assert.equal(r.code, 0, `podman ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  // Every container lives in this temp storage, so removing all of them removes only ours.
  w.defer(async () => void await podman("rm", "-af", "-t", "0"));
  const inst = await runAsync(LAUNCHER, [
    "install",
    "--cni-bin-dir",
    `${dir}/cni-bin`,
    "--cni-conf-dir",
    `${dir}/net.d`,
    "--hooks-dir",
    `${dir}/hooks.d`,
    "--ipam-data-dir",
    `${dir}/ipam`,
    "--capture-dir",
    `${dir}/capture`,
    "--subnet",
    SUBNET_V4,
    "--subnet",
    SUBNET_V6,
  ]);
  assert.equal(inst.code, 0, inst.stderr);
  const status = async (): Promise<{ code: number; report: StatusReport }> => {
    const r = await runAsync("nsenter", [`--net=${nodePath}`, LAUNCHER, "status", "--json"]);
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    return { code: r.code, report: JSON.parse(r.stdout) };
  };
  return { dir, node, nodePath, rootfs: `${dir}/rootfs`, podman, ok, status };
}

/** `podman run -d --name NAME FLAGS… --network podnet` of a busybox `sleep 300`; returns the container ID. */
async function sleeper(e: Engine, name: string, ...flags: string[]): Promise<string> {
  const args = ["--network", "podnet", "--rootfs", e.rootfs, "/bin/busybox", "sleep", "300"];
  return (await e.ok("run", "-d", "--name", name, ...flags, ...args)).trim();
}

interface PodNet {
  IPAddress: string;
  GlobalIPv6Address: string;
  MacAddress: string;
}

async function inspect(e: Engine, name: string): Promise<{ id: string; net: PodNet }> {
  const [c] = JSON.parse(await e.ok("inspect", name, "--format", "json"));
  return { id: c.Id, net: c.NetworkSettings.Networks.podnet };
}

/** Host ends (podnet alias) in the node netns. */
// deno-lint-ignore no-explicit-any
function hostEnds(node: string): any[] {
  return ipJson(node, "link", "show", "type", "veth").filter((l: { ifalias?: string }) =>
    l.ifalias?.startsWith("podnet/")
  );
}

/** The node's state that podnet owns: host ends, host routes to pods, IPAM leases, libcni cache entries. */
function leftovers(e: Engine, ids: string[]): string[] {
  const out: string[] = hostEnds(e.node).map((l) => `link ${l.ifname} (${l.ifalias})`);
  for (const fam of ["-4", "-6"]) {
    for (const r of ipJson(e.node, fam, "route", "show")) {
      if (/^(10\.244\.7\.|fd00:244:7:)/.test(r.dst)) out.push(`route ${r.dst} dev ${r.dev}`);
    }
  }
  for (const f of listDir(`${e.dir}/ipam/podnet`)) {
    if (!/^(lock|last_reserved_ip\.\d+)$/.test(f)) out.push(`lease ${f}`);
  }
  const cache = listDir(RESULTS_CACHE);
  for (const id of ids) for (const f of cache) if (f.includes(id)) out.push(`libcni cache ${f}`);
  return out;
}

function sysctl(node: string, key: string): string {
  return run("ip", ["netns", "exec", node, "cat", `/proc/sys/${key}`]).trim();
}

Deno.test("podman (runc) container gets a dual-stack address from podnet, pings the node, and rm leaves nothing", async () => {
  await using w = world();
  const e = await engine(w);
  const t0 = performance.now();
  const cid = await sleeper(e, "a1");
  const tRun = performance.now() - t0;
  const { id, net } = await inspect(e, "a1");
  assert.equal(id, cid);
  assert.match(net.IPAddress, /^10\.244\.7\.\d+$/);
  assert.match(net.GlobalIPv6Address, /^fd00:244:7::[0-9a-f]+$/);

  const ping = await e.ok(
    "exec",
    "a1",
    "/bin/busybox",
    "sh",
    "-c",
    `ping -c1 -W2 ${NODE_V4} && ping -6 -c1 -W2 ${NODE_V6}`,
  );
  assert.equal((ping.match(/bytes from/g) ?? []).length, 2, ping);
  const inPod = await e.ok("exec", "a1", "/bin/busybox", "sh", "-c", "ip -o addr show eth0; ip neigh; ip -6 neigh");
  assert.match(inPod, new RegExp(`inet ${net.IPAddress.replaceAll(".", "\\.")}/32`));

  // Kernel state on the node: one host end named and aliased as cni/attachment.ts plans it, /32 and /128 routes.
  const ends = hostEnds(e.node);
  assert.equal(ends.length, 1);
  assert.equal(ends[0].ifalias, `podnet/${cid}/eth0`);
  assert.match(ends[0].ifname, /^pn[0-9a-f]{13}$/);
  assert.equal(sysctl(e.node, `net/ipv4/conf/${ends[0].ifname}/proxy_arp`), "0");
  const r4 = ipJson(e.node, "-4", "route", "show", `${net.IPAddress}/32`);
  assert.equal(r4[0]?.dev, ends[0].ifname);
  const r6 = ipJson(e.node, "-6", "route", "show", `${net.GlobalIPv6Address}/128`);
  assert.equal(r6[0]?.dev, ends[0].ifname);
  // runc containers carry no sandbox annotation: the hook did not run for them.
  assert.deepEqual(listDir(`${e.dir}/capture`), []);

  // `podnet status` sees the same attachment from kernel state, pins matching.
  const st = await e.status();
  assert.equal(st.code, 0, JSON.stringify(st.report));
  assert.equal(st.report.attachments.length, 1);
  const a = st.report.attachments[0]!;
  assert.equal(a.containerId, cid);
  assert.deepEqual([...a.podAddresses].sort(), [net.IPAddress, net.GlobalIPv6Address].sort());
  assert.equal(a.pins, "match");
  assert.equal(a.hostMac, ends[0].address);

  const t1 = performance.now();
  await e.ok("rm", "-f", "-t", "0", "a1");
  const tRm = performance.now() - t1;
  assert.deepEqual(leftovers(e, [cid]), []);
  const after = await e.status();
  assert.equal(after.code, 0);
  assert.equal(after.report.attachments.length, 0);
  console.log(`podman run -d ${tRun.toFixed(0)} ms, podman rm ${tRm.toFixed(0)} ms`);
});

Deno.test("podman gVisor (runsc) container reaches the node with proxy ARP off, via pinned neighbors and the installed hook", async () => {
  await using w = world();
  const e = await engine(w);
  const t0 = performance.now();
  const cid = await sleeper(
    e,
    "g1",
    "--runtime",
    "runsc-podnet", // [engine.runtimes] in deploy/podman/containers.conf
    "--annotation",
    "podnet.io/sandbox=gvisor",
  );
  const tRun = performance.now() - t0;
  const end = hostEnds(e.node)[0];
  assert.ok(end, "a host end exists");
  assert.equal(sysctl(e.node, `net/ipv4/conf/${end.ifname}/proxy_arp`), "0");
  assert.equal(sysctl(e.node, "net/ipv4/conf/all/proxy_arp"), "0");
  const out = await e.ok(
    "exec",
    "g1",
    "/bin/busybox",
    "sh",
    "-c",
    `dmesg | head -1; ping -c1 -W2 ${NODE_V4} && ping -6 -c1 -W2 ${NODE_V6}`,
  );
  assert.match(out, /gVisor/, "the container runs in the gVisor sandbox");
  assert.equal((out.match(/bytes from/g) ?? []).length, 2, out);
  // The hook from hooks.d ran (annotation matched) and captured the gateway pins it re-applied.
  const snap = JSON.parse(Deno.readTextFileSync(`${e.dir}/capture/${cid}.json`));
  assert.equal(snap.schema, "podnet.capture/v1");
  const neighbors = snap.links.flatMap((l: { neighbors: { ip: string; mac: string }[] }) => l.neighbors);
  assert.deepEqual(
    neighbors.map((n: { ip: string; mac: string }) => [n.ip, n.mac]).sort(),
    [["169.254.1.1", end.address], ["fe80::1", end.address]],
  );
  const argv = Deno.readTextFileSync(`${e.dir}/runsc-logs/argv.log`);
  assert.match(argv, new RegExp(`runsc create .*${cid}`));
  await e.ok("rm", "-f", "-t", "0", "g1");
  assert.deepEqual(leftovers(e, [cid]), []);
  console.log(`podman run -d (runsc) ${tRun.toFixed(0)} ms`);
});

Deno.test("podman: 20 containers started and removed in a loop leave nothing behind", async () => {
  await using w = world();
  const e = await engine(w);
  const n = 20;
  const ids: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    ids.push(await sleeper(e, `l${i}`));
  }
  const tStart = performance.now() - t0;
  const st = await e.status();
  assert.equal(st.code, 0, JSON.stringify(st.report.attachments.filter((a) => a.drift.length)));
  assert.equal(st.report.attachments.length, n);
  const v4 = new Set(st.report.attachments.flatMap((a) => a.podAddresses.filter((x) => !x.includes(":"))));
  assert.equal(v4.size, n, "every container got its own IPv4 address");
  assert.deepEqual(new Set(st.report.attachments.map((a) => a.containerId)), new Set(ids));
  const t1 = performance.now();
  for (let i = 0; i < n; i++) await e.ok("rm", "-f", "-t", "0", `l${i}`);
  const tRm = performance.now() - t1;
  assert.deepEqual(leftovers(e, ids), []);
  assert.equal((await e.status()).report.attachments.length, 0);
  console.log(`${n} x podman run -d: ${tStart.toFixed(0)} ms; ${n} x podman rm: ${tRm.toFixed(0)} ms`);
});
