/**
 * The CNI invocation: environment variables and the network configuration on
 * stdin, decoded (core/json.ts: bounded in size and depth) and validated into
 * plain values. Every rejection is a CniError with the spec's code that names
 * the variable or field and says what is wrong in words; no value from the
 * environment or the config is echoed (it may hold secrets), except a
 * rejected number or a version string. Nothing here touches the kernel.
 *
 * @module
 */

import { CNI_VERSIONS, MTU_MAX, MTU_MIN, VERSION_RE } from "../core/constants.ts";
import { STDIN_LIMIT } from "../core/io.ts";
import { decodeJson, integer, JsonError, object, oneOf, string } from "../core/json.ts";
import { isLevel, type Level } from "../core/log.ts";
import { ALIAS_MAX, aliasOverflow, ID_RE, ifnameProblem } from "../core/names.ts";
import { GATEWAY_MODES, type GatewayMode } from "./attachment.ts";
import { CniError, ERR } from "./errors.ts";
import { type Dns, parseResult, type Result } from "./result.ts";

export type { GatewayMode };

/** CNI_COMMAND values (spec 1.1). */
export type Command = "ADD" | "DEL" | "CHECK" | "VERSION" | "GC" | "STATUS";
const COMMANDS: readonly Command[] = ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"];

/** The CNI_* environment of one invocation. */
export interface CniEnv {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  args: string;
  /** CNI_PATH split on `:`, empty entries dropped, each made absolute once (see `parseEnv`). */
  path: string[];
}

/** One entry of `cni.dev/valid-attachments`. */
export interface Attachment {
  containerID: string;
  ifname: string;
}

/** podnet's network configuration (README, "CNI plugin"). */
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
  /** The raw prevResult object (passed on to IPAM), or null. */
  prevResult: Record<string, unknown> | null;
  /** prevResult parsed (ADD, CHECK: invalid is code 7; DEL: invalid is dropped, see `warnings`). */
  prev: Result | null;
  /** GC only: attachments the runtime still uses. */
  validAttachments: Attachment[] | null;
  /** What the config got wrong that the command can live with (DEL with a garbled prevResult). */
  warnings: string[];
  /** The decoded stdin object, passed on to the IPAM plugin. */
  raw: Record<string, unknown>;
}

function envError(msg: string): CniError {
  return new CniError(ERR.invalidEnv, msg);
}

/**
 * Reads and validates the CNI_* variables that `command` needs. Relative
 * CNI_PATH entries are resolved against the working directory here, once:
 * the plugin found is the plugin executed (plugins run with cwd `/`).
 */
export function parseEnv(get: (k: string) => string | undefined, cwd: () => string = Deno.cwd): CniEnv {
  const command = (get("CNI_COMMAND") ?? "") as Command;
  if (!COMMANDS.includes(command)) throw envError(`CNI_COMMAND is not one of ${COMMANDS.join(", ")}`);
  const containerId = get("CNI_CONTAINERID") ?? "";
  const netns = get("CNI_NETNS") ?? "";
  const ifname = get("CNI_IFNAME") ?? "";
  const entries = (get("CNI_PATH") ?? "").split(":").filter((p) => p !== "");
  const path = entries.some((p) => !p.startsWith("/"))
    ? entries.map((p) => (p.startsWith("/") ? p : `${cwd().replace(/\/+$/, "")}/${p}`))
    : entries;
  const perContainer = command === "ADD" || command === "DEL" || command === "CHECK";
  if (perContainer) {
    if (containerId === "") throw envError("CNI_CONTAINERID is required");
    if (!ID_RE.test(containerId)) throw envError(`CNI_CONTAINERID must match ${ID_RE.source}`);
    if (ifname === "") throw envError("CNI_IFNAME is required");
    const why = ifnameProblem(ifname);
    if (why !== null) throw envError(`CNI_IFNAME is not a valid interface name: it ${why}`);
  }
  if ((command === "ADD" || command === "CHECK") && netns === "") throw envError("CNI_NETNS is required");
  // VERSION/GC/STATUS ignore CNI_NETNS (libcni sends "dummy" with VERSION), so only per-container commands check it.
  if (perContainer && netns !== "" && !netns.startsWith("/")) throw envError("CNI_NETNS must be an absolute path");
  if (command !== "VERSION" && path.length === 0) throw envError("CNI_PATH is required (to find the IPAM plugin)");
  return { command, containerId, netns, ifname, args: get("CNI_ARGS") ?? "", path };
}

