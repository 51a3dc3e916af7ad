/**
 * Makes the kernel match a plan (cni/attachment.ts), in the order the kernel
 * needs and with every change registered on a rollback stack as soon as it
 * has succeeded. CNI ADD applies a fresh plan in two phases around IPAM
 * (links while IPAM runs, addressing when its result is in); `podnet attach`
 * converges an existing attachment with `converge`.
 *
 * Netlink use is one socket per netns and no table dumps on the fresh path:
 * the veth is created with its peer already inside the pod netns under its
 * final name and MAC (one request), the host end is configured with one
 * RTM_NEWLINK, and the pod end's index comes from the host end's IFLA_LINK.
 *
 * @module
 */

import {
  addrAdd,
  addrDel,
  type Link,
  linkAddVeth,
  linkDel,
  linkSet,
  neighDel,
  neighSet,
  type Netns,
  routeAdd,
  routeDel,
  routeReplace,
} from "../netlink/mod.ts";
import { GW4, GW6 } from "../core/constants.ts";
import { familyOf } from "../core/ip.ts";
import { type Observed, type Plan, routeKey, type SysctlWant } from "./attachment.ts";
import { ignoreNotFound } from "./errors.ts";
import type { Rollback } from "./rollback.ts";

/** The two ends once they exist: the host end as the kernel reported it, the pod end by index and name. */
export interface Ends {
  host: Link;
  pod: { index: number; name: string };
}

/** A step name for the test seams (cni/seams.ts). */
export type Step = (
  name: "veth" | "host-link" | "pod-link" | "host-sysctl" | "host-routes" | "pod-addrs" | "pod-routes",
) => void;

function writeSysctls(ns: Netns, wants: SysctlWant[], done: Set<string>): void {
  for (const w of wants) {
    if (done.has(w.key)) continue;
    if (w.optional) ignoreNotFound(() => ns.sysctlWrite(w.key, w.value));
    else ns.sysctlWrite(w.key, w.value);
    done.add(w.key);
  }
}

/**
 * Creates the veth pair of `p` and configures both links (accept_ra, no
 * kernel link-local, up; DAD off in the pod), registering the pair's undo:
 * everything that lives on the veth (sysctls, addresses, routes, pins) goes
 * with it, so one undo covers all later steps too. The alias, which marks
 * the attachment complete, is set by `finish`.
 */
export function createLinks(p: Plan, node: Netns, pod: Netns, undo: Rollback, step: Step, written: Set<string>): Ends {
  const host = linkAddVeth(node.sock, {
    name: p.host.name,
    peerName: p.pod.name,
    peerNetns: pod.path!,
    mac: p.host.mac,
    peerMac: p.pod.mac,
    ...(p.host.mtu !== null ? { mtu: p.host.mtu } : {}),
  });
  undo.push(`delete veth ${p.host.name}`, () => {
    ignoreNotFound(() => linkDel(node.sock, host));
  });
  step("veth");
  const ends: Ends = { host, pod: { index: host.parentIndex, name: p.pod.name } };
  // accept_ra before the link is up: a pod's Router Advertisement must never configure the node.
  writeSysctls(node, p.host.sysctls.filter((s) => s.key.endsWith("/accept_ra")), written);
  // Up while its peer is still down (no carrier, so no link-local yet); addrgenmode none in the same
  // request keeps the kernel from ever adding an EUI-64 one next to fe80::1.
  linkSet(node.sock, host, { addrGenMode: "none", up: true });
  step("host-link");
  writeSysctls(pod, p.pod.sysctls, written);
  linkSet(pod.sock, ends.pod, { up: true });
  step("pod-link");
  return ends;
}

/** Per-family sysctls, fe80::1 and the host routes on the host end; addresses, routes and pins in the pod. */
export function addressLinks(p: Plan, node: Netns, pod: Netns, ends: Ends, step: Step, written: Set<string>): void {
  for (const a of p.host.addresses) addrAdd(node.sock, ends.host, a, { nodad: true });
  writeSysctls(node, p.host.sysctls, written);
  step("host-sysctl");
  for (const r of p.host.routes) routeAdd(node.sock, { dst: r.dst, link: ends.host, scope: "link" });
  step("host-routes");
  for (const a of p.pod.addresses) addrAdd(pod.sock, ends.pod, a, familyOf(a) === 6 ? { nodad: true } : {});
  step("pod-addrs");
  // On-link routes first: a gateway route needs its gateway reachable already.
  for (const r of p.pod.routes.filter((x) => x.gateway === undefined)) {
    routeAdd(pod.sock, { dst: r.dst, link: ends.pod, scope: "link" });
  }
  for (const n of p.pod.neighbors) neighSet(pod.sock, { link: ends.pod, ip: n.ip, mac: n.mac });
  for (const r of p.pod.routes.filter((x) => x.gateway !== undefined)) {
    routeAdd(pod.sock, { dst: r.dst, gateway: r.gateway!, link: ends.pod });
  }
  step("pod-routes");
}

