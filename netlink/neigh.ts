/**
 * Neighbors: typed verbs that read like `ip neigh`.
 *
 * @module
 */

import {
  libnl,
  NLM_F_CREATE,
  NLM_F_REPLACE,
  NTF_USE,
  NUD_DELAY,
  NUD_FAILED,
  NUD_INCOMPLETE,
  NUD_NOARP,
  NUD_PERMANENT,
  NUD_PROBE,
  NUD_REACHABLE,
  NUD_STALE,
  rtnlNeigh,
  rtnlNeighRead,
} from "../ffi/libnl.ts";
import { type Family, formatIp } from "../core/ip.ts";
import { linkIndexOf, type LinkRef, linkRefName } from "./link.ts";
import { afOf, buildAddr, buildMac, dump, familyOf, ipOrThrow, type Ptr, readIp, readMac, request } from "./object.ts";
import type { Socket } from "./socket.ts";

/** NUD state names as `ip neigh` prints them. */
export type NeighState = "incomplete" | "reachable" | "stale" | "delay" | "probe" | "failed" | "noarp" | "permanent";

const STATES: [NeighState, number][] = [
  ["incomplete", NUD_INCOMPLETE],
  ["reachable", NUD_REACHABLE],
  ["stale", NUD_STALE],
  ["delay", NUD_DELAY],
  ["probe", NUD_PROBE],
  ["failed", NUD_FAILED],
  ["noarp", NUD_NOARP],
  ["permanent", NUD_PERMANENT],
];

/** A neighbor (ARP/NDP) entry. */
export interface Neigh {
  ifindex: number;
  family: Family;
  ip: string;
  /** Link-layer address, or null while unresolved. */
  mac: string | null;
  state: NeighState[];
  permanent: boolean;
  /** Has a usable MAC (reachable, stale, delay, probe, permanent or noarp). */
  resolved: boolean;
}

/** Filter for `neighList`. */
export interface NeighFilter {
  ifindex?: number;
  family?: Family;
}

const USABLE = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

function toNeigh(p: Ptr, f: NeighFilter): Neigh | null {
  const r = rtnlNeighRead.symbols;
  const family = familyOf(r.rtnl_neigh_get_family(p));
  if (family === null || (f.family !== undefined && family !== f.family)) return null;
  const ifindex = r.rtnl_neigh_get_ifindex(p);
  if (f.ifindex !== undefined && ifindex !== f.ifindex) return null;
  const ip = readIp(r.rtnl_neigh_get_dst(p));
  if (ip === null) return null;
  const st = r.rtnl_neigh_get_state(p);
  const mac = readMac(r.rtnl_neigh_get_lladdr(p));
  return {
    ifindex,
    family,
    ip,
    mac,
    state: STATES.filter(([, bit]) => (st & bit) !== 0).map(([n]) => n),
    permanent: (st & NUD_PERMANENT) !== 0,
    resolved: mac !== null && (st & USABLE) !== 0,
  };
}

/** Neighbor entries (IPv4 and IPv6) of the socket's netns. */
export function neighList(sock: Socket, filter: NeighFilter = {}): Neigh[] {
  const r = rtnlNeighRead.symbols;
  return dump(sock, "neigh list", (sk, slot) => r.rtnl_neigh_alloc_cache(sk, slot), (p) => toNeigh(p, filter));
}

/** A neighbor to set. */
export interface NeighSpec {
  link: LinkRef;
  ip: string;
  mac: string;
  /** NUD_PERMANENT (default true); false sets a REACHABLE entry. */
  permanent?: boolean;
}

function build(sock: Socket, link: LinkRef, ipStr: string, action: string): Ptr {
  const r = rtnlNeigh.symbols;
  const ip = ipOrThrow(ipStr, action);
  const ifindex = linkIndexOf(sock, link);
  const p = r.rtnl_neigh_alloc()!;
  r.rtnl_neigh_set_family(p, afOf(ip.family));
  r.rtnl_neigh_set_ifindex(p, ifindex);
  const a = buildAddr(ip);
  r.rtnl_neigh_set_dst(p, a);
  libnl.symbols.nl_addr_put(a);
  return p;
}

/** `ip neigh replace IP lladdr MAC dev LINK nud permanent`. Idempotent. */
export function neighSet(sock: Socket, spec: NeighSpec): void {
  const r = rtnlNeigh.symbols;
  const permanent = spec.permanent ?? true;
  const action = `neigh replace ${spec.ip} lladdr ${spec.mac} dev ${linkRefName(spec.link)} nud ${
    permanent ? "permanent" : "reachable"
  }`;
  const p = build(sock, spec.link, spec.ip, action);
  try {
    const m = buildMac(spec.mac, action);
    r.rtnl_neigh_set_lladdr(p, m);
    libnl.symbols.nl_addr_put(m);
    r.rtnl_neigh_set_state(p, permanent ? NUD_PERMANENT : NUD_REACHABLE);
    request(action, () => r.rtnl_neigh_add(sock.ptr, p, NLM_F_CREATE | NLM_F_REPLACE));
  } finally {
    r.rtnl_neigh_put(p);
  }
}

/** `ip neigh del IP dev LINK`. */
export function neighDel(sock: Socket, link: LinkRef, ip: string): void {
  const r = rtnlNeigh.symbols;
  const action = `neigh del ${ip} dev ${linkRefName(link)}`;
  const p = build(sock, link, ip, action);
  try {
    request(action, () => r.rtnl_neigh_delete(sock.ptr, p, 0));
  } finally {
    r.rtnl_neigh_put(p);
  }
}

/**
 * Asks the kernel to resolve `ip` on `link` (RTM_NEWNEIGH with NTF_USE): it
 * creates the entry if needed and sends an ARP request / neighbor solicitation.
 * Poll `neighList` for the result. A PERMANENT entry is already resolved and is
 * left alone.
 */
export function neighResolve(sock: Socket, link: LinkRef, ip: string): void {
  const r = rtnlNeigh.symbols;
  const action = `neigh resolve ${ip} dev ${linkRefName(link)}`;
  const want = ipOrThrow(ip, action);
  const ifindex = linkIndexOf(sock, link);
  // Since Linux 5.16 NTF_USE goes through __neigh_update with NEIGH_UPDATE_F_USE,
  // which clears NUD_PERMANENT: the pinned MAC would be dropped and re-resolved.
  const text = formatIp(want.bytes);
  if (neighList(sock, { ifindex, family: want.family }).some((n) => n.ip === text && n.permanent)) return;
  const p = build(sock, ifindex, ip, action);
  try {
    r.rtnl_neigh_set_flags(p, NTF_USE);
    r.rtnl_neigh_set_state(p, NUD_INCOMPLETE);
    request(action, () => r.rtnl_neigh_add(sock.ptr, p, NLM_F_CREATE | NLM_F_REPLACE));
  } finally {
    r.rtnl_neigh_put(p);
  }
}
