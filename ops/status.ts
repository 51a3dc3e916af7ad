/**
 * `podnet status`: the attachments on this node, read from kernel state alone
 * (no podnet state files): host ends are veths whose alias has podnet's form
 * `networkName/containerID/ifname`. For each it checks the host side (up,
 * forwarding, /32 and /128 host routes, gateway mode) and, when the pod netns
 * can be found, the pod side (interface name, addresses, the pinned gateway
 * neighbors against the host-end MAC). Anything that disagrees is drift, and
 * drift makes the command exit 1, so it doubles as a node health probe.
 *
 * @module
 */

import { parseAlias } from "../core/names.ts";
import { int, parseFlags, str } from "../core/cli.ts";
import type { Io } from "../core/io.ts";
import {
  type Addr,
  addrList,
  canonicalIp,
  ifSysctlKey,
  isVethPeer,
  type Link,
  linkList,
  type Neigh,
  neighList,
  netnsId,
  nsidOf,
  type Route,
  routeList,
  Socket,
  sysctlTryRead,
} from "../netlink/mod.ts";

export const STATUS_HELP = `usage: podnet status [--json] [--prefix P] [--watch SECONDS [--rounds N]]

Lists podnet's attachments in the network namespace podnet runs in, from kernel
state alone: host ends are the veths whose alias is networkName/containerID/ifname.
For each: container ID, pod interface, host interface, pod addresses (the /32 and
/128 host routes through the host end), gateway mode (proxy_arp on the host end →
proxy-arp, else static-neighbor), whether the pod's pinned gateway neighbors
(169.254.1.1, fe80::1) still carry the host-end MAC, and drift.
The pod netns is the one whose netns id (RTM_GETNSID) equals the host end's
IFLA_LINK_NETNSID, searched among /run/netns/* and /proc/*/ns/net; when it cannot
be found, the pod side is reported as "unknown" rather than guessed.

  --json       one JSON object (schema podnet.status/v1)
  --prefix P   host-interface prefix (default pn): a veth named P+hex without a
               podnet alias is reported as drift
  --watch S    report again every S seconds, forever (a node agent's main process;
               one line per round, the drift lines when there is drift)
  --rounds N   with --watch: stop after N rounds; exit status of the last

Exit status: 0 no drift, 1 drift (or a failure), 2 usage error.
`;

/** Gateways podnet pins in every pod (DESIGN.md, "CNI plugin contract"). */
export const GATEWAYS = { 4: "169.254.1.1", 6: "fe80::1" } as const;

/** One pinned gateway neighbor as found in the pod. */
export interface PinState {
  ip: string;
  mac: string | null;
  permanent: boolean;
  matches: boolean;
}

/** One attachment as status reports it. */
export interface Attachment {
  network: string;
  containerId: string;
  ifname: string;
  hostInterface: string;
  hostMac: string;
  podAddresses: string[];
  gatewayMode: "proxy-arp" | "static-neighbor";
  /** Path of the pod netns found through the veth peer, or null when it could not be reached. */
  podNetns: string | null;
  /** match / mismatch / missing; "n/a" in proxy-arp mode; "unknown" when the pod netns was not reached. */
  pins: "match" | "mismatch" | "missing" | "n/a" | "unknown";
  pinned: PinState[];
  drift: string[];
  warnings: string[];
}

/** The whole report. */
export interface StatusReport {
  schema: "podnet.status/v1";
  /** Identity (dev:inode) of the netns inspected. */
  netns: string;
  attachments: Attachment[];
  /** Host ends named like podnet's without a podnet alias. */
  unlabelled: string[];
  drift: number;
}

/** A netns where a pod might live: path and identity. */
interface Candidate {
  path: string;
  id: string;
}

/** Namespaces to look in for pod ends: named ones first, then every process's. */
function candidates(self: string): Candidate[] {
  const seen = new Set([self]);
  const out: Candidate[] = [];
  const add = (path: string): void => {
    try {
      const id = netnsId(path);
      if (!seen.has(id)) {
        seen.add(id);
        out.push({ path, id });
      }
    } catch { /* a process that exited, or a stale mount */ }
  };
  for (const dir of ["/run/netns", "/var/run/netns"]) {
    try {
      for (const e of Deno.readDirSync(dir)) add(`${dir}/${e.name}`);
    } catch { /* no named namespaces */ }
  }
  for (const e of Deno.readDirSync("/proc")) if (/^[0-9]+$/.test(e.name)) add(`/proc/${e.name}/ns/net`);
  return out;
}

