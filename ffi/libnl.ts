/**
 * Raw symbol tables for libnl-3 and libnl-route-3 (soname 200, libnl 3.x).
 * C names and C types verbatim; typed wrappers live in `netlink/`.
 *
 * Pointer conventions: `pointer` is an opaque libnl object; `buffer` is a
 * NUL-terminated string or an out-parameter slot (`BigUint64Array(1)`).
 *
 * @module
 */

import { lazyDlopen } from "./open.ts";

const P = "pointer" as const;
const B = "buffer" as const;
const LIBNL = "libnl-3.so.200";
const LIBNL_ROUTE = "libnl-route-3.so.200";

// Every symbol is bound on its first call (ffi/open.ts), so a role pays only for what it calls:
// VERSION for nothing, DEL for the link verbs. Tables are grouped by object kind, build vs read.

/** libnl's exported version statics. */
export const libnlInfo = lazyDlopen(
  LIBNL,
  {
    nl_ver_num: { type: "i32" },
    nl_ver_maj: { type: "i32" },
    nl_ver_min: { type: "i32" },
    nl_ver_mic: { type: "i32" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** libnl core: errors, callbacks, sockets, nl_addr. */
export const libnl = lazyDlopen(
  LIBNL,
  {
    nl_geterror: { parameters: ["i32"], result: P },

    nl_cb_alloc: { parameters: ["i32"], result: P },
    nl_cb_put: { parameters: [P], result: "void" },
    nl_cb_err: { parameters: [P, "i32", "function", P], result: "i32" },
    nl_cb_set: { parameters: [P, "i32", "i32", "function", P], result: "i32" },

    nl_socket_alloc_cb: { parameters: [P], result: P },
    nl_socket_free: { parameters: [P], result: "void" },
    nl_connect: { parameters: [P, "i32"], result: "i32" },

    nl_addr_build: { parameters: ["i32", B, "usize"], result: P },
    nl_addr_put: { parameters: [P], result: "void" },
    nl_addr_set_prefixlen: { parameters: [P, "i32"], result: "void" },
    nl_addr_get_len: { parameters: [P], result: "u32" },
    nl_addr_get_prefixlen: { parameters: [P], result: "u32" },
    nl_addr_get_binary_addr: { parameters: [P], result: P },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** libnl caches: what every dump (list) walks. */
export const libnlCache = lazyDlopen(
  LIBNL,
  {
    nl_cache_free: { parameters: [P], result: "void" },
    nl_cache_get_first: { parameters: [P], result: P },
    nl_cache_get_next: { parameters: [P], result: P },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl links: lookup, dump and read (what a CNI ADD checks before it starts IPAM). */
export const rtnlLinkRead = lazyDlopen(
  LIBNL_ROUTE,
  {
    rtnl_link_put: { parameters: [P], result: "void" },
    rtnl_link_alloc_cache: { parameters: [P, "i32", B], result: "i32" },
    rtnl_link_get_kernel: { parameters: [P, "i32", B, B], result: "i32" },
    rtnl_link_get_name: { parameters: [P], result: P },
    rtnl_link_get_ifindex: { parameters: [P], result: "i32" },
    rtnl_link_get_addr: { parameters: [P], result: P },
    rtnl_link_get_mtu: { parameters: [P], result: "u32" },
    rtnl_link_get_flags: { parameters: [P], result: "u32" },
    rtnl_link_get_operstate: { parameters: [P], result: "u8" },
    rtnl_link_get_ifalias: { parameters: [P], result: P },
    rtnl_link_get_type: { parameters: [P], result: P },
    rtnl_link_get_link: { parameters: [P], result: "i32" },
    rtnl_link_get_link_netnsid: { parameters: [P, B], result: "i32" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl links: build, create (veth), change, delete. */
export const rtnlLink = lazyDlopen(
  LIBNL_ROUTE,
  {
    rtnl_link_alloc: { parameters: [], result: P },
    rtnl_link_put: { parameters: [P], result: "void" },
    rtnl_link_add: { parameters: [P, P, "i32"], result: "i32" },
    rtnl_link_change: { parameters: [P, P, P, "i32"], result: "i32" },
    rtnl_link_delete: { parameters: [P, P], result: "i32" },
    rtnl_link_set_name: { parameters: [P, B], result: "void" },
    rtnl_link_set_ifindex: { parameters: [P, "i32"], result: "void" },
    rtnl_link_set_addr: { parameters: [P, P], result: "void" },
    rtnl_link_set_mtu: { parameters: [P, "u32"], result: "void" },
    rtnl_link_set_flags: { parameters: [P, "u32"], result: "void" },
    rtnl_link_unset_flags: { parameters: [P, "u32"], result: "void" },
    rtnl_link_set_ifalias: { parameters: [P, B], result: "void" },
    rtnl_link_set_ns_fd: { parameters: [P, "i32"], result: "void" },
    rtnl_link_veth_alloc: { parameters: [], result: P },
    rtnl_link_veth_get_peer: { parameters: [P], result: P },
    rtnl_link_veth_release: { parameters: [P], result: "void" },
    rtnl_link_inet6_set_addr_gen_mode: { parameters: [P, "u8"], result: "i32" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl addresses: build, add, delete. */
export const rtnlAddr = lazyDlopen(
  LIBNL_ROUTE,
  {
    rtnl_addr_alloc: { parameters: [], result: P },
    rtnl_addr_put: { parameters: [P], result: "void" },
    rtnl_addr_add: { parameters: [P, P, "i32"], result: "i32" },
    rtnl_addr_delete: { parameters: [P, P, "i32"], result: "i32" },
    rtnl_addr_set_ifindex: { parameters: [P, "i32"], result: "void" },
    rtnl_addr_set_local: { parameters: [P, P], result: "i32" },
    rtnl_addr_set_prefixlen: { parameters: [P, "i32"], result: "void" },
    rtnl_addr_set_family: { parameters: [P, "i32"], result: "void" },
    rtnl_addr_set_flags: { parameters: [P, "u32"], result: "void" },
    rtnl_addr_set_scope: { parameters: [P, "i32"], result: "void" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl addresses: dump and read. */
export const rtnlAddrRead = lazyDlopen(
  LIBNL_ROUTE,
  {
    rtnl_addr_alloc_cache: { parameters: [P, B], result: "i32" },
    rtnl_addr_get_ifindex: { parameters: [P], result: "i32" },
    rtnl_addr_get_local: { parameters: [P], result: P },
    rtnl_addr_get_family: { parameters: [P], result: "i32" },
    rtnl_addr_get_flags: { parameters: [P], result: "u32" },
    rtnl_addr_get_scope: { parameters: [P], result: "i32" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl routes and nexthops: build, add, delete. */
export const rtnlRoute = lazyDlopen(
  LIBNL_ROUTE,
  {
    rtnl_route_alloc: { parameters: [], result: P },
    rtnl_route_put: { parameters: [P], result: "void" },
    rtnl_route_add: { parameters: [P, P, "i32"], result: "i32" },
    rtnl_route_delete: { parameters: [P, P, "i32"], result: "i32" },
    rtnl_route_set_table: { parameters: [P, "u32"], result: "void" },
    rtnl_route_set_scope: { parameters: [P, "u8"], result: "void" },
    rtnl_route_set_protocol: { parameters: [P, "u8"], result: "void" },
    rtnl_route_set_type: { parameters: [P, "u8"], result: "i32" },
    rtnl_route_set_family: { parameters: [P, "u8"], result: "i32" },
    rtnl_route_set_priority: { parameters: [P, "u32"], result: "void" },
    rtnl_route_set_dst: { parameters: [P, P], result: "i32" },
    rtnl_route_set_pref_src: { parameters: [P, P], result: "i32" },
    rtnl_route_add_nexthop: { parameters: [P, P], result: "void" },
    rtnl_route_nh_alloc: { parameters: [], result: P },
    rtnl_route_nh_set_ifindex: { parameters: [P, "i32"], result: "void" },
    rtnl_route_nh_set_gateway: { parameters: [P, P], result: "void" },
    rtnl_route_nh_set_flags: { parameters: [P, "u32"], result: "void" },
    rtnl_route_nh_set_weight: { parameters: [P, "u8"], result: "void" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl routes and nexthops: dump and read. */
export const rtnlRouteRead = lazyDlopen(
  LIBNL_ROUTE,
  {
    rtnl_route_alloc_cache: { parameters: [P, "i32", "i32", B], result: "i32" },
    rtnl_route_get_table: { parameters: [P], result: "u32" },
    rtnl_route_get_scope: { parameters: [P], result: "u8" },
    rtnl_route_get_protocol: { parameters: [P], result: "u8" },
    rtnl_route_get_type: { parameters: [P], result: "u8" },
    rtnl_route_get_family: { parameters: [P], result: "i32" },
    rtnl_route_get_priority: { parameters: [P], result: "u32" },
    rtnl_route_get_dst: { parameters: [P], result: P },
    rtnl_route_get_pref_src: { parameters: [P], result: P },
    rtnl_route_get_nnexthops: { parameters: [P], result: "i32" },
    rtnl_route_nexthop_n: { parameters: [P, "i32"], result: P },
    rtnl_route_nh_get_ifindex: { parameters: [P], result: "i32" },
    rtnl_route_nh_get_gateway: { parameters: [P], result: P },
    rtnl_route_nh_get_flags: { parameters: [P], result: "u32" },
    rtnl_route_nh_get_weight: { parameters: [P], result: "u8" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl neighbors: build, add (replace, NTF_USE), delete. */
export const rtnlNeigh = lazyDlopen(
  LIBNL_ROUTE,
  {
    rtnl_neigh_alloc: { parameters: [], result: P },
    rtnl_neigh_put: { parameters: [P], result: "void" },
    rtnl_neigh_add: { parameters: [P, P, "i32"], result: "i32" },
    rtnl_neigh_delete: { parameters: [P, P, "i32"], result: "i32" },
    rtnl_neigh_set_ifindex: { parameters: [P, "i32"], result: "void" },
    rtnl_neigh_set_dst: { parameters: [P, P], result: "i32" },
    rtnl_neigh_set_lladdr: { parameters: [P, P], result: "void" },
    rtnl_neigh_set_state: { parameters: [P, "i32"], result: "void" },
    rtnl_neigh_set_flags: { parameters: [P, "u32"], result: "void" },
    rtnl_neigh_set_family: { parameters: [P, "i32"], result: "void" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl neighbors: dump and read. */
export const rtnlNeighRead = lazyDlopen(
  LIBNL_ROUTE,
  {
    rtnl_neigh_alloc_cache: { parameters: [P, B], result: "i32" },
    rtnl_neigh_get_ifindex: { parameters: [P], result: "i32" },
    rtnl_neigh_get_dst: { parameters: [P], result: P },
    rtnl_neigh_get_lladdr: { parameters: [P], result: P },
    rtnl_neigh_get_state: { parameters: [P], result: "i32" },
    rtnl_neigh_get_family: { parameters: [P], result: "i32" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** Constants from <linux/netlink.h>, <linux/if.h>, <linux/rtnetlink.h>, <linux/neighbour.h>, <netlink/errno.h>. */
export const NETLINK_ROUTE = 0;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NL_CB_DEFAULT = 0;
export const NL_CB_CUSTOM = 3;
export const NL_STOP = 2;
export const NL_OK = 0;
/** `enum nl_cb_type` member for a message flagged NLM_F_DUMP_INTR. */
export const NL_CB_DUMP_INTR = 10;
export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFF_NOARP = 0x80;
export const IFA_F_NODAD = 0x02;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;
export const RTNH_F_ONLINK = 0x4;
export const RT_TABLE_MAIN = 254;
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
export const NTF_USE = 0x01;
export const IN6_ADDR_GEN_MODE_EUI64 = 0;
export const IN6_ADDR_GEN_MODE_NONE = 1;

export const NLE_AGAIN = 4;
export const NLE_NOMEM = 5;
export const NLE_EXIST = 6;
export const NLE_INVAL = 7;
export const NLE_OBJ_NOTFOUND = 12;
export const NLE_BUSY = 25;
export const NLE_NODEV = 31;
export const NLE_DUMP_INTR = 33;

/** libnl's version, read from its exported `nl_ver_*` statics. */
export function libnlVersion(): string {
  const s = libnlInfo.symbols;
  return `${s.nl_ver_maj}.${s.nl_ver_min}.${s.nl_ver_mic}`;
}
