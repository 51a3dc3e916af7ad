/**
 * Raw symbol tables for libnl-3 and libnl-route-3 (soname 200, libnl 3.x).
 * C names and C types verbatim; typed wrappers live in `netlink/`.
 *
 * Each entry sits under its C prototype and each parameter line names its C type and
 * parameter, so every line can be checked against the header. Types are those of libnl 3.7's
 * installed headers (`/usr/include/libnl3/netlink/`, named in each table's doc); the headers
 * leave most parameters unnamed, so the names are those of libnl 3.7.0's definitions (`lib/`).
 * An entry with no parameter, or with one opaque pointer or integer, stays on one line under
 * its prototype.
 *
 * `pointer` is an opaque libnl object, or a string libnl owns. `buffer` is memory podnet passes
 * from JS, and its comment says what it holds: a NUL-terminated string (`cstr`), bytes, or an
 * out slot (a `BigUint64Array(1)` that receives the object libnl allocates).
 *
 * Longer than ~400 lines on purpose: one line per C parameter, a table to check, not logic.
 *
 * @module
 */

import { lazyDlopen } from "./open.ts";

const LIBNL = "libnl-3.so.200";
const LIBNL_ROUTE = "libnl-route-3.so.200";

// Every symbol is bound on its first call (ffi/open.ts), so a role pays only for what it calls:
// VERSION for nothing, DEL for the link verbs. Tables are grouped by object kind, build vs read.

