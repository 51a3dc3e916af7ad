/**
 * Capture: records a netns's links, addresses, routes and resolved gateway
 * neighbors as a `podnet.capture/v1` snapshot (core/snapshot.ts), and
 * `podnet capture`.
 *
 * Capture records, per link: name, MAC, MTU, addresses, the main-table unicast
 * single-nexthop routes through the link except those the kernel creates itself
 * (`proto kernel`, re-created when the address is added; multipath routes are
 * not representable in v1 and are left out), and the neighbor entry (IP→MAC) of
 * every gateway: each route gateway on the link, plus the target of a
 * scope-link host route to a link-local address (Calico/podnet's 169.254.1.1
 * even when no route uses it as gateway). Subnet designs (kindnet, bridge)
 * are covered by the default route's gateway. A gateway without a usable
 * neighbor entry is resolved by the kernel (RTM_NEWNEIGH with NTF_USE, or one
 * UDP datagram to its discard port: netlink/probe.ts) and polled until a MAC
 * appears.
 *
 * @module
 */

import { int, parseFlags, str, strs } from "../core/cli.ts";
import type { Io } from "../core/io.ts";
import { addressOf, isHostPrefix, isLinkLocal } from "../core/ip.ts";
import { ifnameProblem } from "../core/names.ts";
import {
  formatSnapshot,
  SCHEMA,
  type Snapshot,
  SnapshotError,
  type SnapshotLink,
  type SnapshotRoute,
  validateSnapshot,
  writeSnapshot,
} from "../core/snapshot.ts";
import { now, sleepSync } from "../core/time.ts";
import {
  addrList,
  type Link,
  linkList,
  type Neigh,
  neighDel,
  neighList,
  neighResolve,
  NetlinkError,
  parseIp,
  type Route,
  routeList,
  sendProbe,
  Socket,
} from "../netlink/mod.ts";

/** The links a capture takes when no ifname is named: every link that is up, but loopback. */
export function capturedByDefault(l: Link): boolean {
  return l.up && !l.loopback;
}

/** Options for `captureNetns`. */
export interface CaptureOptions {
  /** Links to capture; default: every link that is up, except loopback. */
  ifnames?: string[];
  /** How long to wait for each unresolved gateway; default 3000 ms. */
  timeoutMs?: number;
}

/** Default wait for a gateway to resolve. ARP/NDP retransmit every 1 s, three tries. */
export const DEFAULT_TIMEOUT_MS = 3000;

/** Gateways that need a neighbor entry on `link`, in route order. */
export function gatewaysOf(routes: Route[], ifindex: number): string[] {
  const out: string[] = [];
  const add = (ip: string | null): void => {
    if (ip !== null && !out.includes(ip)) out.push(ip);
  };
  for (const r of routes) {
    for (const h of r.nexthops) if (h.ifindex === ifindex) add(h.gateway);
    const onLink = r.gateway === null && r.scope === "link" && r.ifindex === ifindex;
    if (onLink && isHostPrefix(r.dst) && isLinkLocal(r.dst)) {
      add(addressOf(r.dst));
    }
  }
  return out;
}

function toSnapshotRoute(r: Route): SnapshotRoute {
  const s: SnapshotRoute = { dst: r.dst };
  if (r.gateway !== null) s.gateway = r.gateway;
  const defaultScope = r.gateway === null ? "link" : "universe";
  if (r.scope !== defaultScope && (r.scope === "universe" || r.scope === "link" || r.scope === "host")) {
    s.scope = r.scope;
  }
  if (r.onlink) s.onlink = true;
  if (r.metric !== (r.family === 4 ? 0 : 1024)) s.metric = r.metric;
  if (r.src !== null) s.src = r.src;
  return s;
}

/** Routes restore can reinstall: main-table unicast, single nexthop, not created by the kernel. */
function capturable(r: Route, ifindex: number): boolean {
  return r.protocol !== "kernel" && r.type === "unicast" && r.nexthops.length === 1 && r.ifindex === ifindex;
}

/** Options for `resolveNeighbor`. */
export interface ResolveOptions {
  timeoutMs?: number;
  /**
   * Accept only a confirmed entry: PERMANENT (a pin, e.g. podnet CNI's) or
   * REACHABLE (answered within the last reachable time). A STALE/DELAY/PROBE
   * entry is re-probed and waited for; its MAC is never returned unconfirmed.
   */
  confirmed?: boolean;
}

/**
 * Returns the MAC of `ip` on `link` in the socket's netns (`netnsPath` is the
 * same netns, for the datagram fallback), asking the kernel to resolve it
 * when there is no usable entry. Nothing is deleted: an existing entry stays
 * as it was when resolution fails. Throws `SnapshotError` naming the gateway
 * when no MAC appears within the timeout.
 */
