/**
 * Sandbox resume across pods and nodes: a gVisor (runsc) sandbox checkpointed
 * in one pod carries on in a new podnet-attached pod, usually on another node,
 * where the link, maybe the address, and the gateway's MAC are all different.
 * docs/resume.md is the operator's version of this file, command by command.
 *
 * Source node:
 * 1. The pod's network is captured (`podnet capture`) when the pod is attached,
 *    before the sandbox starts: runsc takes the addresses and routes OUT of the
 *    netns it scrapes, so a capture at checkpoint time finds nothing to record.
 * 2. `runsc checkpoint`; the snapshot travels beside the image; the container
 *    is deleted and the pod detached (CNI DEL) as for any pod.
 * Target node (`resume`):
 * 1. The snapshot is validated strictly before anything is touched.
 * 2. CNI ADD for the new pod, asking IPAM for the snapshot's addresses through
 *    runtimeConfig `ips` when the network keeps addresses across nodes
 *    (host-local honours it), or for new ones when it does not.
 * 3. `podnet capture` of the NEW pod: this is where each gateway's MAC is
 *    re-resolved on the new node (the new CNI attachment's pin — with proxy ARP
 *    off nobody answers ARP for podnet's 169.254.1.1, so the pin is the only
 *    source — or an ARP/NDP answer there). The snapshot's gateway MACs belong
 *    to the old node and are never pinned. Routes the snapshot has and the new
 *    attachment lacks are carried over, when their gateway is one the new node
 *    resolved. The capture also gives the new link's identity (its MAC), which
 *    `podnet restore` needs to find it: the snapshot names the old link.
 * 4. `podnet restore --resolve-gateways` of that plan into the sandbox netns
 *    (the new pod's netns, or a separate one the link is moved into): link up,
 *    addresses, routes in dependency order, gateway neighbors NUD_PERMANENT
 *    with MACs read live once more; then the pins are read back from the
 *    kernel and checked against the plan.
 *    Or, with `viaHook`, the plan goes into the pod's own netns and the
 *    bundle gets a new network namespace plus `podnet hook --link-netns POD`
 *    as prestart hook: runsc runs it at restore, before it reads the netns.
 * 5. Only then `runsc restore`, which copies that netns into the sandbox.
 * Any failure after the ADD deletes the restored container (if any) and
 * undoes the ADD, so the target pod is left as it was.
 *
 * runsc is Debian's 2022 build: it wrongly thinks it runs in the root netns on
 * kernels >= 6.0 unless /proc/sys/net is hidden (hence the private mount ns
 * and bind mount), and `ip netns exec` remounts /sys and hides the cgroup
 * mounts, so it runs under `nsenter --net=NODE` with `--ignore-cgroups`.
 *
 * Run `deno run -A scripts/resume.ts --help` for the command-line form;
 * `resumeDemo` is the README demo's closing act.
 *
 * @module
 */

import { UsageError } from "../core/errors.ts";
import { ensurePrivateDir, writeFileAtomic } from "../core/fsutil.ts";
import { DEFAULT_TIMEOUT_MS } from "../sandbox/capture.ts";
import { readSnapshot } from "../sys/files.ts";
import {
  parseSnapshot,
  SCHEMA,
  type Snapshot,
  SnapshotError,
  type SnapshotLink,
  type SnapshotRoute,
  validateSnapshot,
} from "../core/snapshot.ts";
import { linkFind, linkList, neighList, parseCidr, Socket, sysctlRead, withNetns } from "../netlink/mod.ts";
import { ip, type Ran, runAsync, World } from "../lab/world.ts";

/** The podnet launcher: the same main.ts an installed /opt/cni/bin/podnet runs. */
export const PODNET = new URL("../bin/podnet", import.meta.url).pathname;
/** Where the reference plugins (host-local) live on Debian. */
export const CNI_BIN = "/usr/lib/cni";
/** The snapshot's name beside `checkpoint.img` in the image directory. */
export const SNAPSHOT_FILE = "podnet-network.json";

/** A failed resume step; the message is one line naming the step and the object. */
export class ResumeError extends Error {
  override readonly name = "ResumeError";
}

/** `runAsync` with the flow's default limit: a hung runsc or plugin fails its step after a minute. */
function exec(
  cmd: string,
  args: string[],
  opts: { stdin?: string; env?: Record<string, string>; clearEnv?: boolean; timeoutMs?: number } = {},
): Promise<Ran> {
  return runAsync(cmd, args, { ...opts, timeoutMs: opts.timeoutMs ?? 60_000 });
}

function lastLine(r: Ran): string {
  const lines = `${r.stderr}\n${r.stdout}`.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  return lines.at(-1) ?? `exit ${r.code}`;
}

// ---------------------------------------------------------------------------
// runsc

/** One node's gVisor runtime. */
export interface Runtime {
  /** runsc state directory of this node (`runsc --root`). */
  root: string;
  /** Path of the node's netns: runsc runs there, as the node's runtime would. */
  nodeNetns: string;
  /** An empty directory bind-mounted over /proc/sys/net (old-runsc workaround). */
  emptyDir: string;
}