/** libnl's exported version statics (<netlink/version.h>). */
export const libnlInfo = lazyDlopen(
  LIBNL,
  {
    // extern const int nl_ver_num;
    nl_ver_num: { type: "i32" },
    // extern const int nl_ver_maj;
    nl_ver_maj: { type: "i32" },
    // extern const int nl_ver_min;
    nl_ver_min: { type: "i32" },
    // extern const int nl_ver_mic;
    nl_ver_mic: { type: "i32" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/**
 * libnl core: errors, callbacks, sockets, nl_addr (<netlink/errno.h>, <netlink/handlers.h>,
 * <netlink/socket.h>, <netlink/netlink.h>, <netlink/addr.h>).
 */
export const libnl = lazyDlopen(
  LIBNL,
  {
    // const char *nl_geterror(int error)
    nl_geterror: { parameters: ["i32"], result: "pointer" },

    // struct nl_cb *nl_cb_alloc(enum nl_cb_kind kind)
    nl_cb_alloc: { parameters: ["i32"], result: "pointer" },
    // void nl_cb_put(struct nl_cb *cb)
    nl_cb_put: { parameters: ["pointer"], result: "void" },
    // int nl_cb_err(struct nl_cb *cb, enum nl_cb_kind kind, nl_recvmsg_err_cb_t func, void *arg)
    nl_cb_err: {
      parameters: [
        "pointer", // struct nl_cb *cb
        "i32", // enum nl_cb_kind kind
        "function", // nl_recvmsg_err_cb_t func
        "pointer", // void *arg
      ],
      result: "i32", // int
    },
    // int nl_cb_set(struct nl_cb *cb, enum nl_cb_type type, enum nl_cb_kind kind, nl_recvmsg_msg_cb_t func, void *arg)
    nl_cb_set: {
      parameters: [
        "pointer", // struct nl_cb *cb
        "i32", // enum nl_cb_type type
        "i32", // enum nl_cb_kind kind
        "function", // nl_recvmsg_msg_cb_t func
        "pointer", // void *arg
      ],
      result: "i32", // int
    },

    // struct nl_sock *nl_socket_alloc_cb(struct nl_cb *cb)
    nl_socket_alloc_cb: { parameters: ["pointer"], result: "pointer" },
    // void nl_socket_free(struct nl_sock *sk)
    nl_socket_free: { parameters: ["pointer"], result: "void" },
    // int nl_connect(struct nl_sock *sk, int protocol)
    nl_connect: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "i32", // int protocol
      ],
      result: "i32", // int
    },

    // struct nl_addr *nl_addr_build(int family, const void *buf, size_t size)
    nl_addr_build: {
      parameters: [
        "i32", // int family
        "buffer", // const void *buf (the address bytes)
        "usize", // size_t size
      ],
      result: "pointer", // struct nl_addr *
    },
    // void nl_addr_put(struct nl_addr *addr)
    nl_addr_put: { parameters: ["pointer"], result: "void" },
    // void nl_addr_set_prefixlen(struct nl_addr *addr, int prefixlen)
    nl_addr_set_prefixlen: {
      parameters: [
        "pointer", // struct nl_addr *addr
        "i32", // int prefixlen
      ],
      result: "void",
    },
    // unsigned int nl_addr_get_len(const struct nl_addr *addr)
    nl_addr_get_len: { parameters: ["pointer"], result: "u32" },
    // unsigned int nl_addr_get_prefixlen(const struct nl_addr *addr)
    nl_addr_get_prefixlen: { parameters: ["pointer"], result: "u32" },
    // void *nl_addr_get_binary_addr(const struct nl_addr *addr)
    nl_addr_get_binary_addr: { parameters: ["pointer"], result: "pointer" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** libnl caches: what every dump (list) walks (<netlink/cache.h>). */
export const libnlCache = lazyDlopen(
  LIBNL,
  {
    // void nl_cache_free(struct nl_cache *cache)
    nl_cache_free: { parameters: ["pointer"], result: "void" },
    // struct nl_object *nl_cache_get_first(struct nl_cache *cache)
    nl_cache_get_first: { parameters: ["pointer"], result: "pointer" },
    // struct nl_object *nl_cache_get_next(struct nl_object *obj)
    nl_cache_get_next: { parameters: ["pointer"], result: "pointer" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl links: lookup, dump and read, what a CNI ADD checks before it starts IPAM (<netlink/route/link.h>). */
export const rtnlLinkRead = lazyDlopen(
  LIBNL_ROUTE,
  {
    // void rtnl_link_put(struct rtnl_link *link)
    rtnl_link_put: { parameters: ["pointer"], result: "void" },
    // int rtnl_link_alloc_cache(struct nl_sock *sk, int family, struct nl_cache **result)
    rtnl_link_alloc_cache: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "i32", // int family
        "buffer", // struct nl_cache **result (out slot)
      ],
      result: "i32", // int
    },
    // int rtnl_link_get_kernel(struct nl_sock *sk, int ifindex, const char *name, struct rtnl_link **result)
    rtnl_link_get_kernel: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "i32", // int ifindex
        "buffer", // const char *name (C string, or null to look up by ifindex)
        "buffer", // struct rtnl_link **result (out slot)
      ],
      result: "i32", // int
    },
    // char *rtnl_link_get_name(struct rtnl_link *link)
    rtnl_link_get_name: { parameters: ["pointer"], result: "pointer" },
    // int rtnl_link_get_ifindex(struct rtnl_link *link)
    rtnl_link_get_ifindex: { parameters: ["pointer"], result: "i32" },
    // struct nl_addr *rtnl_link_get_addr(struct rtnl_link *link)
    rtnl_link_get_addr: { parameters: ["pointer"], result: "pointer" },
    // unsigned int rtnl_link_get_mtu(struct rtnl_link *link)
    rtnl_link_get_mtu: { parameters: ["pointer"], result: "u32" },
    // unsigned int rtnl_link_get_flags(struct rtnl_link *link)
    rtnl_link_get_flags: { parameters: ["pointer"], result: "u32" },
    // uint8_t rtnl_link_get_operstate(struct rtnl_link *link)
    rtnl_link_get_operstate: { parameters: ["pointer"], result: "u8" },
    // const char *rtnl_link_get_ifalias(struct rtnl_link *link)
    rtnl_link_get_ifalias: { parameters: ["pointer"], result: "pointer" },
    // char *rtnl_link_get_type(struct rtnl_link *link)
    rtnl_link_get_type: { parameters: ["pointer"], result: "pointer" },
    // int rtnl_link_get_link(struct rtnl_link *link)
    rtnl_link_get_link: { parameters: ["pointer"], result: "i32" },
    // int rtnl_link_get_link_netnsid(const struct rtnl_link *link, int32_t *out_link_netnsid)
    rtnl_link_get_link_netnsid: {
      parameters: [
        "pointer", // const struct rtnl_link *link
        "buffer", // int32_t *out_link_netnsid (out, Int32Array(1))
      ],
      result: "i32", // int
    },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/**
 * rtnl links: build, create (veth), change, delete (<netlink/route/link.h>,
 * <netlink/route/link/veth.h>, <netlink/route/link/inet6.h>).
 */
export const rtnlLink = lazyDlopen(
  LIBNL_ROUTE,
  {
    // struct rtnl_link *rtnl_link_alloc(void)
    rtnl_link_alloc: { parameters: [], result: "pointer" },
    // void rtnl_link_put(struct rtnl_link *link)
    rtnl_link_put: { parameters: ["pointer"], result: "void" },
    // int rtnl_link_add(struct nl_sock *sk, struct rtnl_link *link, int flags)
    rtnl_link_add: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "pointer", // struct rtnl_link *link
        "i32", // int flags
      ],
      result: "i32", // int
    },
    // int rtnl_link_change(struct nl_sock *sk, struct rtnl_link *orig, struct rtnl_link *changes, int flags)
    rtnl_link_change: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "pointer", // struct rtnl_link *orig
        "pointer", // struct rtnl_link *changes
        "i32", // int flags
      ],
      result: "i32", // int
    },
    // int rtnl_link_delete(struct nl_sock *sk, const struct rtnl_link *link)
    rtnl_link_delete: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "pointer", // const struct rtnl_link *link
      ],
      result: "i32", // int
    },
    // void rtnl_link_set_name(struct rtnl_link *link, const char *name)
    rtnl_link_set_name: {
      parameters: [
        "pointer", // struct rtnl_link *link
        "buffer", // const char *name (C string)
      ],
      result: "void",
    },
    // void rtnl_link_set_ifindex(struct rtnl_link *link, int ifindex)
    rtnl_link_set_ifindex: {
      parameters: [
        "pointer", // struct rtnl_link *link
        "i32", // int ifindex
      ],
      result: "void",
    },
    // void rtnl_link_set_addr(struct rtnl_link *link, struct nl_addr *addr)
    rtnl_link_set_addr: {
      parameters: [
        "pointer", // struct rtnl_link *link
        "pointer", // struct nl_addr *addr
      ],
      result: "void",
    },
    // void rtnl_link_set_mtu(struct rtnl_link *link, unsigned int mtu)
    rtnl_link_set_mtu: {
      parameters: [
        "pointer", // struct rtnl_link *link
        "u32", // unsigned int mtu
      ],
      result: "void",
    },
    // void rtnl_link_set_flags(struct rtnl_link *link, unsigned int flags)
    rtnl_link_set_flags: {
      parameters: [
        "pointer", // struct rtnl_link *link
        "u32", // unsigned int flags
      ],
      result: "void",
    },
    // void rtnl_link_unset_flags(struct rtnl_link *link, unsigned int flags)
    rtnl_link_unset_flags: {
      parameters: [
        "pointer", // struct rtnl_link *link
        "u32", // unsigned int flags
      ],
      result: "void",
    },
    // void rtnl_link_set_ifalias(struct rtnl_link *link, const char *alias)
    rtnl_link_set_ifalias: {
      parameters: [
        "pointer", // struct rtnl_link *link
        "buffer", // const char *alias (C string)
      ],
      result: "void",
    },
    // void rtnl_link_set_ns_fd(struct rtnl_link *link, int fd)
    rtnl_link_set_ns_fd: {
      parameters: [
        "pointer", // struct rtnl_link *link
        "i32", // int fd
      ],
      result: "void",
    },
    // struct rtnl_link *rtnl_link_veth_alloc(void)
    rtnl_link_veth_alloc: { parameters: [], result: "pointer" },
    // struct rtnl_link *rtnl_link_veth_get_peer(struct rtnl_link *link)
    rtnl_link_veth_get_peer: { parameters: ["pointer"], result: "pointer" },
    // void rtnl_link_veth_release(struct rtnl_link *link)
    rtnl_link_veth_release: { parameters: ["pointer"], result: "void" },
    // int rtnl_link_inet6_set_addr_gen_mode(struct rtnl_link *link, uint8_t mode)
    rtnl_link_inet6_set_addr_gen_mode: {
      parameters: [
        "pointer", // struct rtnl_link *link
        "u8", // uint8_t mode
      ],
      result: "i32", // int
    },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl addresses: build, add, delete (<netlink/route/addr.h>). */
export const rtnlAddr = lazyDlopen(
  LIBNL_ROUTE,
  {
    // struct rtnl_addr *rtnl_addr_alloc(void)
    rtnl_addr_alloc: { parameters: [], result: "pointer" },
    // void rtnl_addr_put(struct rtnl_addr *addr)
    rtnl_addr_put: { parameters: ["pointer"], result: "void" },
    // int rtnl_addr_add(struct nl_sock *sk, struct rtnl_addr *addr, int flags)
    rtnl_addr_add: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "pointer", // struct rtnl_addr *addr
        "i32", // int flags
      ],
      result: "i32", // int
    },
    // int rtnl_addr_delete(struct nl_sock *sk, struct rtnl_addr *addr, int flags)
    rtnl_addr_delete: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "pointer", // struct rtnl_addr *addr
        "i32", // int flags
      ],
      result: "i32", // int
    },
    // void rtnl_addr_set_ifindex(struct rtnl_addr *addr, int ifindex)
    rtnl_addr_set_ifindex: {
      parameters: [
        "pointer", // struct rtnl_addr *addr
        "i32", // int ifindex
      ],
      result: "void",
    },
    // int rtnl_addr_set_local(struct rtnl_addr *addr, struct nl_addr *local)
    rtnl_addr_set_local: {
      parameters: [
        "pointer", // struct rtnl_addr *addr
        "pointer", // struct nl_addr *local
      ],
      result: "i32", // int
    },
    // void rtnl_addr_set_prefixlen(struct rtnl_addr *addr, int prefixlen)
    rtnl_addr_set_prefixlen: {
      parameters: [
        "pointer", // struct rtnl_addr *addr
        "i32", // int prefixlen
      ],
      result: "void",
    },
    // void rtnl_addr_set_family(struct rtnl_addr *addr, int family)
    rtnl_addr_set_family: {
      parameters: [
        "pointer", // struct rtnl_addr *addr
        "i32", // int family
      ],
      result: "void",
    },
    // void rtnl_addr_set_flags(struct rtnl_addr *addr, unsigned int flags)
    rtnl_addr_set_flags: {
      parameters: [
        "pointer", // struct rtnl_addr *addr
        "u32", // unsigned int flags
      ],
      result: "void",
    },
    // void rtnl_addr_set_scope(struct rtnl_addr *addr, int scope)
    rtnl_addr_set_scope: {
      parameters: [
        "pointer", // struct rtnl_addr *addr
        "i32", // int scope
      ],
      result: "void",
    },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl addresses: dump and read (<netlink/route/addr.h>). */
