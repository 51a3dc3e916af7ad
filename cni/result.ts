/**
 * CNI results: one internal shape (the 1.1.0 one) and one converter to every
 * version podnet speaks. Results read from IPAM plugins or from `prevResult`
 * (any 0.3.0+ version) are normalised into the same shape.
 *
 * @module
 */

import { canonicalCidr, canonicalIp, parseCidr } from "../core/ip.ts";
import { versionAtLeast } from "./versions.ts";
import { CniError, ERR } from "./errors.ts";

/** DNS settings as in a CNI result. */
export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** `interfaces[]` entry. */
export interface ResultInterface {
  name: string;
  mac?: string;
  /** 1.1.0+. */
  mtu?: number;
  /** Netns path; set only for interfaces inside the container. */
  sandbox?: string;
}

/** `ips[]` entry; `interface` indexes `interfaces`. */
export interface ResultIp {
  address: string;
  gateway?: string;
  interface?: number;
}

/** `routes[]` entry. */
export interface ResultRoute {
  dst: string;
  gw?: string;
}

/** A CNI result in podnet's internal (1.1.0) shape. */
export interface Result {
  cniVersion: string;
  interfaces: ResultInterface[];
  ips: ResultIp[];
  routes: ResultRoute[];
  dns: Dns;
}

function badResult(what: string, msg: string, code: number): CniError {
  return new CniError(code, `${what} is not a valid CNI result: ${msg}`);
}

/**
 * Normalises a result object of version 0.3.0 or later (`ips[].version` is
 * dropped; the family follows from the address). `what` names the source in
 * errors (`IPAM plugin host-local's result`, `prevResult`), which name the
 * field and never quote its value; `code` is theirs (7 for a config's
 * prevResult, 999 for a plugin's answer).
 */
export function parseResult(v: unknown, what: string, code: number = ERR.internal): Result {
  const bad = (w: string, msg: string): CniError => badResult(w, msg, code);
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(what, "not an object");
  const o = v as Record<string, unknown>;
  const list = (k: string): Record<string, unknown>[] => {
    const x = o[k];
    if (x === undefined || x === null) return [];
    if (!Array.isArray(x) || !x.every((e) => typeof e === "object" && e !== null)) {
      throw bad(what, `${k} is not a list`);
    }
    return x as Record<string, unknown>[];
  };
  const interfaces = list("interfaces").map((i, n): ResultInterface => {
    if (typeof i.name !== "string") throw bad(what, `interfaces[${n}].name is missing`);
    const out: ResultInterface = { name: i.name };
    if (typeof i.mac === "string") out.mac = i.mac;
    if (typeof i.mtu === "number") out.mtu = i.mtu;
    if (typeof i.sandbox === "string" && i.sandbox !== "") out.sandbox = i.sandbox;
    return out;
  });
  const cidr = (v: unknown, where: string): string => {
    const c = typeof v === "string" ? canonicalCidr(v) : null;
    if (c === null) throw bad(what, `${where} is not a CIDR`);
    return c;
  };
  // Absent and "" both mean no gateway.
  const optionalIp = (v: unknown, where: string): string | undefined => {
    if (typeof v !== "string" || v === "") return undefined;
    const ip = canonicalIp(v);
    if (ip === null) throw bad(what, `${where} is not an IP address`);
    return ip;
  };
  const ips = list("ips").map((i, n): ResultIp => {
    const out: ResultIp = { address: cidr(i.address, `ips[${n}].address`) };
    const gateway = optionalIp(i.gateway, `ips[${n}].gateway`);
    if (gateway !== undefined) out.gateway = gateway;
    if (typeof i.interface === "number") out.interface = i.interface;
    return out;
  });
  const routes = list("routes").map((r, n): ResultRoute => {
    const out: ResultRoute = { dst: cidr(r.dst, `routes[${n}].dst`) };
    const gw = optionalIp(r.gw, `routes[${n}].gw`);
    if (gw !== undefined) out.gw = gw;
    return out;
  });
  const dns = typeof o.dns === "object" && o.dns !== null ? o.dns as Dns : {};
  return { cniVersion: typeof o.cniVersion === "string" ? o.cniVersion : "", interfaces, ips, routes, dns };
}

/** 4 or 6 for a CIDR string (already validated). */
export function familyOfCidr(cidr: string): 4 | 6 {
  return parseCidr(cidr)?.family ?? 4;
}

/**
 * The result as `cniVersion` expects it: `ips[].version` before 1.0.0,
 * `interfaces[].mtu` only from 1.1.0. Interfaces, ips, routes and dns are
 * always present (empty when unused), as libcni's Go types marshal them.
 */
export function formatResult(r: Result, cniVersion: string): Record<string, unknown> {
  const v1 = versionAtLeast(cniVersion, "1.0.0");
  const v11 = versionAtLeast(cniVersion, "1.1.0");
  return {
    cniVersion,
    interfaces: r.interfaces.map((i) => {
      const out: Record<string, unknown> = { name: i.name };
      if (i.mac !== undefined) out.mac = i.mac;
      if (v11 && i.mtu !== undefined) out.mtu = i.mtu;
      if (i.sandbox !== undefined) out.sandbox = i.sandbox;
      return out;
    }),
    ips: r.ips.map((ip) => {
      const out: Record<string, unknown> = v1 ? {} : { version: String(familyOfCidr(ip.address)) };
      if (ip.interface !== undefined) out.interface = ip.interface;
      out.address = ip.address;
      if (ip.gateway !== undefined) out.gateway = ip.gateway;
      return out;
    }),
    routes: r.routes.map((rt) => (rt.gw !== undefined ? { dst: rt.dst, gw: rt.gw } : { dst: rt.dst })),
    dns: r.dns,
  };
}
