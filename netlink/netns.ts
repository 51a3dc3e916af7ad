/**
 * The one netns helper. `setns(2)` switches only the calling thread, so it is
 * done synchronously on the JS thread, with the original namespace saved from
 * `/proc/thread-self/ns/net` and always restored. Async work inside would run
 * on other threads (in the wrong netns), so `fn` must be synchronous.
 *
 * @module
 */

import {
  CLONE_NEWNET,
  cstr,
  errno,
  libc,
  NSFS_MAGIC,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDONLY,
  STATFS_SIZE,
} from "../ffi/libc.ts";
import { fsErrno, libcError, NetlinkError } from "./errors.ts";

/** The calling thread's own netns. */
export const SELF_NETNS = "/proc/thread-self/ns/net";
const SELF = SELF_NETNS;

/** ENOTDIR's neighbour for "this is not a namespace": EINVAL, as setns(2) answers for one. */
const EINVAL = 22;

/**
 * Opens a namespace file; returns a raw fd the caller must `closeFd`. The
 * open never blocks (O_NONBLOCK: a FIFO put where a netns should be would
 * otherwise hang it), and the file must be on nsfs (a bind mount under
 * /run/netns or /proc/PID/ns/net): a regular file, FIFO or directory is
 * refused before anything uses it. Symlinks are followed: /proc/PID/ns/net is one.
 */
export function openNetnsFd(path: string): number {
  const fd = libc.symbols.open(cstr(path), O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) throw libcError(`open netns ${path}`, errno());
  const st = new Uint8Array(STATFS_SIZE);
  if (libc.symbols.fstatfs(fd, st) !== 0 || new DataView(st.buffer).getBigInt64(0, true) !== BigInt(NSFS_MAGIC)) {
    libc.symbols.close(fd);
    throw new NetlinkError(`open netns ${path}`, 0, EINVAL, "not a namespace file (nsfs)");
  }
  return fd;
}

/** Closes a raw fd from `openNetnsFd`. */
export function closeFd(fd: number): void {
  libc.symbols.close(fd);
}

function enter(fd: number, path: string): void {
  if (libc.symbols.setns(fd, CLONE_NEWNET) !== 0) {
    throw libcError(`setns ${path}`, errno());
  }
}

/**
 * Runs `fn` with the calling thread inside the network namespace at `path`
 * (e.g. `/run/netns/pod1` or `/proc/PID/ns/net`) and switches back afterwards,
 * also when `fn` throws. `fn` must be synchronous. A null (or absent) `path`
 * is the calling thread's own netns: `fn` runs as it is, no switch. Only an
 * absent path means that: an empty one (an unset variable read as "") fails.
 *
 * @example
 * ```ts ignore
 * const ifindex = withNetns("/run/netns/pod1", () => Deno.readTextFileSync("/sys/class/net/eth0/ifindex"));
 * ```
 */
export function withNetns<T>(path: string | null | undefined, fn: () => T): T {
  if (path === null || path === undefined) return fn();
  const saved = openNetnsFd(SELF);
  try {
    const target = openNetnsFd(path);
    try {
      enter(target, path);
    } finally {
      closeFd(target);
    }
    try {
      const result = fn();
      if (result instanceof Promise) {
        result.catch(() => {});
        throw new TypeError("withNetns: fn must be synchronous (it returned a Promise)");
      }
      return result;
    } finally {
      // Failing to return would leave the whole process in the wrong netns.
      enter(saved, SELF);
    }
  } finally {
    closeFd(saved);
  }
}

/** Identity of a namespace file: equal ids mean the same namespace. */
export function netnsId(path: string): string {
  try {
    const st = Deno.statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch (e) {
    throw libcError(`stat netns ${path}`, fsErrno(e));
  }
}

/** Whether `path` names the namespace this thread is in now. */
export function isCurrentNetns(path: string): boolean {
  return netnsId(path) === netnsId(SELF);
}