/** Decodes stdin into an object (code 6 on malformed, oversized or too deeply nested JSON). */
export function decodeConfig(bytes: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = decodeJson(bytes, { maxBytes: STDIN_LIMIT });
  } catch (e) {
    if (!(e instanceof JsonError)) throw e;
    throw new CniError(ERR.decode, `cannot decode the network configuration on stdin: it ${e.reason}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new CniError(ERR.decode, "the network configuration on stdin must be a JSON object");
  }
  return v as Record<string, unknown>;
}

function optString(o: Record<string, unknown>, key: string): string | null {
  const v = o[key];
  return v === undefined || v === null ? null : string(v, key);
}

function absolutePath(o: Record<string, unknown>, key: string): string | null {
  const v = optString(o, key);
  // Runtimes start plugins in a working directory of their choosing: a relative path lands anywhere.
  if (v !== null && !v.startsWith("/")) throw new JsonError(key, "must be an absolute path");
  if (v !== null && (v.includes("\0") || v.length > 4096)) throw new JsonError(key, "is not a usable path");
  return v;
}

function strings(v: unknown, path: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    throw new JsonError(path, "must be a list of strings");
  }
  return v;
}

function parseDns(v: unknown): Dns | null {
  if (v === undefined || v === null) return null;
  const o = object(v, "dns");
  const d: Dns = {};
  const ns = strings(o.nameservers, "dns.nameservers");
  if (ns?.length) d.nameservers = ns;
  const domain = o.domain === undefined || o.domain === null ? null : string(o.domain, "dns.domain");
  if (domain) d.domain = domain;
  const search = strings(o.search, "dns.search");
  if (search?.length) d.search = search;
  const options = strings(o.options, "dns.options");
  if (options?.length) d.options = options;
  return Object.keys(d).length ? d : null;
}

function parseAttachments(o: Record<string, unknown>): Attachment[] | null {
  const key = o["cni.dev/valid-attachments"] !== undefined ? "cni.dev/valid-attachments" : "cni.dev/attachments";
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v)) throw new JsonError(key, "must be a list");
  return v.map((a, i) => {
    const e = object(a, `${key}[${i}]`, { required: ["containerID", "ifname"] });
    return {
      containerID: string(e.containerID, `${key}[${i}].containerID`),
      ifname: string(e.ifname, `${key}[${i}].ifname`),
    };
  });
}

/** The plugin names podnet will look up in CNI_PATH: a file name, nothing that could climb out. */
const PLUGIN_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function parseFields(raw: Record<string, unknown>, command: Command): NetConf {
  const cniVersion = optString(raw, "cniVersion");
  if (cniVersion === null) throw new JsonError("cniVersion", "is required");
  if (!CNI_VERSIONS.includes(cniVersion)) {
    // A version-shaped value cannot hold a secret: quote it; anything else is described.
    const shown = VERSION_RE.test(cniVersion) ? ` ${cniVersion}` : "";
    throw new CniError(
      ERR.incompatibleVersion,
      `incompatible CNI version${shown}`,
      `podnet supports ${CNI_VERSIONS.join(", ")}`,
    );
  }
  const name = optString(raw, "name");
  if (name === null || !ID_RE.test(name)) throw new JsonError("name", `must be set and match ${ID_RE.source}`);
  const mtu = raw.mtu === undefined || raw.mtu === null ? null : integer(raw.mtu, "mtu", MTU_MIN, MTU_MAX);
  let gatewayMode: GatewayMode = "static-neighbor";
  if (raw.gatewayMode !== undefined && raw.gatewayMode !== null) {
    string(raw.gatewayMode, "gatewayMode"); // not a string: an invalid config (7); another word: unsupported (2)
    try {
      gatewayMode = oneOf(raw.gatewayMode, "gatewayMode", GATEWAY_MODES);
    } catch (e) {
      if (!(e instanceof JsonError)) throw e;
      throw new CniError(ERR.unsupportedField, `unsupported field gatewayMode: it ${e.reason}`);
    }
  }
  const prefix = optString(raw, "hostInterfacePrefix") ?? "pn";
  if (!/^[a-zA-Z0-9_-]{1,7}$/.test(prefix) || ifnameProblem(prefix) !== null) {
    throw new JsonError("hostInterfacePrefix", "must be 1-7 characters of [a-zA-Z0-9_-]");
  }
  const logLevel = raw.logLevel ?? "info";
  if (!isLevel(logLevel)) throw new JsonError("logLevel", "must be debug, info, warn or error");
  let ipamType = "";
  if (command !== "VERSION") {
    if (raw.ipam === undefined || raw.ipam === null) throw new JsonError("ipam", "is required");
    const t = object(raw.ipam, "ipam").type;
    if (typeof t !== "string" || !PLUGIN_RE.test(t)) throw new JsonError("ipam.type", "must name a plugin in CNI_PATH");
    ipamType = t;
  }
  const warnings: string[] = [];
  let prevResult: Record<string, unknown> | null = null, prev: Result | null = null;
  if (raw.prevResult !== undefined && raw.prevResult !== null) {
    try {
      prevResult = object(raw.prevResult, "prevResult");
      prev = parseResult(prevResult, "prevResult", ERR.invalidConfig);
    } catch (e) {
      // DEL must release what it can whatever prevResult holds: it does not need it.
      if (command !== "DEL") throw e;
      warnings.push("prevResult is not a valid CNI result; DEL goes on without it");
      prevResult = null;
    }
  }
  return {
    cniVersion,
    name,
    type: optString(raw, "type") ?? "",
    mtu,
    gatewayMode,
    hostInterfacePrefix: prefix,
    captureDir: absolutePath(raw, "captureDir"),
    logFile: absolutePath(raw, "logFile"),
    logLevel,
    ipamType,
    dns: parseDns(raw.dns),
    prevResult,
    prev,
    validAttachments: command === "GC" ? parseAttachments(raw) : null,
    warnings,
    raw,
  };
}

/** Validates a decoded config for `command` (code 1, 2 or 7). */
export function parseConfig(raw: Record<string, unknown>, command: Command): NetConf {
  try {
    return parseFields(raw, command);
  } catch (e) {
    if (e instanceof JsonError) throw new CniError(ERR.invalidConfig, `invalid network configuration: ${e.message}`);
    throw e;
  }
}

/** Whether the host end's alias (`networkName/containerID/ifname`) fits the kernel's limit. */
export function checkAliasLength(alias: string): void {
  const n = aliasOverflow(alias);
  if (n !== null) {
    throw envError(`network name, CNI_CONTAINERID and CNI_IFNAME together are ${n} bytes; at most ${ALIAS_MAX} fit`);
  }
}
