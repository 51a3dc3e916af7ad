/**
 * Routes: typed verbs that read like `ip route`.
 *
 * @module
 */

import {
  libnl,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RT_TABLE_MAIN,
  RTNH_F_ONLINK,
  rtnlRoute,
  rtnlRouteRead,
} from "../ffi/libnl.ts";
import { invalidInput } from "./errors.ts";
import type { Family } from "../core/ip.ts";
import { linkIndexOf, type LinkRef, linkRefName } from "./link.ts";
import {
  afOf,
  buildAddr,
  cidrOrThrow,
  dump,
  familyOf,
  ipOrThrow,
  type Ptr,
  readCidr,
  readIp,
  request,
} from "./object.ts";
import {
  type Protocol,
  protocolName,
  protocolNumber,
  type RouteType,
  routeTypeName,
  routeTypeNumber,
  type Scope,
  scopeName,
  scopeNumber,
} from "./scope.ts";
import type { Socket } from "./socket.ts";

/** One nexthop of a route. */
export interface NextHop {
  gateway: string | null;
  ifindex: number;
  onlink: boolean;
  /** Multipath weight as `ip route` shows it (1–256; 1 for a single-path route). */
  weight: number;
}

/** A route as the kernel reports it. */
export interface Route {
  family: Family;
  /** Destination CIDR; the default route is `0.0.0.0/0` or `::/0`. */
  dst: string;
  /** Gateway of the first nexthop, or null for a directly connected route. */
  gateway: string | null;
  /** Output link of the first nexthop, or null (blackhole, unreachable). */
  ifindex: number | null;
  scope: Scope;
  table: number;
  protocol: Protocol;
  type: RouteType;
  metric: number;
  onlink: boolean;
  src: string | null;
  /** All nexthops (one for an ordinary route, several for multipath). */
  nexthops: NextHop[];
}

/** A nexthop to install. */
export interface NextHopSpec {
  gateway?: string | null;
  link?: LinkRef;
  ifindex?: number | null;
  onlink?: boolean;
  weight?: number;
}

/** A route to add, replace or delete. A `Route` from `routeList` is also one. */
export interface RouteSpec {
  dst: string;
  gateway?: string | null;
  /** Output link, by name/index/object (or give `ifindex`). */
  link?: LinkRef;
  ifindex?: number | null;
  /** Defaults to what `ip route` picks: `link` without a gateway, `universe` with one. */
  scope?: Scope;
  /** Defaults to the main table (254). */
  table?: number;
  /** Defaults to `boot`, as `ip route` does. */
  protocol?: Protocol;
  type?: RouteType;
  metric?: number;
  /** Treat the gateway as on-link even without a covering route (RTNH_F_ONLINK). */
  onlink?: boolean;
  src?: string | null;
  /** Multipath; when given, `gateway`/`link`/`onlink` are ignored. */
  nexthops?: NextHopSpec[];
}

/** Filter for `routeList`. */
export interface RouteFilter {
  family?: Family;
  /** Table number, or "all". Defaults to the main table. */
  table?: number | "all";
  /** Only routes with a nexthop through this link. */
  ifindex?: number;
}

function toRoute(p: Ptr, f: RouteFilter): Route | null {
  const r = rtnlRouteRead.symbols;
  const family = familyOf(r.rtnl_route_get_family(p));
  if (family === null || (f.family !== undefined && f.family !== family)) return null;
  const table = r.rtnl_route_get_table(p);
  const want = f.table ?? RT_TABLE_MAIN;
  if (want !== "all" && want !== table) return null;
  const nexthops: NextHop[] = [];
  const n = r.rtnl_route_get_nnexthops(p);
  for (let i = 0; i < n; i++) {
    const nh = r.rtnl_route_nexthop_n(p, i);
    if (nh === null) continue;
    nexthops.push({
      gateway: readIp(r.rtnl_route_nh_get_gateway(nh)),
      ifindex: r.rtnl_route_nh_get_ifindex(nh),
      onlink: (r.rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK) !== 0,
      weight: r.rtnl_route_nh_get_weight(nh) + 1, // raw rtnh_hops is weight - 1
    });
  }
  if (f.ifindex !== undefined && !nexthops.some((h) => h.ifindex === f.ifindex)) return null;
  const first = nexthops[0];
  return {
    family,
    dst: readCidr(r.rtnl_route_get_dst(p), family) ?? (family === 4 ? "0.0.0.0/0" : "::/0"),
    gateway: first?.gateway ?? null,
    ifindex: first ? first.ifindex : null,
    scope: scopeName(r.rtnl_route_get_scope(p)),
    table,
    protocol: protocolName(r.rtnl_route_get_protocol(p)),
    type: routeTypeName(r.rtnl_route_get_type(p)),
    metric: r.rtnl_route_get_priority(p),
    onlink: first?.onlink ?? false,
    src: readIp(r.rtnl_route_get_pref_src(p)),
    nexthops,
  };
}

/** Routes of the socket's netns (main table unless asked otherwise). */
export function routeList(sock: Socket, filter: RouteFilter = {}): Route[] {
  const r = rtnlRouteRead.symbols;
  const af = filter.family === undefined ? 0 : afOf(filter.family);
  return dump(sock, "route list", (sk, slot) => r.rtnl_route_alloc_cache(sk, af, 0, slot), (p) => toRoute(p, filter));
}

