/**
 * Addresses: typed verbs that read like `ip addr`.
 *
 * @module
 */

import {
  IFA_F_NODAD,
  IFA_F_PERMANENT,
  IFA_F_TENTATIVE,
  libnl,
  NLM_F_CREATE,
  NLM_F_REPLACE,
  rtnlAddr,
  rtnlAddrRead,
} from "../ffi/libnl.ts";
import type { Family } from "../core/ip.ts";
import { linkIndexOf, type LinkRef, linkRefName } from "./link.ts";
import { afOf, buildAddr, cidrOrThrow, dump, familyOf, type Ptr, readCidr, request } from "./object.ts";
import type { Socket } from "./socket.ts";
import { type Scope, scopeName, scopeNumber } from "./scope.ts";

/** An interface address. */
export interface Addr {
  ifindex: number;
  family: Family;
  /** Local address with prefix, e.g. `10.244.1.5/32`. */
  cidr: string;
  scope: Scope;
  flags: number;
  /** IPv6 DAD still running: the address cannot be used yet. */
  tentative: boolean;
  nodad: boolean;
  permanent: boolean;
}

/** Filter for `addrList`. */
export interface AddrFilter {
  ifindex?: number;
  family?: Family;
}

function toAddr(p: Ptr, f: AddrFilter): Addr | null {
  const r = rtnlAddrRead.symbols;
  const family = familyOf(r.rtnl_addr_get_family(p));
  if (family === null || (f.family !== undefined && f.family !== family)) return null;
  const ifindex = r.rtnl_addr_get_ifindex(p);
  if (f.ifindex !== undefined && f.ifindex !== ifindex) return null;
  const cidr = readCidr(r.rtnl_addr_get_local(p), family);
  if (cidr === null) return null;
  const flags = r.rtnl_addr_get_flags(p);
  return {
    ifindex,
    family,
    cidr,
    scope: scopeName(r.rtnl_addr_get_scope(p)),
    flags,
    tentative: (flags & IFA_F_TENTATIVE) !== 0,
    nodad: (flags & IFA_F_NODAD) !== 0,
    permanent: (flags & IFA_F_PERMANENT) !== 0,
  };
}

/** Addresses of the socket's netns, optionally of one link or family. */
export function addrList(sock: Socket, filter: AddrFilter = {}): Addr[] {
  const r = rtnlAddrRead.symbols;
  return dump(sock, "addr list", (sk, slot) => r.rtnl_addr_alloc_cache(sk, slot), (p) => toAddr(p, filter));
}

/** Options for `addrAdd`. */
export interface AddrOptions {
  /** Skip duplicate address detection (IPv6): usable at once. */
  nodad?: boolean;
  scope?: Scope;
  /** Replace an existing identical address instead of failing with `exists`. */
  replace?: boolean;
}

/** An rtnl_addr for `cidr` on `link`; the caller puts it (`rtnl_addr_put`). */
function build(sock: Socket, link: LinkRef, cidr: string, action: string): Ptr {
  const r = rtnlAddr.symbols;
  const c = cidrOrThrow(cidr, action);
  const ifindex = linkIndexOf(sock, link);
  const p = r.rtnl_addr_alloc()!;
  const a = buildAddr(c, c.prefix);
  r.rtnl_addr_set_family(p, afOf(c.family));
  r.rtnl_addr_set_ifindex(p, ifindex);
  r.rtnl_addr_set_local(p, a);
  libnl.symbols.nl_addr_put(a);
  r.rtnl_addr_set_prefixlen(p, c.prefix);
  return p;
}

/** `ip addr add CIDR dev LINK [nodad] [scope S]`. */
export function addrAdd(sock: Socket, link: LinkRef, cidr: string, opts: AddrOptions = {}): void {
  const r = rtnlAddr.symbols;
  const action = `addr add ${cidr} dev ${linkRefName(link)}${opts.nodad ? " nodad" : ""}`;
  const p = build(sock, link, cidr, action);
  try {
    if (opts.nodad) r.rtnl_addr_set_flags(p, IFA_F_NODAD);
    if (opts.scope !== undefined) r.rtnl_addr_set_scope(p, scopeNumber(opts.scope));
    const flags = NLM_F_CREATE | (opts.replace ? NLM_F_REPLACE : 0);
    request(action, () => r.rtnl_addr_add(sock.ptr, p, flags));
  } finally {
    r.rtnl_addr_put(p);
  }
}

/** `ip addr del CIDR dev LINK`. */
export function addrDel(sock: Socket, link: LinkRef, cidr: string): void {
  const r = rtnlAddr.symbols;
  const action = `addr del ${cidr} dev ${linkRefName(link)}`;
  const p = build(sock, link, cidr, action);
  try {
    request(action, () => r.rtnl_addr_delete(sock.ptr, p, 0));
  } finally {
    r.rtnl_addr_put(p);
  }
}
