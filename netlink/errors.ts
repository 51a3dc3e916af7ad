/**
 * The one error type of the netlink layer and the one place that turns a
 * libnl/libc return code into it.
 *
 * @module
 */

import {
  libnl,
  NL_OK,
  NL_STOP,
  NLE_AGAIN,
  NLE_BUSY,
  NLE_DUMP_INTR,
  NLE_EXIST,
  NLE_INVAL,
  NLE_NODEV,
  NLE_NOMEM,
  NLE_OBJ_NOTFOUND,
} from "../ffi/libnl.ts";
import { strerror } from "../ffi/libc.ts";
import { sleepSync } from "../core/time.ts";

const ENOENT = 2;
const ESRCH = 3;
const EIO = 5;
const EAGAIN = 11;
const ENOMEM = 12;
const EACCES = 13;
const EBUSY = 16;
const EEXIST = 17;
const ENODEV = 19;
const EINVAL = 22;
const EADDRNOTAVAIL = 99;

/** Raised by every netlink-layer call that fails. */
export class NetlinkError extends Error {
  override readonly name = "NetlinkError";
  /** What was attempted, e.g. `route add 10.0.0.0/24 via 169.254.1.1`. */
  readonly action: string;
  /** libnl NLE_* code (positive), or 0 when the failure came from libc. */
  readonly code: number;
  /** The kernel/libc errno when known (from the netlink ACK or errno), else 0. */
  readonly errno: number;

  constructor(action: string, code: number, errno: number, detail: string) {
    super(`${action}: ${detail}`);
    this.action = action;
    this.code = code;
    this.errno = errno;
  }

  /** The object (link, address, route, neighbor, netns) does not exist. */
  get notFound(): boolean {
    return this.code === NLE_OBJ_NOTFOUND || this.code === NLE_NODEV ||
      this.errno === ENOENT || this.errno === ENODEV || this.errno === ESRCH ||
      this.errno === EADDRNOTAVAIL;
  }

  /** The object already exists. */
  get exists(): boolean {
    return this.code === NLE_EXIST || this.errno === EEXIST;
  }

  /** A transient condition worth a bounded retry (busy, again, interrupted dump). */
  get transient(): boolean {
    return this.code === NLE_AGAIN || this.code === NLE_BUSY ||
      this.code === NLE_DUMP_INTR || this.errno === EAGAIN ||
      this.errno === EBUSY;
  }
}

/**
 * The kernel errno of the last NLMSG_ERROR seen by any podnet socket. libnl
 * folds kernel errnos into coarse NLE codes (ENETUNREACH becomes "Unspecific
 * failure"), so a custom error callback records the original.
 */
let lastKernelErrno = 0;

/** Error callback installed on every podnet socket (see `Socket`). */
export const errorCallback: Deno.UnsafeCallback<{
  readonly parameters: readonly ["pointer", "pointer", "pointer"];
  readonly result: "i32";
}> = new Deno.UnsafeCallback(
  { parameters: ["pointer", "pointer", "pointer"], result: "i32" } as const,
  (_nla, nlerr) => {
    // struct nlmsgerr { int error; struct nlmsghdr msg; }
    lastKernelErrno = nlerr === null ? 0 : -new Deno.UnsafePointerView(nlerr).getInt32();
    return NL_STOP;
  },
);

/**
 * Whether a message of the current dump carried NLM_F_DUMP_INTR. Without a
 * callback for it, libnl's nl_cache_refill restarts the dump itself without
 * clearing the cache, so every object of the first pass appears twice (seen
 * on libnl 3.7 under address churn); with this callback libnl keeps going
 * and `dump()` throws the half-stale cache away and retries.
 */
let dumpInterrupted = false;

