/**
 * Links: typed verbs that read like `ip link`.
 *
 * @module
 */

import { validIfname } from "../core/names.ts";
import {
  IFF_LOOPBACK,
  IFF_NOARP,
  IFF_UP,
  IN6_ADDR_GEN_MODE_EUI64,
  IN6_ADDR_GEN_MODE_NONE,
  libnl,
  NLM_F_CREATE,
  NLM_F_EXCL,
  rtnlLink,
  rtnlLinkRead,
} from "../ffi/libnl.ts";
import { cstr } from "../ffi/libc.ts";
import { check, invalidInput, NetlinkError, outOfMemory, resetKernelErrno } from "./errors.ts";
import { closeFd, openNetnsFd } from "./netns.ts";
import { buildMac, dump, fromSlot, outSlot, type Ptr, readMac, readStr, request } from "./object.ts";
import type { Socket } from "./socket.ts";

/** A link as the kernel reports it. */
export interface Link {
  index: number;
  name: string;
  /** Link-layer address, lowercase, or "" when the link has none (lo has 00:…). */
  mac: string;
  mtu: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** The loopback device (IFF_LOOPBACK). */
  loopback: boolean;
  /** Sends without link-layer addresses (IFF_NOARP: tun, wireguard): no neighbors to pin. */
  noArp: boolean;
  flags: number;
  /** RFC 2863 operstate number (6 = up). */
  operstate: number;
  alias: string | null;
  /** rtnl_link_ops kind (`veth`, `ifb`, …), null for physical/loopback. */
  kind: string | null;
  /** IFLA_LINK: the peer/parent ifindex (in the link's netns or a linked one). */
  parentIndex: number;
  /** IFLA_LINK_NETNSID of the peer, or null when it lives in this netns. */
  linkNetnsId: number | null;
}

/** A link named, indexed, or as returned by this module. */
export type LinkRef = string | number | Pick<Link, "index" | "name">;

function toLink(p: Ptr): Link {
  const r = rtnlLinkRead.symbols;
  const nsid = new Int32Array(1);
  const hasNsid = r.rtnl_link_get_link_netnsid(p, nsid) === 0;
  const flags = r.rtnl_link_get_flags(p);
  return {
    index: r.rtnl_link_get_ifindex(p),
    name: readStr(r.rtnl_link_get_name(p)) ?? "",
    mac: readMac(r.rtnl_link_get_addr(p)) ?? "",
    mtu: r.rtnl_link_get_mtu(p),
    up: (flags & IFF_UP) !== 0,
    loopback: (flags & IFF_LOOPBACK) !== 0,
    noArp: (flags & IFF_NOARP) !== 0,
    flags,
    operstate: r.rtnl_link_get_operstate(p),
    alias: readStr(r.rtnl_link_get_ifalias(p)),
    kind: readStr(r.rtnl_link_get_type(p)),
    parentIndex: r.rtnl_link_get_link(p),
    linkNetnsId: hasNsid ? nsid[0]! : null,
  };
}

/** How `ref` reads in a message: the link's name, or the name or index given. */
export function linkRefName(ref: LinkRef): string {
  return typeof ref === "object" ? ref.name : String(ref);
}

/** All links of the socket's netns. */
export function linkList(sock: Socket): Link[] {
  const r = rtnlLinkRead.symbols;
  return dump(sock, "link list", (sk, slot) => r.rtnl_link_alloc_cache(sk, 0, slot), toLink);
}

function getKernel(sock: Socket, index: number, name: string | null, action: string): Link {
  const r = rtnlLinkRead.symbols;
  const slot = outSlot();
  resetKernelErrno();
  check(r.rtnl_link_get_kernel(sock.ptr, index, name === null ? null : cstr(name), slot), action);
  const p = fromSlot(slot);
  if (p === null) throw new NetlinkError(action, 12, 19, "no such device");
  try {
    return toLink(p);
  } finally {
    r.rtnl_link_put(p);
  }
}

/** The link called `name`; throws NetlinkError (`notFound`) when absent. */
export function linkByName(sock: Socket, name: string): Link {
  if (!validIfname(name)) throw invalidInput(`link show ${JSON.stringify(name)}`, "invalid interface name");
  return getKernel(sock, 0, name, `link show ${name}`);
}

/** The link with ifindex `index`; throws NetlinkError (`notFound`) when absent. */
export function linkByIndex(sock: Socket, index: number): Link {
  const action = `link show index ${index}`;
  // No link has index <= 0, and libnl aborts the process (APPBUG assertion) on a
  // get request without a positive index or a name: refuse it here instead.
  if (!Number.isInteger(index) || index <= 0 || index > 0x7fffffff) {
    throw new NetlinkError(action, 12, 19, "no such device (an ifindex is a positive integer)");
  }
  return getKernel(sock, index, null, action);
}

