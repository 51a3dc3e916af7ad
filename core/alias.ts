/**
 * The alias podnet gives a pod's host end, `networkName/containerID/ifname`:
 * how ADD marks a link as its own and how DEL, GC, `podnet status` and the
 * OCI hook recognise it. One definition, so they all accept the same aliases.
 *
 * @module
 */

import { validIfname } from "../netlink/mod.ts";

/** A CNI container ID or network name as podnet accepts them (the spec's rule for container IDs). */
export const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

/** The alias of the host end of `containerId`'s interface `ifname` in network `network`. */
export function hostAlias(network: string, containerId: string, ifname: string): string {
  return `${network}/${containerId}/${ifname}`;
}

/** An alias made by `hostAlias`, split; null when `alias` is not one (each part checked). */
export function parseAlias(alias: string | null): { network: string; containerId: string; ifname: string } | null {
  if (alias === null) return null;
  const parts = alias.split("/");
  if (parts.length !== 3) return null;
  const [network, containerId, ifname] = parts as [string, string, string];
  if (!ID_RE.test(network) || !ID_RE.test(containerId) || !validIfname(ifname)) return null;
  return { network, containerId, ifname };
}
