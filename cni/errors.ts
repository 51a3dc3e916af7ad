/**
 * CNI errors: the spec's error codes and the one error type the plugin throws
 * on purpose. Anything else that escapes becomes code 999 (internal).
 *
 * @module
 */

// From its own module, not netlink/mod.ts: VERSION loads this file and needs none of the verbs.
import { NetlinkError } from "../netlink/errors.ts";

/** Error codes from the CNI spec (SPEC.md, "Error"), plus 999 for internal failures. */
export const ERR = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  io: 5,
  decode: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  notAvailable: 50,
  limitedConnectivity: 51,
  internal: 999,
} as const;

/** The spec's meaning of each well-known code, in words (a plugin's code is reported with it). */
export const ERROR_MEANINGS: Readonly<Record<number, string>> = {
  1: "incompatible CNI version",
  2: "unsupported field in the network configuration",
  3: "container unknown or does not exist",
  4: "invalid necessary environment variables",
  5: "I/O failure",
  6: "failed to decode content",
  7: "invalid network config",
  11: "try again later",
  50: "the plugin is not available",
  51: "the plugin is not available, existing containers in the network may have limited connectivity",
  999: "internal failure",
};

/** A failure to report to the runtime as a CNI error object. */
export class CniError extends Error {
  override readonly name = "CniError";
  readonly code: number;
  readonly details: string;

  constructor(code: number, msg: string, details = "") {
    super(msg);
    this.code = code;
    this.details = details;
  }
}

/** The CNI error object printed on stdout. */
export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/**
 * Maps anything thrown to a CNI error. Netlink failures keep their action and
 * errno text (what an operator needs), never a stack trace.
 */
export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof NetlinkError) {
    return new CniError(e.transient ? ERR.tryAgainLater : ERR.internal, e.message, e.action);
  }
  if (e instanceof Error) return new CniError(ERR.internal, `${e.name}: ${e.message}`);
  return new CniError(ERR.internal, String(e));
}

/**
 * Runs a step for which "already gone" is fine (a link deleted meanwhile, the
 * sysctl of a disabled or too old feature); false when it was gone.
 */
export function ignoreNotFound(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof NetlinkError && e.notFound) return false;
    throw e;
  }
}

/** The error object for `e` in `cniVersion`. */
export function errorJson(e: CniError, cniVersion: string): CniErrorJson {
  return { cniVersion, code: e.code, msg: e.message, details: e.details };
}
