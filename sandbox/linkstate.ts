/**
 * A link's whole state, recorded before podnet changes it and put back when
 * what followed failed: `podnet restore --link-netns` records each link
 * before it moves it (sandbox/restore.ts), `podnet resume` records the pod's
 * link before it restores into it (sandbox/resume.ts).
 *
 * Why record rather than re-apply the snapshot: moving a link to another
 * netns closes it and drops its addresses, routes and neighbors, and the
 * kernel re-creates its per-interface sysctls from the new netns's
 * `default` (so the pod end's accept_dad=0 is lost); a snapshot is what the
 * target should get, not what the source had (MTU, pins, routes podnet does
 * not capture). So the record holds: name, MTU, up, every address (the
 * kernel's own EUI-64 link-local is re-created by the kernel), every route
 * through the link in any table but `local` that the kernel did not make
 * itself, the PERMANENT neighbors, and every writable per-interface sysctl
 * that differs from the netns's default (where /proc/sys/net is visible: the
 * wrapper runsc runs in, and so its hooks, hides it; nothing to record there).
 *
 * @module
 */

import { canonicalCidr, parseMac } from "../core/ip.ts";
import {
  addrAdd,
  addrDel,
  addrList,
  type Link,
  linkByIndex,
  linkSet,
  neighDel,
  neighList,
  neighSet,
  type Route,
  routeDel,
  routeList,
  routeReplace,
  type RouteSpec,
  type Scope,
  type Socket,
  sysctlTryRead,
  sysctlWrite,
  withNetns,
} from "../netlink/mod.ts";

/** One link as it was. */
export interface LinkRecord {
  name: string;
  mtu: number;
  up: boolean;
  addresses: { cidr: string; nodad: boolean; scope: Scope }[];
  routes: Route[];
  pins: { ip: string; mac: string }[];
  /** `net/ipv6/conf/IF/accept_dad` as `[ "ipv6/conf", "accept_dad", "0" ]`. */
  sysctls: [string, string, string][];
}

const TREES = ["ipv4/conf", "ipv6/conf", "ipv4/neigh", "ipv6/neigh"];
/** Follows the link's MTU (written before it, it could be refused); set with the MTU. */
const DERIVED = new Set(["ipv6/conf/mtu"]);
const RT_TABLE_LOCAL = 255;

/** Writable per-interface sysctls of `ifname` whose value differs from the netns default. */
function sysctlsOf(ifname: string): [string, string, string][] {
  const out: [string, string, string][] = [];
  for (const tree of TREES) {
    let names: string[];
    try {
      names = [...Deno.readDirSync(`/proc/sys/net/${tree}/${ifname}`)].map((e) => e.name).sort();
    } catch {
      continue; // no IPv6 on this link (MTU < 1280, or disabled)
    }
    for (const name of names) {
      if (DERIVED.has(`${tree}/${name}`)) continue;
      const file = `/proc/sys/net/${tree}/${ifname}/${name}`;
      if (((Deno.statSync(file).mode ?? 0) & 0o200) === 0) continue;
      let value: string | null, dflt: string | null;
      try {
        value = sysctlTryRead(`net/${tree}/${ifname}/${name}`);
        dflt = sysctlTryRead(`net/${tree}/default/${name}`);
      } catch {
        continue; // unreadable by design (stable_secret before it is set)
      }
      if (value !== null && value !== dflt) out.push([tree, name, value]);
    }
  }
  return out;
}

/** Routes through `index` that the kernel did not make itself, in any table but `local`. */
function routesOf(sock: Socket, index: number): Route[] {
  return routeList(sock, { table: "all", ifindex: index })
    .filter((r) => r.table !== RT_TABLE_LOCAL && r.protocol !== "kernel" && r.type === "unicast");
}

/** Records `link` (in the socket's netns, which is `netns`). */
export function recordLink(sock: Socket, netns: string | null, link: Link): LinkRecord {
  return {
    name: link.name,
    mtu: link.mtu,
    up: link.up,
    addresses: addrList(sock, { ifindex: link.index }).map((a) => ({ cidr: a.cidr, nodad: a.nodad, scope: a.scope })),
    routes: routesOf(sock, link.index),
    pins: neighList(sock, { ifindex: link.index })
      .filter((n) => n.permanent && n.mac !== null)
      .map((n) => ({ ip: n.ip, mac: n.mac! })),
    sysctls: withNetns(netns, () => sysctlsOf(link.name)),
  };
}

