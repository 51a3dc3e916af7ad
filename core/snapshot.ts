/**
 * The `podnet.capture/v1` snapshot: its types, strict validation, and
 * capture from a live netns. It lives in core/ because both the sandbox tools
 * (capture, restore, hook) and the CNI plugin (`captureDir`) write snapshots.
 *
 * Validation policy: unknown fields are REJECTED (a snapshot from a newer
 * podnet must bump `schema`, not be half-understood); every IP/CIDR/MAC is
 * parsed and returned in canonical form; sizes are bounded (see `LIMITS`).
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
 * UDP datagram to its discard port) and polled until a MAC appears.
 *
 * @module
 */

import {
  AF_INET,
  AF_INET6,
  cstr,
  errno,
  libc,
  SO_BINDTODEVICE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "../ffi/libc.ts";
import {
  addrList,
  type Cidr,
  type Family,
  formatCidr,
  formatIp,
  type Link,
  linkList,
  type Neigh,
  neighDel,
  neighList,
  neighResolve,
  NetlinkError,
  networkOf,
  parseCidr,
  parseIp,
  parseMac,
  type Route,
  routeList,
  Socket,
  validIfname,
  withNetns,
} from "../netlink/mod.ts";
import { IFF_LOOPBACK, IFF_NOARP } from "../ffi/libnl.ts";
import { writeFileAtomic } from "./fsutil.ts";
import { now, sleepSync } from "./time.ts";

/** The links a capture takes when no ifname is named: every link that is up, but loopback. */
export function capturedByDefault(l: Link): boolean {
  return l.up && (l.flags & IFF_LOOPBACK) === 0;
}

/** The schema string of this version. */
export const SCHEMA = "podnet.capture/v1";

/** Bounds that keep a hostile snapshot from costing more than a real one ever would. */
export const LIMITS = {
  /** Largest snapshot file/stdin accepted, in bytes. */
  bytes: 1 << 20,
  links: 64,
  addressesPerLink: 256,
  routesPerLink: 1024,
  neighborsPerLink: 256,
} as const;

/** One interface address. */
export interface SnapshotAddress {
  /** Address with prefix, host bits kept: `10.244.1.5/32`. */
  cidr: string;
}

/** One route of the main table through the link. */
export interface SnapshotRoute {
  /** Destination network (host bits clear); default is `0.0.0.0/0` / `::/0`. */
  dst: string;
  /** Next hop; absent for a directly connected (scope link) route. */
  gateway?: string;
  /** Absent means what `ip route` picks: `link` without a gateway, `universe` with one. */
  scope?: "universe" | "link" | "host";
  /** The gateway is on-link without a covering route (RTNH_F_ONLINK). */
  onlink?: boolean;
  /** Absent means the family default (0 for IPv4, 1024 for IPv6). */
  metric?: number;
  /** Preferred source address. */
  src?: string;
}

/** A gateway's link-layer address, pinned NUD_PERMANENT on restore. */
export interface SnapshotNeighbor {
  ip: string;
  mac: string;
}

/** One captured link. */
export interface SnapshotLink {
  name: string;
  /** Lowercase `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  mtu: number;
  addresses: SnapshotAddress[];
  routes: SnapshotRoute[];
  neighbors: SnapshotNeighbor[];
}

/** A `podnet.capture/v1` document. */
export interface Snapshot {
  schema: typeof SCHEMA;
  /** RFC 3339 UTC time: `2026-01-01T00:00:00Z`. */
  capturedAt: string;
  links: SnapshotLink[];
}

/** A snapshot that is invalid, or a capture that could not complete; the message names the object. */
export class SnapshotError extends Error {
  override readonly name = "SnapshotError";
}

// ---------------------------------------------------------------------------
// Validation

type Obj = Record<string, unknown>;

function fail(path: string, what: string): never {
  throw new SnapshotError(`invalid snapshot: ${path}: ${what}`);
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function object(v: unknown, path: string, required: string[], optional: string[] = []): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(path, `wants an object, got ${show(v)}`);
  const o = v as Obj;
  for (const k of Object.keys(o)) {
    // The key is the input's: shown quoted and short, so a newline or a megabyte in it cannot
    // turn the one-line error into many lines.
    if (!required.includes(k) && !optional.includes(k)) {
      fail(/^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(k) ? `${path}.${k}` : `${path}[${show(k)}]`, "unknown field");
    }
  }
  for (const k of required) if (!Object.hasOwn(o, k)) fail(`${path}.${k}`, "missing");
  return o;
}

function array(v: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(v)) fail(path, `wants an array, got ${show(v)}`);
  if (v.length > max) fail(path, `has ${v.length} entries, more than the limit of ${max}`);
  return v;
}

function ip(v: unknown, path: string): { text: string; family: Family } {
  const p = typeof v === "string" ? parseIp(v) : null;
  if (p === null) fail(path, `not an IP address: ${show(v)}`);
  return { text: formatIp(p.bytes), family: p.family };
}

function cidr(v: unknown, path: string): Cidr & { text: string } {
  const c = typeof v === "string" && v.includes("/") ? parseCidr(v) : null;
  if (c === null) fail(path, `not a CIDR (address/prefix): ${show(v)}`);
  return { ...c, text: formatCidr(c.bytes, c.prefix) };
}

function mac(v: unknown, path: string): string {
  const m = typeof v === "string" ? parseMac(v) : null;
  // The all-zero and multicast/broadcast MACs can never be a unicast gateway or link address.
  if (m === null || m.every((b) => b === 0) || (m[0]! & 1) === 1) fail(path, `not a unicast MAC address: ${show(v)}`);
  return (v as string).toLowerCase();
}

function integer(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    fail(path, `wants a whole number in ${min}..${max}, got ${show(v)}`);
  }
  return v;
}

