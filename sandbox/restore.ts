/**
 * Restore: reinstalls a `podnet.capture/v1` snapshot into a netns, optionally
 * moving each link there first. A gVisor sandbox copies addresses, routes and
 * only PERMANENT neighbors when it starts, so the gateway neighbors are pinned
 * NUD_PERMANENT here.
 *
 * Semantics (why each step is as it is):
 * - Additive with replace semantics: what the snapshot names is made present;
 *   nothing else is removed. Running it twice changes nothing and succeeds.
 * - Routes go in dependency order: routes without a gateway (on-link) first,
 *   then gateway routes; the kernel refuses a gateway it cannot reach yet, and
 *   where it still answers ENETUNREACH the route is retried with `onlink`.
 * - IPv6 addresses are added `nodad` and `accept_dad=0` is set on the link
 *   (when the sysctl is visible: runsc's wrapper hides /proc/sys/net), so
 *   nothing waits for duplicate address detection.
 * - `resolveGateways`: the snapshot's gateway MACs are never pinned (they may
 *   belong to another node: resume of a checkpointed sandbox, a re-created
 *   host end). Each gateway's MAC is read live from the netns the link is in
 *   before it is moved (moving flushes the link's neighbors), else from the
 *   target: a confirmed entry (PERMANENT — e.g. podnet CNI's static pin, the
 *   only source with proxy ARP off — or REACHABLE), or a fresh ARP/NDP answer
 *   polled for up to `timeoutMs`. No answer is an error naming the gateway;
 *   nothing was moved or deleted by then, and an existing pin is never dropped.
 *
 * @module
 */

import { int, parseFlags, str, strs, UsageError } from "../core/cli.ts";
import type { Io } from "../core/io.ts";
import { parseSnapshot, type Snapshot, SnapshotError, type SnapshotLink } from "../core/snapshot.ts";
import { readSnapshot } from "../sys/files.ts";
import { DEFAULT_TIMEOUT_MS, resolveNeighbor } from "./capture.ts";
import {
  addrAdd,
  addrList,
  ifSysctlKey,
  type Link,
  linkList,
  linkSet,
  neighSet,
  NetlinkError,
  parseCidr,
  routeReplace,
  type RouteSpec,
  Socket,
  sysctlTryRead,
  sysctlWrite,
  withNetns,
} from "../netlink/mod.ts";

const ENETUNREACH = 101;

/** Options for `restoreSnapshot`. */
export interface RestoreOptions {
  /** Target netns path; null or absent: the current netns. */
  netns?: string | null;
  /** Netns to move each link from. A link is the snapshot's when its MAC matches (name first, then any name). */
  linkNetns?: string | null;
  /** Restore only these snapshot links (default: all). */
  ifnames?: string[];
  /** Never pin the snapshot's MACs: pin each gateway's live MAC (see the module doc). */
  resolveGateways?: boolean;
  /** Wait per gateway with `resolveGateways`; default 3000 ms. */
  timeoutMs?: number;
  /** Pin the neighbors only (addresses and routes are left as they are): the hook's in-place mode. */
  neighborsOnly?: boolean;
}

/** What restore did to one link. */
export interface RestoredLink {
  name: string;
  /** Moved from `linkNetns` into the target by this run. */
  moved: boolean;
  /** Pinned neighbors (IP → MAC), after any re-resolution. */
  neighbors: { ip: string; mac: string }[];
}

function where(path: string | null | undefined): string {
  return path ? ` in ${path}` : "";
}

function inNetns<T>(path: string | null | undefined, fn: () => T): T {
  return path ? withNetns(path, fn) : fn();
}

/** Finds the snapshot's link by name (MAC must agree), else by MAC. */
function findLink(links: Link[], want: SnapshotLink): Link | null {
  return links.find((l) => l.name === want.name && l.mac === want.mac) ??
    links.find((l) => l.mac === want.mac) ?? null;
}

function prefixed(e: unknown, prefix: string): Error {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof NetlinkError) {
    return new NetlinkError(`${prefix}${e.action}`, e.code, e.errno, msg.slice(e.action.length + 2));
  }
  return new SnapshotError(`${prefix}${msg}`);
}

/** Live gateway MACs: a confirmed entry (a pin or a fresh answer) in the netns the link is in now. */
function liveMacs(
  sock: Socket,
  netns: string | null,
  link: Link,
  want: SnapshotLink,
  opts: RestoreOptions,
): Map<string, string> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Map(
    want.neighbors.map((n) => [n.ip, resolveNeighbor(sock, netns, link, n.ip, { confirmed: true, timeoutMs })]),
  );
}

