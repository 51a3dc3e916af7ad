/**
 * The attachment model: what a pod attachment IS, written once. ADD and
 * `podnet attach` build it (cni/apply.ts), CHECK and `podnet status` compare
 * the kernel against it (cni/observe.ts reads the kernel into the same shape),
 * GC and DEL recognise its links by it, and the captureDir snapshot is drawn
 * from it. Pure: no kernel, no files.
 *
 * An attachment is a veth pair: the host end in the node netns (the one
 * podnet runs in), the pod end in the pod netns under CNI_IFNAME. Host end:
 * name, MAC and alias derived from the attachment (core/names.ts), up, no
 * kernel link-local (addrgenmode none), `fe80::1/64` when the pod has IPv6,
 * per-interface sysctls only (never a node-wide one), `/32` and `/128` host
 * routes to the pod's addresses. Pod end: its addresses as host prefixes,
 * the link-local gateways 169.254.1.1 / fe80::1 (an on-link route to the IPv4
 * one), a default route per family via them plus the extra routes, and, in
 * `static-neighbor` mode, both gateways pinned NUD_PERMANENT to the host
 * end's MAC so that no proxy ARP is needed anywhere.
 *
 * @module
 */

import { DEFAULT_PREFIX, GW4, GW6 } from "../core/constants.ts";
import { addressOf, type Family, familyOf, isHostPrefix, parseCidr } from "../core/ip.ts";
import { hostAlias, hostEnd } from "../core/names.ts";

/** How the pod reaches its link-local gateway; the first is the default. */
export const GATEWAY_MODES = ["static-neighbor", "proxy-arp"] as const;
/** One of `GATEWAY_MODES`. */
export type GatewayMode = typeof GATEWAY_MODES[number];

/** A route in the pod, via the family's gateway unless `gw` is absent. */
export interface PodRoute {
  dst: string;
  gw?: string;
}

/** What an attachment is asked to be: the input of `plan`. */
export interface AttachmentSpec {
  /** Network name recorded in the alias (CNI: the config's `name`; attach: `--network`). */
  network: string;
  containerId: string;
  /** Pod end's name. */
  ifname: string;
  /** Host end's name; default: prefix + hash of containerID/ifname. */
  hostIfname?: string;
  /** Prefix of derived host-end names (CNI `hostInterfacePrefix`). */
  prefix?: string;
  /** MTU of both ends; null: the kernel's default (1500 for a veth). */
  mtu: number | null;
  gatewayMode: GatewayMode;
  /** The pod's addresses; any prefix length, stored as host prefixes (`/32`, `/128`). */
  addresses: string[];
  /** Routes beyond the defaults (IPAM's); a default among them merges into podnet's own. */
  routes?: PodRoute[];
}

/** What podnet knows of the kernel it plans for (read by cni/observe.ts `kernelFacts`). */
export interface KernelFacts {
  /** Per-interface `force_forwarding` exists (kernel >= 6.17). */
  forceForwarding: boolean;
  /** `net.ipv6.conf.all.forwarding` is 1. */
  ipv6Forwarding: boolean;
}

/** Facts for a plan that IPv6 forwarding does not come into (the link-level plan, an IPv4 pod, DEL). */
export const NO_FACTS: KernelFacts = { forceForwarding: true, ipv6Forwarding: true };

/** One sysctl of an attachment: `key` under /proc/sys, the wanted value, whether its absence is fine. */
export interface SysctlWant {
  key: string;
  value: string;
  /** Absent keys are fine (IPv6 disabled on the node, a feature this kernel lacks). */
  optional: boolean;
}

/** A route as podnet installs it. */
export interface RouteWant {
  dst: string;
  gateway?: string;
  /** `link`: directly connected (no gateway). */
  scope?: "link";
}

/** A pinned neighbor. */
export interface NeighWant {
  ip: string;
  mac: string;
}

/** The desired state of one attachment: everything ADD builds. */
export interface Plan {
  network: string;
  containerId: string;
  gatewayMode: GatewayMode;
  families: Family[];
  host: {
    name: string;
    mac: string;
    alias: string;
    mtu: number | null;
    /** `fe80::1/64` when the pod has IPv6. */
    addresses: string[];
    /** Host routes to the pod's addresses (scope link, through the host end). */
    routes: RouteWant[];
    sysctls: SysctlWant[];
  };
  pod: {
    name: string;
    mac: string;
    mtu: number | null;
    /** Host-prefix addresses; IPv6 ones are added `nodad`. */
    addresses: string[];
    /** In install order: on-link first, then via a gateway. */
    routes: RouteWant[];
    neighbors: NeighWant[];
    sysctls: SysctlWant[];
  };
  /** Warnings the plan carries (a node that cannot forward IPv6): reported, not drift. */
  warnings: string[];
}