// "$1" is the empty dir; for detached commands "$2" is the container's log (runsc's own stdio is
// the container's, so a pipe would stay open as long as the container lives).
const RUNSC_SH = 'mount --bind "$1" /proc/sys/net || exit 125; shift; exec runsc "$@"';
const RUNSC_DETACHED_SH = 'mount --bind "$1" /proc/sys/net || exit 125; log=$2; shift 2; ' +
  'exec runsc "$@" </dev/null >>"$log" 2>>"$log.stderr"';

/** The argv that runs `runsc ARGS…` on `rt`'s node with the workarounds above. */
export function runscArgv(rt: Runtime, args: string[], log?: string): string[] {
  return [
    "nsenter",
    `--net=${rt.nodeNetns}`,
    "unshare",
    "-m",
    "--propagation",
    "private",
    "sh",
    "-c",
    log === undefined ? RUNSC_SH : RUNSC_DETACHED_SH,
    "sh",
    rt.emptyDir,
    ...(log === undefined ? [] : [log]),
    "--root",
    rt.root,
    "--net-raw",
    "--network=sandbox",
    "--ignore-cgroups",
    ...args,
  ];
}

/** Runs `runsc ARGS…`; with `log` the container's stdout goes there (stderr to `log.stderr`). */
export function runsc(rt: Runtime, args: string[], opts: { log?: string; timeoutMs?: number } = {}): Promise<Ran> {
  const [cmd, ...rest] = runscArgv(rt, args, opts.log);
  return exec(cmd!, rest, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs });
}

async function runscOk(rt: Runtime, what: string, args: string[], log?: string): Promise<Ran> {
  const r = await runsc(rt, args, log === undefined ? {} : { log });
  if (r.code !== 0) {
    let detail = lastLine(r);
    if (log !== undefined) {
      const err = tryRead(`${log}.stderr`)?.trim().split("\n").at(-1);
      if (err) detail = err;
    }
    throw new ResumeError(`${what}: runsc failed (exit ${r.code}): ${detail}`);
  }
  return r;
}

