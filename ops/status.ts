/**
 * `podnet status`: the attachments on this node, read from kernel state alone
 * (no podnet state files): host ends are veths whose alias has podnet's form
 * `networkName/containerID/ifname`. Each is planned and compared with the
 * kernel by the attachment model's rules (cni/attachment.ts, the same as CNI
 * CHECK's): both ends, sysctls, host routes, addresses, routes and the pinned
 * gateways. A pod end taken by a gVisor sandbox is `sandboxed`, not drift.
 * Drift makes the command exit 1, so it doubles as a node health probe (the
 * DaemonSet's readiness probe).
 *
 * @module
 */

import { DEFAULT_PREFIX, GATEWAYS } from "../core/constants.ts";
import { addressOf, canonicalIp, isHostPrefix } from "../core/ip.ts";
import { parseAlias } from "../core/names.ts";
import { int, parseFlags, str } from "../core/cli.ts";
import type { Io } from "../core/io.ts";
import { type Link, linkList, Netns, netnsId, nsidOf, type Route, routeList, SELF_NETNS } from "../netlink/mod.ts";
import {
  type AttachmentState,
  diff,
  type GatewayMode,
  type KernelFacts,
  type Observed,
  plan,
} from "../cni/attachment.ts";
import { kernelFacts, observe } from "../cni/observe.ts";

export const STATUS_HELP = `usage: podnet status [--json] [--prefix P] [--watch SECONDS [--rounds N]]

Lists podnet's attachments in the network namespace podnet runs in, from kernel
state alone: host ends are the veths whose alias is networkName/containerID/ifname.
For each: container ID, pod interface, host interface, pod addresses (the /32 and
/128 host routes through the host end), gateway mode (proxy_arp on the host end →
proxy-arp, else static-neighbor), whether the pod's pinned gateway neighbors
(169.254.1.1, fe80::1) still carry the host-end MAC, and its state: ok; sandboxed
(a gVisor sandbox holds the pod end and owns its addresses and routes: not drift);
drift (every difference from what ADD builds is named, by the rules CNI CHECK uses);
unknown (the pod netns could not be reached).
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
  gatewayMode: GatewayMode;
  /** Path of the pod netns found through the veth peer, or null when it could not be reached. */
  podNetns: string | null;
  /**
   * ok; sandboxed (the pod end was taken by a gVisor sandbox, which owns its
   * addresses and routes now: not drift); drift; unknown (the pod side could
   * not be reached).
   */
  state: AttachmentState | "unknown";
  /** match / mismatch / missing; "n/a" in proxy-arp mode; "sandboxed"; "unknown" when the pod netns was not reached. */
  pins: "match" | "mismatch" | "missing" | "n/a" | "sandboxed" | "unknown";
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
  return isHostPrefix(cidr) ? canonicalIp(addressOf(cidr)) : null;
}

/** Reads the kernel state of the current netns and builds the report. */
export function collectStatus(prefix = DEFAULT_PREFIX): StatusReport {
  const self = netnsId(SELF_NETNS);
  using node = Netns.here();
  const links = linkList(node.sock);
  const all: Route[] = routeList(node.sock);
  const facts = kernelFacts();
  const ends = links.filter((l) => l.kind === "veth" && parseAlias(l.alias) !== null);
  const unlabelled = links.filter((l) =>
    l.kind === "veth" && parseAlias(l.alias) === null && l.name.startsWith(prefix) &&
    /^[0-9a-f]+$/.test(l.name.slice(prefix.length)) && l.name.length > prefix.length
  ).map((l) => l.name);
  let nsids: Map<number, string> | null = null; // built lazily: only when there is something to match
  const attachments = ends.map((end) => {
    let podPath: string | null = null;
    if (end.linkNetnsId !== null) {
      nsids ??= byNsid(self);
      podPath = nsids.get(end.linkNetnsId) ?? null;
    }
    return inspect(end, all, node, podPath, facts);
  });
  const drift = attachments.filter((a) => a.state === "drift").length + unlabelled.length;
  return { schema: "podnet.status/v1", netns: self, attachments, unlabelled, drift };
}

/**
 * One attachment, judged by the model's rules (cni/attachment.ts `diff`, the
 * same as CHECK's). What status cannot know from the kernel it infers, and
 * only that: the pod's addresses are the /32 and /128 host routes through the
 * host end; the gateway mode is proxy-arp when the host end has proxy_arp on.
 */
function inspect(end: Link, routes: Route[], node: Netns, podPath: string | null, facts: KernelFacts): Attachment {
  const id = parseAlias(end.alias)!;
  const warnings: string[] = [];
  const podAddresses = routes
    .filter((r) => r.type === "unicast" && r.gateway === null && r.nexthops.some((h) => h.ifindex === end.index))
    .map((r) => hostOnly(r.dst))
    .filter((a): a is string => a !== null);
  const gatewayMode: GatewayMode = node.sysctlTryRead(`net/ipv4/conf/${end.name}/proxy_arp`) === "1"
    ? "proxy-arp"
    : "static-neighbor";
  const p = plan({
    network: id.network,
    containerId: id.containerId,
    ifname: id.ifname,
    hostIfname: end.name,
    mtu: null,
    gatewayMode,
    addresses: podAddresses,
  }, facts);
  warnings.push(...p.warnings);
  let pod: Netns | null = null;
  let observed: Observed;
  try {
    if (podPath !== null) {
      try {
        pod = Netns.at(podPath);
        void pod.sock;
      } catch {
        pod = null; // gone meanwhile, or not enterable
      }
    }
    observed = pod === null
      ? { ...observe(p, node, null, end), podUnknown: end.linkNetnsId !== null }
      : observe(p, node, pod, end);
  } finally {
    pod?.close();
  }
  const d = diff(p, observed);
  if (podAddresses.length === 0) d.drift.push(`no /32 or /128 host route through ${end.name}`);
  if (end.linkNetnsId === null) d.drift.push(`host end ${end.name} has no peer in another netns`);
  else if (observed.podUnknown) {
    warnings.push(
      `pod netns (nsid ${end.linkNetnsId}) not reachable from here (not under /run/netns nor held by a visible process): pod side unknown`,
    );
  }
  const state = d.drift.length > 0 ? "drift" : observed.podUnknown ? "unknown" : d.state;
  const pinned: PinState[] = observed.pod === null || observed.sandboxed ? [] : p.families.map((f) => {
    const ip = GATEWAYS[f];
    const n = observed.pod!.neighbors.find((x) => x.ip === ip);
    return { ip, mac: n?.mac ?? null, permanent: n?.permanent ?? false, matches: !!n?.permanent && n.mac === end.mac };
  });
  const pins: Attachment["pins"] = observed.podUnknown || observed.pod === null
    ? "unknown"
    : observed.sandboxed
    ? "sandboxed"
    : gatewayMode === "proxy-arp"
    ? "n/a"
    : pinned.length === 0 || pinned.some((x) => x.mac === null)
    ? "missing"
    : pinned.every((x) => x.matches)
    ? "match"
    : "mismatch";
  return {
    network: id.network,
    containerId: id.containerId,
    ifname: id.ifname,
    hostInterface: end.name,
    hostMac: end.mac,
    podAddresses,
    gatewayMode,
    podNetns: observed.pod !== null ? podPath : null,
    state,
    pins,
    pinned: gatewayMode === "proxy-arp" ? [] : pinned,
    drift: d.drift,
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
      a.state,
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
  const prefix = str(values, "prefix") ?? DEFAULT_PREFIX;
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