/** The address of `cidr` as a host prefix, `/32` or `/128`: how podnet puts it on the pod end and routes it. */
export function hostCidr(cidr: string): string {
  const ip = addressOf(cidr);
  return `${ip}/${familyOf(ip) === 4 ? 32 : 128}`;
}

/**
 * The pod's routes: one default per family via the link-local gateway (a
 * requested default merges into it), then the other routes via the same
 * gateway. Routes of a family without an address are dropped.
 */
export function podRoutes(families: Family[], extra: PodRoute[]): PodRoute[] {
  const has4 = families.includes(4), has6 = families.includes(6);
  const out: PodRoute[] = [];
  if (has4) out.push({ dst: "0.0.0.0/0", gw: GW4 });
  if (has6) out.push({ dst: "::/0", gw: GW6 });
  const seen = new Set(out.map((r) => r.dst));
  for (const r of extra) {
    const fam = parseCidr(r.dst)?.family;
    if ((fam === 4 && !has4) || (fam === 6 && !has6) || seen.has(r.dst)) continue;
    seen.add(r.dst);
    out.push({ dst: r.dst, gw: fam === 4 ? GW4 : GW6 });
  }
  return out;
}

/**
 * Why IPv6 pods would not be forwarded on a node with `facts`, or null: without
 * per-interface `force_forwarding` (kernel < 6.17) the per-interface
 * `forwarding` podnet sets forwards only when `all.forwarding` is on, which
 * podnet never changes. ADD still succeeds; STATUS and `podnet status` say it.
 */
export function ipv6ForwardingWarning(facts: KernelFacts): string | null {
  if (facts.forceForwarding || facts.ipv6Forwarding) return null;
  return "IPv6 pods are not forwarded: this kernel has no per-interface force_forwarding and net.ipv6.conf.all.forwarding is 0";
}

/** `net/ipv{4,6}/{conf,neigh}/IF/NAME`. */
function sysctl(family: Family, ifname: string, name: string, value: number, optional = false): SysctlWant {
  return {
    key: `net/ipv${family}/${name === "proxy_delay" ? "neigh" : "conf"}/${ifname}/${name}`,
    value: `${value}`,
    optional,
  };
}

/** The host end's name and MACs for `spec` (derived unless `hostIfname` is given). */
export function hostIdentity(spec: Pick<AttachmentSpec, "containerId" | "ifname" | "hostIfname" | "prefix">): {
  name: string;
  mac: string;
  podMac: string;
} {
  const h = hostEnd(spec.prefix ?? DEFAULT_PREFIX, spec.containerId, spec.ifname);
  return spec.hostIfname !== undefined ? { ...h, name: spec.hostIfname } : h;
}

/**
 * The desired state for `spec` on a kernel with `facts`. The link-level part
 * (names, MACs, alias, MTU, accept_ra, accept_dad) does not depend on the
 * addresses, so ADD can build the veth from `plan({ ...spec, addresses: [] })`
 * while IPAM still runs.
 */
