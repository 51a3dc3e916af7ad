/**
 * Restore: reinstalls a `podnet.capture/v1` snapshot into a netns, optionally
 * moving each link there first. A gVisor sandbox copies addresses, routes and
 * only PERMANENT neighbors when it starts, so the gateway neighbors are pinned
 * NUD_PERMANENT here.
 *
 * Semantics (why each step is as it is):
 * - Additive with replace semantics: what the snapshot names is made present;
 *   nothing else is removed. Running it twice changes nothing and succeeds.
 * - Everything that can be checked is checked before anything changes
 *   (`preflight`): every link is located, no name the target already uses
 *   (`lo`, another link) is taken, the target can hold IPv6 where the
 *   snapshot has it, every route's preferred source is an address the target
 *   will have and no gateway is the link's own address (the kernel refuses
 *   both), and with `resolveGateways` the live MACs of links to be moved are
 *   read. IPv6 on a link below MTU 1280 is refused by the schema itself.
 * - Routes go in dependency order: routes without a gateway (on-link) first,
 *   then gateway routes; the kernel refuses a gateway it cannot reach yet, and
 *   where it still answers ENETUNREACH the route is retried with `onlink`.
 * - IPv6 addresses are added `nodad` and `accept_dad=0` is set on the link
 *   (when the sysctl is visible: runsc's wrapper hides /proc/sys/net), so
 *   nothing waits for duplicate address detection.
 * - A link moved from `linkNetns` is recorded first (sandbox/linkstate.ts);
 *   when a later step fails, it goes back and is put back exactly as it was
 *   (name, MTU, sysctls, addresses, routes, pins), so a failed sandbox start
 *   does not take the pod's network with it.
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

import { errorText } from "../core/errors.ts";
import { int, parseFlags, str, strs, UsageError } from "../core/cli.ts";
import type { Io } from "../core/io.ts";
import { addressOf } from "../core/ip.ts";
import { parseSnapshot, type Snapshot, SnapshotError, type SnapshotLink } from "../core/snapshot.ts";
import { readSnapshot } from "../sys/files.ts";
import { DEFAULT_TIMEOUT_MS, resolveNeighbor } from "./capture.ts";
import { type LinkRecord, putBack, recordLink } from "./linkstate.ts";
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
  SELF_NETNS,
  Socket,
  sysctlTryRead,
  sysctlWrite,
  withNetns,
} from "../netlink/mod.ts";

const ENETUNREACH = 101;

/** Steps of one link's restore, in order; each is a test seam (`RestoreOptions.seam`). */
export const RESTORE_STEPS = ["move", "link", "addresses", "routes", "neighbors"] as const;
/** One of `RESTORE_STEPS`. */
export type RestoreStep = typeof RESTORE_STEPS[number];

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
  /** Test-only fault injection, called after each step (`restoreSeam`). */
  seam?: (step: RestoreStep) => void;
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

/** Finds the snapshot's link by name (MAC must agree), else by MAC. */
function findLink(links: Link[], want: SnapshotLink): Link | null {
  return links.find((l) => l.name === want.name && l.mac === want.mac) ??
    links.find((l) => l.mac === want.mac) ?? null;
}