/** Sets the alias: from now on DEL, GC, status and the hook recognise the attachment as complete. */
export function finish(p: Plan, node: Netns, ends: Ends): void {
  linkSet(node.sock, ends.host, { alias: p.host.alias });
}

/**
 * Makes an existing, paired attachment match `p` (`podnet attach` on what is
 * there already): MTU, up, sysctls, addresses, routes and pins are set or
 * replaced; addresses and host routes the plan no longer has are removed.
 * Idempotent: on a matching attachment it changes nothing.
 */
export function converge(p: Plan, node: Netns, pod: Netns, o: Observed, ends: Ends): void {
  const h = o.host!, q = o.pod!;
  const mtu = p.host.mtu ?? h.mtu;
  if (h.mtu !== mtu || !h.up) linkSet(node.sock, ends.host, { mtu, up: true });
  if (q.mtu !== mtu || !q.up) linkSet(pod.sock, ends.pod, { mtu, up: true });
  const hostSysctls = p.host.sysctls.filter((s) => h.sysctls[s.key] !== s.value);
  writeSysctls(node, hostSysctls, new Set());
  writeSysctls(pod, p.pod.sysctls.filter((s) => q.sysctls[s.key] !== s.value), new Set());
  const hostAddrs = new Set(h.addresses.map((a) => a.cidr));
  for (const a of p.host.addresses) if (!hostAddrs.has(a)) addrAdd(node.sock, ends.host, a, { nodad: true });
  const hostRoutes = new Set(h.routes.filter((r) => r.gateway === undefined).map((r) => r.dst));
  for (const r of p.host.routes) {
    if (!hostRoutes.has(r.dst)) routeReplace(node.sock, { dst: r.dst, link: ends.host, scope: "link" });
  }
  for (const dst of hostRoutes) {
    if (!p.host.routes.some((r) => r.dst === dst)) {
      ignoreNotFound(() => routeDel(node.sock, { dst, link: ends.host, scope: "link" }));
    }
  }
  const podAddrs = new Set(q.addresses.map((a) => a.cidr));
  for (const a of p.pod.addresses) {
    if (!podAddrs.has(a)) addrAdd(pod.sock, ends.pod, a, familyOf(a) === 6 ? { nodad: true } : {});
  }
  for (const a of podAddrs) {
    if (!p.pod.addresses.includes(a) && !a.startsWith("fe80:")) ignoreNotFound(() => addrDel(pod.sock, ends.pod, a));
  }
  for (const r of p.pod.routes.filter((x) => x.gateway === undefined)) {
    routeReplace(pod.sock, { dst: r.dst, link: ends.pod, scope: "link" });
  }
  for (const n of p.pod.neighbors) neighSet(pod.sock, { link: ends.pod, ip: n.ip, mac: n.mac });
  for (const r of p.pod.routes.filter((x) => x.gateway !== undefined)) {
    routeReplace(pod.sock, { dst: r.dst, gateway: r.gateway!, link: ends.pod });
  }
  // What podnet made for a family or route the plan no longer has: its routes via the gateways,
  // the gateway's on-link route, the pins, fe80::1 on the host end. Nothing else is touched.
  const want = new Set(p.pod.routes.map(routeKey));
  for (const r of q.routes) {
    const ours = r.gateway === GW4 || r.gateway === GW6 || (r.gateway === undefined && r.dst === `${GW4}/32`);
    if (!ours || want.has(routeKey(r))) continue;
    ignoreNotFound(() =>
      routeDel(pod.sock, { dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}), link: ends.pod })
    );
  }
  for (const n of q.neighbors) {
    if ((n.ip === GW4 || n.ip === GW6) && n.permanent && !p.pod.neighbors.some((x) => x.ip === n.ip)) {
      ignoreNotFound(() => neighDel(pod.sock, ends.pod, n.ip));
    }
  }
  for (const a of hostAddrs) {
    if (a === `${GW6}/64` && !p.host.addresses.includes(a)) ignoreNotFound(() => addrDel(node.sock, ends.host, a));
  }
  if (h.alias !== p.host.alias) finish(p, node, ends);
}