/** Where a link is after `placeLink`, and the live gateway MACs read before a move. */
interface Placed {
  link: Link;
  moved: boolean;
  macs: Map<string, string> | null;
}

/** Locates (and moves, when asked) one link; returns it as seen in the target. */
function placeLink(target: Socket, opts: RestoreOptions, want: SnapshotLink): Placed {
  const here = linkList(target);
  const found = findLink(here, want);
  if (found) return { link: found, moved: false, macs: null };
  if (opts.linkNetns) {
    using src = Socket.open(opts.linkNetns);
    const l = findLink(linkList(src), want);
    if (l) {
      // Moving a link flushes its neighbor entries (the pod's pin included): read them first.
      const macs = opts.resolveGateways ? liveMacs(src, opts.linkNetns, l, want, opts) : null;
      const clash = here.find((x) => x.name === l.name);
      if (clash) {
        throw new SnapshotError(
          `link ${l.name}: cannot move it from ${opts.linkNetns}: a different link of that name exists${
            where(opts.netns)
          }`,
        );
      }
      linkSet(src, l, { netns: opts.netns ?? "/proc/thread-self/ns/net" });
      const moved = findLink(linkList(target), want);
      if (!moved) {
        throw new SnapshotError(`link ${want.name} (${want.mac}) vanished while moving it${where(opts.netns)}`);
      }
      return { link: moved, moved: true, macs };
    }
  }
  throw new SnapshotError(
    `link ${want.name} (${want.mac}) not found${where(opts.netns)}${opts.linkNetns ? ` nor in ${opts.linkNetns}` : ""}`,
  );
}

function routeSpec(link: Link, r: SnapshotLink["routes"][number]): RouteSpec {
  const s: RouteSpec = { dst: r.dst, ifindex: link.index };
  if (r.gateway !== undefined) s.gateway = r.gateway;
  if (r.scope !== undefined) s.scope = r.scope;
  if (r.onlink) s.onlink = true;
  if (r.metric !== undefined) s.metric = r.metric;
  if (r.src !== undefined) s.src = r.src;
  return s;
}

function restoreLink(
  sock: Socket,
  opts: RestoreOptions,
  want: SnapshotLink,
  onMoved: (index: number) => void,
): RestoredLink {
  const { link: found, moved, macs: before } = placeLink(sock, opts, want);
  if (moved) onMoved(found.index);
  let link = found;
  if (!opts.neighborsOnly) {
    if (link.name !== want.name) {
      // Most drivers refuse a rename while up.
      linkSet(sock, link, { up: false, name: want.name });
      link = { ...link, name: want.name };
    }
    if (want.addresses.some((a) => a.cidr.includes(":"))) {
      inNetns(opts.netns, () => {
        const key = ifSysctlKey(6, want.name, "accept_dad");
        const dad = sysctlTryRead(key);
        if (dad !== null && dad !== "0") sysctlWrite(key, 0);
      });
    }
    if (link.mtu !== want.mtu || !link.up) linkSet(sock, link, { mtu: want.mtu, up: true });
    const have = new Set(addrList(sock, { ifindex: link.index }).map((a) => a.cidr));
    for (const a of want.addresses) {
      if (have.has(a.cidr)) continue;
      const v6 = parseCidr(a.cidr)!.family === 6;
      addrAdd(sock, link, a.cidr, { nodad: v6, replace: true });
    }
    // On-link routes first: a gateway route needs its gateway reachable already.
    const ordered = [...want.routes.filter((r) => !r.gateway), ...want.routes.filter((r) => r.gateway)];
    for (const r of ordered) {
      const spec = routeSpec(link, r);
      try {
        routeReplace(sock, spec);
      } catch (e) {
        if (!(e instanceof NetlinkError && e.errno === ENETUNREACH && spec.gateway && !spec.onlink)) throw e;
        routeReplace(sock, { ...spec, onlink: true });
      }
    }
  }
  const neighbors: { ip: string; mac: string }[] = [];
  // With resolveGateways the snapshot's MACs are never used: live ones, read before the move or here.
  const live = opts.resolveGateways ? before ?? liveMacs(sock, opts.netns ?? null, link, want, opts) : null;
  for (const n of want.neighbors) {
    const mac = live ? live.get(n.ip)! : n.mac;
    neighSet(sock, { link, ip: n.ip, mac, permanent: true });
    neighbors.push({ ip: n.ip, mac });
  }
  return { name: want.name, moved, neighbors };
}

/**
 * Restores `snap` (already validated, e.g. by `readSnapshot`) into the target
 * netns. Throws an error whose message names the link and object that failed.
 */
