/**
 * Shared plumbing for the typed verbs: nl_addr conversion and cache dumps.
 * Internal to the netlink layer.
 *
 * @module
 */

import { libnl, libnlCache, NLE_DUMP_INTR } from "../ffi/libnl.ts";
import { AF_INET, AF_INET6 } from "../ffi/libc.ts";
import {
  check,
  DUMP_BUDGET_MS,
  invalidInput,
  NetlinkError,
  outOfMemory,
  resetKernelErrno,
  retryTransient,
  takeDumpInterrupted,
} from "./errors.ts";
import { type Cidr, type Family, formatIp, formatMac, type IpBytes, parseCidr, parseIp, parseMac } from "../core/ip.ts";
import type { Socket } from "./socket.ts";

export type Ptr = Deno.PointerObject;

export function afOf(family: Family): number {
  return family === 4 ? AF_INET : AF_INET6;
}

export function familyOf(af: number): Family | null {
  return af === AF_INET ? 4 : af === AF_INET6 ? 6 : null;
}

/** Builds an nl_addr; the caller owns the reference (`nl_addr_put`). */
export function buildAddr(ip: IpBytes, prefix?: number): Ptr {
  const p = libnl.symbols.nl_addr_build(afOf(ip.family), ip.bytes, BigInt(ip.bytes.length));
  if (p === null) throw outOfMemory("nl_addr_build");
  libnl.symbols.nl_addr_set_prefixlen(p, prefix ?? ip.bytes.length * 8);
  return p;
}

/** Builds an nl_addr holding a MAC. */
export function buildMac(mac: string, what: string): Ptr {
  const bytes = parseMac(mac);
  if (!bytes) throw invalidInput(what, `invalid MAC address "${mac}"`);
  const p = libnl.symbols.nl_addr_build(0, bytes, BigInt(bytes.length));
  if (p === null) throw outOfMemory("nl_addr_build");
  return p;
}

/** Parses an IP or throws a NetlinkError naming `what`. */
export function ipOrThrow(s: string, what: string): IpBytes {
  const ip = parseIp(s);
  if (!ip) throw invalidInput(what, `invalid IP address "${s}"`);
  return ip;
}

/** Parses a CIDR or throws a NetlinkError naming `what`. */
export function cidrOrThrow(s: string, what: string): Cidr {
  const c = parseCidr(s);
  if (!c) throw invalidInput(what, `invalid CIDR "${s}"`);
  return c;
}

function addrBytes(p: Ptr): Uint8Array {
  const n = libnl.symbols.nl_addr_get_len(p);
  const data = libnl.symbols.nl_addr_get_binary_addr(p);
  const out = new Uint8Array(n <= 16 ? n : 0);
  if (out.length === 0 || data === null) return out;
  // Byte reads through one view beat creating an ArrayBuffer per address (hot in dumps).
  const view = new Deno.UnsafePointerView(data);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint8(i);
  return out;
}

/** Reads an nl_addr (borrowed) as an IP string, or null when empty. */
export function readIp(p: Deno.PointerValue): string | null {
  if (p === null) return null;
  const b = addrBytes(p);
  return b.length === 4 || b.length === 16 ? formatIp(b) : null;
}

/**
 * Reads an nl_addr as a CIDR. Routes without RTA_DST carry an empty address
 * (the default route); it is formatted as the family's all-zero address.
 */
export function readCidr(p: Deno.PointerValue, family: Family): string | null {
  if (p === null) return null;
  let b = addrBytes(p);
  if (b.length === 0) b = new Uint8Array(family === 4 ? 4 : 16);
  if (b.length !== 4 && b.length !== 16) return null;
  return `${formatIp(b)}/${libnl.symbols.nl_addr_get_prefixlen(p)}`;
}

/** Reads an nl_addr as a MAC, or null when absent/empty. */
export function readMac(p: Deno.PointerValue): string | null {
  if (p === null) return null;
  const b = addrBytes(p);
  return b.length === 0 ? null : formatMac(b);
}

/** Reads a C string, or null. */
export function readStr(p: Deno.PointerValue): string | null {
  return p === null ? null : Deno.UnsafePointerView.getCString(p);
}

/** An out-parameter slot for `T **`. */
export function outSlot(): BigUint64Array<ArrayBuffer> {
  return new BigUint64Array(1);
}

/** Reads the pointer a C function stored in `slot`. */
export function fromSlot(slot: BigUint64Array): Ptr | null {
  return Deno.UnsafePointer.create(slot[0]!);
}

/**
 * Dumps a cache with `alloc`, maps each object to a plain value (null skips
 * it) and frees the cache. An interrupted (or otherwise transiently failed)
 * dump is thrown away and retried with backoff for up to `budgetMs`
 * (`DUMP_BUDGET_MS`): a dump comes back whole or not at all.
 */
export function dump<T>(
  sock: Socket,
  action: string,
  alloc: (sk: Ptr, slot: BigUint64Array<ArrayBuffer>) => number,
  map: (obj: Ptr) => T | null,
  budgetMs: number = DUMP_BUDGET_MS,
): T[] {
  return retryTransient(() => dumpOnce(sock, action, alloc, map), { budgetMs });
}

function dumpOnce<T>(
  sock: Socket,
  action: string,
  alloc: (sk: Ptr, slot: BigUint64Array<ArrayBuffer>) => number,
  map: (obj: Ptr) => T | null,
): T[] {
  const slot = outSlot();
  resetKernelErrno();
  takeDumpInterrupted();
  check(alloc(sock.ptr, slot), action);
  const cache = fromSlot(slot);
  if (cache === null) return [];
  const s = libnlCache.symbols;
  try {
    if (takeDumpInterrupted()) throw new NetlinkError(action, NLE_DUMP_INTR, 0, "dump interrupted (NLE 33)");
    const out: T[] = [];
    for (let o = s.nl_cache_get_first(cache); o !== null; o = s.nl_cache_get_next(o)) {
      const v = map(o);
      if (v !== null) out.push(v);
    }
    return out;
  } finally {
    s.nl_cache_free(cache);
  }
}

/** Runs a mutating libnl request and checks its result. */
export function request(action: string, fn: () => number): void {
  retryTransient(() => {
    resetKernelErrno();
    return check(fn(), action);
  });
}
