/**
 * The agent API: attach and detach a pod whose addresses the caller already
 * knows (an orchestrator that does its own IPAM and uses no CNI), on the same
 * attachment model and machinery as CNI ADD (cni/attachment.ts, cni/apply.ts)
 * and under the same per-attachment lock (sys/lock.ts).
 *
 * Declarative and idempotent, unlike CNI ADD: `attach` makes the kernel match
 * the request whatever part of it already exists (a second identical call
 * changes nothing and succeeds; other addresses converge to the requested
 * ones); `detach` succeeds when nothing is left. Host-end names and MACs are
 * CNI ADD's (prefix + hash of containerID/ifname) unless `hostIfname` is
 * given; the alias records the network (`attach` by default), so CNI GC of
 * another network never touches these links.
 *
 * @module
 */

import { DEFAULT_PREFIX, DEFAULT_STATE_DIR, MTU_MAX, MTU_MIN } from "../core/constants.ts";
import { isLinkLocal, parseCidr } from "../core/ip.ts";
import { aliasOverflow, hostAlias, hostEnd, ID_RE, ifnameProblem, parseAlias } from "../core/names.ts";
import { type Link, linkDel, linkFind, linkList, Netns, NetnsRefused, routeDel, routeList } from "../netlink/mod.ts";
import { AttachmentLock, DEFAULT_LOCK_TIMEOUT_MS } from "../sys/lock.ts";
import { addressLinks, converge, createLinks, finish } from "./apply.ts";
import { type AttachmentSpec, claimOf, diff, GATEWAY_MODES, type GatewayMode, hostCidr, plan } from "./attachment.ts";
import { ignoreNotFound } from "./errors.ts";
import { kernelFacts, observe } from "./observe.ts";
import { Rollback } from "./rollback.ts";

/** The network name `attach` records in the alias unless told otherwise. */
export const ATTACH_NETWORK = "attach";

/** What `attach` is asked for. */
export interface AttachRequest {
  /** The pod's network namespace (`/run/netns/pod1`, `/proc/PID/ns/net`). */
  netns: string;
  containerId: string;
  /** Pod end's name; default `eth0`. */
  ifname?: string;
  /** Host end's name; default: CNI ADD's (prefix `pn` + hash of containerID/ifname). */
  hostIfname?: string;
  /** Network name recorded in the alias; default `attach`. */
  network?: string;
  /** The pod's addresses (`10.244.1.5`, `fd00::5/128`): at least one. */
  ips: string[];
  gatewayMode?: GatewayMode;
  mtu?: number;
  /** Where the attachment lock lives; default /run/podnet. */
  stateDir?: string;
  /** How long to wait for another call on the same attachment; default 15 s. */
  lockTimeoutMs?: number;
}

/** What `attach` built (or found already right). */
export interface AttachResult {
  network: string;
  containerId: string;
  netns: string;
  hostInterface: string;
  hostMac: string;
  podInterface: string;
  podMac: string;
  mtu: number;
  gatewayMode: GatewayMode;
  /** Host-prefix addresses now on the pod end. */
  addresses: string[];
  /** `created`, `converged` (something was changed) or `unchanged`. */
  outcome: "created" | "converged" | "unchanged";
  warnings: string[];
}

/** What `detach` is asked for. */
export interface DetachRequest {
  containerId: string;
  ifname?: string;
  hostIfname?: string;
  /** Host routes to these addresses are removed even when the link is already gone. */
  ips?: string[];
  stateDir?: string;
  lockTimeoutMs?: number;
}

/** What `detach` removed. */
export interface DetachResult {
  hostInterface: string;
  /** The host end (and with it the pod end) was deleted by this call. */
  removedLink: boolean;
  /** Host routes removed by address (`ips`), beyond those that went with the link. */
  removedRoutes: string[];
}

/** A request that names something invalid; the message names the field, never its value. */
export class AttachError extends Error {
  override readonly name = "AttachError";
  /** `input`: the request is malformed (CLI exit 2); `state`: the kernel does not allow it (exit 1). */
  readonly kind: "input" | "state";
  constructor(message: string, kind: "input" | "state") {
    super(message);
    this.kind = kind;
  }
}

/** The host end's name of `containerId`'s `ifname`: the name CNI ADD and `attach` give it. */
export function hostInterfaceName(containerId: string, ifname = "eth0", prefix = DEFAULT_PREFIX): string {
  return hostEnd(prefix, containerId, ifname).name;
}

