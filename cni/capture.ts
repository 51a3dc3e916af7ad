/**
 * The `captureDir` snapshot: ADD writes the pod end as a `podnet.capture/v1`
 * document (what the sandbox restorer pins inside a gVisor netns) from what it
 * has just configured, without reading the kernel back or resolving anything:
 * the gateway MAC is the host end's own. DEL and GC remove it.
 *
 * @module
 */

import { ensurePrivateDir, removeWithTemps } from "../core/fsutil.ts";
import { now, SCHEMA, type Snapshot, type SnapshotRoute, writeSnapshot } from "../core/snapshot.ts";
import { GW4, GW6 } from "./context.ts";
import type { ResultRoute } from "./result.ts";

/** `DIR/<containerID>-<ifname>.json` (both are validated: neither can hold a `/`). */
export function capturePath(dir: string, containerId: string, ifname: string): string {
  return `${dir.replace(/\/+$/, "")}/${containerId}-${ifname}.json`;
}

/** What ADD knows about the pod end. */
export interface PodEnd {
  ifname: string;
  mac: string;
  mtu: number;
  /** `/32` and `/128` addresses. */
  addresses: string[];
  /** The result's routes (defaults and IPAM routes, all via a gateway). */
  routes: ResultRoute[];
  has4: boolean;
  has6: boolean;
  /** The host end's MAC: the gateway's, in both gateway modes (proxy ARP answers with it too). */
  gatewayMac: string;
}

/** The snapshot of the pod end, routes in restore order (on-link first, then via the gateway). */
export function podSnapshot(p: PodEnd): Snapshot {
  const routes: SnapshotRoute[] = [];
  if (p.has4) routes.push({ dst: `${GW4}/32`, scope: "link" });
  for (const r of p.routes) routes.push(r.gw !== undefined ? { dst: r.dst, gateway: r.gw } : { dst: r.dst });
  return {
    schema: SCHEMA,
    capturedAt: now(),
    links: [{
      name: p.ifname,
      mac: p.mac,
      mtu: p.mtu,
      addresses: p.addresses.map((cidr) => ({ cidr })),
      routes,
      neighbors: [
        ...(p.has4 ? [{ ip: GW4, mac: p.gatewayMac }] : []),
        ...(p.has6 ? [{ ip: GW6, mac: p.gatewayMac }] : []),
      ],
    }],
  };
}

/** Writes the pod end's snapshot (0600, atomic; directory 0700); returns its path. */
export function writePodSnapshot(dir: string, containerId: string, p: PodEnd): string {
  ensurePrivateDir(dir);
  const path = capturePath(dir, containerId, p.ifname);
  writeSnapshot(path, podSnapshot(p));
  return path;
}

/** Removes an attachment's snapshot; a missing one is fine. */
export function removePodSnapshot(dir: string, containerId: string, ifname: string): void {
  removeWithTemps(capturePath(dir, containerId, ifname));
}