/** What status needs from one candidate netns. */
interface PodSide {
  path: string;
  links: Link[];
  addrs: Addr[];
  neighs: Neigh[];
}

function readPodSide(path: string): PodSide | null {
  try {
    using s = Socket.open(path);
    return { path, links: linkList(s), addrs: addrList(s), neighs: neighList(s) };
  } catch {
    return null; // gone meanwhile, or not enterable
  }
}

/** Candidate namespaces by the nsid this netns gave them (only those with one). */
function byNsid(self: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const c of candidates(self)) {
    try {
      const id = nsidOf(c.path);
      if (id !== null && !out.has(id)) out.set(id, c.path);
    } catch { /* a process that exited meanwhile */ }
  }
  return out;
}

function hostOnly(cidr: string): string | null {
  const [ip, len] = cidr.split("/");
  return ip !== undefined && (len === "32" || len === "128") ? canonicalIp(ip) : null;
}

/** Reads the kernel state of the current netns and builds the report. */
export function collectStatus(prefix = "pn"): StatusReport {
  const self = netnsId("/proc/thread-self/ns/net");
  using sock = Socket.open();
  const links = linkList(sock);
  const all: Route[] = routeList(sock);
  const ends = links.filter((l) => l.kind === "veth" && parseAlias(l.alias) !== null);
  const unlabelled = links.filter((l) =>
    l.kind === "veth" && parseAlias(l.alias) === null && l.name.startsWith(prefix) &&
    /^[0-9a-f]+$/.test(l.name.slice(prefix.length)) && l.name.length > prefix.length
  ).map((l) => l.name);
  let nsids: Map<number, string> | null = null; // built lazily: only when there is something to match
  const attachments = ends.map((end) => {
    let pod: PodSide | null = null;
    if (end.linkNetnsId !== null) {
      nsids ??= byNsid(self);
      const path = nsids.get(end.linkNetnsId);
      if (path !== undefined) pod = readPodSide(path);
    }
    return inspect(end, all, pod);
  });
  const drift = attachments.filter((a) => a.drift.length > 0).length + unlabelled.length;
  return { schema: "podnet.status/v1", netns: self, attachments, unlabelled, drift };
}

function inspect(end: Link, routes: Route[], pod: PodSide | null): Attachment {
  const id = parseAlias(end.alias)!;
  const drift: string[] = [];
  const warnings: string[] = [];
  const podAddresses = routes
    .filter((r) => r.type === "unicast" && r.nexthops.some((h) => h.ifindex === end.index) && r.gateway === null)
    .map((r) => hostOnly(r.dst))
    .filter((a): a is string => a !== null);
  const proxyArp = sysctlTryRead(ifSysctlKey(4, end.name, "proxy_arp")) === "1";
  const gatewayMode = proxyArp ? "proxy-arp" : "static-neighbor";
  if (!end.up) drift.push(`host end ${end.name} is down`);
  if (podAddresses.length === 0) drift.push(`no /32 or /128 host route through ${end.name}`);
  const fams = new Set(podAddresses.map((a) => (a.includes(":") ? 6 : 4)));
  if (fams.has(4) && sysctlTryRead(ifSysctlKey(4, end.name, "forwarding")) !== "1") {
    drift.push(`net.ipv4.conf.${end.name}.forwarding is not 1`);
  }
  if (fams.has(6)) {
    const force = sysctlTryRead(ifSysctlKey(6, end.name, "force_forwarding"));
    const allFwd = sysctlTryRead("net/ipv6/conf/all/forwarding");
    if (force !== "1" && allFwd !== "1") {
      warnings.push(
        `IPv6 is not forwarded: net.ipv6.conf.all.forwarding=0 and ${
          force === null ? "this kernel has no force_forwarding" : `${end.name}.force_forwarding=${force}`
        }`,
      );
    }
  }

  // The pod end: the link IFLA_LINK names, in the netns IFLA_LINK_NETNSID names, pointing back at us.
  const peer = pod?.links.find((l) => isVethPeer(end, l));
  let pins: Attachment["pins"] = "unknown";
  const pinned: PinState[] = [];
  let podNetns: string | null = null;
  if (end.linkNetnsId === null) drift.push(`host end ${end.name} has no peer in another netns`);
  else if (pod === null || peer === undefined) {
    warnings.push(
      pod === null
        ? `pod netns (nsid ${end.linkNetnsId}) not reachable from here (not under /run/netns nor held by a visible process): pod side unknown`
        : `no veth peer at index ${end.parentIndex} in ${pod.path}: pod side unknown`,
    );
  } else {
    podNetns = pod.path;
    if (peer.name !== id.ifname) drift.push(`pod interface is ${peer.name}, the alias says ${id.ifname}`);
    if (!peer.up) drift.push(`pod interface ${peer.name} is down`);
    const podAddrs = new Set(
      pod.addrs.filter((a) => a.ifindex === peer.index).map((a) => hostOnly(a.cidr)).filter((a) => a !== null),
    );
    for (const a of podAddresses) {
      if (!podAddrs.has(a)) drift.push(`host route to ${a} but the pod has no such address`);
    }
    for (const a of podAddrs) if (!podAddresses.includes(a)) drift.push(`pod address ${a} has no host route`);
    if (gatewayMode === "proxy-arp") pins = "n/a";
    else {
      for (const fam of [4, 6] as const) {
        if (!fams.has(fam)) continue;
        const ip = GATEWAYS[fam];
        const n = pod.neighs.find((x) => x.ifindex === peer.index && x.ip === ip);
        const state: PinState = {
          ip,
          mac: n?.mac ?? null,
          permanent: n?.permanent ?? false,
          matches: n !== undefined && n.permanent && n.mac === end.mac,
        };
        pinned.push(state);
        if (n === undefined) drift.push(`pin ${ip} is missing in the pod`);
        else if (!n.permanent) drift.push(`neighbor ${ip} in the pod is ${n.state.join(",")}, not permanent`);
        else if (n.mac !== end.mac) drift.push(`pin ${ip} → ${n.mac} does not match host-end MAC ${end.mac}`);
      }
      pins = pinned.length === 0
        ? "missing"
        : pinned.every((p) => p.matches)
        ? "match"
        : pinned.some((p) => p.mac === null)
        ? "missing"
        : "mismatch";
    }
  }
  return {
    network: id.network,
    containerId: id.containerId,
    ifname: id.ifname,
    hostInterface: end.name,
    hostMac: end.mac,
    podAddresses,
    gatewayMode,
    podNetns,
    pins,
    pinned,
    drift,
    warnings,
  };
}