/** `ip route`-style text for messages: `10.0.0.0/24 via 169.254.1.1 dev 3 onlink`. */
export function describeRoute(s: RouteSpec): string {
  const dev = s.link !== undefined ? linkRefName(s.link) : s.ifindex ?? null;
  return [
    s.dst,
    s.gateway ? `via ${s.gateway}` : "",
    dev !== null ? `dev ${dev}` : "",
    s.scope !== undefined ? `scope ${s.scope}` : "",
    s.table !== undefined && s.table !== RT_TABLE_MAIN ? `table ${s.table}` : "",
    s.onlink ? "onlink" : "",
  ].filter(Boolean).join(" ");
}

function linkIndex(sock: Socket, link: LinkRef | undefined, ifindex: number | null | undefined): number | null {
  return link !== undefined ? linkIndexOf(sock, link) : ifindex ?? null;
}

/**
 * Builds the libnl route for `s`. For a delete (`del`), protocol, type and
 * scope the caller left out are wildcards, as `ip route del` sends them: the
 * kernel matches rtm_protocol 0, rtm_type 0 and RT_SCOPE_NOWHERE against any
 * route, while add's defaults (boot, unicast, link/universe) would only match
 * routes installed with exactly those.
 */
function buildRoute(sock: Socket, s: RouteSpec, action: string, del = false): Ptr {
  const r = rtnlRoute.symbols;
  const dst = cidrOrThrow(s.dst, action);
  const p = r.rtnl_route_alloc()!;
  try {
    r.rtnl_route_set_family(p, afOf(dst.family));
    const d = buildAddr(dst, dst.prefix);
    r.rtnl_route_set_dst(p, d);
    libnl.symbols.nl_addr_put(d);
    r.rtnl_route_set_table(p, s.table ?? RT_TABLE_MAIN);
    r.rtnl_route_set_protocol(
      p,
      s.protocol !== undefined ? protocolNumber(s.protocol) : del ? 0 : protocolNumber("boot"),
    );
    if (s.type !== undefined) r.rtnl_route_set_type(p, routeTypeNumber(s.type));
    else if (del) r.rtnl_route_set_type(p, 0);
    if (s.metric !== undefined) r.rtnl_route_set_priority(p, s.metric);
    if (s.src) {
      const a = buildAddr(ipOrThrow(s.src, action));
      r.rtnl_route_set_pref_src(p, a);
      libnl.symbols.nl_addr_put(a);
    }
    const hops: NextHopSpec[] = s.nexthops && s.nexthops.length > 0 ? s.nexthops : [{
      gateway: s.gateway ?? null,
      ifindex: linkIndex(sock, s.link, s.ifindex),
      onlink: s.onlink ?? false,
    }];
    let anyGateway = false;
    for (const h of hops) {
      const ifindex = linkIndex(sock, h.link, h.ifindex);
      if (!h.gateway && ifindex === null) continue; // blackhole & co. have no nexthop
      // Validate before allocating, so a bad input cannot leak the nexthop.
      const gw = h.gateway ? ipOrThrow(h.gateway, action) : null;
      if (gw && gw.family !== dst.family) {
        throw invalidInput(action, `gateway ${h.gateway} is not of the family of ${s.dst}`);
      }
      if (h.weight !== undefined && (!Number.isInteger(h.weight) || h.weight < 1 || h.weight > 256)) {
        throw invalidInput(action, `invalid nexthop weight ${h.weight} (want 1-256)`);
      }
      const nh = r.rtnl_route_nh_alloc()!;
      if (ifindex !== null) r.rtnl_route_nh_set_ifindex(nh, ifindex);
      if (gw) {
        anyGateway = true;
        const a = buildAddr(gw);
        r.rtnl_route_nh_set_gateway(nh, a);
        libnl.symbols.nl_addr_put(a);
      }
      if (h.onlink) r.rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
      // libnl sends the weight as the raw rtnh_hops, which the kernel defines as weight - 1.
      if (h.weight !== undefined) r.rtnl_route_nh_set_weight(nh, h.weight - 1);
      r.rtnl_route_add_nexthop(p, nh); // the route owns the nexthop now
    }
    const t = s.type === undefined ? 1 : routeTypeNumber(s.type);
    const scope = s.scope ?? (del ? "nowhere" : t !== 1 || anyGateway ? "universe" : "link");
    r.rtnl_route_set_scope(p, scopeNumber(scope));
    return p;
  } catch (e) {
    r.rtnl_route_put(p);
    throw e;
  }
}

function mutate(sock: Socket, verb: string, s: RouteSpec, fn: (p: Ptr) => number): void {
  const r = rtnlRoute.symbols;
  const action = `route ${verb} ${describeRoute(s)}`;
  const p = buildRoute(sock, s, action, verb === "del");
  try {
    request(action, () => fn(p));
  } finally {
    r.rtnl_route_put(p);
  }
}

/** `ip route add SPEC`; fails with `exists` when the route is there. */
export function routeAdd(sock: Socket, spec: RouteSpec): void {
  const r = rtnlRoute.symbols;
  mutate(sock, "add", spec, (p) => r.rtnl_route_add(sock.ptr, p, NLM_F_CREATE | NLM_F_EXCL));
}

/** `ip route replace SPEC`: creates or overwrites. */
export function routeReplace(sock: Socket, spec: RouteSpec): void {
  const r = rtnlRoute.symbols;
  mutate(sock, "replace", spec, (p) => r.rtnl_route_add(sock.ptr, p, NLM_F_CREATE | NLM_F_REPLACE));
}

/** `ip route del SPEC`; fails with `notFound` when no route matches. */
export function routeDel(sock: Socket, spec: RouteSpec): void {
  const r = rtnlRoute.symbols;
  mutate(sock, "del", spec, (p) => r.rtnl_route_delete(sock.ptr, p, 0));
}
