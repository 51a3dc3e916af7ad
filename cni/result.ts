/**
 * CNI results: one internal shape (the 1.1.0 one) and one converter to every
 * version podnet speaks. Results read from IPAM plugins or from `prevResult`
 * (any 0.3.0+ version) are normalised into the same shape.
 *
 * @module
 */

import { familyOf } from "../core/ip.ts";
import { array, cidr, ip, JsonError, type Obj, object, string } from "../core/json.ts";
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

/** `v[key]` as a list of objects (absent or null: none). */
function objects(o: Obj, key: string): Obj[] {
  const x = o[key];
  if (x === undefined || x === null) return [];
  return array(x, key).map((e, i) => object(e, `${key}[${i}]`));
}

/** An optional IP (absent and "" both mean none), canonical. */
function optionalIp(v: unknown, path: string): string | undefined {
  return v === undefined || v === null || v === "" ? undefined : ip(v, path).text;
}

function parseFields(o: Obj): Result {
  const interfaces = objects(o, "interfaces").map((i, n): ResultInterface => {
    const out: ResultInterface = { name: string(i.name, `interfaces[${n}].name`) };
    if (typeof i.mac === "string") out.mac = i.mac;
    if (typeof i.mtu === "number") out.mtu = i.mtu;
    if (typeof i.sandbox === "string" && i.sandbox !== "") out.sandbox = i.sandbox;
    return out;
  });
  const ips = objects(o, "ips").map((i, n): ResultIp => {
    const out: ResultIp = { address: cidr(i.address, `ips[${n}].address`).text };
    const gateway = optionalIp(i.gateway, `ips[${n}].gateway`);
    if (gateway !== undefined) out.gateway = gateway;
    if (typeof i.interface === "number") out.interface = i.interface;
    return out;
  });
  const routes = objects(o, "routes").map((r, n): ResultRoute => {
    const out: ResultRoute = { dst: cidr(r.dst, `routes[${n}].dst`).text };
    const gw = optionalIp(r.gw, `routes[${n}].gw`);
    if (gw !== undefined) out.gw = gw;
    return out;
  });
  const dns = typeof o.dns === "object" && o.dns !== null && !Array.isArray(o.dns) ? o.dns as Dns : {};
  return { cniVersion: typeof o.cniVersion === "string" ? o.cniVersion : "", interfaces, ips, routes, dns };
}

/**
 * Normalises a result object of version 0.3.0 or later (`ips[].version` is
 * dropped; the family follows from the address), with the field readers of
 * core/json.ts. `what` names the source in errors (`IPAM plugin host-local's
 * result`, `prevResult`), which name the field and never quote its value;
 * `code` is theirs (7 for a config's prevResult, 999 for a plugin's answer).
 */
export function parseResult(v: unknown, what: string, code: number = ERR.internal): Result {
  try {
    return parseFields(object(v, ""));
  } catch (e) {
    if (e instanceof JsonError) throw new CniError(code, `${what} is not a valid CNI result: ${e.message}`);
    throw e;
  }
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
      const out: Record<string, unknown> = v1 ? {} : { version: String(familyOf(ip.address)) };
      if (ip.interface !== undefined) out.interface = ip.interface;
      out.address = ip.address;
      if (ip.gateway !== undefined) out.gateway = ip.gateway;
      return out;
    }),
    routes: r.routes.map((rt) => (rt.gw !== undefined ? { dst: rt.dst, gw: rt.gw } : { dst: rt.dst })),
    dns: r.dns,
  };
}
