/**
 * The one JSON decoder and the field readers every validator is built from
 * (the CNI config, CNI results, the OCI hook state, snapshots).
 *
 * Input from outside is bounded before it is parsed (size, then nesting
 * depth: V8's recursive parser runs out of stack on ~10k levels), and no
 * error ever carries text from the input: a field is named by its path
 * (`links[0].routes[2].gateway`) and the problem said in words. Only what
 * cannot hold a secret is quoted: a rejected number, or a value that must be
 * one of a closed set of words. JSON's own syntax errors are reduced to the
 * byte offset V8 gives (its message quotes the input around the error).
 *
 * @module
 */

import { type Cidr, type Family, formatCidr, formatIp, parseCidr, parseIp, parseMac } from "./ip.ts";

/** A document or field that is not what it must be; `path` names the field ("" for the document). */
export class JsonError extends Error {
  override readonly name = "JsonError";
  readonly path: string;
  readonly reason: string;

  constructor(path: string, reason: string) {
    super(path === "" ? reason : `${path}: ${reason}`);
    this.path = path;
    this.reason = reason;
  }
}

/** Nesting deeper than this is refused before parsing (a CNI config is ~6 deep, a snapshot 5). */
export const MAX_DEPTH = 64;

/** Bounds of `decodeJson`. */
export interface DecodeLimits {
  /** Largest input in bytes. */
  maxBytes: number;
  /** Deepest nesting of arrays and objects; default `MAX_DEPTH`. */
  maxDepth?: number;
}

/** The deepest nesting of `[`/`{` in JSON text, outside strings; stops counting past `limit`. */
function depthOf(text: string, limit: number): number {
  let depth = 0, max = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * Decodes UTF-8 JSON text, refusing input larger than `maxBytes` or nested
 * deeper than `maxDepth` before it is parsed. Throws `JsonError` (path "").
 */
export function decodeJson(data: Uint8Array | string, limits: DecodeLimits): unknown {
  const size = typeof data === "string" ? new TextEncoder().encode(data).length : data.length;
  if (size > limits.maxBytes) throw new JsonError("", `is ${size} bytes, more than the limit of ${limits.maxBytes}`);
  let text: string;
  try {
    text = typeof data === "string" ? data : new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    throw new JsonError("", "is not UTF-8");
  }
  const maxDepth = limits.maxDepth ?? MAX_DEPTH;
  if (depthOf(text, maxDepth) > maxDepth) throw new JsonError("", `is nested deeper than ${maxDepth} levels`);
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = e instanceof SyntaxError ? /position (\d+)/.exec(e.message)?.[1] : undefined;
    throw new JsonError("", `is not valid JSON${at !== undefined ? ` (error at offset ${at})` : ""}`);
  }
}

/** What a value read from JSON is, in words (never the value itself). */
export function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return "a string";
  if (typeof v === "number") return "a number";
  if (typeof v === "boolean") return "true or false";
  return typeof v;
}

/** A JSON object. */
export type Obj = Record<string, unknown>;

/** Options of `object`. */
export interface ObjectRules {
  /** Fields that must be present. */
  required?: readonly string[];
  /** Fields that may be present; with `strict`, any other field is refused. */
  optional?: readonly string[];
  /** Refuse fields that are neither required nor optional (never naming them: a key is input too). */
  strict?: boolean;
}

/** `v` as an object, checked against `rules`. */
export function object(v: unknown, path: string, rules: ObjectRules = {}): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new JsonError(path, `wants an object, got ${kindOf(v)}`);
  }
  const o = v as Obj;
  const required = rules.required ?? [];
  if (rules.strict) {
    const known = new Set([...required, ...(rules.optional ?? [])]);
    const unknown = Object.keys(o).filter((k) => !known.has(k)).length;
    if (unknown > 0) {
      throw new JsonError(path, `has ${unknown} unknown field(s); allowed: ${[...known].join(", ")}`);
    }
  }
  for (const k of required) if (!Object.hasOwn(o, k)) throw new JsonError(join(path, k), "is missing");
  return o;
}

/** `v` as a list of at most `max` entries. */
export function array(v: unknown, path: string, max = Infinity): unknown[] {
  if (!Array.isArray(v)) throw new JsonError(path, `wants a list, got ${kindOf(v)}`);
  if (v.length > max) throw new JsonError(path, `has ${v.length} entries, more than the limit of ${max}`);
  return v;
}

/** `v` as a string (of at most `maxLength` UTF-16 units when given). */
export function string(v: unknown, path: string, maxLength = Infinity): string {
  if (typeof v !== "string") throw new JsonError(path, `wants a string, got ${kindOf(v)}`);
  if (v.length > maxLength) throw new JsonError(path, `is longer than ${maxLength} characters`);
  return v;
}

/** `v` as one of `words`; the refused value is quoted only when it is short and plain. */
export function oneOf<const W extends string>(v: unknown, path: string, words: readonly W[]): W {
  if (typeof v === "string" && (words as readonly string[]).includes(v)) return v as W;
  throw new JsonError(path, `wants one of ${words.map((w) => JSON.stringify(w)).join(", ")}, got ${kindOf(v)}`);
}

/** `v` as true or false. */
export function boolean(v: unknown, path: string): boolean {
  if (typeof v !== "boolean") throw new JsonError(path, `wants true or false, got ${kindOf(v)}`);
  return v;
}

/** `v` as a whole number in `min..max` (a rejected number is quoted: it cannot hold a secret). */
export function integer(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new JsonError(path, `wants a whole number, got ${kindOf(v)}`);
  }
  if (v < min) throw new JsonError(path, `${v} is below ${min}`);
  if (v > max) throw new JsonError(path, `${v} is above ${max}`);
  return v;
}

/** `v` as an IP address in canonical form (RFC 5952 for IPv6). */
export function ip(v: unknown, path: string): { text: string; family: Family } {
  const p = typeof v === "string" ? parseIp(v) : null;
  if (p === null) {
    throw new JsonError(path, typeof v === "string" ? "is not an IP address" : `wants an IP address, got ${kindOf(v)}`);
  }
  return { text: formatIp(p.bytes), family: p.family };
}

/** `v` as `address/prefix` (host bits kept) in canonical form. */
export function cidr(v: unknown, path: string): Cidr & { text: string } {
  const c = typeof v === "string" && v.includes("/") ? parseCidr(v) : null;
  if (c === null) {
    throw new JsonError(
      path,
      typeof v === "string" ? "is not a CIDR (address/prefix)" : `wants a CIDR, got ${kindOf(v)}`,
    );
  }
  return { ...c, text: formatCidr(c.bytes, c.prefix) };
}

/** `v` as a unicast MAC address, lowercase (the all-zero and group MACs are refused). */
export function mac(v: unknown, path: string): string {
  const m = typeof v === "string" ? parseMac(v) : null;
  if (m === null || m.every((b) => b === 0) || (m[0]! & 1) === 1) {
    throw new JsonError(path, "is not a unicast MAC address");
  }
  return (v as string).toLowerCase();
}

/** `path.key` (or `key` at the top). */
export function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}