export function resolveNeighbor(
  sock: Socket,
  netnsPath: string | null,
  link: Pick<Link, "index" | "name">,
  ip: string,
  opts: ResolveOptions = {},
): string {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const family = parseIp(ip)?.family;
  if (family === undefined) throw new SnapshotError("gateway: not an IP address");
  const lookup = () => neighList(sock, { ifindex: link.index, family }).find((n) => n.ip === ip) ?? null;
  const usable = (n: Neigh | null): n is Neigh & { mac: string } =>
    n !== null && n.mac !== null && (opts.confirmed ? n.permanent || n.state.includes("reachable") : n.resolved);
  const first = lookup();
  if (usable(first)) return first.mac;
  if (opts.confirmed && first !== null && !first.permanent) {
    // A STALE entry would sit in DELAY for delay_first_probe_time (5 s) before any probe: drop the
    // unconfirmed, dynamic entry (never a pin) and resolve from scratch.
    try {
      neighDel(sock, link, ip);
    } catch (e) {
      if (!(e instanceof NetlinkError && e.notFound)) throw e;
    }
  }
  const deadline = performance.now() + timeoutMs;
  let lastKick = -Infinity, kicks = 0, wait = 1;
  let state = "none";
  for (;;) {
    const n = lookup();
    if (usable(n)) return n.mac;
    state = n ? n.state.join(",") || "none" : "none";
    const now = performance.now();
    // Kick again soon when the kernel gave up (FAILED) or has no entry; it retries by itself while INCOMPLETE.
    if (now - lastKick >= (n === null || n.state.includes("failed") ? 200 : 1000)) {
      kick(sock, netnsPath, link, ip, kicks++);
      lastKick = now;
    }
    if (now >= deadline) break;
    sleepSync(Math.min(wait, Math.max(1, deadline - now)));
    wait = Math.min(wait * 2, 20);
  }
  throw new SnapshotError(
    `gateway ${ip} on ${link.name}${netnsPath ? ` in ${netnsPath}` : ""} did not resolve within ${timeoutMs} ms ` +
      `(neighbor state: ${state})`,
  );
}

function kick(sock: Socket, netnsPath: string | null, link: Pick<Link, "index" | "name">, ip: string, n: number): void {
  // NTF_USE first; every other retry also a datagram, for kernels or entries where NTF_USE does not probe.
  try {
    neighResolve(sock, link, ip);
  } catch (e) {
    if (!(e instanceof NetlinkError)) throw e;
    sendProbe(netnsPath, link, ip);
    return;
  }
  if (n % 2 === 1) sendProbe(netnsPath, link, ip);
}

/**
 * Captures the links of the netns at `netnsPath` (null: the current netns)
 * into a validated snapshot, resolving gateway MACs as needed.
 *
 * @example
 * ```ts ignore
 * const snap = captureNetns("/run/netns/pod1", { ifnames: ["eth0"], timeoutMs: 2000 });
 * writeSnapshot("/run/podnet/capture/abc-eth0.json", snap);
 * ```
 */
export function captureNetns(netnsPath: string | null, opts: CaptureOptions = {}): Snapshot {
  const where = netnsPath ? ` in ${netnsPath}` : "";
  for (const n of opts.ifnames ?? []) {
    const why = ifnameProblem(n);
    if (why !== null) throw new SnapshotError(`capture: --ifname is not an interface name: it ${why}`);
  }
  using sock = Socket.open(netnsPath);
  const all = linkList(sock);
  let links: Link[];
  if (opts.ifnames && opts.ifnames.length > 0) {
    links = opts.ifnames.map((name) => {
      const l = all.find((x) => x.name === name);
      if (!l) throw new SnapshotError(`capture: link ${name} not found${where}`);
      return l;
    });
  } else {
    links = all.filter(capturedByDefault);
    if (links.length === 0) throw new SnapshotError(`capture: no link that is up${where}`);
  }
  const addrs = addrList(sock);
  const routes = routeList(sock);
  const out: SnapshotLink[] = [];
  for (const l of links) {
    if (l.mac === "") throw new SnapshotError(`capture: link ${l.name}${where} has no MAC address`);
    const mine = routes.filter((r) => r.nexthops.some((h) => h.ifindex === l.index));
    const link: SnapshotLink = {
      name: l.name,
      mac: l.mac,
      mtu: l.mtu,
      addresses: addrs.filter((a) => a.ifindex === l.index).map((a) => ({ cidr: a.cidr })),
      routes: mine.filter((r) => capturable(r, l.index)).map(toSnapshotRoute),
      neighbors: [],
    };
    // A NOARP link (tun, wireguard) sends without link-layer addresses: nothing to pin.
    if (!l.noArp) {
      for (const gw of gatewaysOf(mine, l.index)) {
        link.neighbors.push({
          ip: gw,
          mac: resolveNeighbor(sock, netnsPath, l, gw, { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS }),
        });
      }
    }
    out.push(link);
  }
  return validateSnapshot({ schema: SCHEMA, capturedAt: now(), links: out });
}

export const CAPTURE_HELP = `usage: podnet capture [--netns PATH] [--ifname NAME]... [--out FILE|-] [--timeout-ms N]

Records a netns's links (name, MAC, MTU), their addresses, their main-table routes (not the
kernel's own proto-kernel routes) and the MAC of every gateway as podnet.capture/v1 JSON.
Gateways: each route gateway on the link, and the target of a scope-link host route to a
link-local address (169.254.1.1 / fe80::1 designs). A gateway without a usable neighbor
entry is resolved by the kernel (RTM_NEWNEIGH with NTF_USE, or one UDP datagram to its
discard port sent from inside the netns) and polled; an unresolved gateway is an error.

  --netns PATH       netns to capture (default: the current one)
  --ifname NAME      capture this link (repeatable; default: every link that is up but lo)
  --out FILE|-       write to FILE atomically with mode 0600, or - for stdout (default -)
  --timeout-ms N     wait per unresolved gateway (default ${DEFAULT_TIMEOUT_MS})
`;

/** `podnet capture`. */
export function captureCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags("capture", args, {
    netns: { type: "string" },
    ifname: { type: "string", multiple: true },
    out: { type: "string" },
    "timeout-ms": { type: "string" },
  });
  if (values.help) {
    io.stdout(CAPTURE_HELP);
    return Promise.resolve(0);
  }
  const timeoutMs = int("capture", values, "timeout-ms", DEFAULT_TIMEOUT_MS);
  const snap = captureNetns(str(values, "netns") ?? null, { ifnames: strs(values, "ifname"), timeoutMs });
  const out = str(values, "out") ?? "-";
  if (out === "-") io.stdout(formatSnapshot(snap));
  else writeSnapshot(out, snap);
  return Promise.resolve(0);
}
