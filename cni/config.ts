/**
 * The CNI invocation: environment variables and the network configuration on
 * stdin, parsed and validated into plain values. Every rejection is a
 * CniError with the spec's code; nothing here touches the kernel.
 *
 * @module
 */

import { ID_RE } from "../core/names.ts";
import { isLevel, type Level } from "../core/log.ts";
import { CNI_VERSIONS } from "../core/constants.ts";
import { validIfname } from "../netlink/link.ts";
import { CniError, ERR } from "./errors.ts";

/** CNI_COMMAND values (spec 1.1). */
export type Command = "ADD" | "DEL" | "CHECK" | "VERSION" | "GC" | "STATUS";
const COMMANDS: readonly Command[] = ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"];

/** How the pod reaches its link-local gateway (see DESIGN.md). */
export type GatewayMode = "static-neighbor" | "proxy-arp";

/** The CNI_* environment of one invocation. */
export interface CniEnv {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  args: string;
  /** CNI_PATH split on `:`, empty entries dropped. */
  path: string[];
}

/** DNS settings as in a CNI result. */
export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** One entry of `cni.dev/valid-attachments`. */
export interface Attachment {
  containerID: string;
  ifname: string;
}

/** podnet's network configuration (DESIGN.md "CNI plugin contract"). */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  mtu: number | null;
  gatewayMode: GatewayMode;
  hostInterfacePrefix: string;
  captureDir: string | null;
  logFile: string | null;
  logLevel: Level;
  /** `ipam.type`; the rest of `ipam` is the IPAM plugin's business. */
  ipamType: string;
  dns: Dns | null;
  prevResult: Record<string, unknown> | null;
  /** GC only: attachments the runtime still uses. */
  validAttachments: Attachment[] | null;
  /** The decoded stdin object, passed on to the IPAM plugin. */
  raw: Record<string, unknown>;
}

/** CNI container IDs (spec: "Container ID"). Network names follow the same rule. */

/** Kernel limit on IFLA_IFALIAS is 256 bytes with the NUL. */
const ALIAS_MAX = 255;

/** `1.0.0` → comparable number; null when malformed. */
export function versionNumber(v: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v);
  return m ? Number(m[1]) * 1e6 + Number(m[2]) * 1e3 + Number(m[3]) : null;
}

/** Whether version `a` is at least `b`. */
export function versionAtLeast(a: string, b: string): boolean {
  return (versionNumber(a) ?? -1) >= (versionNumber(b) ?? Infinity);
}

/**
 * A rejected value as an error message shows it: short (a 1 MiB field must not
 * become a 1 MiB message) and never a nested part of the config, which may hold
 * secrets (DESIGN.md: the raw config is never echoed).
 */
function shown(v: unknown): string {
  if (typeof v === "object" && v !== null) return Array.isArray(v) ? "a list" : "an object";
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 64 ? `${s.slice(0, 60)}…` : s;
}

function envError(msg: string): CniError {
  return new CniError(ERR.invalidEnv, msg);
}

/** Reads and validates the CNI_* variables that `command` needs. */
export function parseEnv(get: (k: string) => string | undefined): CniEnv {
  const raw = get("CNI_COMMAND") ?? "";
  const command = raw as Command;
  if (!COMMANDS.includes(command)) {
    throw envError(`CNI_COMMAND ${shown(raw)} is not one of ${COMMANDS.join(", ")}`);
  }
  const containerId = get("CNI_CONTAINERID") ?? "";
  const netns = get("CNI_NETNS") ?? "";
  const ifname = get("CNI_IFNAME") ?? "";
  const path = (get("CNI_PATH") ?? "").split(":").filter((p) => p !== "");
  const perContainer = command === "ADD" || command === "DEL" || command === "CHECK";
  if (perContainer) {
    if (containerId === "") throw envError("CNI_CONTAINERID is required");
    if (!ID_RE.test(containerId)) {
      throw envError(`CNI_CONTAINERID ${shown(containerId)} must match ${ID_RE.source}`);
    }
    if (ifname === "") throw envError("CNI_IFNAME is required");
    if (!validIfname(ifname)) {
      throw envError(
        `CNI_IFNAME ${
          shown(ifname)
        } is not a valid interface name (1-15 bytes, no "/", ":" or whitespace, not "." or "..")`,
      );
    }
  }
  if ((command === "ADD" || command === "CHECK") && netns === "") throw envError("CNI_NETNS is required");
  // VERSION/GC/STATUS ignore CNI_NETNS (libcni sends "dummy" with VERSION), so only per-container commands check it.
  if (perContainer && netns !== "" && !netns.startsWith("/")) {
    throw envError(`CNI_NETNS ${shown(netns)} must be an absolute path`);
  }
  if (command !== "VERSION" && path.length === 0) throw envError("CNI_PATH is required (to find the IPAM plugin)");
  return { command, containerId, netns, ifname, args: get("CNI_ARGS") ?? "", path };
}

function configError(msg: string): CniError {
  return new CniError(ERR.invalidConfig, msg);
}

function optString(o: Record<string, unknown>, key: string): string | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw configError(`${key} must be a string`);
  return v;
}

function strArray(v: unknown, key: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    throw configError(`${key} must be a list of strings`);
  }
  return v;
}

