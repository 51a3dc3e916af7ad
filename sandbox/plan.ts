/**
 * Planning the network of a resumed sandbox (pure: snapshots in, a snapshot
 * out). The old pod's snapshot travels with the checkpoint image; on the new
 * node a fresh capture of the new pod gives the new link's identity, its
 * addresses and routes and each gateway's MAC on THIS node. The plan is that
 * capture plus the old pod's routes the new attachment lacks (routes an
 * operator or the application added). The snapshot's gateway MACs belong to
 * the old node and are only reported, never pinned.
 *
 * @module
 */

import { addressOf, familyOf, isLinkLocal } from "../core/ip.ts";
import {
  SCHEMA,
  type Snapshot,
  SnapshotError,
  type SnapshotLink,
  type SnapshotRoute,
  validateSnapshot,
} from "../core/snapshot.ts";

/** A gateway as the plan pins it. */
export interface PlannedGateway {
  ip: string;
  /** The snapshot's MAC from the old node, never pinned; null when the snapshot had no such gateway. */
  stale: string | null;
  /** The MAC resolved on the new node: the one pinned. */
  mac: string;
}

/** What the restore installs in the sandbox netns, and how it relates to the snapshot. */
export interface Plan {
  snapshot: Snapshot;
  gateways: PlannedGateway[];
  /** IPAM's addresses of the link (no link-local ones), old pod and new pod. */
  addresses: { before: string[]; after: string[] };
  /** Routes of the snapshot the new attachment did not have, installed as well. */
  carried: SnapshotRoute[];
}

/**
 * The plain addresses of a link, sorted; with `ipamOnly`, those IPAM hands out (no link-local ones:
 * they come from the kernel, EUI-64, or the design, 169.254.1.1).
 */
export function addressesOf(link: SnapshotLink, ipamOnly = false): string[] {
  const all = link.addresses.map((a) => addressOf(a.cidr));
  return (ipamOnly ? all.filter((a) => !isLinkLocal(a)) : all).sort();
}

/** The addresses IPAM gave the snapshot's link `ifname`: what a new pod asks for to keep them. */
export function snapshotAddresses(snap: Snapshot, ifname: string): string[] {
  const l = snap.links.find((x) => x.name === ifname);
  return l ? addressesOf(l, true) : [];
}

function routeKey(r: SnapshotRoute): string {
  return `${r.dst} metric ${r.metric ?? (familyOf(r.dst) === 4 ? 0 : 1024)}`;
}

/**
 * Plans the restore of `source` (the old pod's snapshot) onto the new
 * attachment `target` (a fresh capture of the new pod). A carried route must
 * go through a gateway the new node resolved (its MAC cannot come from the
 * snapshot) and may not name a source address the new pod does not have.
 * Throws `SnapshotError` naming the route.
 */
export function planRestore(source: Snapshot, target: Snapshot, ifname: string): Plan {
  const src = source.links.find((l) => l.name === ifname);
  const tgt = target.links.find((l) => l.name === ifname);
  if (!src) throw new SnapshotError(`plan: the snapshot has no link ${ifname}`);
  if (!tgt) throw new SnapshotError(`plan: the new pod has no link ${ifname}`);
  const have = new Set(tgt.routes.map(routeKey));
  const gateways = new Set(tgt.neighbors.map((n) => n.ip));
  const mine = new Set(addressesOf(tgt));
  const carried: SnapshotRoute[] = [];
  for (const r of src.routes) {
    if (have.has(routeKey(r))) continue;
    const name = `route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""} from the snapshot`;
    if (r.gateway !== undefined && !gateways.has(r.gateway)) {
      throw new SnapshotError(
        `plan: ${name}: ${r.gateway} is not a gateway of the new pod, so its MAC cannot be resolved on this node`,
      );
    }
    if (r.src !== undefined && !mine.has(r.src)) {
      throw new SnapshotError(`plan: ${name}: source address ${r.src} is not the new pod's`);
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

/** Refuses a snapshot whose links have no address IPAM gave: one captured after the sandbox started. */
export function requireAddresses(snap: Snapshot, where: string): void {
  if (snap.links.some((l) => addressesOf(l, true).length > 0)) return;
  throw new SnapshotError(
    `${where}: no addresses to keep (was it captured after the sandbox started? runsc removes the ` +
      "addresses and routes from the netns it reads; capture when the pod is attached)",
  );
}