export const rtnlAddrRead = lazyDlopen(
  LIBNL_ROUTE,
  {
    // int rtnl_addr_alloc_cache(struct nl_sock *sk, struct nl_cache **result)
    rtnl_addr_alloc_cache: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "buffer", // struct nl_cache **result (out slot)
      ],
      result: "i32", // int
    },
    // int rtnl_addr_get_ifindex(struct rtnl_addr *addr)
    rtnl_addr_get_ifindex: { parameters: ["pointer"], result: "i32" },
    // struct nl_addr *rtnl_addr_get_local(struct rtnl_addr *addr)
    rtnl_addr_get_local: { parameters: ["pointer"], result: "pointer" },
    // int rtnl_addr_get_family(struct rtnl_addr *addr)
    rtnl_addr_get_family: { parameters: ["pointer"], result: "i32" },
    // unsigned int rtnl_addr_get_flags(struct rtnl_addr *addr)
    rtnl_addr_get_flags: { parameters: ["pointer"], result: "u32" },
    // int rtnl_addr_get_scope(struct rtnl_addr *addr)
    rtnl_addr_get_scope: { parameters: ["pointer"], result: "i32" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl routes and nexthops: build, add, delete (<netlink/route/route.h>, <netlink/route/nexthop.h>). */
export const rtnlRoute = lazyDlopen(
  LIBNL_ROUTE,
  {
    // struct rtnl_route *rtnl_route_alloc(void)
    rtnl_route_alloc: { parameters: [], result: "pointer" },
    // void rtnl_route_put(struct rtnl_route *route)
    rtnl_route_put: { parameters: ["pointer"], result: "void" },
    // int rtnl_route_add(struct nl_sock *sk, struct rtnl_route *route, int flags)
    rtnl_route_add: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "pointer", // struct rtnl_route *route
        "i32", // int flags
      ],
      result: "i32", // int
    },
    // int rtnl_route_delete(struct nl_sock *sk, struct rtnl_route *route, int flags)
    rtnl_route_delete: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "pointer", // struct rtnl_route *route
        "i32", // int flags
      ],
      result: "i32", // int
    },
    // void rtnl_route_set_table(struct rtnl_route *route, uint32_t table)
    rtnl_route_set_table: {
      parameters: [
        "pointer", // struct rtnl_route *route
        "u32", // uint32_t table
      ],
      result: "void",
    },
    // void rtnl_route_set_scope(struct rtnl_route *route, uint8_t scope)
    rtnl_route_set_scope: {
      parameters: [
        "pointer", // struct rtnl_route *route
        "u8", // uint8_t scope
      ],
      result: "void",
    },
    // void rtnl_route_set_protocol(struct rtnl_route *route, uint8_t protocol)
    rtnl_route_set_protocol: {
      parameters: [
        "pointer", // struct rtnl_route *route
        "u8", // uint8_t protocol
      ],
      result: "void",
    },
    // int rtnl_route_set_type(struct rtnl_route *route, uint8_t type)
    rtnl_route_set_type: {
      parameters: [
        "pointer", // struct rtnl_route *route
        "u8", // uint8_t type
      ],
      result: "i32", // int
    },
    // int rtnl_route_set_family(struct rtnl_route *route, uint8_t family)
    rtnl_route_set_family: {
      parameters: [
        "pointer", // struct rtnl_route *route
        "u8", // uint8_t family
      ],
      result: "i32", // int
    },
    // void rtnl_route_set_priority(struct rtnl_route *route, uint32_t prio)
    rtnl_route_set_priority: {
      parameters: [
        "pointer", // struct rtnl_route *route
        "u32", // uint32_t prio
      ],
      result: "void",
    },
    // int rtnl_route_set_dst(struct rtnl_route *route, struct nl_addr *addr)
    rtnl_route_set_dst: {
      parameters: [
        "pointer", // struct rtnl_route *route
        "pointer", // struct nl_addr *addr
      ],
      result: "i32", // int
    },
    // int rtnl_route_set_pref_src(struct rtnl_route *route, struct nl_addr *addr)
    rtnl_route_set_pref_src: {
      parameters: [
        "pointer", // struct rtnl_route *route
        "pointer", // struct nl_addr *addr
      ],
      result: "i32", // int
    },
    // void rtnl_route_add_nexthop(struct rtnl_route *route, struct rtnl_nexthop *nh)
    rtnl_route_add_nexthop: {
      parameters: [
        "pointer", // struct rtnl_route *route
        "pointer", // struct rtnl_nexthop *nh
      ],
      result: "void",
    },
    // struct rtnl_nexthop *rtnl_route_nh_alloc(void)
    rtnl_route_nh_alloc: { parameters: [], result: "pointer" },
    // void rtnl_route_nh_set_ifindex(struct rtnl_nexthop *nh, int ifindex)
    rtnl_route_nh_set_ifindex: {
      parameters: [
        "pointer", // struct rtnl_nexthop *nh
        "i32", // int ifindex
      ],
      result: "void",
    },
    // void rtnl_route_nh_set_gateway(struct rtnl_nexthop *nh, struct nl_addr *addr)
    rtnl_route_nh_set_gateway: {
      parameters: [
        "pointer", // struct rtnl_nexthop *nh
        "pointer", // struct nl_addr *addr
      ],
      result: "void",
    },
    // void rtnl_route_nh_set_flags(struct rtnl_nexthop *nh, unsigned int flags)
    rtnl_route_nh_set_flags: {
      parameters: [
        "pointer", // struct rtnl_nexthop *nh
        "u32", // unsigned int flags
      ],
      result: "void",
    },
    // void rtnl_route_nh_set_weight(struct rtnl_nexthop *nh, uint8_t weight)
    rtnl_route_nh_set_weight: {
      parameters: [
        "pointer", // struct rtnl_nexthop *nh
        "u8", // uint8_t weight
      ],
      result: "void",
    },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl routes and nexthops: dump and read (<netlink/route/route.h>, <netlink/route/nexthop.h>). */