function parseDns(v: unknown): Dns | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) throw configError("dns must be an object");
  const o = v as Record<string, unknown>;
  const d: Dns = {};
  const ns = strArray(o.nameservers, "dns.nameservers");
  if (ns?.length) d.nameservers = ns;
  const domain = optString(o, "domain");
  if (domain) d.domain = domain;
  const search = strArray(o.search, "dns.search");
  if (search?.length) d.search = search;
  const options = strArray(o.options, "dns.options");
  if (options?.length) d.options = options;
  return Object.keys(d).length ? d : null;
}

function parseAttachments(o: Record<string, unknown>): Attachment[] | null {
  const v = o["cni.dev/valid-attachments"] ?? o["cni.dev/attachments"];
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v)) throw configError("cni.dev/valid-attachments must be a list");
  return v.map((a, i) => {
    const e = a as Record<string, unknown> | null;
    if (typeof e !== "object" || e === null || typeof e.containerID !== "string" || typeof e.ifname !== "string") {
      throw configError(`cni.dev/valid-attachments[${i}] must have string containerID and ifname`);
    }
    return { containerID: e.containerID, ifname: e.ifname };
  });
}

/** Decodes stdin into an object (code 6 on malformed JSON). */
export function decodeConfig(bytes: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    // The message says where parsing failed, never what the config holds (it may hold secrets).
    const why = e instanceof SyntaxError ? e.message.replace(/"[^"]*"/g, "…").slice(0, 120) : "not UTF-8";
    throw new CniError(ERR.decode, "cannot decode the network configuration on stdin", why);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new CniError(ERR.decode, "the network configuration on stdin must be a JSON object");
  }
  return v as Record<string, unknown>;
}

/** Validates a decoded config for `command`. */
export function parseConfig(raw: Record<string, unknown>, command: Command): NetConf {
  const cniVersion = optString(raw, "cniVersion");
  if (cniVersion === null) throw configError("cniVersion is required");
  if (!CNI_VERSIONS.includes(cniVersion)) {
    throw new CniError(
      ERR.incompatibleVersion,
      `incompatible CNI version ${shown(cniVersion)}`,
      `podnet supports ${CNI_VERSIONS.join(", ")}`,
    );
  }
  const name = optString(raw, "name");
  if (name === null || !ID_RE.test(name)) throw configError(`name must be set and match ${ID_RE.source}`);
  const type = optString(raw, "type") ?? "";
  let mtu: number | null = null;
  if (raw.mtu !== undefined && raw.mtu !== null) {
    if (!Number.isInteger(raw.mtu) || (raw.mtu as number) < 68 || (raw.mtu as number) > 65535) {
      throw configError(`mtu must be a whole number from 68 to 65535, got ${shown(raw.mtu)}`);
    }
    mtu = raw.mtu as number;
  }
  const gm = optString(raw, "gatewayMode") ?? "static-neighbor";
  if (gm !== "static-neighbor" && gm !== "proxy-arp") {
    throw new CniError(
      ERR.unsupportedField,
      `unsupported field gatewayMode=${shown(gm)}`,
      `gatewayMode must be "static-neighbor" or "proxy-arp"`,
    );
  }
  const prefix = optString(raw, "hostInterfacePrefix") ?? "pn";
  if (!/^[a-zA-Z0-9_-]{1,7}$/.test(prefix)) {
    throw configError(`hostInterfacePrefix must be 1-7 characters of [a-zA-Z0-9_-], got ${shown(prefix)}`);
  }
  const logFile = optString(raw, "logFile");
  if (logFile !== null && !logFile.startsWith("/")) throw configError("logFile must be an absolute path");
  // Runtimes start plugins in a working directory of their choosing: a relative path lands anywhere.
  const captureDir = optString(raw, "captureDir");
  if (captureDir !== null && !captureDir.startsWith("/")) throw configError("captureDir must be an absolute path");
  const logLevel = raw.logLevel ?? "info";
  if (!isLevel(logLevel)) throw configError(`logLevel must be debug, info, warn or error`);
  const ipam = raw.ipam;
  let ipamType = "";
  if (command !== "VERSION") {
    if (typeof ipam !== "object" || ipam === null || Array.isArray(ipam)) throw configError("ipam is required");
    const t = (ipam as Record<string, unknown>).type;
    if (typeof t !== "string" || t === "" || t.includes("/") || t === "." || t === "..") {
      throw configError("ipam.type must name a plugin in CNI_PATH");
    }
    ipamType = t;
  }
  const prev = raw.prevResult;
  if (prev !== undefined && prev !== null && (typeof prev !== "object" || Array.isArray(prev))) {
    throw configError("prevResult must be an object");
  }
  return {
    cniVersion,
    name,
    type,
    mtu,
    gatewayMode: gm,
    hostInterfacePrefix: prefix,
    captureDir,
    logFile,
    logLevel,
    ipamType,
    dns: parseDns(raw.dns),
    prevResult: (prev ?? null) as Record<string, unknown> | null,
    validAttachments: command === "GC" ? parseAttachments(raw) : null,
    raw,
  };
}

/** Whether the host end's alias (`hostAlias`: `networkName/containerID/ifname`) fits the kernel's limit. */
export function checkAliasLength(alias: string): void {
  const n = new TextEncoder().encode(alias).length;
  if (n > ALIAS_MAX) {
    throw envError(`network name, CNI_CONTAINERID and CNI_IFNAME together are ${n} bytes; at most ${ALIAS_MAX} fit`);
  }
}