function prefixed(e: unknown, prefix: string): Error {
  const msg = errorText(e);
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

/** One snapshot link, located before anything changes. */
interface Located {
  want: SnapshotLink;
  /** The link where it is now: in the target, or (`record` set) in the link netns, to be moved. */
  link: Link;
  /** The link as it is in the link netns, to put it back exactly (only for a link to be moved). */
  record: LinkRecord | null;
  /** Live gateway MACs read before the move (`resolveGateways`). */
  macs: Map<string, string> | null;
}

function hasV6(l: SnapshotLink): boolean {
  return [...l.addresses.map((a) => a.cidr), ...l.routes.map((r) => r.dst), ...l.neighbors.map((n) => n.ip)]
    .some((x) => x.includes(":"));
}

/**
 * Whether the target can hold IPv6 on `name` (a link to arrive: the netns's
 * defaults). Unknown counts as yes: runsc's wrapper hides /proc/sys/net from
 * the hooks it runs, and the kernel still answers for itself later.
 */
function ipv6Usable(netns: string | null | undefined, name: string | null): boolean {
  return withNetns(netns, () => {
    const off = (key: string): boolean => (sysctlTryRead(`net/ipv6/conf/${key}/disable_ipv6`) ?? "0") !== "0";
    return !off("all") && !off(name ?? "default");
  });
}

/**
 * Locates every link and checks what can be checked before anything changes
 * (see the module doc). Throws `SnapshotError` naming the link and the problem.
 */
function preflight(target: Socket, src: Socket | null, links: SnapshotLink[], opts: RestoreOptions): Located[] {
  const here = linkList(target);
  const there = src ? linkList(src) : [];
  const out: Located[] = [];
  for (const want of links) {
    const fail = (why: string): never => {
      throw new SnapshotError(`restore ${want.name}${where(opts.netns)}: ${why}`);
    };
    const found = findLink(here, want);
    const l = found ?? findLink(there, want);
    if (!l) {
      fail(`link ${want.name} (${want.mac}) not found${where(opts.netns)}${src ? ` nor in ${opts.linkNetns}` : ""}`);
    }
    const link = l!;
    for (const name of found ? [want.name] : [...new Set([link.name, want.name])]) {
      const clash = here.find((x) => x.name === name && x.index !== found?.index);
      if (clash) fail(`the target already has a link named ${name}`);
    }
    if (!opts.neighborsOnly && hasV6(want) && !ipv6Usable(opts.netns, found && found.mtu >= 1280 ? found.name : null)) {
      fail("the snapshot has IPv6 but IPv6 is disabled there (disable_ipv6)");
    }
    out.push({ want, link, record: found ? null : recordLink(src!, opts.linkNetns ?? null, link), macs: null });
  }
  if (!opts.neighborsOnly) {
    const local = new Set(links.flatMap((l) => l.addresses.map((a) => addressOf(a.cidr))));
    for (const a of addrList(target)) local.add(addressOf(a.cidr));
    for (const { want } of out) {
      const own = new Set(want.addresses.map((a) => addressOf(a.cidr)));
      for (const r of want.routes) {
        const name = `restore ${want.name}${where(opts.netns)}: route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""}`;
        if (r.src !== undefined && !local.has(r.src)) {
          throw new SnapshotError(`${name}: source ${r.src} is no address of the snapshot or the target`);
        }
        if (r.gateway !== undefined && own.has(r.gateway)) {
          throw new SnapshotError(`${name}: the gateway is the link's own address`);
        }
      }
    }
  }
  // Moving a link flushes its neighbor entries (the pod's pin included): read them first.
  if (opts.resolveGateways && src) {
    for (const p of out) {
      if (!p.record) continue;
      try {
        p.macs = liveMacs(src, opts.linkNetns ?? null, p.link, p.want, opts);
      } catch (e) {
        throw prefixed(e, `restore ${p.want.name}${where(opts.netns)}: `);
      }
    }
  }
  return out;
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

/** Moves `p.link` into the target; returns it as seen there. */
function moveIn(sock: Socket, src: Socket, opts: RestoreOptions, p: Located): Link {
  linkSet(src, p.link, { netns: opts.netns ?? SELF_NETNS });
  const moved = findLink(linkList(sock), p.want);
  if (!moved) {
    throw new SnapshotError(`link ${p.want.name} (${p.want.mac}) vanished while moving it${where(opts.netns)}`);
  }
  return moved;
}

function restoreLink(sock: Socket, opts: RestoreOptions, p: Located, link: Link): RestoredLink {
  const seam = opts.seam ?? (() => {});
  const want = p.want;
  if (!opts.neighborsOnly) {
    if (link.name !== want.name) {
      // Most drivers refuse a rename while up.
      linkSet(sock, link, { up: false, name: want.name });
      link = { ...link, name: want.name, up: false };
    }
    if (want.addresses.some((a) => a.cidr.includes(":"))) {
      withNetns(opts.netns, () => {
        const key = ifSysctlKey(6, want.name, "accept_dad");
        const dad = sysctlTryRead(key);
        if (dad !== null && dad !== "0") sysctlWrite(key, 0);
      });
    }
    if (link.mtu !== want.mtu || !link.up) linkSet(sock, link, { mtu: want.mtu, up: true });
    seam("link");
    const have = new Set(addrList(sock, { ifindex: link.index }).map((a) => a.cidr));
    for (const a of want.addresses) {
      if (have.has(a.cidr)) continue;
      const v6 = parseCidr(a.cidr)!.family === 6;
      addrAdd(sock, link, a.cidr, { nodad: v6, replace: true });
    }
    seam("addresses");
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
    seam("routes");
  }
  const neighbors: { ip: string; mac: string }[] = [];
  // With resolveGateways the snapshot's MACs are never used: live ones, read before the move or here.
  const live = opts.resolveGateways ? p.macs ?? liveMacs(sock, opts.netns ?? null, link, want, opts) : null;
  for (const n of want.neighbors) {
    const mac = live ? live.get(n.ip)! : n.mac;
    neighSet(sock, { link, ip: n.ip, mac, permanent: true });
    neighbors.push({ ip: n.ip, mac });
  }
  seam("neighbors");
  return { name: want.name, moved: p.record !== null, neighbors };
}

/**
 * Restores `snap` (already validated, e.g. by `readSnapshot`) into the target
 * netns. Throws an error whose message names the link and object that failed;
 * links this run moved are then back where they were, as they were.
 */
export function restoreSnapshot(snap: Snapshot, opts: RestoreOptions = {}): RestoredLink[] {
  const wanted = opts.ifnames && opts.ifnames.length > 0 ? opts.ifnames : null;
  const links = wanted ? snap.links.filter((l) => wanted.includes(l.name)) : snap.links;
  for (const n of wanted ?? []) {
    if (!snap.links.some((l) => l.name === n)) throw new SnapshotError(`link ${n} is not in the snapshot`);
  }
  using sock = Socket.open(opts.netns ?? null);
  using src = opts.linkNetns ? Socket.open(opts.linkNetns) : null;
  const located = preflight(sock, src, links, opts);
  const out: RestoredLink[] = [];
  const moved: { p: Located; index: number }[] = [];
  for (const p of located) {
    try {
      let link = p.link;
      if (p.record) {
        link = moveIn(sock, src!, opts, p);
        moved.push({ p, index: link.index });
        opts.seam?.("move");
      }
      out.push(restoreLink(sock, opts, p, link));
    } catch (e) {
      const err = prefixed(e, `restore ${p.want.name}${where(opts.netns)}: `);
      err.message += moveBack(sock, src!, opts, moved);
      throw err;
    }
  }
  return out;
}

/** Roll-back after a failed restore: each link this run moved goes back and is put back as recorded. */
function moveBack(sock: Socket, src: Socket, opts: RestoreOptions, moved: { p: Located; index: number }[]): string {
  if (moved.length === 0) return "";
  const notes: string[] = [];
  for (const { p, index } of moved.reverse()) {
    const rec = p.record!;
    try {
      linkSet(sock, index, { netns: opts.linkNetns! });
      const back = findLink(linkList(src), { ...p.want, name: rec.name });
      if (!back) throw new Error("it is not there after the move");
      putBack(src, opts.linkNetns!, back.index, rec);
      notes.push(`rolled back: ${rec.name} is back in ${opts.linkNetns} as it was`);
    } catch (e) {
      notes.push(`roll-back FAILED for ${rec.name}: ${errorText(e)}`);
    }
  }
  return ` (${notes.join("; ")})`;
}

/**
 * Test-only fault injection, as cni/seams.ts has it for ADD: with
 * PODNET_TEST_SEAMS=1 and PODNET_TEST_FAIL_AT=restore:STEP, restore throws
 * right after STEP succeeded. Undefined (no seam) otherwise.
 */
export function restoreSeam(env: (k: string) => string | undefined): RestoreOptions["seam"] {
  const at = env("PODNET_TEST_SEAMS") === "1" ? env("PODNET_TEST_FAIL_AT") : undefined;
  if (at === undefined || !at.startsWith("restore:")) return undefined;
  return (step) => {
    if (`restore:${step}` === at) throw new SnapshotError(`injected failure after step ${step} (PODNET_TEST_FAIL_AT)`);
  };
}
export const RESTORE_HELP = `usage: podnet restore --from FILE|- [--netns PATH] [--link-netns PATH] [--ifname NAME]...
                      [--resolve-gateways] [--timeout-ms N]

Reinstalls a podnet.capture/v1 snapshot: moves each link from --link-netns into the
target netns (a link is the snapshot's when its MAC matches; another name is renamed),
sets its MTU and brings it up, adds the addresses (IPv6 nodad, accept_dad=0), routes
(on-link first, then gateway routes, retried with onlink on ENETUNREACH; replace semantics)
and pins the gateway neighbors NUD_PERMANENT. The snapshot is validated strictly first (unknown
fields are refused), and so is what the kernel would refuse late (a name the target already
has, such as lo; IPv6 where it is disabled; a route source that is no address there). A failure
after a move moves the link back and puts it back exactly as it was (name, MTU, sysctls,
addresses, routes, pins). Idempotent: a second run changes nothing and succeeds. Nothing that
is not in the snapshot is removed.

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
  const seam = restoreSeam(io.env);
  restoreSnapshot(snap, {
    netns: str(values, "netns") ?? null,
    linkNetns: str(values, "link-netns") ?? null,
    ifnames: strs(values, "ifname"),
    resolveGateways: values["resolve-gateways"] === true,
    timeoutMs,
    ...(seam ? { seam } : {}),
  });
  return 0;
}
