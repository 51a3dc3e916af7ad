/**
 * A file's change stamp: its size and mtime to the nanosecond, as one string.
 * Used to tell whether dist/cni.js still matches its sources before every
 * CNI call, so it is one stat(2) through FFI: `Deno.statSync` builds a
 * FileInfo with a dozen fields and Date objects (~2 ms for 50 files on a
 * fresh process, on a CNI ADD's critical path).
 *
 * @module
 */

import { cstr, libc, STAT_SIZE, STAT_ST_MTIM, STAT_ST_SIZE } from "../ffi/libc.ts";

const buf = new Uint8Array(STAT_SIZE);
const view = new DataView(buf.buffer);

/** `size:seconds.nanoseconds` of `path`'s mtime, or null when it cannot be stat'ed. */
export function fileStamp(path: string): string | null {
  if (libc.symbols.stat(cstr(path), buf) !== 0) return null;
  const size = view.getBigUint64(STAT_ST_SIZE, true);
  const sec = view.getBigInt64(STAT_ST_MTIM, true);
  const nsec = view.getBigInt64(STAT_ST_MTIM + 8, true);
  return `${size}:${sec}.${nsec.toString().padStart(9, "0")}`;
}