/**
 * Whether a link called `name` exists in the calling thread's netns, read
 * from /proc/thread-self/net/dev: no netlink socket, no libnl. A CNI ADD uses
 * it to learn, before the IPAM plugin starts, that its host end's name is
 * free (the common case) without first loading libnl.
 */
export function linkNamePresent(name: string): boolean {
  const text = Deno.readTextFileSync("/proc/thread-self/net/dev");
  // Each line after the two headers starts with the name (right-aligned) and a colon; names hold no colon.
  return text.split("\n").some((l) => l.trimStart().startsWith(`${name}:`));
}

/** The link `ref` names, or null when it does not exist. */
export function linkFind(sock: Socket, ref: LinkRef): Link | null {
  try {
    return resolve(sock, ref);
  } catch (e) {
    if (e instanceof NetlinkError && e.notFound) return null;
    throw e;
  }
}

function resolve(sock: Socket, ref: LinkRef): Link {
  if (typeof ref === "string") return linkByName(sock, ref);
  return linkByIndex(sock, typeof ref === "number" ? ref : ref.index);
}

/** The ifindex `ref` names; only a name costs a lookup (notFound when absent). */
export function linkIndexOf(sock: Socket, ref: LinkRef): number {
  if (typeof ref === "number") return ref;
  if (typeof ref === "object") return ref.index;
  return linkByName(sock, ref).index;
}

/**
 * Whether `a` and `b` are the two ends of one veth, as far as ifindexes tell
 * (each names the other as IFLA_LINK). Ifindexes repeat across namespaces, so
 * callers that must be exact also compare the peer's netns id (`nsidOf`).
 */
export function isVethPeer(a: Link, b: Link): boolean {
  return a.kind === "veth" && b.kind === "veth" && a.parentIndex === b.index && b.parentIndex === a.index;
}

/** podnet's one interface-name rule (core/names.ts), re-exported for the library's users. */
export { validIfname };

/** Changes applied to a link in one RTM_NEWLINK request. */
export interface LinkChanges {
  up?: boolean;
  mtu?: number;
  name?: string;
  alias?: string;
  mac?: string;
  /** Move the link into the netns at this path. */
  netns?: string;
  /**
   * IPv6 link-local generation (IFLA_INET6_ADDR_GEN_MODE). The kernel applies
   * it after the flags of the same request, so a link brought up here without
   * carrier (veth peer still down) gets no EUI-64 address.
   */
  addrGenMode?: "none" | "eui64";
}

/** Applies several changes in one request (the hot-path way to configure a link). */
export function linkSet(sock: Socket, ref: LinkRef, changes: LinkChanges): void {
  const r = rtnlLink.symbols;
  const action = `link set ${linkRefName(ref)} ${JSON.stringify(changes)}`;
  if (changes.name !== undefined && !validIfname(changes.name)) {
    throw invalidInput(action, `invalid interface name ${JSON.stringify(changes.name)}`);
  }
  const index = linkIndexOf(sock, ref);
  using stack = new DisposableStack();
  const orig = r.rtnl_link_alloc()!;
  stack.defer(() => r.rtnl_link_put(orig));
  const ch = r.rtnl_link_alloc()!;
  stack.defer(() => r.rtnl_link_put(ch));
  r.rtnl_link_set_ifindex(orig, index);
  if (changes.up === true) r.rtnl_link_set_flags(ch, IFF_UP);
  if (changes.up === false) r.rtnl_link_unset_flags(ch, IFF_UP);
  if (changes.mtu !== undefined) r.rtnl_link_set_mtu(ch, changes.mtu);
  if (changes.name !== undefined) r.rtnl_link_set_name(ch, cstr(changes.name));
  if (changes.alias !== undefined) r.rtnl_link_set_ifalias(ch, cstr(changes.alias));
  if (changes.mac !== undefined) {
    const a = buildMac(changes.mac, action);
    r.rtnl_link_set_addr(ch, a);
    libnl.symbols.nl_addr_put(a);
  }
  if (changes.netns !== undefined) {
    const fd = openNetnsFd(changes.netns);
    stack.defer(() => closeFd(fd));
    r.rtnl_link_set_ns_fd(ch, fd);
  }
  if (changes.addrGenMode !== undefined) {
    const mode = changes.addrGenMode === "none" ? IN6_ADDR_GEN_MODE_NONE : IN6_ADDR_GEN_MODE_EUI64;
    check(r.rtnl_link_inet6_set_addr_gen_mode(ch, mode), action);
  }
  request(action, () => r.rtnl_link_change(sock.ptr, orig, ch, 0));
}

