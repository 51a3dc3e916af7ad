/**
 * A two-node world for moving gVisor sandboxes, for the tests, the demo and
 * the measurement: node netns each with an uplink stand-in, a runsc root, a
 * host-local lease dir and podnet as CNI plugin; a counter workload; and the
 * runtime's part of a move that podnet leaves to the runtime (CNI ADD/DEL,
 * copying the bundle). The move itself is podnet's: `checkpoint`
 * (sandbox/checkpoint.ts) and `resume` (sandbox/resume.ts). Not part of the
 * product (lab/world.ts says why).
 *
 * @module
 */

import { writeSnapshot } from "../core/snapshot.ts";
import { linkList, parseCidr, Socket, sysctlRead, withNetns } from "../netlink/mod.ts";
import { setBundleNetwork } from "../sandbox/bundle.ts";
import { captureNetns } from "../sandbox/capture.ts";
import { snapshotAddresses } from "../sandbox/plan.ts";
import { readMoveSnapshot, resume, type ResumeOptions, type ResumeReport } from "../sandbox/resume.ts";
import { type RunscConfig, runscDelete, runscExec, runscList, runscOk, type RunscResult } from "../sandbox/runsc.ts";
import { CNI_BIN, cniEnv, ip, PODNET, runAsync, World } from "./world.ts";
import type { Snapshot } from "../core/snapshot.ts";

export { CNI_BIN, PODNET };

/**
 * Throwaway namespaces and directories of a two-node world: lab/world.ts's
 * World, giving netns paths (/run/netns/NAME) where it gives names. `new
 * Lab()` has a world of its own for the demo and the measurement (netns
 * `pnresume-ID-NAME`, apart from the test suite's `pnt-` ones); the tests
 * pass theirs.
 */
export class Lab implements AsyncDisposable {
  readonly world: World;

  constructor(world = new World({ netns: "pnresume-", tempDir: "podnet-resume-" })) {
    this.world = world;
  }

  /** Creates a netns with lo up; returns its path. */
  netns(name: string): string {
    return this.world.path(this.world.netns(name));
  }

  tempDir(): string {
    return this.world.tempDir();
  }

  /** Clean-up, run newest first before the namespaces go. */
  defer(fn: () => void | Promise<void>): void {
    this.world.defer(fn);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.world[Symbol.asyncDispose]();
  }
}

/** How to call the CNI plugin on one node: inside its netns, as a runtime there would. */
export interface CniNode {
  nodeNetns: string;
  /** PODNET_STATE_DIR of the node's calls: its own, never the machine's /run/podnet. */
  stateDir: string;
}

/** One pod attachment. */
export interface Attachment {
  containerId: string;
  /** Path of the pod's netns (CNI_NETNS). */
  podNetns: string;
  ifname: string;
  /** The network configuration (type podnet, with its ipam). */
  config: Record<string, unknown>;
}

/** The parts of a CNI result the lab reads. */
export interface CniResult {
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
}

/** One node of the two-node world. */
export interface LabNode {
  /** Path of the node netns. */
  netns: string;
  /** The node's own address (on its uplink stand-in): what pods ping. */
  address: string;
  cni: CniNode;
  /** runsc on this node: it runs in the node netns. */
  runtime: RunscConfig;
  /** host-local's lease directory on this node. */
  dataDir: string;
  /** A scratch directory of this node (bundles, images, logs). */
  dir: string;
  /** podnet's network config over `subnets` (host-local, one range per family, the "ips" capability). */
  config(...subnets: string[]): Record<string, unknown>;
}

/** `--runsc-root` and `--empty-dir` of node `n`'s runtime: how `podnet checkpoint`/`resume` reach its runsc. */
export function runtimeFlags(n: LabNode): string[] {
  return ["--runsc-root", n.runtime.root, "--empty-dir", n.runtime.emptyDir];
}

/**
 * Builds node `n`: a netns whose uplink stand-in (an `ifb` device, the only
 * virtual device this kernel offers besides veth) carries the node address
 * 10.99.n.1, a runsc root, and a host-local data dir.
 */