export function plan(spec: AttachmentSpec, facts: KernelFacts): Plan {
  const id = hostIdentity(spec);
  const addresses = [...new Set(spec.addresses.map(hostCidr))];
  const families = ([4, 6] as const).filter((f) => addresses.some((a) => familyOf(a) === f));
  const has4 = families.includes(4), has6 = families.includes(6);
  const warnings: string[] = [];
  // Before anything can arrive on it, whatever the pod's families: the kernel takes Router
  // Advertisements on an interface whose own `forwarding` is 0 (`force_forwarding` does not count),
  // so a pod could otherwise make itself the node's IPv6 default router (a node without IPv6 has
  // nothing to protect: optional).
  const hostSysctls: SysctlWant[] = [sysctl(6, id.name, "accept_ra", 0, true)];
  if (has4) hostSysctls.push(sysctl(4, id.name, "forwarding", 1));
  if (has6) {
    // IPv6 forwarding without touching `all.forwarding`: `force_forwarding` on the host end (kernel
    // >= 6.17); on older kernels the per-interface `forwarding`, which forwards only when
    // `all.forwarding` is on — then a warning, not a failure.
    hostSysctls.push(sysctl(6, id.name, facts.forceForwarding ? "force_forwarding" : "forwarding", 1));
    const w = ipv6ForwardingWarning(facts);
    if (w !== null) warnings.push(w);
  }
  if (has4) {
    // proxy_delay first: with the default (up to 0.8 s random delay) the first ARP reply is late.
    if (spec.gatewayMode === "proxy-arp") hostSysctls.push(sysctl(4, id.name, "proxy_delay", 0));
    hostSysctls.push(sysctl(4, id.name, "proxy_arp", spec.gatewayMode === "proxy-arp" ? 1 : 0));
  }
  const routes: RouteWant[] = [];
  if (has4) routes.push({ dst: `${GW4}/32`, scope: "link" });
  for (const r of podRoutes(families, spec.routes ?? [])) routes.push({ dst: r.dst, gateway: r.gw! });
  const pin = spec.gatewayMode === "static-neighbor";
  return {
    network: spec.network,
    containerId: spec.containerId,
    gatewayMode: spec.gatewayMode,
    families,
    host: {
      name: id.name,
      mac: id.mac,
      alias: hostAlias(spec.network, spec.containerId, spec.ifname),
      mtu: spec.mtu,
      addresses: has6 ? [`${GW6}/64`] : [],
      routes: addresses.map((a) => ({ dst: a, scope: "link" })),
      sysctls: hostSysctls,
    },
    pod: {
      name: spec.ifname,
      mac: id.podMac,
      mtu: spec.mtu,
      addresses,
      routes,
      neighbors: [
        ...(has4 && pin ? [{ ip: GW4, mac: id.mac }] : []),
        ...(has6 && pin ? [{ ip: GW6, mac: id.mac }] : []),
      ],
      // DAD off, so even the kernel's own link-local is usable at once (IPv6 disabled: nothing to detect).
      sysctls: [sysctl(6, spec.ifname, "accept_dad", 0, true)],
    },
    warnings,
  };
}

/** One end of an attachment as the kernel has it (read by cni/observe.ts). */
export interface ObservedEnd {
  name: string;
  mac: string;
  mtu: number;
  up: boolean;
  alias: string | null;
  addresses: { cidr: string; tentative: boolean }[];
  routes: RouteWant[];
  neighbors: { ip: string; mac: string | null; permanent: boolean }[];
  /** Sysctl values by key; null: the key does not exist. */
  sysctls: Record<string, string | null>;
}

/** An attachment as the kernel has it. */
export interface Observed {
  host: ObservedEnd | null;
  /** The pod end, or null when it was not found in the pod netns. */
  pod: ObservedEnd | null;
  /** The pod netns could not be reached (`podnet status` found no path to it): the pod side is not compared. */
  podUnknown?: boolean;
  /** The pod end is the veth peer of the host end (ifindexes and netns id agree). */
  paired: boolean;
  /**
   * The pod end has been taken by a sandbox: a process holds a packet socket
   * on it (gVisor's runsc in `--network=sandbox` mode reads the link through
   * one, and takes the link's addresses and routes into its own stack).
   */
  sandboxed: boolean;
}

/** The state of an attachment relative to its plan. */
export type AttachmentState = "ok" | "sandboxed" | "drift";

/** What `diff` found. */
export interface Diff {
  state: AttachmentState;
  /** Each difference in words, naming the object. */
  drift: string[];
}

function sysctlDrift(end: string, wants: SysctlWant[], have: Record<string, string | null>, out: string[]): void {
  for (const w of wants) {
    const got = have[w.key];
    if (got === undefined) continue; // not read: not checked (a side the observer could not reach)
    if (got === null && w.optional) continue;
    if (got !== w.value) out.push(`sysctl ${w.key.replaceAll("/", ".")} is ${got ?? "missing"}${end}, want ${w.value}`);
  }
}

/** A route's identity for comparison: destination and gateway. */
export function routeKey(r: RouteWant): string {
  return `${r.dst}|${r.gateway ?? ""}`;
}

/**
 * Compares the kernel with the plan. A pod end taken by a sandbox
 * (`observed.sandboxed`) is `sandboxed`, not drift: the sandbox owns its
 * addresses, routes and neighbors from then on, so only the host side, the
 * pairing and the link itself are compared on that side.
 */
