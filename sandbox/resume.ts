/**
 * The target side of a move (`podnet resume`): a gVisor sandbox checkpointed
 * in one pod (sandbox/checkpoint.ts) carries on in a new pod, usually on
 * another node, where the link, maybe the address, and the gateway's MAC are
 * all different. docs/resume.md is the operator's version.
 *
 * The runtime has attached the new pod already (CNI ADD, with the snapshot's
 * addresses when the network keeps them across nodes: `--addresses` prints
 * them). Then, in this order, each change with its undo:
 * 1. The snapshot is validated strictly and the container ID checked free
 *    before anything is touched.
 * 2. The new pod is captured: this is where each gateway's MAC is re-resolved
 *    on THIS node (the CNI attachment's pin — with proxy ARP off nobody
 *    answers ARP for 169.254.1.1 — or an ARP/NDP answer). The snapshot's MACs
 *    belong to the old node and are never pinned. With `sameAddress` the pod's
 *    addresses must be the snapshot's.
 * 3. `planRestore` (sandbox/plan.ts): the capture plus the snapshot's routes
 *    the new attachment lacks.
 * 4. The pod's link is recorded (sandbox/linkstate.ts) and the plan restored
 *    into the sandbox netns (the pod's own, or a separate one the link moves
 *    into) with the gateways re-resolved once more; the pins are read back
 *    from the kernel and checked against the plan.
 * 5. The bundle's network namespace is pointed at the sandbox netns, or made
 *    a new one that `podnet hook --link-netns POD --ifname IF` fills at
 *    restore (runsc runs prestart hooks at restore too).
 * 6. `runsc restore`, which copies that netns into the sandbox.
 * A failure undoes, newest first: the container, the bundle's config.json,
 * and the pod's link, moved back and put back exactly as recorded. The CNI
 * attachment is the caller's and stays. The route to a moved pod IP may
 * switch to this node only after step 6: until then this pod netns's kernel
 * owns the IP and answers a moved connection with RST.
 *
 * @module
 */

import { errorText } from "../core/errors.ts";
import { int, parseFlags, required, str, UsageError, type Values } from "../core/cli.ts";
import type { Io } from "../core/io.ts";
import { ID_RE, validIfname } from "../core/names.ts";
import { type Snapshot, SnapshotError } from "../core/snapshot.ts";
import { type Link, linkFind, linkList, linkSet, neighList, Socket } from "../netlink/mod.ts";
import { readSnapshot } from "../sys/files.ts";
import { Rollback } from "../cni/rollback.ts";
import { restoreBundle, selfExecutable, setBundleNetwork } from "./bundle.ts";
import { captureNetns, DEFAULT_TIMEOUT_MS } from "./capture.ts";
import { SNAPSHOT_FILE } from "./checkpoint.ts";
import { putBack, recordLink } from "./linkstate.ts";
import { type Plan, planRestore, snapshotAddresses } from "./plan.ts";
import { restoreSnapshot } from "./restore.ts";
import {
  type RunscConfig,
  runscDelete,
  runscList,
  runscRestore,
  RUNTIME_FLAGS,
  RUNTIME_HELP,
  runtimeFromFlags,
} from "./runsc.ts";

/** A failed resume step; the message is one line naming the step and the object. */
export class ResumeError extends Error {
  override readonly name = "ResumeError";
}

/** Target side of a move, for a pod the runtime attached. */
export interface ResumeOptions {
  runtime: RunscConfig;
  /** ID of the restored container on this node. */
  id: string;
  /** Checkpoint image directory. */
  imageDir: string;
  /** The old pod's snapshot (default imageDir/podnet-network.json). */
  snapshot?: string;
  /** The bundle to restore with; its network namespace is set (see the module doc). */
  bundle: string;
  /** The container's stdout (appended; stderr to `log.stderr`). */
  log: string;
  /** The new pod's netns (CNI_NETNS of its attachment). */
  podNetns: string;
  /** The pod's link (CNI_IFNAME); default eth0. */
  ifname?: string;
  /** The pod must have the snapshot's addresses (the caller asked IPAM for them). */
  sameAddress?: boolean;
  /** The sandbox netns; default the pod's own. A different one gets the link moved into it. */
  sandboxNetns?: string;
  /**
   * Let runsc make the sandbox a new netns and move the pod's link into it
   * with `podnet hook` as prestart hook at restore. Not with `sandboxNetns`.
   */
  viaHook?: boolean;
  /** The podnet the hook runs; default this one (sandbox/bundle.ts). */
  hookBin?: string;
  /** Wait per gateway while re-resolving (default 3000 ms). */
  gatewayTimeoutMs?: number;
  /** Progress lines. */
  onStep?: (line: string) => void;
}