export function restoreSnapshot(snap: Snapshot, opts: RestoreOptions = {}): RestoredLink[] {
  const wanted = opts.ifnames && opts.ifnames.length > 0 ? opts.ifnames : null;
  const links = wanted ? snap.links.filter((l) => wanted.includes(l.name)) : snap.links;
  for (const n of wanted ?? []) {
    if (!snap.links.some((l) => l.name === n)) throw new SnapshotError(`link ${n} is not in the snapshot`);
  }
  using sock = Socket.open(opts.netns ?? null);
  const out: RestoredLink[] = [];
  const moved: { want: SnapshotLink; index: number }[] = [];
  for (const l of links) {
    try {
      out.push(restoreLink(sock, opts, l, (index) => moved.push({ want: l, index })));
    } catch (e) {
      const err = prefixed(e, `restore ${l.name}${where(opts.netns)}: `);
      err.message += moveBack(sock, snap, opts, moved);
      throw err;
    }
  }
  return out;
}

/**
 * Roll-back after a failed restore: links this run moved go back to the link
 * netns with their snapshot configuration, so a failed sandbox start does not
 * take the pod's network with it (the sandbox netns, and a veth end in it,
 * vanish when the runtime gives up). Best effort; returns a note for the error.
 */
function moveBack(
  sock: Socket,
  snap: Snapshot,
  opts: RestoreOptions,
  moved: { want: SnapshotLink; index: number }[],
): string {
  if (!opts.linkNetns || moved.length === 0) return "";
  const notes: string[] = [];
  for (const m of moved.reverse()) {
    try {
      linkSet(sock, m.index, { netns: opts.linkNetns });
    } catch (e) {
      notes.push(`roll-back FAILED: ${m.want.name} stays${where(opts.netns)}: ${e instanceof Error ? e.message : e}`);
      continue;
    }
    try {
      restoreSnapshot({ ...snap, links: [m.want] }, { netns: opts.linkNetns });
      notes.push(`rolled back: ${m.want.name} moved back to ${opts.linkNetns}`);
    } catch {
      // Moving a link drops its addresses and routes; put back what the snapshot allows, in order.
      notes.push(`rolled back: ${m.want.name} moved back to ${opts.linkNetns}, re-configured up to the same failure`);
    }
  }
  return ` (${notes.join("; ")})`;
}

export const RESTORE_HELP = `usage: podnet restore --from FILE|- [--netns PATH] [--link-netns PATH] [--ifname NAME]...
                      [--resolve-gateways] [--timeout-ms N]

Reinstalls a podnet.capture/v1 snapshot: moves each link from --link-netns into the
target netns (a link is the snapshot's when its MAC matches; another name is renamed),
sets its MTU and brings it up, adds the addresses (IPv6 nodad, accept_dad=0), routes
(on-link first, then gateway routes, retried with onlink on ENETUNREACH; replace semantics)
and pins the gateway neighbors NUD_PERMANENT. A failure after a move moves the link back.
The snapshot is validated strictly first (unknown fields are refused). Idempotent: a second
run changes nothing and succeeds. Nothing that is not in the snapshot is removed.

  --from FILE|-        snapshot file, or - for standard input (at most 1 MiB)
  --netns PATH         target netns (default: the current one), e.g. /proc/PID/ns/net
  --link-netns PATH    netns to move the links from when they are not in the target yet
  --ifname NAME        restore only this snapshot link (repeatable)
  --resolve-gateways   never pin the snapshot's MACs (for resumed/old snapshots): take each
                       gateway's live MAC where the link is now (before a move): a pin
                       (PERMANENT), a REACHABLE entry, or a fresh ARP/NDP answer; none = error
  --timeout-ms N       wait per gateway with --resolve-gateways (default ${DEFAULT_TIMEOUT_MS})
`;

/** `podnet restore`. */
export async function restoreCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags("restore", args, {
    from: { type: "string" },
    netns: { type: "string" },
    "link-netns": { type: "string" },
    ifname: { type: "string", multiple: true },
    "resolve-gateways": { type: "boolean" },
    "timeout-ms": { type: "string" },
  });
  if (values.help) {
    io.stdout(RESTORE_HELP);
    return 0;
  }
  const from = str(values, "from");
  if (from === undefined) throw new UsageError("podnet restore: --from FILE|- is required");
  const timeoutMs = int("restore", values, "timeout-ms", DEFAULT_TIMEOUT_MS);
  const snap = from === "-" ? parseSnapshot(await io.stdin()) : readSnapshot(from);
  restoreSnapshot(snap, {
    netns: str(values, "netns") ?? null,
    linkNetns: str(values, "link-netns") ?? null,
    ifnames: strs(values, "ifname"),
    resolveGateways: values["resolve-gateways"] === true,
    timeoutMs,
  });
  return 0;
}