/** `ip link set REF up`. */
export function linkSetUp(sock: Socket, ref: LinkRef): void {
  linkSet(sock, ref, { up: true });
}

/** `ip link set REF down`. */
export function linkSetDown(sock: Socket, ref: LinkRef): void {
  linkSet(sock, ref, { up: false });
}

/** `ip link set REF mtu N`. */
export function linkSetMtu(sock: Socket, ref: LinkRef, mtu: number): void {
  linkSet(sock, ref, { mtu });
}

/** `ip link set REF name NAME` (the link must be down for most drivers). */
export function linkSetName(sock: Socket, ref: LinkRef, name: string): void {
  linkSet(sock, ref, { name });
}

/** `ip link set REF alias TEXT`. */
export function linkSetAlias(sock: Socket, ref: LinkRef, alias: string): void {
  linkSet(sock, ref, { alias });
}

/** `ip link set REF address MAC`. */
export function linkSetMac(sock: Socket, ref: LinkRef, mac: string): void {
  linkSet(sock, ref, { mac });
}

/** `ip link set REF netns PATH`. */
export function linkSetNetns(sock: Socket, ref: LinkRef, netns: string): void {
  linkSet(sock, ref, { netns });
}

/**
 * `ip link set REF addrgenmode none|eui64`. The kernel rejects this inside a
 * veth-create request, so it is a separate change after creation.
 */
export function linkSetAddrGenMode(sock: Socket, ref: LinkRef, mode: "none" | "eui64"): void {
  linkSet(sock, ref, { addrGenMode: mode });
}

/** Options for `linkAddVeth`. */
export interface VethOptions {
  /** Name of the end created in the socket's netns. */
  name: string;
  /** Name of the peer end. */
  peerName: string;
  /** Netns path for the peer; it is created directly there (one request). */
  peerNetns?: string;
  /** Fixed MAC of the local end (set at creation so udev policies cannot rewrite it). */
  mac?: string;
  peerMac?: string;
  mtu?: number;
}

/**
 * `ip link add NAME type veth peer name PEER [netns PATH]`. Fails with
 * `exists` when either name is taken. Returns the local end.
 */
export function linkAddVeth(sock: Socket, o: VethOptions): Link {
  const r = rtnlLink.symbols;
  const action = `link add ${o.name} type veth peer ${o.peerName}${o.peerNetns ? ` netns ${o.peerNetns}` : ""}`;
  for (const n of [o.name, o.peerName]) {
    if (!validIfname(n)) throw invalidInput(action, `invalid interface name ${JSON.stringify(n)}`);
  }
  using stack = new DisposableStack();
  const link = r.rtnl_link_veth_alloc();
  if (link === null) throw outOfMemory(action);
  stack.defer(() => r.rtnl_link_veth_release(link));
  const peer = r.rtnl_link_veth_get_peer(link)!;
  r.rtnl_link_put(peer); // get_peer took a reference; veth_release drops the pair.
  r.rtnl_link_set_name(link, cstr(o.name));
  r.rtnl_link_set_name(peer, cstr(o.peerName));
  if (o.mtu !== undefined) {
    r.rtnl_link_set_mtu(link, o.mtu);
    r.rtnl_link_set_mtu(peer, o.mtu);
  }
  for (const [obj, mac] of [[link, o.mac], [peer, o.peerMac]] as const) {
    if (mac === undefined) continue;
    const a = buildMac(mac, action);
    r.rtnl_link_set_addr(obj, a);
    libnl.symbols.nl_addr_put(a);
  }
  if (o.peerNetns !== undefined) {
    const fd = openNetnsFd(o.peerNetns);
    stack.defer(() => closeFd(fd));
    r.rtnl_link_set_ns_fd(peer, fd);
  }
  request(action, () => r.rtnl_link_add(sock.ptr, link, NLM_F_CREATE | NLM_F_EXCL));
  return linkByName(sock, o.name);
}

/** `ip link del REF` (a veth takes its peer with it). */
export function linkDel(sock: Socket, ref: LinkRef): void {
  const r = rtnlLink.symbols;
  const index = linkIndexOf(sock, ref);
  using stack = new DisposableStack();
  const l = r.rtnl_link_alloc()!;
  stack.defer(() => r.rtnl_link_put(l));
  r.rtnl_link_set_ifindex(l, index);
  request(`link del ${linkRefName(ref)}`, () => r.rtnl_link_delete(sock.ptr, l));
}