function checkNames(containerId: string, ifname: string, hostIfname: string | undefined): void {
  if (!ID_RE.test(containerId)) throw new AttachError(`containerId must match ${ID_RE.source}`, "input");
  const why = ifnameProblem(ifname);
  if (why !== null) throw new AttachError(`ifname is not an interface name: it ${why}`, "input");
  if (hostIfname !== undefined) {
    const hw = ifnameProblem(hostIfname);
    if (hw !== null) throw new AttachError(`hostIfname is not an interface name: it ${hw}`, "input");
  }
}

/** The request as an attachment spec, every field checked. */
export function attachSpec(req: AttachRequest): AttachmentSpec {
  const ifname = req.ifname ?? "eth0";
  checkNames(req.containerId, ifname, req.hostIfname);
  const network = req.network ?? ATTACH_NETWORK;
  if (!ID_RE.test(network)) throw new AttachError(`network must match ${ID_RE.source}`, "input");
  if (req.ips.length === 0) throw new AttachError("at least one IP address is required", "input");
  req.ips.forEach((ip, i) => {
    const c = parseCidr(ip);
    if (c === null) throw new AttachError(`ips[${i}] is not an IP address`, "input");
    const host = hostCidr(ip);
    if (isLinkLocal(host) || host.startsWith("0.") || host === "::/128") {
      throw new AttachError(`ips[${i}] is link-local or unspecified; a pod needs a routable address`, "input");
    }
  });
  const mode = req.gatewayMode ?? GATEWAY_MODES[0];
  if (!GATEWAY_MODES.includes(mode)) {
    throw new AttachError(`gatewayMode must be ${GATEWAY_MODES.map((m) => `"${m}"`).join(" or ")}`, "input");
  }
  if (req.mtu !== undefined && (!Number.isInteger(req.mtu) || req.mtu < MTU_MIN || req.mtu > MTU_MAX)) {
    throw new AttachError(`mtu must be a whole number from ${MTU_MIN} to ${MTU_MAX}`, "input");
  }
  const spec: AttachmentSpec = {
    network,
    containerId: req.containerId,
    ifname,
    mtu: req.mtu ?? null,
    gatewayMode: mode,
    addresses: req.ips,
  };
  if (req.hostIfname !== undefined) spec.hostIfname = req.hostIfname;
  if (aliasOverflow(hostAlias(network, req.containerId, ifname)) !== null) {
    throw new AttachError(
      "network, containerId and ifname together are longer than an interface alias (255 bytes)",
      "input",
    );
  }
  return spec;
}

function lock(o: { stateDir?: string; lockTimeoutMs?: number }, containerId: string, ifname: string): AttachmentLock {
  return AttachmentLock.acquire(
    `${o.stateDir ?? DEFAULT_STATE_DIR}/locks`,
    `${containerId}/${ifname}`,
    o.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
  );
}

function podNetns(path: string): Netns {
  try {
    return Netns.other(path);
  } catch (e) {
    if (e instanceof NetnsRefused) throw new AttachError(`netns ${path} ${e.message}`, "state");
    throw e;
  }
}

/**
 * Makes `req`'s attachment exist exactly as asked. Nothing of a failed
 * creation is left behind (rollback); a failed convergence leaves the parts
 * it had already set.
 *
 * @example Attach a pod whose addresses the caller allocated, then detach it
 * ```ts ignore
 * import { attach, detach } from "./mod.ts";
 *
 * const a = attach({ netns: "/run/netns/pod1", containerId: "pod1", ips: ["10.244.1.5", "fd00:244:1::5"] });
 * console.log(a.hostInterface, a.addresses); // pn…, ["10.244.1.5/32", "fd00:244:1::5/128"]
 * detach({ containerId: "pod1", ips: ["10.244.1.5", "fd00:244:1::5"] });
 * ```
 */