function validateRoute(v: unknown, path: string): SnapshotRoute {
  const o = object(v, path, ["dst"], ["gateway", "scope", "onlink", "metric", "src"]);
  const dst = cidr(o.dst, `${path}.dst`);
  const net = formatCidr(networkOf(dst).bytes, dst.prefix);
  if (net !== dst.text) fail(`${path}.dst`, `has host bits set (the network is ${net})`);
  const r: SnapshotRoute = { dst: dst.text };
  if (o.gateway !== undefined) {
    const gw = ip(o.gateway, `${path}.gateway`);
    if (gw.family !== dst.family) fail(`${path}.gateway`, `${gw.text} is not of the family of ${dst.text}`);
    r.gateway = gw.text;
  }
  if (o.scope !== undefined) {
    if (o.scope !== "universe" && o.scope !== "link" && o.scope !== "host") {
      fail(`${path}.scope`, `wants "universe", "link" or "host", got ${show(o.scope)}`);
    }
    r.scope = o.scope;
  }
  if (o.onlink !== undefined) {
    if (typeof o.onlink !== "boolean") fail(`${path}.onlink`, `wants true or false, got ${show(o.onlink)}`);
    if (o.onlink) r.onlink = true;
  }
  if (o.metric !== undefined) r.metric = integer(o.metric, `${path}.metric`, 0, 0xffffffff);
  if (o.src !== undefined) {
    const s = ip(o.src, `${path}.src`);
    if (s.family !== dst.family) fail(`${path}.src`, `${s.text} is not of the family of ${dst.text}`);
    r.src = s.text;
  }
  return r;
}

