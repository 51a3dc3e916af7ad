/**
 * Time helpers without I/O: a blocking sleep for synchronous code (netns
 * work must stay on the JS thread, see netlink/netns.ts) and the RFC 3339
 * timestamps podnet writes.
 *
 * @module
 */

/** Blocks the calling thread for `ms` milliseconds (a short wait inside synchronous netlink work). */
export function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The current time as RFC 3339 UTC without milliseconds: `2026-01-01T00:00:00Z`. */
export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}