/** The kernel's own EUI-64 link-local address of a link with `mac` (re-created by the kernel when it comes up). */
function eui64(mac: string): string | null {
  const m = parseMac(mac);
  if (m === null || m.length !== 6) return null;
  const b = [m[0]! ^ 2, m[1]!, m[2]!, 0xff, 0xfe, m[3]!, m[4]!, m[5]!];
  const words = [0, 2, 4, 6].map((i) => ((b[i]! << 8) | b[i + 1]!).toString(16));
  return canonicalCidr(`fe80::${words.join(":")}/64`);
}

function spec(r: Route, index: number): RouteSpec {
  const s: RouteSpec = { dst: r.dst, table: r.table, protocol: r.protocol, scope: r.scope, metric: r.metric };
  if (r.src !== null) s.src = r.src;
  if (r.nexthops.length > 1) {
    s.nexthops = r.nexthops.map((h) => ({
      ifindex: h.ifindex,
      ...(h.gateway !== null ? { gateway: h.gateway } : {}),
      ...(h.onlink ? { onlink: true } : {}),
      weight: h.weight,
    }));
  } else {
    s.ifindex = index;
    if (r.gateway !== null) s.gateway = r.gateway;
    if (r.onlink) s.onlink = true;
  }
  return s;
}

function routeKey(r: Route): string {
  return `${r.table} ${r.dst} ${r.metric}`;
}

/**
 * Makes link `index` (in the socket's netns, which is `netns`) what `rec`
 * says: name, MTU, sysctls, up, then addresses, routes and pins; whatever the
 * link holds beyond the record (addresses, routes, pins) is removed. Order:
 * the rename needs the link down, the MTU comes before the sysctls that follow
 * it, accept_dad before the link comes up, routes after their addresses.
 */
export function putBack(sock: Socket, netns: string | null, index: number, rec: LinkRecord): void {
  let link = linkByIndex(sock, index);
  if (link.name !== rec.name) {
    linkSet(sock, link, { up: false, name: rec.name });
    link = linkByIndex(sock, index);
  }
  if (link.mtu !== rec.mtu) linkSet(sock, link, { mtu: rec.mtu });
  withNetns(netns, () => {
    for (const [tree, name, value] of rec.sysctls) {
      const key = `net/${tree}/${rec.name}/${name}`;
      if (sysctlTryRead(key) !== value) sysctlWrite(key, value);
    }
  });
  if (link.up !== rec.up) linkSet(sock, link, { up: rec.up });
  const own = eui64(link.mac);
  const want = new Set(rec.addresses.map((a) => a.cidr));
  for (const a of addrList(sock, { ifindex: index })) {
    if (!want.has(a.cidr) && a.cidr !== own) addrDel(sock, link, a.cidr);
  }
  const have = new Set(addrList(sock, { ifindex: index }).map((a) => a.cidr));
  for (const a of rec.addresses) {
    if (have.has(a.cidr) || a.cidr === own) continue;
    addrAdd(sock, link, a.cidr, { nodad: a.nodad, scope: a.scope });
  }
  const keep = new Set(rec.routes.map(routeKey));
  for (const r of routesOf(sock, index)) if (!keep.has(routeKey(r))) routeDel(sock, spec(r, index));
  // On-link routes first: a gateway route needs its gateway reachable.
  for (const r of [...rec.routes.filter((x) => x.gateway === null), ...rec.routes.filter((x) => x.gateway !== null)]) {
    routeReplace(sock, spec(r, index));
  }
  const pins = new Map(rec.pins.map((p) => [p.ip, p.mac]));
  for (const n of neighList(sock, { ifindex: index })) {
    if (n.permanent && pins.get(n.ip) !== n.mac) neighDel(sock, link, n.ip);
  }
  for (const p of rec.pins) neighSet(sock, { link, ip: p.ip, mac: p.mac, permanent: true });
}