export const rtnlRouteRead = lazyDlopen(
  LIBNL_ROUTE,
  {
    // int rtnl_route_alloc_cache(struct nl_sock *sk, int family, int flags, struct nl_cache **result)
    rtnl_route_alloc_cache: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "i32", // int family
        "i32", // int flags
        "buffer", // struct nl_cache **result (out slot)
      ],
      result: "i32", // int
    },
    // uint32_t rtnl_route_get_table(struct rtnl_route *route)
    rtnl_route_get_table: { parameters: ["pointer"], result: "u32" },
    // uint8_t rtnl_route_get_scope(struct rtnl_route *route)
    rtnl_route_get_scope: { parameters: ["pointer"], result: "u8" },
    // uint8_t rtnl_route_get_protocol(struct rtnl_route *route)
    rtnl_route_get_protocol: { parameters: ["pointer"], result: "u8" },
    // uint8_t rtnl_route_get_type(struct rtnl_route *route)
    rtnl_route_get_type: { parameters: ["pointer"], result: "u8" },
    // uint8_t rtnl_route_get_family(struct rtnl_route *route)
    rtnl_route_get_family: { parameters: ["pointer"], result: "u8" },
    // uint32_t rtnl_route_get_priority(struct rtnl_route *route)
    rtnl_route_get_priority: { parameters: ["pointer"], result: "u32" },
    // struct nl_addr *rtnl_route_get_dst(struct rtnl_route *route)
    rtnl_route_get_dst: { parameters: ["pointer"], result: "pointer" },
    // struct nl_addr *rtnl_route_get_pref_src(struct rtnl_route *route)
    rtnl_route_get_pref_src: { parameters: ["pointer"], result: "pointer" },
    // int rtnl_route_get_nnexthops(struct rtnl_route *route)
    rtnl_route_get_nnexthops: { parameters: ["pointer"], result: "i32" },
    // struct rtnl_nexthop *rtnl_route_nexthop_n(struct rtnl_route *r, int n)
    rtnl_route_nexthop_n: {
      parameters: [
        "pointer", // struct rtnl_route *r
        "i32", // int n
      ],
      result: "pointer", // struct rtnl_nexthop *
    },
    // int rtnl_route_nh_get_ifindex(struct rtnl_nexthop *nh)
    rtnl_route_nh_get_ifindex: { parameters: ["pointer"], result: "i32" },
    // struct nl_addr *rtnl_route_nh_get_gateway(struct rtnl_nexthop *nh)
    rtnl_route_nh_get_gateway: { parameters: ["pointer"], result: "pointer" },
    // unsigned int rtnl_route_nh_get_flags(struct rtnl_nexthop *nh)
    rtnl_route_nh_get_flags: { parameters: ["pointer"], result: "u32" },
    // uint8_t rtnl_route_nh_get_weight(struct rtnl_nexthop *nh)
    rtnl_route_nh_get_weight: { parameters: ["pointer"], result: "u8" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl neighbors: build, add (replace, NTF_USE), delete (<netlink/route/neighbour.h>). */
export const rtnlNeigh = lazyDlopen(
  LIBNL_ROUTE,
  {
    // struct rtnl_neigh *rtnl_neigh_alloc(void)
    rtnl_neigh_alloc: { parameters: [], result: "pointer" },
    // void rtnl_neigh_put(struct rtnl_neigh *neigh)
    rtnl_neigh_put: { parameters: ["pointer"], result: "void" },
    // int rtnl_neigh_add(struct nl_sock *sk, struct rtnl_neigh *tmpl, int flags)
    rtnl_neigh_add: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "pointer", // struct rtnl_neigh *tmpl
        "i32", // int flags
      ],
      result: "i32", // int
    },
    // int rtnl_neigh_delete(struct nl_sock *sk, struct rtnl_neigh *neigh, int flags)
    rtnl_neigh_delete: {
      parameters: [
        "pointer", // struct nl_sock *sk
        "pointer", // struct rtnl_neigh *neigh
        "i32", // int flags
      ],
      result: "i32", // int
    },
    // void rtnl_neigh_set_ifindex(struct rtnl_neigh *neigh, int ifindex)
    rtnl_neigh_set_ifindex: {
      parameters: [
        "pointer", // struct rtnl_neigh *neigh
        "i32", // int ifindex
      ],
      result: "void",
    },
    // int rtnl_neigh_set_dst(struct rtnl_neigh *neigh, struct nl_addr *addr)
    rtnl_neigh_set_dst: {
      parameters: [
        "pointer", // struct rtnl_neigh *neigh
        "pointer", // struct nl_addr *addr
      ],
      result: "i32", // int
    },
    // void rtnl_neigh_set_lladdr(struct rtnl_neigh *neigh, struct nl_addr *addr)
    rtnl_neigh_set_lladdr: {
      parameters: [
        "pointer", // struct rtnl_neigh *neigh
        "pointer", // struct nl_addr *addr
      ],
      result: "void",
    },
    // void rtnl_neigh_set_state(struct rtnl_neigh *neigh, int state)
    rtnl_neigh_set_state: {
      parameters: [
        "pointer", // struct rtnl_neigh *neigh
        "i32", // int state
      ],
      result: "void",
    },
    // void rtnl_neigh_set_flags(struct rtnl_neigh *neigh, unsigned int flags)
    rtnl_neigh_set_flags: {
      parameters: [
        "pointer", // struct rtnl_neigh *neigh
        "u32", // unsigned int flags
      ],
      result: "void",
    },
    // void rtnl_neigh_set_family(struct rtnl_neigh *neigh, int family)
    rtnl_neigh_set_family: {
      parameters: [
        "pointer", // struct rtnl_neigh *neigh
        "i32", // int family
      ],
      result: "void",
    },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** rtnl neighbors: dump and read (<netlink/route/neighbour.h>). */
export const rtnlNeighRead = lazyDlopen(
  LIBNL_ROUTE,
  {
    // int rtnl_neigh_alloc_cache(struct nl_sock *sock, struct nl_cache **result)
    rtnl_neigh_alloc_cache: {
      parameters: [
        "pointer", // struct nl_sock *sock
        "buffer", // struct nl_cache **result (out slot)
      ],
      result: "i32", // int
    },
    // int rtnl_neigh_get_ifindex(struct rtnl_neigh *neigh)
    rtnl_neigh_get_ifindex: { parameters: ["pointer"], result: "i32" },
    // struct nl_addr *rtnl_neigh_get_dst(struct rtnl_neigh *neigh)
    rtnl_neigh_get_dst: { parameters: ["pointer"], result: "pointer" },
    // struct nl_addr *rtnl_neigh_get_lladdr(struct rtnl_neigh *neigh)
    rtnl_neigh_get_lladdr: { parameters: ["pointer"], result: "pointer" },
    // int rtnl_neigh_get_state(struct rtnl_neigh *neigh)
    rtnl_neigh_get_state: { parameters: ["pointer"], result: "i32" },
    // int rtnl_neigh_get_family(struct rtnl_neigh *neigh)
    rtnl_neigh_get_family: { parameters: ["pointer"], result: "i32" },
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
