/**
 * Names for rtnetlink scopes, route protocols and route types, as iproute2
 * prints them. Pure tables.
 *
 * @module
 */

/** Address/route scope. */
export type Scope = "universe" | "site" | "link" | "host" | "nowhere" | number;

const SCOPES: Record<string, number> = { universe: 0, site: 200, link: 253, host: 254, nowhere: 255 };

/** Scope number → name (unknown numbers stay numbers). */
const SCOPE_NAMES = invert<Scope>(SCOPES);

/** Builds number → name once; dumps call the lookups per object. */
function invert<T>(table: Record<string, number>): Map<number, T> {
  return new Map(Object.entries(table).map(([k, v]) => [v, k as T]));
}

export function scopeName(n: number): Scope {
  return SCOPE_NAMES.get(n) ?? n;
}

/** Scope name or number → number. */
export function scopeNumber(s: Scope): number {
  return typeof s === "number" ? s : SCOPES[s]!;
}

/** Route protocol (who installed it). */
export type Protocol = "unspec" | "redirect" | "kernel" | "boot" | "static" | "ra" | "dhcp" | number;

const PROTOCOLS: Record<string, number> = { unspec: 0, redirect: 1, kernel: 2, boot: 3, static: 4, ra: 9, dhcp: 16 };

const PROTOCOL_NAMES = invert<Protocol>(PROTOCOLS);

export function protocolName(n: number): Protocol {
  return PROTOCOL_NAMES.get(n) ?? n;
}

export function protocolNumber(p: Protocol): number {
  return typeof p === "number" ? p : PROTOCOLS[p]!;
}

/** Route type. */
export type RouteType =
  | "unicast"
  | "local"
  | "broadcast"
  | "anycast"
  | "multicast"
  | "blackhole"
  | "unreachable"
  | "prohibit"
  | "throw"
  | number;

const TYPES: Record<string, number> = {
  unicast: 1,
  local: 2,
  broadcast: 3,
  anycast: 4,
  multicast: 5,
  blackhole: 6,
  unreachable: 7,
  prohibit: 8,
  throw: 9,
};

const TYPE_NAMES = invert<RouteType>(TYPES);

export function routeTypeName(n: number): RouteType {
  return TYPE_NAMES.get(n) ?? n;
}

export function routeTypeNumber(t: RouteType): number {
  return typeof t === "number" ? t : TYPES[t]!;
}
