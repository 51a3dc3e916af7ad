/**
 * Pure address helpers: IPv4/IPv6/CIDR/MAC parsing and canonical formatting
 * (RFC 5952 for IPv6, lowercase colon-separated MACs), as `ip` prints them.
 *
 * @module
 */

/** 4 for IPv4, 6 for IPv6. */
export type Family = 4 | 6;

/** A parsed IP address. */
export interface IpBytes {
  family: Family;
  bytes: Uint8Array<ArrayBuffer>;
}

/** A parsed CIDR: address bytes and prefix length. */
export interface Cidr extends IpBytes {
  prefix: number;
}

function parseV4(s: string): Uint8Array<ArrayBuffer> | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array<ArrayBuffer> | null {
  if (s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let tail4: Uint8Array | null = null;
  let str = s;
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".")) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (tail4 === null) return null;
    str = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = str.split("::");
  if (halves.length > 2) return null;
  const parseGroups = (h: string): number[] | null => {
    if (h === "") return [];
    const gs = h.split(":");
    const out: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  const rest = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (head === null || rest === null) return null;
  let groups: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - rest.length;
    if (fill < 1) return null;
    groups = [...head, ...new Array<number>(fill).fill(0), ...rest];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return null;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (tail4 !== null) out.set(tail4, 12);
  return out;
}

/** Parses an IPv4 or IPv6 address; returns null when it is not one. */
export function parseIp(s: string): IpBytes | null {
  if (typeof s !== "string") return null;
  const v4 = parseV4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = s.includes(":") ? parseV6(s) : null;
  return v6 ? { family: 6, bytes: v6 } : null;
}

/** Parses `addr/prefix` (a bare address gets the full-length prefix). */
export function parseCidr(s: string): Cidr | null {
  if (typeof s !== "string") return null;
  const slash = s.indexOf("/");
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (!ip) return null;
  const max = ip.family === 4 ? 32 : 128;
  if (slash < 0) return { ...ip, prefix: max };
  const p = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) return null;
  return { ...ip, prefix: Number(p) };
}

/** 4 or 6 for an address or CIDR string; 4 when it is neither (callers pass validated text). */
export function familyOf(cidrOrIp: string): Family {
  return parseCidr(cidrOrIp)?.family ?? 4;
}

/** The address of `addr/prefix` (`10.0.0.5/24` → `10.0.0.5`); an address without a prefix as it is. */
export function addressOf(cidr: string): string {
  const slash = cidr.indexOf("/");
  return slash < 0 ? cidr : cidr.slice(0, slash);
}

/** Whether `cidr` is a host prefix, `/32` or `/128` (one address). */
export function isHostPrefix(cidr: string): boolean {
  const c = cidr.includes("/") ? parseCidr(cidr) : null;
  return c !== null && c.prefix === (c.family === 4 ? 32 : 128);
}

/** Whether an address (or the address of a CIDR) is link-local: 169.254.0.0/16 or fe80::/10. */
export function isLinkLocal(cidrOrIp: string): boolean {
  const c = parseCidr(cidrOrIp);
  if (c === null) return false;
  return c.family === 4
    ? c.bytes[0] === 169 && c.bytes[1] === 254
    : c.bytes[0] === 0xfe && (c.bytes[1]! & 0xc0) === 0x80;
}

/** Formats address bytes (4 or 16) canonically. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`not an IP address: ${bytes.length} bytes`);
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // RFC 5952: compress the longest run (>= 2) of zero groups, first one on ties.
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(":");
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

/** Formats a CIDR string from bytes and prefix. */
export function formatCidr(bytes: Uint8Array, prefix: number): string {
  return `${formatIp(bytes)}/${prefix}`;
}

/** Canonical form of an address string (`FD00::0001` → `fd00::1`), or null. */
export function canonicalIp(s: string): string | null {
  const ip = parseIp(s);
  return ip ? formatIp(ip.bytes) : null;
}

/** Canonical form of a CIDR string, host bits kept (`10.0.0.5/24`), or null. */
export function canonicalCidr(s: string): string | null {
  const c = parseCidr(s);
  return c ? formatCidr(c.bytes, c.prefix) : null;
}

/** The network of a CIDR with host bits cleared (`10.0.0.5/24` → `10.0.0.0/24`). */
export function networkOf(c: Cidr): Cidr {
  const bytes = new Uint8Array(c.bytes);
  for (let bit = c.prefix; bit < bytes.length * 8; bit++) {
    bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  }
  return { family: c.family, bytes, prefix: c.prefix };
}

/** Whether `ip` lies inside `net`. */
export function cidrContains(net: Cidr, ip: IpBytes): boolean {
  if (net.family !== ip.family) return false;
  const a = networkOf(net), b = networkOf({ ...ip, prefix: net.prefix });
  return a.bytes.every((x, i) => x === b.bytes[i]);
}

/** Parses `aa:bb:cc:dd:ee:ff` (any case); returns null when malformed. */
export function parseMac(s: string): Uint8Array<ArrayBuffer> | null {
  if (typeof s !== "string" || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) return null;
  return new Uint8Array(s.split(":").map((h) => parseInt(h, 16)));
}

/** Formats link-layer address bytes as lowercase `aa:bb:…`. */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}