/** What `resume` did. */
export interface ResumeReport {
  plan: Plan;
  /** PERMANENT neighbors in the sandbox netns right before `runsc restore`, read from the kernel. */
  pinned: Map<string, string>;
  /** performance.now() when `runsc restore` started, and how long the call took. */
  runscRestoreStart: number;
  runscRestoreMs: number;
  /** Milliseconds before `runsc restore`: capture, plan, restore, pin check, bundle. */
  prepareMs: number;
}

/** Reads and validates the old pod's snapshot; it must have link `ifname`. One `ResumeError` line otherwise. */
export function readMoveSnapshot(path: string, ifname: string): Snapshot {
  let snap: Snapshot;
  try {
    snap = readSnapshot(path);
  } catch (e) {
    if (!(e instanceof SnapshotError)) throw e;
    throw new ResumeError(`snapshot ${path}: ${e.message}`);
  }
  if (!snap.links.some((l) => l.name === ifname)) {
    throw new ResumeError(`snapshot ${path}: no link ${ifname} (it has ${snap.links.map((l) => l.name).join(", ")})`);
  }
  return snap;
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

/** Runs `undo` (each failure becomes a note, none stops the others); the notes, said for an error message. */
async function undone(undo: Rollback): Promise<string> {
  const notes: string[] = [];
  await undo.run((what, e) => notes.push(e === null ? `undone: ${what}` : `undo FAILED: ${what}: ${e.message}`));
  return notes.length ? ` (${notes.join("; ")})` : "";
}

/** The pod's link back where it was (in the pod netns), as recorded; `mac` finds it wherever it is now. */
function linkBack(podNetns: string, sandbox: string, mac: string, rec: ReturnType<typeof recordLink>): void {
  using pod = Socket.open(podNetns);
  const find = (s: Socket): Link | undefined => linkList(s).find((l) => l.mac === mac);
  let link = find(pod);
  if (!link && sandbox !== podNetns) {
    using sb = Socket.open(sandbox);
    const there = find(sb);
    if (there) {
      linkSet(sb, there, { netns: podNetns });
      link = find(pod);
    }
  }
  if (!link) {
    throw new Error(`the pod's link ${rec.name} is gone (it went with the sandbox's netns): re-attach the pod`);
  }
  putBack(pod, podNetns, link.index, rec);
}

/**
 * Restores the network of an attached pod from the snapshot, then the sandbox
 * from the image (see the module doc). Every check runs before the first
 * change; on failure everything this call changed is undone.
 */
export async function resume(o: ResumeOptions): Promise<ResumeReport> {
  const step = o.onStep ?? (() => {});
  const ifname = o.ifname ?? "eth0";
  if (o.viaHook && o.sandboxNetns !== undefined) throw new ResumeError("viaHook and sandboxNetns exclude each other");
  if (!ID_RE.test(o.id)) throw new ResumeError("the container ID is not one runsc accepts");
  const sandbox = o.sandboxNetns ?? o.podNetns;
  const t0 = performance.now();
  const source = readMoveSnapshot(o.snapshot ?? `${o.imageDir}/${SNAPSHOT_FILE}`, ifname);
  if ((await runscList(o.runtime)).includes(o.id)) {
    throw new ResumeError(`container ${o.id} already exists on this node (runsc --root ${o.runtime.root})`);
  }
  const timeoutMs = o.gatewayTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  let plan: Plan;
  try {
    const fresh = captureNetns(o.podNetns, { ifnames: [ifname], timeoutMs });
    if (o.sameAddress) {
      const want = snapshotAddresses(source, ifname), got = snapshotAddresses(fresh, ifname);
      if (got.join(",") !== want.join(",")) {
        throw new SnapshotError(`the pod has ${got.join(", ") || "no address"}, the snapshot had ${want.join(", ")}`);
      }
    }
    plan = planRestore(source, fresh, ifname);
  } catch (e) {
    throw new ResumeError(`capture ${ifname} in ${o.podNetns}: ${errorText(e)}`);
  }
  for (const g of plan.gateways) {
    step(`gateway ${g.ip}: ${g.stale ? `snapshot MAC ${g.stale} (old node, not used) → ` : ""}${g.mac} on this node`);
  }
  if (plan.carried.length) step(`carried over from the snapshot: ${plan.carried.map((r) => r.dst).join(", ")}`);

  const undo = new Rollback();
  try {
    {
      using pod = Socket.open(o.podNetns);
      const link = linkFind(pod, ifname);
      if (!link) throw new ResumeError(`the pod has no link ${ifname}`);
      const rec = recordLink(pod, o.podNetns, link);
      undo.push(`${ifname} put back in ${o.podNetns}`, () => linkBack(o.podNetns, sandbox, link.mac, rec));
    }
    restoreSnapshot(plan.snapshot, {
      netns: sandbox,
      linkNetns: sandbox === o.podNetns ? null : o.podNetns,
      resolveGateways: true,
      timeoutMs,
    });
    step(`restored ${ifname} into ${sandbox}${sandbox === o.podNetns ? "" : ` (moved from ${o.podNetns})`}`);
    const pinned = pinnedNeighbors(sandbox, ifname);
    for (const g of plan.gateways) {
      if (pinned.get(g.ip) !== g.mac) {
        throw new ResumeError(
          `restore into ${sandbox}: gateway ${g.ip} is pinned to ${pinned.get(g.ip) ?? "nothing"}, want ${g.mac}`,
        );
      }
    }
    const hookBin = o.hookBin ?? selfExecutable();
    const was = setBundleNetwork(
      o.bundle,
      o.viaHook ? { hook: { bin: hookBin, linkNetns: o.podNetns, ifname } } : { netns: sandbox },
    );
    undo.push(`${o.bundle}/config.json`, () => restoreBundle(was));
    step(
      o.viaHook
        ? `bundle: a new network namespace, prestart hook podnet hook --link-netns ${o.podNetns} --ifname ${ifname}`
        : `bundle: network namespace ${sandbox}`,
    );
    const prepareMs = performance.now() - t0;
    const runscRestoreStart = performance.now();
    // The ID was free: whatever runsc leaves under it now is this call's.
    undo.push(`container ${o.id}`, async () => void await runscDelete(o.runtime, o.id));
    await runscRestore(o.runtime, o.id, o.imageDir, o.bundle, o.log);
    const runscRestoreMs = performance.now() - runscRestoreStart;
    step(`runsc restore ${o.id}: ${runscRestoreMs.toFixed(0)} ms`);
    return { plan, pinned, runscRestoreStart, runscRestoreMs, prepareMs };
  } catch (e) {
    throw new ResumeError(`${errorText(e)}${await undone(undo)}`);
  }
}

export const RESUME_HELP =
  `usage: podnet resume --id ID --image-dir DIR --bundle DIR --log FILE --pod-netns PATH --runsc-root DIR
                     [--ifname NAME] [--snapshot FILE] [--same-address] [--sandbox-netns PATH | --hook]
                     [--hook-bin PATH] [--gateway-timeout-ms N] [--empty-dir DIR] [--runsc PATH] [--runsc-flag F]...
       podnet resume --addresses (--image-dir DIR | --snapshot FILE) [--ifname NAME]

On the target node, in the node's netns: carries a checkpointed gVisor sandbox (podnet checkpoint)
on in a new pod the runtime has attached (CNI ADD; to keep the addresses, ask IPAM for those
--addresses prints). Validates the snapshot, captures the new pod (each gateway's MAC re-resolved
on this node, never the snapshot's), plans (the snapshot's extra routes carried over), restores
into the sandbox netns and checks the pins, points the bundle at it, then runsc restore. Any
failure undoes what this command did (container, bundle, the pod's link exactly as it was).

  --addresses            only validate the snapshot and print, as a JSON list, the addresses IPAM
                         gave its link (no link-local ones): what the new pod asks IPAM for
  --id ID                the restored container's ID (must be free here)
  --image-dir DIR        the checkpoint image, with ${SNAPSHOT_FILE} unless --snapshot
  --snapshot FILE        the old pod's network record
  --bundle DIR           the OCI bundle to restore with (its network namespace is set)
  --log FILE             the container's stdout, appended (stderr: FILE.stderr)
  --pod-netns PATH       the new pod's netns, attached by the runtime
  --ifname NAME          the pod's link (default eth0)
  --same-address         the pod must have the snapshot's addresses
  --sandbox-netns PATH   restore into this netns, moving the link there (default: the pod's own)
  --hook                 a new netns for the sandbox, filled at restore by podnet hook --link-netns
  --hook-bin PATH        the podnet the hook runs (default: this one)
  --gateway-timeout-ms N wait per gateway while re-resolving (default ${DEFAULT_TIMEOUT_MS})
${RUNTIME_HELP}Prints each step, then: resumed ID: network ready in N ms, runsc restore N ms. Exit 1 with one line on failure.
`;

/** `podnet resume`. */
export async function resumeCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags("resume", args, {
    ...RUNTIME_FLAGS,
    addresses: { type: "boolean" },
    id: { type: "string" },
    "image-dir": { type: "string" },
    snapshot: { type: "string" },
    bundle: { type: "string" },
    log: { type: "string" },
    "pod-netns": { type: "string" },
    ifname: { type: "string" },
    "same-address": { type: "boolean" },
    "sandbox-netns": { type: "string" },
    hook: { type: "boolean" },
    "hook-bin": { type: "string" },
    "gateway-timeout-ms": { type: "string" },
  });
  if (values.help) {
    io.stdout(RESUME_HELP);
    return 0;
  }
  const need = (v: Values, name: string): string => required("resume", v, name, " (see --help)");
  const ifname = str(values, "ifname") ?? "eth0";
  if (!validIfname(ifname)) throw new UsageError("podnet resume: --ifname is not an interface name");
  const snapshot = str(values, "snapshot");
  if (values.addresses) {
    const snap = readMoveSnapshot(snapshot ?? `${need(values, "image-dir")}/${SNAPSHOT_FILE}`, ifname);
    io.stdout(`${JSON.stringify(snapshotAddresses(snap, ifname))}\n`);
    return 0;
  }
  const imageDir = need(values, "image-dir");
  const id = need(values, "id");
  if (!ID_RE.test(id)) {
    throw new UsageError(`podnet resume: --id is not a container ID (letters, digits, "_", "." and "-")`);
  }
  const sandboxNetns = str(values, "sandbox-netns"), hookBin = str(values, "hook-bin");
  if (values.hook && sandboxNetns !== undefined) {
    throw new UsageError("podnet resume: --hook and --sandbox-netns exclude each other");
  }
  const r = await resume({
    runtime: runtimeFromFlags("resume", values),
    id,
    imageDir,
    ...(snapshot === undefined ? {} : { snapshot }),
    bundle: need(values, "bundle"),
    log: need(values, "log"),
    podNetns: need(values, "pod-netns"),
    ifname,
    sameAddress: values["same-address"] === true,
    ...(sandboxNetns === undefined ? {} : { sandboxNetns }),
    viaHook: values.hook === true,
    ...(hookBin === undefined ? {} : { hookBin }),
    gatewayTimeoutMs: int("resume", values, "gateway-timeout-ms", DEFAULT_TIMEOUT_MS),
    onStep: (l) => io.stdout(`${l}\n`),
  });
  io.stdout(
    `resumed ${id}: network ready in ${r.prepareMs.toFixed(0)} ms, runsc restore ${r.runscRestoreMs.toFixed(0)} ms\n`,
  );
  return 0;
}