export function attach(req: AttachRequest): AttachResult {
  const spec = attachSpec(req);
  using _lock = lock(req, spec.containerId, spec.ifname);
  const p = plan(spec, kernelFacts());
  using node = Netns.here();
  using pod = podNetns(req.netns);
  const found = linkFind(node.sock, p.host.name);
  let o = observe(p, node, pod, found);
  let outcome: AttachResult["outcome"] = "unchanged";
  let mtu: number | null = null;
  if (found !== null && o.host !== null) {
    if (claimOf(found, p.host) === "foreign") {
      throw new AttachError(`host interface ${p.host.name} exists and is not this attachment's`, "state");
    }
    const rightPair = o.paired && o.pod !== null && o.pod.name === p.pod.name && o.pod.mac === p.pod.mac &&
      o.host.mac === p.host.mac;
    if (!rightPair) {
      // Half made, moved elsewhere or renamed: start over (the pod end goes with the host end).
      ignoreNotFound(() => linkDel(node.sock, found));
      o = { host: null, pod: null, paired: false, sandboxed: false };
    } else {
      if (diff(p, o).drift.length > 0) {
        converge(p, node, pod, o, { host: found, pod: { index: found.parentIndex, name: p.pod.name } });
        outcome = "converged";
      }
      mtu = p.host.mtu ?? o.host.mtu;
    }
  }
  if (o.host === null) {
    const taken = linkFind(pod.sock, p.pod.name);
    if (taken !== null) {
      throw new AttachError(
        `interface ${p.pod.name} already exists in ${req.netns} and is not this attachment's`,
        "state",
      );
    }
    const undo = new Rollback();
    try {
      const written = new Set<string>();
      const ends = createLinks(p, node, pod, undo, () => {}, written);
      addressLinks(p, node, pod, ends, () => {}, written);
      finish(p, node, ends);
      mtu = ends.host.mtu;
    } catch (e) {
      const failed = undo.runSync();
      if (failed.length > 0 && e instanceof Error) e.message += ` (rollback incomplete: ${failed.join("; ")})`;
      throw e;
    }
    outcome = "created";
  }
  return {
    network: p.network,
    containerId: p.containerId,
    netns: req.netns,
    hostInterface: p.host.name,
    hostMac: p.host.mac,
    podInterface: p.pod.name,
    podMac: p.pod.mac,
    mtu: mtu!,
    gatewayMode: p.gatewayMode,
    addresses: p.pod.addresses,
    outcome,
    warnings: p.warnings,
  };
}

/** Whether `link` is the host end of another attachment than `containerId/ifname`. */
function otherAttachment(link: Link | undefined, containerId: string, ifname: string): boolean {
  const a = parseAlias(link?.alias ?? null);
  return a !== null && (a.containerId !== containerId || a.ifname !== ifname);
}

/**
 * Removes `req`'s attachment: the host end (the pod end goes with it), and
 * given `ips`, the host routes to them even when the link is already gone
 * (routes that now lead through another attachment's host end are that
 * attachment's and stay). Succeeds when nothing is left.
 */
export function detach(req: DetachRequest): DetachResult {
  const ifname = req.ifname ?? "eth0";
  checkNames(req.containerId, ifname, req.hostIfname);
  const ips = (req.ips ?? []).map((ip, i) => {
    if (parseCidr(ip) === null) throw new AttachError(`ips[${i}] is not an IP address`, "input");
    return hostCidr(ip);
  });
  const lk = lock(req, req.containerId, ifname);
  try {
    const id = hostEnd(DEFAULT_PREFIX, req.containerId, ifname);
    const name = req.hostIfname ?? id.name;
    using node = Netns.here();
    const link = linkFind(node.sock, name);
    let removedLink = false;
    if (link !== null) {
      // Whatever network recorded it (detach names none): the alias must be this attachment's, or absent on the
      // veth with the derived MAC (a creation killed half-way), as CNI DEL decides.
      const alias = hostAlias(parseAlias(link.alias)?.network ?? ATTACH_NETWORK, req.containerId, ifname);
      if (claimOf(link, { alias, mac: id.mac }) === "foreign") {
        throw new AttachError(`host interface ${name} belongs to another attachment; left alone`, "state");
      }
      ignoreNotFound(() => linkDel(node.sock, link));
      removedLink = true;
    }
    const removedRoutes: string[] = [];
    if (ips.length > 0) {
      const links = new Map(linkList(node.sock).map((l) => [l.index, l]));
      for (const r of routeList(node.sock)) {
        if (!ips.includes(r.dst) || r.gateway !== null || r.ifindex === null) continue;
        if (otherAttachment(links.get(r.ifindex), req.containerId, ifname)) continue;
        ignoreNotFound(() => routeDel(node.sock, r));
        removedRoutes.push(r.dst);
      }
    }
    lk.releaseAndRemove();
    return { hostInterface: name, removedLink, removedRoutes };
  } finally {
    lk.release();
  }
}
