/**
 * CNI spec version strings compared as numbers (`0.10.0` > `0.4.0`).
 *
 * @module
 */

import { VERSION_RE } from "../core/constants.ts";

/** `1.0.0` → comparable number; null when malformed. */
export function versionNumber(v: string): number | null {
  const m = VERSION_RE.exec(v);
  return m ? Number(m[1]) * 1e6 + Number(m[2]) * 1e3 + Number(m[3]) : null;
}

/** Whether version `a` is at least `b`. */
export function versionAtLeast(a: string, b: string): boolean {
  return (versionNumber(a) ?? -1) >= (versionNumber(b) ?? Infinity);
}