export function labNode(s: Lab, n: number): LabNode {
  const name = s.world.netns(`node${n}`);
  const netns = s.world.path(name);
  const address = `10.99.${n}.1`;
  ip(name, "link", "add", "ifb0", "type", "ifb");
  ip(name, "link", "set", "ifb0", "up");
  ip(name, "addr", "add", `${address}/32`, "dev", "ifb0");
  const dir = s.tempDir();
  const runtime: RunscConfig = { root: `${dir}/runsc`, emptyDir: `${dir}/empty`, netns };
  Deno.mkdirSync(runtime.root);
  const dataDir = `${dir}/ipam`;
  return {
    netns,
    address,
    cni: { nodeNetns: netns, stateDir: `${dir}/state` },
    runtime,
    dataDir,
    dir,
    config: (...subnets) => ({
      cniVersion: "1.1.0",
      name: "podnet",
      type: "podnet",
      capabilities: { ips: true },
      logFile: `${dir}/podnet.log`,
      ipam: { type: "host-local", dataDir, ranges: subnets.map((subnet) => [{ subnet }]) },
    }),
  };
}

/**
 * Calls the plugin the way a runtime does: bare environment, inside the node
 * netns. `ips` become runtimeConfig `ips` (the "ips" capability), which
 * host-local honours as the addresses to hand out.
 */
export async function cniCall(
  node: CniNode,
  command: "ADD" | "DEL" | "CHECK",
  att: Attachment,
  ips: string[] = [],
): Promise<CniResult | null> {
  const config = ips.length === 0 ? att.config : {
    ...att.config,
    runtimeConfig: { ...(att.config.runtimeConfig as Record<string, unknown> | undefined), ips },
  };
  const env = cniEnv(command, att.containerId, att.podNetns, node.stateDir, att.ifname);
  const r = await runAsync("nsenter", [`--net=${node.nodeNetns}`, PODNET], {
    stdin: JSON.stringify(config),
    env,
    clearEnv: true,
    timeoutMs: 60_000,
  });
  if (r.code !== 0) {
    let msg = r.stderr.trim() || `exit ${r.code}`;
    try {
      msg = JSON.parse(r.stdout).msg ?? msg;
    } catch {
      // not a CNI error object
    }
    throw new Error(`CNI ${command} ${att.containerId}/${att.ifname} in ${att.podNetns}: ${msg}`);
  }
  return command === "ADD" ? JSON.parse(r.stdout) as CniResult : null;
}

/** The plain addresses (no prefix) of a CNI result, sorted. */
export function resultAddresses(r: CniResult | null): string[] {
  return (r?.ips ?? []).map((i) => i.address.slice(0, i.address.indexOf("/"))).sort();
}

/** Captures one link of a pod in-process (podnet capture's engine); writes `out` (0600) and returns it. */
export function capturePod(podNetns: string, ifname: string, out: string, timeoutMs = 3000): Snapshot {
  const snap = captureNetns(podNetns, { ifnames: [ifname], timeoutMs });
  writeSnapshot(out, snap);
  return snap;
}

/** Registers `runsc delete -force ID` on `s` (harmless when already gone). */
export function track(s: Lab, rt: RunscConfig, id: string): void {
  s.defer(async () => void await runscDelete(rt, id));
}

/** `runsc run -detach` of `bundle` as container `id`; its stdout goes to `log` (stderr to `log.stderr`). */
export async function runDetached(rt: RunscConfig, id: string, bundle: string, log: string): Promise<void> {
  await runscOk(rt, `run ${id}`, ["run", "--bundle", bundle, "-detach", id], { log });
}

/** Pings `dst` once from inside container `id` (busybox at /bin/busybox; raw sockets need CAP_NET_RAW). */
export function pingFrom(rt: RunscConfig, id: string, dst: string, waitS = 1): Promise<RunscResult> {
  return runscExec(rt, id, ["/bin/busybox", "ping", "-c", "1", "-W", String(waitS), dst], ["CAP_NET_RAW"]);
}

