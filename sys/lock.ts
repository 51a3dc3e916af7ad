/**
 * One lock per attachment (containerID/ifname), so that two calls for the
 * same attachment (a retried ADD racing the first, ADD racing DEL) never
 * interleave: each would otherwise undo or release what the other made.
 *
 * An flock(2) on a file under podnet's state dir: the kernel drops it when
 * its holder dies, so a SIGKILLed call cannot leave it held. A second call
 * waits with backoff for a bounded time, then gives up (`LockTimeout`; CNI
 * code 11, try again later). The lock file may be removed by the holder
 * (DEL, when the attachment is gone); a waiter that then locks the removed
 * file notices (its inode is no longer the path's) and locks the new one.
 *
 * @module
 */

import {
  cstr,
  EINTR,
  errno,
  EWOULDBLOCK,
  libc,
  LOCK_EX,
  LOCK_NB,
  O_CLOEXEC,
  O_CREAT,
  O_NOFOLLOW,
  O_RDWR,
  STAT_SIZE,
  strerror,
} from "../ffi/libc.ts";
import { keyDigest } from "../core/names.ts";
import { hex } from "../core/sha256.ts";
import { sleepSync } from "../core/time.ts";

/** How long a call waits for another call on the same attachment by default. */
export const DEFAULT_LOCK_TIMEOUT_MS = 15_000;

/** The attachment stayed locked by another call for the whole wait. */
export class LockTimeout extends Error {
  override readonly name = "LockTimeout";
}

/** dev:ino of an open fd or a path; null when the path is gone. */
function identity(fd: number | null, path: string): string | null {
  const buf = new Uint8Array(STAT_SIZE);
  const rc = fd !== null ? libc.symbols.fstat(fd, buf) : libc.symbols.stat(cstr(path), buf);
  if (rc !== 0) return null;
  const v = new DataView(buf.buffer);
  return `${v.getBigUint64(0, true)}:${v.getBigUint64(8, true)}`; // st_dev, st_ino
}

/** A held attachment lock. `release()` (or `using`) lets the next caller in. */
export class AttachmentLock {
  #fd: number | null;
  readonly path: string;

  private constructor(fd: number, path: string) {
    this.#fd = fd;
    this.path = path;
  }

  /**
   * Locks `key` (e.g. `containerID/ifname`) under `dir` (created 0700 when
   * missing), waiting up to `timeoutMs`. Throws `LockTimeout` when the wait
   * runs out.
   */
  static acquire(dir: string, key: string, timeoutMs: number = DEFAULT_LOCK_TIMEOUT_MS): AttachmentLock {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = `${dir}/${hex(keyDigest(key).slice(0, 16))}.lock`;
    const deadline = performance.now() + timeoutMs;
    for (let wait = 1;; wait = Math.min(wait * 2, 50)) {
      const fd = libc.symbols.open(cstr(path), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600);
      if (fd < 0) throw new Error(`cannot open lock ${path}: ${strerror(errno())}`);
      let rc = libc.symbols.flock(fd, LOCK_EX | LOCK_NB);
      while (rc !== 0 && errno() === EINTR) rc = libc.symbols.flock(fd, LOCK_EX | LOCK_NB);
      if (rc === 0) {
        // Locked; but a holder may have removed the file meanwhile: then this is a dead inode.
        if (identity(fd, path) === identity(null, path)) return new AttachmentLock(fd, path);
        libc.symbols.close(fd);
        continue;
      }
      const e = errno();
      libc.symbols.close(fd);
      if (e !== EWOULDBLOCK) throw new Error(`cannot lock ${path}: ${strerror(e)}`);
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new LockTimeout(`another podnet call holds attachment ${key} (waited ${timeoutMs} ms)`);
      }
      sleepSync(Math.min(wait, left));
    }
  }

  /** Removes the lock file while still holding it (the attachment is gone), then releases. */
  releaseAndRemove(): void {
    if (this.#fd === null) return;
    try {
      Deno.removeSync(this.path);
    } catch {
      // already gone: nothing to clean up
    }
    this.release();
  }

  /** Releases the lock; calling it again does nothing. */
  release(): void {
    if (this.#fd === null) return;
    libc.symbols.close(this.#fd); // closing the last fd drops the flock
    this.#fd = null;
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