/** NL_CB_DUMP_INTR callback installed on every podnet socket (see `Socket`). */
export const dumpIntrCallback: Deno.UnsafeCallback<{
  readonly parameters: readonly ["pointer", "pointer"];
  readonly result: "i32";
}> = new Deno.UnsafeCallback(
  { parameters: ["pointer", "pointer"], result: "i32" } as const,
  () => {
    dumpInterrupted = true;
    return NL_OK;
  },
);

/** Returns whether the dump since the last call was interrupted, and forgets it. */
export function takeDumpInterrupted(): boolean {
  const v = dumpInterrupted;
  dumpInterrupted = false;
  return v;
}

/** Forget the recorded kernel errno before a new request. */
export function resetKernelErrno(): void {
  lastKernelErrno = 0;
}

/**
 * Throws a NetlinkError when `rc` is a libnl failure (negative); returns `rc`
 * otherwise. `action` says what was attempted, for the operator reading it.
 */
export function check(rc: number, action: string): number {
  if (rc >= 0) return rc;
  const code = -rc;
  const errno = lastKernelErrno;
  lastKernelErrno = 0;
  const p = libnl.symbols.nl_geterror(code);
  const nlText = p === null ? `NLE ${code}` : Deno.UnsafePointerView.getCString(p);
  const detail = errno !== 0 ? `${strerror(errno)} (errno ${errno})` : `${nlText} (NLE ${code})`;
  throw new NetlinkError(action, code, errno, detail);
}

/** A NetlinkError from a libc call that failed with `errno`. */
export function libcError(action: string, errno: number): NetlinkError {
  return new NetlinkError(action, 0, errno, `${strerror(errno)} (errno ${errno})`);
}

/** Input refused before any request reaches the kernel (NLE_INVAL, EINVAL); `detail` names the input. */
export function invalidInput(action: string, detail: string): NetlinkError {
  return new NetlinkError(action, NLE_INVAL, EINVAL, detail);
}

/** A libnl allocation that returned NULL (NLE_NOMEM, ENOMEM). */
export function outOfMemory(action: string): NetlinkError {
  return new NetlinkError(action, NLE_NOMEM, ENOMEM, "out of memory");
}

/** The errno a Deno file-system error stands for (ENOENT, EACCES, else EIO), so `notFound` holds for a missing file. */
export function fsErrno(e: unknown): number {
  return e instanceof Deno.errors.NotFound ? ENOENT : e instanceof Deno.errors.PermissionDenied ? EACCES : EIO;
}

/** Attempts of `retryTransient` for a request (a dump is a read and gets a time budget: `DUMP_BUDGET_MS`). */
export const RETRY_ATTEMPTS = 5;
/**
 * How long a dump keeps retrying. The kernel interrupts a multi-part dump
 * whenever its table changes meanwhile (NLM_F_DUMP_INTR); on a busy node
 * (pods coming and going every few milliseconds) ten immediate retries all
 * landed in the same burst of changes. Retries back off (1, 2, 4 … 64 ms)
 * so that they spread over the churn, for up to this long.
 */
export const DUMP_BUDGET_MS = 5000;

/**
 * Runs `fn`, retrying while it fails transiently (interrupted dump, EBUSY,
 * EAGAIN): at once, up to `limit` attempts in all (a request), or with
 * backoff (1, 2, 4 … 64 ms) for up to `limit.budgetMs` (a dump: the kernel
 * interrupts one whenever its table changes meanwhile, and a fresh dump is
 * the documented remedy; retries spread over the churn).
 */
export function retryTransient<T>(fn: () => T, limit: number | { budgetMs: number } = RETRY_ATTEMPTS): T {
  const deadline = typeof limit === "number" ? Infinity : performance.now() + limit.budgetMs;
  for (let i = 1, wait = 1;; i++, wait = Math.min(wait * 2, 64)) {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof NetlinkError) || !e.transient) throw e;
      if (typeof limit === "number") {
        if (i >= limit) throw e;
        continue;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw e;
      sleepSync(Math.min(wait, left));
    }
  }
}