/** What a node still holds of pods: host ends (links other than lo/ifb0), leases, runsc containers. */
export async function leftovers(node: LabNode): Promise<{ links: string[]; leases: string[]; containers: string[] }> {
  let links: string[];
  {
    using s = Socket.open(node.netns);
    links = linkList(s).map((l) => l.name).filter((n) => n !== "lo" && n !== "ifb0");
  }
  const leases: string[] = [];
  try {
    for (const net of Deno.readDirSync(node.dataDir)) {
      if (!net.isDirectory) continue;
      for (const f of Deno.readDirSync(`${node.dataDir}/${net.name}`)) {
        if (parseCidr(`${f.name}/32`) !== null || parseCidr(`${f.name}/128`) !== null) leases.push(f.name);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return { links, leases, containers: await runscList(node.runtime) };
}

/** `proxy_arp` of every interface (and `all`) in a netns that is not 0. */
export function proxyArpOn(netns: string): string[] {
  return withNetns(netns, () => {
    const out: string[] = [];
    for (const e of Deno.readDirSync("/proc/sys/net/ipv4/conf")) {
      if (e.name === "default") continue;
      if (sysctlRead(`net/ipv4/conf/${e.name}/proxy_arp`) !== "0") out.push(e.name);
    }
    return out;
  });
}

function copyTree(src: string, dst: string): void {
  Deno.mkdirSync(dst, { recursive: true });
  for (const e of Deno.readDirSync(src)) {
    const s = `${src}/${e.name}`, d = `${dst}/${e.name}`;
    if (e.isDirectory) copyTree(s, d);
    else if (e.isSymlink) Deno.symlinkSync(Deno.readLinkSync(s), d);
    else Deno.copyFileSync(s, d);
  }
}

/** What the target node's runtime prepares: a copy of bundle `src` joining the netns at `netns`. */
export function retargetBundle(src: string, dst: string, netns: string): void {
  copyTree(src, dst);
  setBundleNetwork(dst, { netns });
}

/** The counter the tests and the demo checkpoint: one `tick N` line every 200 ms. */
export const COUNTER = [
  "/bin/busybox",
  "sh",
  "-c",
  "i=0; while true; do i=$((i+1)); echo tick $i; /bin/busybox sleep 0.2; done",
];

/** The counter values a container printed (`tick N` lines) to its log. */
export function ticks(log: string): number[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(log);
  } catch {
    // nothing printed yet
  }
  return text.split("\n").map((l) => /^tick (\d+)$/.exec(l.trim())?.[1]).filter((n) => n !== undefined).map(Number);
}

/** Polls `fn` every 50 ms until it gives a value or `timeoutMs` passes. */
export async function waitFor<T>(what: string, timeoutMs: number, fn: () => T | null | Promise<T | null>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the counter in `log` has printed at least `n` ticks after `after`; returns the last one. */
export function waitTicks(log: string, n: number, after = 0, timeoutMs = 10_000): Promise<number> {
  return waitFor(`${n} ticks in ${log}`, timeoutMs, () => {
    const t = ticks(log).filter((x) => x > after);
    return t.length >= n ? t.at(-1)! : null;
  });
}

/** The runtime's part on the target node plus podnet's: attach the pod, then `resume` into it. */
export interface Move extends Omit<ResumeOptions, "runtime" | "podNetns" | "ifname"> {
  node: LabNode;
  attachment: Attachment;
}

/** What `attachAndResume` did: the CNI result and podnet's report. */
export interface Moved extends ResumeReport {
  result: CniResult;
}

/**
 * The whole target side as a runtime runs it: read the snapshot (a corrupt
 * one stops here, before anything is attached), CNI ADD asking IPAM for the
 * snapshot's addresses with `sameAddress`, then podnet's `resume`; when that
 * fails, the ADD is undone (CNI DEL).
 */
export async function attachAndResume(m: Move): Promise<Moved> {
  const att = m.attachment;
  const source = readMoveSnapshot(m.snapshot ?? `${m.imageDir}/podnet-network.json`, att.ifname);
  const ips = m.sameAddress ? snapshotAddresses(source, att.ifname) : [];
  const result = (await cniCall(m.node.cni, "ADD", att, ips))!;
  try {
    const { node: _node, attachment: _att, ...rest } = m;
    const rep = await resume({ ...rest, runtime: m.node.runtime, podNetns: att.podNetns, ifname: att.ifname });
    return { ...rep, result };
  } catch (e) {
    await cniCall(m.node.cni, "DEL", att).catch(() => {});
    throw e;
  }
}