/** Human-readable table. */
export function formatStatus(r: StatusReport): string {
  const rows = [["NETWORK", "CONTAINER", "IFNAME", "HOST-IF", "ADDRESSES", "MODE", "PINS", "STATE"]];
  for (const a of r.attachments) {
    rows.push([
      a.network,
      a.containerId.length > 16 ? `${a.containerId.slice(0, 15)}…` : a.containerId,
      a.ifname,
      a.hostInterface,
      a.podAddresses.join(",") || "-",
      a.gatewayMode,
      a.pins,
      a.drift.length ? "drift" : "ok",
    ]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = [
    `podnet status: ${r.attachments.length} attachment(s), ${r.drift} with drift`,
    ...(r.attachments.length ? rows.map((row) => row.map((c, i) => c.padEnd(w[i]!)).join("  ").trimEnd()) : []),
  ];
  for (const a of r.attachments) {
    for (const d of a.drift) lines.push(`drift   ${a.containerId}/${a.ifname}: ${d}`);
    for (const d of a.warnings) lines.push(`warning ${a.containerId}/${a.ifname}: ${d}`);
  }
  for (const u of r.unlabelled) {
    lines.push(`drift   ${u}: veth named like a podnet host end but without a podnet alias`);
  }
  return `${lines.join("\n")}\n`;
}

/** `podnet status`. */
export async function statusCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags("status", args, {
    json: { type: "boolean" },
    prefix: { type: "string" },
    watch: { type: "string" },
    rounds: { type: "string" },
  });
  if (values.help) {
    io.stdout(STATUS_HELP);
    return 0;
  }
  const prefix = str(values, "prefix") ?? "pn";
  const show = (r: StatusReport): void => io.stdout(values.json ? `${JSON.stringify(r)}\n` : formatStatus(r));
  if (values.watch === undefined) {
    const report = collectStatus(prefix);
    show(report);
    return report.drift > 0 ? 1 : 0;
  }
  const every = int("status", values, "watch", 60);
  const rounds = int("status", values, "rounds", 0);
  let code = 0;
  for (let i = 0; rounds === 0 || i < rounds; i++) {
    if (i > 0) await new Promise((ok) => setTimeout(ok, every * 1000));
    const report = collectStatus(prefix);
    code = report.drift > 0 ? 1 : 0;
    if (values.json) show(report);
    else {
      const text = formatStatus(report).split("\n");
      io.stdout(
        `${new Date().toISOString()} ${[text[0], ...text.filter((l) => /^(drift|warning) /.test(l))].join("\n")}\n`,
      );
    }
  }
  return code;
}