export function diff(p: Plan, o: Observed): Diff {
  const drift: string[] = [];
  const h = o.host;
  if (h === null) return { state: "drift", drift: [`host interface ${p.host.name} is missing`] };
  if (h.alias !== p.host.alias) drift.push(`host interface ${p.host.name} does not carry this attachment's alias`);
  if (h.mac !== p.host.mac) drift.push(`host interface ${p.host.name} has MAC ${h.mac}, want ${p.host.mac}`);
  if (!h.up) drift.push(`host interface ${p.host.name} is down`);
  if (p.host.mtu !== null && h.mtu !== p.host.mtu) {
    drift.push(`host interface ${p.host.name} has MTU ${h.mtu}, want ${p.host.mtu}`);
  }
  for (const a of p.host.addresses) {
    const got = h.addresses.find((x) => x.cidr === a);
    if (got === undefined) drift.push(`${a} is missing on ${p.host.name}`);
    else if (got.tentative) drift.push(`${a} on ${p.host.name} is tentative (DAD)`);
  }
  const hostRoutes = new Set(h.routes.filter((r) => r.gateway === undefined).map((r) => r.dst));
  for (const r of p.host.routes) {
    if (!hostRoutes.has(r.dst)) drift.push(`host route ${r.dst} dev ${p.host.name} is missing`);
  }
  for (const dst of hostRoutes) {
    if (isHostPrefix(dst) && !p.host.routes.some((r) => r.dst === dst)) {
      drift.push(`host route ${dst} dev ${p.host.name} is not this attachment's`);
    }
  }
  sysctlDrift("", p.host.sysctls, h.sysctls, drift);

  // podUnknown: the pod side could not be reached; the caller says why.
  if (!o.podUnknown) podDrift(p, o, drift);
  return { state: drift.length > 0 ? "drift" : o.sandboxed ? "sandboxed" : "ok", drift };
}

/** The pod side of `diff` (`o.podUnknown` is false). */
function podDrift(p: Plan, o: Observed, drift: string[]): void {
  const pod = o.pod;
  if (pod === null) {
    drift.push(`interface ${p.pod.name} (the peer of ${p.host.name}) is missing`);
    return;
  }
  if (!o.paired) drift.push(`${p.pod.name} is not the veth peer of ${p.host.name}`);
  if (pod.name !== p.pod.name) drift.push(`pod interface is ${pod.name}, want ${p.pod.name}`);
  if (pod.mac !== p.pod.mac) drift.push(`${p.pod.name} has MAC ${pod.mac}, want ${p.pod.mac}`);
  if (!pod.up) drift.push(`${p.pod.name} is down`);
  if (p.pod.mtu !== null && pod.mtu !== p.pod.mtu) drift.push(`${p.pod.name} has MTU ${pod.mtu}, want ${p.pod.mtu}`);
  // A sandbox owns the pod end's addresses, routes and neighbors once it has taken the link.
  if (o.sandboxed) return;
  const have = new Set(pod.addresses.map((a) => a.cidr));
  for (const a of p.pod.addresses) if (!have.has(a)) drift.push(`address ${a} is missing on ${p.pod.name}`);
  for (const a of have) {
    const c = parseCidr(a);
    // Link-local addresses are the kernel's (IPv6 with addrgenmode eui64 in the pod).
    if (c !== null && !(c.family === 6 && a.startsWith("fe80:")) && !p.pod.addresses.includes(a)) {
      drift.push(`address ${a} on ${p.pod.name} is not this attachment's`);
    }
  }
  const routes = new Set(pod.routes.map(routeKey));
  for (const r of p.pod.routes) {
    if (!routes.has(routeKey(r))) {
      drift.push(`route ${r.dst}${r.gateway ? ` via ${r.gateway}` : " scope link"} dev ${p.pod.name} is missing`);
    }
  }
  for (const n of p.pod.neighbors) {
    const got = pod.neighbors.find((x) => x.ip === n.ip);
    if (got === undefined || !got.permanent) drift.push(`permanent neighbor ${n.ip} on ${p.pod.name} is missing`);
    else if (got.mac !== n.mac) drift.push(`neighbor ${n.ip} on ${p.pod.name} is ${got.mac}, want ${n.mac}`);
  }
  sysctlDrift(` in the pod`, p.families.includes(6) ? p.pod.sysctls : [], pod.sysctls, drift);
}

/** What an existing link of the host end's name is to the attachment planned. */
export type Claim = "complete" | "leftover" | "foreign";

/**
 * Whether `link` (found under the host end's name) is the attachment's whose
 * host end (`Plan["host"]`) has `host.alias` and `host.mac`:
 * `complete` when it carries the alias (set last, so the attachment was
 * fully made), `leftover` when it is a veth with the host end's MAC but no
 * alias yet (an ADD killed half-way: to be replaced), `foreign` otherwise (a
 * hash collision or someone else's link: never touched).
 */
export function claimOf(
  link: { alias: string | null; kind: string | null; mac: string },
  host: Pick<Plan["host"], "alias" | "mac">,
): Claim {
  if (link.alias === host.alias) return "complete";
  if (link.alias === null && link.kind === "veth" && link.mac === host.mac) return "leftover";
  return "foreign";
}
