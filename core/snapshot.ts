/**
 * The `podnet.capture/v1` snapshot: its types and strict validation. It lives
 * in core/ because the sandbox tools (capture, restore, hook, resume) and the
 * CNI plugin (`captureDir`) all read or write snapshots; the capture engine
 * that reads one from a live netns is sandbox/capture.ts.
 *
 * Validation policy: unknown fields are REJECTED (a snapshot from a newer
 * podnet must bump `schema`, not be half-understood); every IP/CIDR/MAC is
 * parsed and returned in canonical form; sizes and nesting are bounded (see
 * `LIMITS`); every name is one the kernel takes verbatim (core/names.ts);
 * errors name the field (`links[0].routes[2].gateway: …`), never its value.
 *
 * @module
 */

import { type Family, formatCidr, networkOf } from "./ip.ts";
import { array, boolean, cidr, decodeJson, integer, ip, JsonError, mac, object, oneOf, string } from "./json.ts";
import { ifnameProblem } from "./names.ts";
import { writeFileAtomic } from "./fsutil.ts";
import { MTU_MIN } from "./constants.ts";

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

/** 68 is IPv4's minimum MTU (RFC 791): a captured link of any design; 65535 the largest a veth accepts. */
const LINK_MTU = { min: 68, max: 65535 } as const;

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

function fail(path: string, what: string): never {
  throw new JsonError(path, what);
}

function sameFamily(v: unknown, path: string, family: Family, of: string): string {
  const a = ip(v, path);
  if (a.family !== family) fail(path, `is not of the family of ${of}`);
  return a.text;
}

function validateRoute(v: unknown, path: string): SnapshotRoute {
  const o = object(v, path, {
    required: ["dst"],
    optional: ["gateway", "scope", "onlink", "metric", "src"],
    strict: true,
  });
  const dst = cidr(o.dst, `${path}.dst`);
  const net = formatCidr(networkOf(dst).bytes, dst.prefix);
  if (net !== dst.text) fail(`${path}.dst`, `has host bits set (the network is ${net})`);
  const r: SnapshotRoute = { dst: dst.text };
  if (o.gateway !== undefined) r.gateway = sameFamily(o.gateway, `${path}.gateway`, dst.family, dst.text);
  if (o.scope !== undefined) r.scope = oneOf(o.scope, `${path}.scope`, ["universe", "link", "host"]);
  if (o.onlink !== undefined && boolean(o.onlink, `${path}.onlink`)) r.onlink = true;
  if (o.metric !== undefined) r.metric = integer(o.metric, `${path}.metric`, 0, 0xffffffff);
  if (o.src !== undefined) r.src = sameFamily(o.src, `${path}.src`, dst.family, dst.text);
  return r;
}

function validateLink(v: unknown, path: string): SnapshotLink {
  const o = object(v, path, { required: ["name", "mac", "mtu", "addresses", "routes", "neighbors"], strict: true });
  const why = ifnameProblem(string(o.name, `${path}.name`));
  if (why !== null) fail(`${path}.name`, `is not an interface name: it ${why}`);
  const link: SnapshotLink = {
    name: o.name as string,
    mac: mac(o.mac, `${path}.mac`),
    mtu: integer(o.mtu, `${path}.mtu`, LINK_MTU.min, LINK_MTU.max),
    addresses: [],
    routes: [],
    neighbors: [],
  };
  // Below IPv6's minimum MTU the kernel disables IPv6 on the link: no IPv6 address, route or neighbor restores there.
  const noV6 = (p: string, family: Family): void => {
    if (family === 6 && link.mtu < MTU_MIN) {
      fail(p, `is IPv6 on a link of MTU ${link.mtu}, below IPv6's minimum of ${MTU_MIN}`);
    }
  };
  const seen = new Set<string>();
  array(o.addresses, `${path}.addresses`, LIMITS.addressesPerLink).forEach((a, i) => {
    const p = `${path}.addresses[${i}]`;
    const c = cidr(object(a, p, { required: ["cidr"], strict: true }).cidr, `${p}.cidr`);
    if (seen.has(c.text)) fail(`${p}.cidr`, `duplicate address ${c.text}`);
    noV6(`${p}.cidr`, c.family);
    seen.add(c.text);
    link.addresses.push({ cidr: c.text });
  });
  array(o.routes, `${path}.routes`, LIMITS.routesPerLink).forEach((r, i) => {
    const route = validateRoute(r, `${path}.routes[${i}]`);
    noV6(`${path}.routes[${i}].dst`, route.dst.includes(":") ? 6 : 4);
    link.routes.push(route);
  });
  const ips = new Set<string>();
  array(o.neighbors, `${path}.neighbors`, LIMITS.neighborsPerLink).forEach((n, i) => {
    const p = `${path}.neighbors[${i}]`;
    const no = object(n, p, { required: ["ip", "mac"], strict: true });
    const parsed = ip(no.ip, `${p}.ip`);
    noV6(`${p}.ip`, parsed.family);
    const addr = parsed.text;
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
  try {
    const o = object(v, "snapshot", { required: ["schema", "capturedAt", "links"], strict: true });
    if (o.schema !== SCHEMA) fail("schema", `wants ${JSON.stringify(SCHEMA)}`);
    if (typeof o.capturedAt !== "string" || !TIME.test(o.capturedAt) || Number.isNaN(Date.parse(o.capturedAt))) {
      fail("capturedAt", "wants an RFC 3339 UTC time like 2026-01-01T00:00:00Z");
    }
    const links = array(o.links, "links", LIMITS.links);
    if (links.length === 0) fail("links", "is empty");
    const out: Snapshot = { schema: SCHEMA, capturedAt: o.capturedAt, links: [] };
    const names = new Set<string>(), macs = new Set<string>();
    links.forEach((l, i) => {
      const link = validateLink(l, `links[${i}]`);
      if (names.has(link.name)) fail(`links[${i}].name`, "duplicates another link's name");
      if (macs.has(link.mac)) fail(`links[${i}].mac`, `duplicate MAC ${link.mac}`);
      names.add(link.name);
      macs.add(link.mac);
      out.links.push(link);
    });
    return out;
  } catch (e) {
    if (e instanceof JsonError) throw new SnapshotError(`invalid snapshot: ${e.message}`);
    throw e;
  }
}

/** Parses and validates snapshot text (bounded by `LIMITS.bytes` and in depth). */
export function parseSnapshot(data: string | Uint8Array): Snapshot {
  let v: unknown;
  try {
    v = decodeJson(data, { maxBytes: LIMITS.bytes });
  } catch (e) {
    if (e instanceof JsonError) throw new SnapshotError(`invalid snapshot: ${e.message}`);
    throw e;
  }
  return validateSnapshot(v);
}

/** The snapshot as the JSON text podnet writes (validated first). */
export function formatSnapshot(snap: Snapshot): string {
  return `${JSON.stringify(validateSnapshot(snap), null, 2)}\n`;
}

/** Validates `snap` and writes it to `path` atomically with mode 0600. */
export function writeSnapshot(path: string, snap: Snapshot): void {
  writeFileAtomic(path, formatSnapshot(snap), 0o600);
}