function tryRead(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** `runsc delete -force ID`; true when it was there. */
export async function runscDelete(rt: Runtime, id: string): Promise<boolean> {
  return (await runsc(rt, ["delete", "-force", id])).code === 0;
}

/** IDs of the containers runsc knows on `rt`'s node. */
export async function runscList(rt: Runtime): Promise<string[]> {
  const r = await runsc(rt, ["list", "-quiet"]);
  if (r.code !== 0) throw new ResumeError(`runsc list: ${lastLine(r)}`);
  return r.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

/** Pings `dst` once from inside container `id` (busybox at /bin/busybox; raw sockets need CAP_NET_RAW). */
export function pingFrom(rt: Runtime, id: string, dst: string, waitS = 1): Promise<Ran> {
  return runsc(rt, ["exec", "--cap", "CAP_NET_RAW", id, "/bin/busybox", "ping", "-c", "1", "-W", String(waitS), dst]);
}

// ---------------------------------------------------------------------------
// OCI bundles

/**
 * Writes a bundle with a busybox-static rootfs running `args`, joining the netns
 * at `netns` (null: runsc makes a new, empty one), with optional prestart hooks.
 */
export function makeBundle(
  dir: string,
  args: string[],
  netns: string | null,
  prestart: { path: string; args: string[] }[] = [],
): void {
  Deno.mkdirSync(`${dir}/rootfs/bin`, { recursive: true });
  Deno.mkdirSync(`${dir}/rootfs/proc`, { recursive: true });
  Deno.copyFileSync("/bin/busybox", `${dir}/rootfs/bin/busybox`);
  const caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"];
  const config = {
    ociVersion: "1.0.0",
    process: {
      user: { uid: 0, gid: 0 },
      args,
      env: ["PATH=/bin"],
      cwd: "/",
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      terminal: false,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "podnet",
    mounts: [{ destination: "/proc", type: "proc", source: "proc" }],
    linux: {
      namespaces: [
        { type: "pid" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        netns === null ? { type: "network" } : { type: "network", path: netns },
      ],
    },
    ...(prestart.length > 0 ? { hooks: { prestart: prestart.map((h) => ({ ...h, timeout: 30 })) } } : {}),
  };
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config, null, 2));
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

/**
 * Makes `dst` a copy of bundle `src` whose container joins the netns at
 * `netns`: what the target node's runtime prepares for the resumed container
 * (runsc restores into whatever netns the bundle names).
 */
export function retargetBundle(src: string, dst: string, netns: string): void {
  copyTree(src, dst);
  setBundleNetwork(dst, netns);
}

// ---------------------------------------------------------------------------
// CNI

/** How to call the CNI plugin on one node. */
export interface CniNode {
  /** Path of the node's netns: the plugin runs there and creates the host ends there. */
  nodeNetns: string;
  /** CNI_PATH (default /usr/lib/cni: host-local). */
  cniPath?: string;
  /** The plugin executable (default bin/podnet). */
  plugin?: string;
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

/** The parts of a CNI result the flow reads. */
export interface CniResult {
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
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
  const env = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: att.containerId,
    CNI_NETNS: att.podNetns,
    CNI_IFNAME: att.ifname,
    CNI_PATH: node.cniPath ?? CNI_BIN,
  };
  const r = await exec("nsenter", [`--net=${node.nodeNetns}`, node.plugin ?? PODNET], {
    stdin: JSON.stringify(config),
    env,
    clearEnv: true,
  });
  if (r.code !== 0) {
    let msg = lastLine(r);
    try {
      msg = JSON.parse(r.stdout).msg ?? msg;
    } catch {
      // not a CNI error object: keep the last line
    }
    throw new ResumeError(`CNI ${command} ${att.containerId}/${att.ifname} in ${att.podNetns}: ${msg}`);
  }
  return command === "ADD" ? JSON.parse(r.stdout) as CniResult : null;
}

/** The plain addresses (no prefix) of a CNI result. */
export function resultAddresses(r: CniResult | null): string[] {
  return (r?.ips ?? []).map((i) => i.address.slice(0, i.address.indexOf("/"))).sort();
}

// ---------------------------------------------------------------------------
// podnet capture / restore

async function podnet(what: string, args: string[]): Promise<Ran> {
  const r = await exec(PODNET, args);
  if (r.code !== 0) throw new ResumeError(`${what}: ${lastLine(r)}`);
  return r;
}

/** `podnet capture` of one link of a pod; writes `out` (0600) and returns the snapshot. */
export async function capturePod(
  podNetns: string,
  ifname: string,
  out: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<Snapshot> {
  await podnet(`capture ${ifname} in ${podNetns}`, [
    "capture",
    "--netns",
    podNetns,
    "--ifname",
    ifname,
    "--out",
    out,
    "--timeout-ms",
    String(timeoutMs),
  ]);
  return readSnapshot(out);
}

/** Reads and validates a snapshot, as one `ResumeError` line when it is unusable. */
export function loadSnapshot(path: string, ifname: string): Snapshot {
  let snap: Snapshot;
  try {
    snap = readSnapshot(path);
  } catch (e) {
    if (!(e instanceof SnapshotError)) throw e;
    throw new ResumeError(`snapshot ${path}: ${e.message}`);
  }
  if (!snap.links.some((l) => l.name === ifname)) {
    throw new ResumeError(
      `snapshot ${path}: no link ${ifname} (it has ${snap.links.map((l) => l.name).join(", ")})`,
    );
  }
  return snap;
}

/** Link-local addresses come from the kernel (EUI-64) or the design (169.254.1.1), never from IPAM. */
function isLinkLocal(ip: string): boolean {
  return ip.startsWith("169.254.") || /^fe[89ab][0-9a-f]:/.test(ip);
}

/** The plain addresses of a link; with `ipamOnly`, those IPAM hands out (no link-local ones). */
function addressesOf(link: SnapshotLink, ipamOnly = false): string[] {
  const all = link.addresses.map((a) => a.cidr.slice(0, a.cidr.indexOf("/")));
  return (ipamOnly ? all.filter((a) => !isLinkLocal(a)) : all).sort();
}

/** The addresses IPAM gave the snapshot's link: what the new pod asks for to keep them. */
export function snapshotAddresses(snap: Snapshot, ifname: string): string[] {
  const l = snap.links.find((x) => x.name === ifname);
  return l ? addressesOf(l, true) : [];
}

/** A gateway as the plan pins it. */
export interface PlannedGateway {
  ip: string;
  /** The snapshot's MAC from the old node, never pinned; null when the snapshot had no such gateway. */
  stale: string | null;
  /** The MAC resolved on the new node: the one pinned. */
  mac: string;
}

/** What `podnet restore` installs in the sandbox netns, and how it relates to the snapshot. */
export interface Plan {
  snapshot: Snapshot;
  gateways: PlannedGateway[];
  addresses: { before: string[]; after: string[] };
  /** Routes of the snapshot the new attachment did not have, installed as well. */
  carried: SnapshotRoute[];
}

function routeKey(r: SnapshotRoute): string {
  const family = parseCidr(r.dst)?.family ?? 4;
  return `${r.dst} metric ${r.metric ?? (family === 4 ? 0 : 1024)}`;
}

/**
 * Plans the restore of `source` (the snapshot from the old pod) onto the new
 * attachment `target` (a fresh capture of the new pod): the new link's
 * identity, addresses, routes and gateway MACs, plus the snapshot's routes the
 * new attachment lacks. A carried route must go through a gateway the new
 * node resolved (its MAC cannot come from the snapshot) and may not name a
 * source address the new pod does not have.
 */
export function planRestore(source: Snapshot, target: Snapshot, ifname: string): Plan {
  const src = source.links.find((l) => l.name === ifname);
  const tgt = target.links.find((l) => l.name === ifname);
  if (!src) throw new ResumeError(`plan: the snapshot has no link ${ifname}`);
  if (!tgt) throw new ResumeError(`plan: the new pod has no link ${ifname}`);
  const have = new Set(tgt.routes.map(routeKey));
  const gateways = new Set(tgt.neighbors.map((n) => n.ip));
  const mine = new Set(addressesOf(tgt));
  const carried: SnapshotRoute[] = [];
  for (const r of src.routes) {
    if (have.has(routeKey(r))) continue;
    const name = `route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""} from the snapshot`;
    if (r.gateway !== undefined && !gateways.has(r.gateway)) {
      throw new ResumeError(
        `plan: ${name}: ${r.gateway} is not a gateway of the new pod, so its MAC cannot be resolved on this node`,
      );
    }
    if (r.src !== undefined && !mine.has(r.src)) {
      throw new ResumeError(`plan: ${name}: source address ${r.src} is not the new pod's`);
    }
    carried.push(r);
  }
  const link: SnapshotLink = { ...tgt, routes: [...tgt.routes, ...carried] };
  return {
    snapshot: validateSnapshot({ schema: SCHEMA, capturedAt: target.capturedAt, links: [link] }),
    gateways: tgt.neighbors.map((n) => ({
      ip: n.ip,
      stale: src.neighbors.find((s) => s.ip === n.ip)?.mac ?? null,
      mac: n.mac,
    })),
    addresses: { before: addressesOf(src, true), after: addressesOf(tgt, true) },
    carried,
  };
}

/** PERMANENT neighbors of `ifname` in a netns, as IP → MAC (empty when the link is not there). */
export function pinnedNeighbors(netns: string, ifname: string): Map<string, string> {
  using s = Socket.open(netns);
  const link = linkFind(s, ifname);
  const out = new Map<string, string>();
  if (link === null) return out;
  for (const n of neighList(s, { ifindex: link.index })) if (n.permanent && n.mac) out.set(n.ip, n.mac);
  return out;
}

// ---------------------------------------------------------------------------
// The two sides

/** A snapshot taken after the sandbox started has no addresses: runsc moved them into the sandbox. */
function noAddresses(path: string): ResumeError {
  return new ResumeError(
    `snapshot ${path}: no addresses to keep (was it captured after the sandbox started? runsc removes the ` +
      "addresses and routes from the netns it reads; capture when the pod is attached)",
  );
}

/** Source side: checkpoint the sandbox and put the pod's snapshot beside the image. */
export interface CheckpointOptions {
  runtime: Runtime;
  id: string;
  imageDir: string;
  /** The pod's snapshot, captured when the pod was attached (copied to imageDir/podnet-network.json). */
  snapshot?: string;
}

/** `runsc checkpoint`, the snapshot copied beside the image, then `runsc delete`. Returns the image size. */
export async function checkpoint(o: CheckpointOptions): Promise<{ imageBytes: number }> {
  ensurePrivateDir(o.imageDir);
  if (o.snapshot !== undefined) {
    // Validate before the sandbox is stopped: a checkpoint without a usable network record is not resumable here.
    const text = Deno.readTextFileSync(o.snapshot);
    let snap: Snapshot;
    try {
      snap = parseSnapshot(text);
    } catch (e) {
      throw new ResumeError(`snapshot ${o.snapshot}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (snap.links.every((l) => l.addresses.length === 0)) throw noAddresses(o.snapshot);
    writeFileAtomic(`${o.imageDir}/${SNAPSHOT_FILE}`, text, 0o600);
  }
  await runscOk(o.runtime, `checkpoint ${o.id}`, ["checkpoint", "--image-path", o.imageDir, o.id]);
  await runscDelete(o.runtime, o.id);
  let imageBytes = 0;
  for (const e of Deno.readDirSync(o.imageDir)) {
    if (e.isFile && e.name !== SNAPSHOT_FILE) imageBytes += Deno.statSync(`${o.imageDir}/${e.name}`).size;
  }
  return { imageBytes };
}

/** Target side, for an already attached pod. */
export interface RestoreOptions {
  runtime: Runtime;
  /** The pod's attachment on this node (CNI ADD done). */
  attachment: Attachment;
  /** Checkpoint image directory. */
  imageDir: string;
  /** The old pod's snapshot (default imageDir/podnet-network.json). */
  snapshot?: string;
  /** The bundle to restore with; its network namespace is set to the sandbox netns. */
  bundle: string;
  /** ID of the restored container on this node. */
  id: string;
  /** The container's stdout (appended; stderr to `log.stderr`). */
  log: string;
  /** The sandbox netns; default the pod's own. A different one gets the link moved into it. */
  sandboxNetns?: string;
  /**
   * Let runsc make the sandbox a new netns and move the pod's link into it with
   * `podnet hook --link-netns POD` as an OCI prestart hook, which runsc runs at
   * restore too. The plan is restored into the pod's netns first (so the hook
   * carries the snapshot's routes along). Not with `sandboxNetns`.
   */
  viaHook?: boolean;
  /** Where the plan file goes (default imageDir). */
  workDir?: string;
  /** Wait per gateway while re-resolving on this node (default 3000 ms). */
  gatewayTimeoutMs?: number;
  /** Progress lines. */
  onStep?: (line: string) => void;
}

/** What the target side did. */
export interface RestoreReport {
  plan: Plan;
  /** PERMANENT neighbors in the sandbox netns right before `runsc restore`, read from the kernel. */
  pinned: Map<string, string>;
  /** performance.now() when `runsc restore` started, and how long the call took. */
  runscRestoreStart: number;
  runscRestoreMs: number;
  /** Milliseconds spent before `runsc restore`: capture, plan, podnet restore, pin check. */
  prepareMs: number;
}

/**
 * Sets the bundle's network namespace: a path to join, or null for a new one
 * filled by `podnet hook --link-netns hookLinkNetns` as prestart hook.
 */
function setBundleNetwork(bundle: string, netns: string | null, hookLinkNetns?: string): void {
  const path = `${bundle}/config.json`;
  // deno-lint-ignore no-explicit-any
  let config: any;
  try {
    config = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    throw new ResumeError(`bundle ${bundle}: cannot read config.json: ${e instanceof Error ? e.message : String(e)}`);
  }
  const spaces: { type: string; path?: string }[] = config.linux?.namespaces ?? [];
  config.linux = {
    ...config.linux,
    namespaces: [
      ...spaces.filter((n) => n.type !== "network"),
      netns ? { type: "network", path: netns } : { type: "network" },
    ],
  };
  // Any podnet hook from an earlier life of the bundle goes; other hooks stay.
  type Hook = { path: string; args?: string[]; timeout?: number };
  const prestart = ((config.hooks?.prestart ?? []) as Hook[]).filter((h) => h.path !== PODNET);
  if (hookLinkNetns) {
    prestart.push({ path: PODNET, args: ["podnet", "hook", "--link-netns", hookLinkNetns], timeout: 30 });
  }
  config.hooks = { ...config.hooks, prestart };
  if (prestart.length === 0) delete config.hooks.prestart;
  if (Object.keys(config.hooks).length === 0) delete config.hooks;
  writeFileAtomic(path, JSON.stringify(config, null, 2), 0o644);
}

/** Refuses an ID runsc already knows here: the rollback would otherwise delete someone else's container. */
async function ensureFreeId(rt: Runtime, id: string): Promise<void> {
  if ((await runscList(rt)).includes(id)) {
    throw new ResumeError(`container ${id} already exists on this node (runsc --root ${rt.root})`);
  }
}

/**
 * Restores the network of an attached pod from the snapshot and then the
 * sandbox from the image (steps 3-5 of the module comment). Every check runs
 * before `runsc restore`; on failure the pod is as it was (capture and plan
 * change nothing; the restore of the fresh capture is idempotent).
 */
export async function restoreTarget(o: RestoreOptions): Promise<RestoreReport> {
  const step = o.onStep ?? (() => {});
  const att = o.attachment;
  if (o.viaHook && o.sandboxNetns !== undefined) throw new ResumeError("viaHook and sandboxNetns exclude each other");
  const sandbox = o.sandboxNetns ?? att.podNetns;
  const work = o.workDir ?? o.imageDir;
  const t0 = performance.now();
  const source = loadSnapshot(o.snapshot ?? `${o.imageDir}/${SNAPSHOT_FILE}`, att.ifname);
  await ensureFreeId(o.runtime, o.id);
  const fresh = await capturePod(
    att.podNetns,
    att.ifname,
    `${work}/target-${att.containerId}.json`,
    o.gatewayTimeoutMs,
  );
  const plan = planRestore(source, fresh, att.ifname);
  for (const g of plan.gateways) {
    step(`gateway ${g.ip}: ${g.stale ? `snapshot MAC ${g.stale} (old node, not used) → ` : ""}${g.mac} on this node`);
  }
  if (plan.carried.length) step(`carried over from the snapshot: ${plan.carried.map((r) => r.dst).join(", ")}`);
  const planFile = `${work}/plan-${att.containerId}.json`;
  writeFileAtomic(planFile, `${JSON.stringify(plan.snapshot, null, 2)}\n`, 0o600);
  const timeout = String(o.gatewayTimeoutMs ?? DEFAULT_TIMEOUT_MS);
  const args = ["restore", "--from", planFile, "--netns", sandbox, "--resolve-gateways", "--timeout-ms", timeout];
  if (sandbox !== att.podNetns) args.push("--link-netns", att.podNetns);
  await podnet(`restore into ${sandbox}`, args);
  step(`podnet ${args.join(" ")}`);
  const pinned = pinnedNeighbors(sandbox, att.ifname);
  for (const g of plan.gateways) {
    if (pinned.get(g.ip) !== g.mac) {
      throw new ResumeError(
        `restore into ${sandbox}: gateway ${g.ip} is pinned to ${pinned.get(g.ip) ?? "nothing"}, want ${g.mac}`,
      );
    }
  }
  if (o.viaHook) {
    setBundleNetwork(o.bundle, null, att.podNetns);
    step(`bundle: a new network namespace, prestart hook podnet hook --link-netns ${att.podNetns}`);
  } else setBundleNetwork(o.bundle, sandbox);
  const prepareMs = performance.now() - t0;
  const runscRestoreStart = performance.now();
  await runscOk(o.runtime, `restore ${o.id}`, [
    "restore",
    "--image-path",
    o.imageDir,
    "--bundle",
    o.bundle,
    "-detach",
    o.id,
  ], o.log);
  const runscRestoreMs = performance.now() - runscRestoreStart;
  step(`runsc restore ${o.id}: ${runscRestoreMs.toFixed(0)} ms`);
  return { plan, pinned, runscRestoreStart, runscRestoreMs, prepareMs };
}

/** Target side, end to end. */
export interface ResumeOptions extends RestoreOptions {
  node: CniNode;
  /** Ask IPAM for the snapshot's addresses (networks that keep addresses across nodes). */
  sameAddress: boolean;
}

/** What `resume` did. */
export interface ResumeReport extends RestoreReport {
  result: CniResult;
}

/**
 * The whole target side: validate the snapshot, CNI ADD (same addresses when
 * asked), `restoreTarget`. On failure after the ADD the restored container is
 * deleted and the ADD undone, so the pod netns is left as it was.
 */
export async function resume(o: ResumeOptions): Promise<ResumeReport> {
  const step = o.onStep ?? (() => {});
  const att = o.attachment;
  const snapshot = o.snapshot ?? `${o.imageDir}/${SNAPSHOT_FILE}`;
  const source = loadSnapshot(snapshot, att.ifname);
  const want = o.sameAddress ? snapshotAddresses(source, att.ifname) : [];
  if (o.sameAddress && want.length === 0) throw noAddresses(snapshot);
  await ensureFreeId(o.runtime, o.id);
  const result = (await cniCall(o.node, "ADD", att, want))!;
  try {
    const got = resultAddresses(result);
    step(`CNI ADD ${att.containerId}/${att.ifname}: ${got.join(", ")}${want.length ? " (asked for the same)" : ""}`);
    if (o.sameAddress && got.join(",") !== want.join(",")) {
      throw new ResumeError(`CNI ADD gave ${got.join(", ")}, the snapshot had ${want.join(", ")}`);
    }
    return { ...await restoreTarget({ ...o, snapshot }), result };
  } catch (e) {
    await runscDelete(o.runtime, o.id);
    await cniCall(o.node, "DEL", att).catch(() => {});
    throw e;
  }
}

/** The counter values a container printed (`tick N` lines) to its log. */
export function ticks(log: string): number[] {
  return (tryRead(log) ?? "").split("\n").map((l) => /^tick (\d+)$/.exec(l.trim())?.[1]).filter((n) => n !== undefined)
    .map(Number);
}

/** The counter the tests and the demo checkpoint: one `tick N` line every 200 ms. */
export const COUNTER = [
  "/bin/busybox",
  "sh",
  "-c",
  "i=0; while true; do i=$((i+1)); echo tick $i; /bin/busybox sleep 0.2; done",
];

// ---------------------------------------------------------------------------
// A two-node world for the demo, the measurement and the tests

/**
 * Throwaway namespaces and directories of a two-node world: the test
 * harness's World, giving netns paths (/run/netns/NAME) where it gives names.
 * `new Lab()` has a world of its own for the demo and the measurement (netns
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

/** One node of the two-node world. */
export interface LabNode {
  /** Path of the node netns. */
  netns: string;
  /** The node's own address (on its uplink stand-in): what pods ping. */
  address: string;
  cni: CniNode;
  runtime: Runtime;
  /** host-local's lease directory on this node. */
  dataDir: string;
  /** A scratch directory of this node (bundles, images, logs). */
  dir: string;
  /** podnet's network config on this node over `subnets` (host-local IPAM, one range per family, "ips" capability). */
  config(...subnets: string[]): Record<string, unknown>;
}

/**
 * Builds node `n`: a netns whose uplink stand-in (an `ifb` device, the only
 * virtual device this kernel offers besides veth) carries the node address
 * 10.99.n.1, a runsc root, and a host-local data dir. Containers created on
 * the node are force-deleted by `track`.
 */
export function labNode(s: Lab, n: number): LabNode {
  const name = s.world.netns(`node${n}`);
  const netns = s.world.path(name);
  const address = `10.99.${n}.1`;
  ip(name, "link", "add", "ifb0", "type", "ifb");
  ip(name, "link", "set", "ifb0", "up");
  ip(name, "addr", "add", `${address}/32`, "dev", "ifb0");
  const dir = s.tempDir();
  const runtime = { root: `${dir}/runsc`, nodeNetns: netns, emptyDir: `${dir}/empty` };
  Deno.mkdirSync(runtime.root);
  Deno.mkdirSync(runtime.emptyDir);
  const dataDir = `${dir}/ipam`;
  return {
    netns,
    address,
    cni: { nodeNetns: netns },
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

/** Registers `runsc delete -force ID` on `s` (harmless when already gone). */
export function track(s: Lab, rt: Runtime, id: string): void {
  s.defer(async () => {
    await runscDelete(rt, id);
  });
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

async function waitFor<T>(what: string, timeoutMs: number, fn: () => T | null | Promise<T | null>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (performance.now() > deadline) throw new ResumeError(`timed out after ${timeoutMs} ms waiting for ${what}`);
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

/**
 * The README demo's closing act: a counter sandbox checkpointed on node 1
 * resumes in a new pod on node 2 at the same address, its gateway MAC
 * re-resolved there, and pings node 2 at once. Builds its own two-node world
 * and removes it, also on failure.
 */
export async function resumeDemo(log: (line: string) => void): Promise<void> {
  await using lab = new Lab();
  const n1 = labNode(lab, 1), n2 = labNode(lab, 2);
  // One network over both nodes, so it can keep the pod's addresses.
  const subnets = ["10.244.0.0/16", "fd00:244::/64"];
  log(
    `two nodes: node 1 (${n1.address}) and node 2 (${n2.address}), podnet + host-local over ${
      subnets.join(" + ")
    }, proxy ARP off`,
  );

  const podA: Attachment = {
    containerId: "resume-a",
    podNetns: lab.netns("pod-a"),
    ifname: "eth0",
    config: n1.config(...subnets),
  };
  const added = await cniCall(n1.cni, "ADD", podA);
  lab.defer(async () => {
    await cniCall(n1.cni, "DEL", podA).catch(() => {});
  });
  const snapFile = `${n1.dir}/pod-a.json`;
  const snap = await capturePod(podA.podNetns, "eth0", snapFile);
  const gw = snap.links[0]!.neighbors.map((n) => `${n.ip} → ${n.mac}`).join(", ");
  log(`node 1: CNI ADD pod a: ${resultAddresses(added).join(", ")}; podnet capture: gateway ${gw}`);

  const bundle1 = `${n1.dir}/bundle`;
  makeBundle(bundle1, COUNTER, podA.podNetns);
  track(lab, n1.runtime, "resume-a");
  const log1 = `${n1.dir}/counter.log`;
  await runscOk(n1.runtime, "run resume-a", ["run", "--bundle", bundle1, "-detach", "resume-a"], log1);
  await waitTicks(log1, 3);
  const p1 = await pingFrom(n1.runtime, "resume-a", n1.address);
  log(`node 1: runsc run counter; ping ${n1.address} from the sandbox: ${p1.code === 0 ? "ok" : "FAILED"}`);

  const image = `${n1.dir}/image`;
  const { imageBytes } = await checkpoint({ runtime: n1.runtime, id: "resume-a", imageDir: image, snapshot: snapFile });
  const last = ticks(log1).at(-1)!;
  await cniCall(n1.cni, "DEL", podA);
  const left = await leftovers(n1);
  log(
    `node 1: runsc checkpoint after tick ${last} (${Math.round(imageBytes / 1024)} KiB image), runsc delete, ` +
      `CNI DEL; left on node 1: ${left.links.length} links, ${left.leases.length} leases, ` +
      `${left.containers.length} containers`,
  );

  const podB: Attachment = {
    containerId: "resume-b",
    podNetns: lab.netns("pod-b"),
    ifname: "eth0",
    config: n2.config(...subnets),
  };
  const bundle2 = `${n2.dir}/bundle`;
  retargetBundle(bundle1, bundle2, podB.podNetns);
  const log2 = `${n2.dir}/counter.log`;
  track(lab, n2.runtime, "resume-b");
  lab.defer(async () => {
    await cniCall(n2.cni, "DEL", podB).catch(() => {});
  });
  const rep = await resume({
    node: n2.cni,
    runtime: n2.runtime,
    attachment: podB,
    sameAddress: true,
    imageDir: image,
    bundle: bundle2,
    id: "resume-b",
    log: log2,
    workDir: n2.dir,
    onStep: (l) => log(`node 2: ${l}`),
  });
  const p2 = await pingFrom(n2.runtime, "resume-b", n2.address);
  const firstPingMs = performance.now() - rep.runscRestoreStart;
  if (p2.code !== 0) throw new ResumeError(`ping ${n2.address} from the resumed sandbox failed: ${lastLine(p2)}`);
  const first = await waitFor("the counter on node 2", 10_000, () => ticks(log2)[0] ?? null);
  log(
    `node 2: ping ${n2.address} from the resumed sandbox: ok, ${
      firstPingMs.toFixed(0)
    } ms after runsc restore started ` +
      `(proxy_arp on: ${[...proxyArpOn(n1.netns), ...proxyArpOn(n2.netns)].join(", ") || "nowhere"})`,
  );
  log(`node 2: the counter carries on: tick ${last} on node 1, tick ${first} next on node 2`);
}

// ---------------------------------------------------------------------------
// Command line

const HELP = `usage: deno run -A scripts/resume.ts <checkpoint|resume|demo> [flags]

Sandbox resume across pods and nodes (docs/resume.md).

checkpoint   on the source node: runsc checkpoint, the pod's snapshot beside the image, runsc delete
  --node-netns PATH    the node's netns (runsc runs there)
  --runsc-root DIR     runsc --root of the node
  --id ID              the container
  --image-dir DIR      where the image goes
  --snapshot FILE      the pod's podnet capture, taken when it was attached (copied to DIR/${SNAPSHOT_FILE})

resume       on the target node: CNI ADD, podnet capture of the new pod, podnet restore, runsc restore
  --node-netns PATH    the node's netns (the CNI plugin and runsc run there)
  --runsc-root DIR     runsc --root of the node
  --cni-config FILE    the network configuration (type podnet)
  --cni-path DIRS      CNI_PATH (default ${CNI_BIN})
  --container-id ID    CNI_CONTAINERID of the new pod
  --pod-netns PATH     the new pod's netns (CNI_NETNS)
  --ifname NAME        CNI_IFNAME (default eth0)
  --same-address       ask IPAM for the snapshot's addresses (runtimeConfig ips)
  --image-dir DIR      the checkpoint image (and ${SNAPSHOT_FILE}, unless --snapshot)
  --snapshot FILE      the old pod's snapshot
  --bundle DIR         the OCI bundle to restore with (its network namespace is set to the sandbox netns)
  --id ID              the restored container's ID
  --log FILE           the container's stdout (stderr: FILE.stderr)
  --sandbox-netns PATH restore into this netns, moving the link there (default: the pod's netns)
  --hook               let runsc make a new netns for the sandbox and move the link in with
                       podnet hook --link-netns POD as prestart hook (runsc runs it at restore)
  --gateway-timeout-ms N   wait per gateway while re-resolving (default ${DEFAULT_TIMEOUT_MS})
  --empty-dir DIR      empty directory hidden over /proc/sys/net for runsc (default /run/podnet/empty)

demo         builds a throwaway two-node world and runs the whole story
`;

function need(v: Record<string, unknown>, name: string): string {
  const x = v[name];
  if (typeof x !== "string" || x === "") throw new UsageError(`resume.ts: --${name} is required (see --help)`);
  return x;
}

async function cli(args: string[]): Promise<number> {
  const { parseFlags, int } = await import("../core/cli.ts");
  const [cmd, ...rest] = args;
  if (cmd === undefined || cmd === "--help" || cmd === "-h") {
    console.log(HELP);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === "demo") {
    await resumeDemo((l) => console.log(l));
    return 0;
  }
  const flags = {
    "node-netns": { type: "string" },
    "runsc-root": { type: "string" },
    id: { type: "string" },
    "image-dir": { type: "string" },
    snapshot: { type: "string" },
    "empty-dir": { type: "string" },
  } as const;
  const emptyDefault = "/run/podnet/empty";
  if (cmd === "checkpoint") {
    const { values } = parseFlags("resume.ts checkpoint", rest, flags);
    const emptyDir = (values["empty-dir"] as string | undefined) ?? emptyDefault;
    Deno.mkdirSync(emptyDir, { recursive: true });
    const snapshot = values.snapshot as string | undefined;
    const r = await checkpoint({
      runtime: { root: need(values, "runsc-root"), nodeNetns: need(values, "node-netns"), emptyDir },
      id: need(values, "id"),
      imageDir: need(values, "image-dir"),
      ...(snapshot === undefined ? {} : { snapshot }),
    });
    console.log(`checkpointed ${values.id}: ${r.imageBytes} bytes in ${values["image-dir"]}`);
    return 0;
  }
  if (cmd === "resume") {
    const { values } = parseFlags("resume.ts resume", rest, {
      ...flags,
      "cni-config": { type: "string" },
      "cni-path": { type: "string" },
      "container-id": { type: "string" },
      "pod-netns": { type: "string" },
      ifname: { type: "string" },
      "same-address": { type: "boolean" },
      bundle: { type: "string" },
      log: { type: "string" },
      "sandbox-netns": { type: "string" },
      hook: { type: "boolean" },
      "gateway-timeout-ms": { type: "string" },
    });
    const emptyDir = (values["empty-dir"] as string | undefined) ?? emptyDefault;
    Deno.mkdirSync(emptyDir, { recursive: true });
    const nodeNetns = need(values, "node-netns");
    const cniPath = values["cni-path"] as string | undefined;
    const snapshot = values.snapshot as string | undefined;
    const sandboxNetns = values["sandbox-netns"] as string | undefined;
    const r = await resume({
      node: { nodeNetns, ...(cniPath === undefined ? {} : { cniPath }) },
      runtime: { root: need(values, "runsc-root"), nodeNetns, emptyDir },
      attachment: {
        containerId: need(values, "container-id"),
        podNetns: need(values, "pod-netns"),
        ifname: (values.ifname as string | undefined) ?? "eth0",
        config: JSON.parse(Deno.readTextFileSync(need(values, "cni-config"))),
      },
      sameAddress: values["same-address"] === true,
      imageDir: need(values, "image-dir"),
      ...(snapshot === undefined ? {} : { snapshot }),
      bundle: need(values, "bundle"),
      id: need(values, "id"),
      log: need(values, "log"),
      ...(sandboxNetns === undefined ? {} : { sandboxNetns }),
      viaHook: values.hook === true,
      gatewayTimeoutMs: int("resume.ts resume", values, "gateway-timeout-ms", DEFAULT_TIMEOUT_MS),
      onStep: (l) => console.log(l),
    });
    console.log(
      `resumed ${values.id}: network ready in ${r.prepareMs.toFixed(0)} ms, runsc restore ${
        r.runscRestoreMs.toFixed(0)
      } ms`,
    );
    return 0;
  }
  console.error(`resume.ts: unknown command ${JSON.stringify(cmd)} (checkpoint, resume or demo)`);
  return 2;
}

if (import.meta.main) {
  try {
    Deno.exit(await cli(Deno.args));
  } catch (e) {
    if (e instanceof UsageError) {
      // parseFlags words its messages for podnet's own commands.
      console.error(e.message.replace(/^podnet /, ""));
      Deno.exit(2);
    }
    console.error(`resume.ts: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
}