function validateLink(v: unknown, path: string): SnapshotLink {
  const o = object(v, path, ["name", "mac", "mtu", "addresses", "routes", "neighbors"]);
  if (typeof o.name !== "string" || !validIfname(o.name)) {
    fail(`${path}.name`, `not an interface name: ${show(o.name)}`);
  }
  const link: SnapshotLink = {
    name: o.name,
    mac: mac(o.mac, `${path}.mac`),
    // 68 is IPv4's minimum MTU (RFC 791); 65535 the largest a veth accepts.
    mtu: integer(o.mtu, `${path}.mtu`, 68, 65535),
    addresses: [],
    routes: [],
    neighbors: [],
  };
  const seen = new Set<string>();
  array(o.addresses, `${path}.addresses`, LIMITS.addressesPerLink).forEach((a, i) => {
    const p = `${path}.addresses[${i}]`;
    const c = cidr(object(a, p, ["cidr"]).cidr, `${p}.cidr`).text;
    if (seen.has(c)) fail(`${p}.cidr`, `duplicate address ${c}`);
    seen.add(c);
    link.addresses.push({ cidr: c });
  });
  array(o.routes, `${path}.routes`, LIMITS.routesPerLink).forEach((r, i) => {
    link.routes.push(validateRoute(r, `${path}.routes[${i}]`));
  });
  const ips = new Set<string>();
  array(o.neighbors, `${path}.neighbors`, LIMITS.neighborsPerLink).forEach((n, i) => {
    const p = `${path}.neighbors[${i}]`;
    const no = object(n, p, ["ip", "mac"]);
    const addr = ip(no.ip, `${p}.ip`).text;
    if (ips.has(addr)) fail(`${p}.ip`, `duplicate neighbor ${addr}`);
    ips.add(addr);
    link.neighbors.push({ ip: addr, mac: mac(no.mac, `${p}.mac`) });
  });
  return link;
}

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/**
 * Checks that `v` is a well-formed `podnet.capture/v1` snapshot and returns a
 * canonical copy (lowercase MACs, RFC 5952 IPv6). Throws `SnapshotError`
 * naming the offending field (`links[0].routes[2].gateway: …`).
 */
export function validateSnapshot(v: unknown): Snapshot {
  const o = object(v, "snapshot", ["schema", "capturedAt", "links"]);
  if (o.schema !== SCHEMA) fail("schema", `wants ${JSON.stringify(SCHEMA)}, got ${show(o.schema)}`);
  if (typeof o.capturedAt !== "string" || !TIME.test(o.capturedAt) || Number.isNaN(Date.parse(o.capturedAt))) {
    fail("capturedAt", `wants an RFC 3339 UTC time like 2026-01-01T00:00:00Z, got ${show(o.capturedAt)}`);
  }
  const links = array(o.links, "links", LIMITS.links);
  if (links.length === 0) fail("links", "is empty");
  const out: Snapshot = { schema: SCHEMA, capturedAt: o.capturedAt, links: [] };
  const names = new Set<string>(), macs = new Set<string>();
  links.forEach((l, i) => {
    const link = validateLink(l, `links[${i}]`);
    if (names.has(link.name)) fail(`links[${i}].name`, `duplicate link ${link.name}`);
    if (macs.has(link.mac)) fail(`links[${i}].mac`, `duplicate MAC ${link.mac}`);
    names.add(link.name);
    macs.add(link.mac);
    out.links.push(link);
  });
  return out;
}

/** Parses and validates snapshot text (bounded by `LIMITS.bytes`). */
export function parseSnapshot(data: string | Uint8Array): Snapshot {
  const size = typeof data === "string" ? new TextEncoder().encode(data).length : data.length;
  if (size > LIMITS.bytes) {
    throw new SnapshotError(`invalid snapshot: ${size} bytes, more than the limit of ${LIMITS.bytes}`);
  }
  const text = typeof data === "string" ? data : new TextDecoder("utf-8", { fatal: true }).decode(data);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new SnapshotError(`invalid snapshot: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  return validateSnapshot(v);
}

/** Reads a snapshot file, refusing files larger than `LIMITS.bytes` before reading them. */
export function readSnapshot(path: string): Snapshot {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { read: true });
  } catch (e) {
    throw new SnapshotError(`cannot read snapshot ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const st = f.statSync();
    if (!st.isFile) throw new SnapshotError(`cannot read snapshot ${path}: not a regular file`);
    if (st.size > LIMITS.bytes) {
      throw new SnapshotError(`invalid snapshot ${path}: ${st.size} bytes, more than the limit of ${LIMITS.bytes}`);
    }
    const buf = new Uint8Array(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = f.readSync(buf.subarray(off));
      if (n === null || n === 0) break;
      off += n;
    }
    return parseSnapshot(buf.subarray(0, off));
  } finally {
    f.close();
  }
}

/** The snapshot as the JSON text podnet writes (validated first). */
export function formatSnapshot(snap: Snapshot): string {
  return `${JSON.stringify(validateSnapshot(snap), null, 2)}\n`;
}

/** Validates `snap` and writes it to `path` atomically with mode 0600. */
export function writeSnapshot(path: string, snap: Snapshot): void {
  writeFileAtomic(path, formatSnapshot(snap), 0o600);
}

// ---------------------------------------------------------------------------
// Capture

/** Options for `captureNetns`. */
export interface CaptureOptions {
  /** Links to capture; default: every link that is up, except loopback. */
  ifnames?: string[];
  /** How long to wait for each unresolved gateway; default 3000 ms. */
  timeoutMs?: number;
}

/** Default wait for a gateway to resolve. ARP/NDP retransmit every 1 s, three tries. */
export const DEFAULT_TIMEOUT_MS = 3000;

function isLinkLocal(c: string): boolean {
  return c.startsWith("169.254.") || /^fe[89ab][0-9a-f]:/.test(c);
}

/** Gateways that need a neighbor entry on `link`, in route order. */
export function gatewaysOf(routes: Route[], ifindex: number): string[] {
  const out: string[] = [];
  const add = (ip: string | null): void => {
    if (ip !== null && !out.includes(ip)) out.push(ip);
  };
  for (const r of routes) {
    for (const h of r.nexthops) if (h.ifindex === ifindex) add(h.gateway);
    const host = r.dst.endsWith("/32") || r.dst.endsWith("/128");
    if (r.gateway === null && r.scope === "link" && host && isLinkLocal(r.dst) && r.ifindex === ifindex) {
      add(r.dst.slice(0, r.dst.lastIndexOf("/")));
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

function sockaddr(ipText: string, ifindex: number, port: number): Uint8Array<ArrayBuffer> {
  const p = parseIp(ipText)!;
  if (p.family === 4) {
    const b = new Uint8Array(16); // struct sockaddr_in
    new DataView(b.buffer).setUint16(0, AF_INET, true);
    new DataView(b.buffer).setUint16(2, port, false);
    b.set(p.bytes, 4);
    return b;
  }
  const b = new Uint8Array(28); // struct sockaddr_in6
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_INET6, true);
  dv.setUint16(2, port, false);
  b.set(p.bytes, 8);
  dv.setUint32(24, ifindex, true); // sin6_scope_id: needed for link-local gateways
  return b;
}

/**
 * Sends one empty UDP datagram to `ip`'s discard port (9) out of `link`, from
 * inside `netnsPath` (or the current netns when null). Sending makes the
 * kernel resolve the next hop; a bare connect() does not (kernel 6.18).
 */
export function sendProbe(netnsPath: string | null, link: Pick<Link, "index" | "name">, ip: string): void {
  const send = (): void => {
    const fam = parseIp(ip)?.family;
    if (fam === undefined) throw new SnapshotError(`probe ${ip}: not an IP address`);
    const fd = libc.symbols.socket(fam === 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new SnapshotError(`probe ${ip} dev ${link.name}: socket failed (errno ${errno()})`);
    try {
      const dev = cstr(link.name);
      if (libc.symbols.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length) !== 0) {
        throw new SnapshotError(`probe ${ip} dev ${link.name}: SO_BINDTODEVICE failed (errno ${errno()})`);
      }
      const sa = sockaddr(ip, link.index, 9);
      // A failure here (EAGAIN while unresolved, EHOSTUNREACH once failed) is what the poll sees anyway.
      libc.symbols.sendto(fd, new Uint8Array(1), 0n, 0, sa, sa.length);
    } finally {
      libc.symbols.close(fd);
    }
  };
  if (netnsPath === null) send();
  else withNetns(netnsPath, send);
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
  if (family === undefined) throw new SnapshotError(`gateway ${JSON.stringify(ip)}: not an IP address`);
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

/** The current time as a snapshot's `capturedAt`. */
export { now };

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
    if (!validIfname(n)) throw new SnapshotError(`capture: not an interface name: ${JSON.stringify(n)}`);
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
    if ((l.flags & IFF_NOARP) === 0) {
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
