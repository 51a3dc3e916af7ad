/**
 * Files podnet opens on someone else's say-so (a config's `logFile`, a
 * snapshot named on the command line or in a config): each is opened without
 * following a symlink in its last component (O_NOFOLLOW) and without blocking
 * (O_NONBLOCK: a FIFO or a device would otherwise hang the open or the read),
 * and its kind is checked on the open descriptor (fstat), so what is checked
 * is what is used. A symlinked log file is refused, not appended through; a
 * FIFO snapshot is refused, not waited on.
 *
 * @module
 */

import {
  cstr,
  EINTR,
  ELOOP,
  ENOENT,
  errno,
  libc,
  O_APPEND,
  O_CLOEXEC,
  O_CREAT,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_RDONLY,
  O_WRONLY,
  S_IFDIR,
  S_IFMT,
  S_IFREG,
  STAT_SIZE,
  STAT_ST_MODE,
  STAT_ST_SIZE,
  strerror,
} from "../ffi/libc.ts";
import { type Fields, type Level, Logger, type Sink } from "../core/log.ts";
import { LIMITS, parseSnapshot, type Snapshot, SnapshotError } from "../core/snapshot.ts";

/** A path that is not the kind of file podnet wants there, or cannot be opened; the message names the path. */
export class PathError extends Error {
  override readonly name = "PathError";
  /** errno of the failed call, 0 when the file was opened but is of the wrong kind. */
  readonly errno: number;
  constructor(message: string, errnoValue = 0) {
    super(message);
    this.errno = errnoValue;
  }
}

/** What `fstat` says of an open descriptor. */
interface FdStat {
  kind: "file" | "directory" | "other";
  size: number;
}

function fdStat(fd: number): FdStat {
  const buf = new Uint8Array(STAT_SIZE);
  if (libc.symbols.fstat(fd, buf) !== 0) throw new PathError(`fstat: ${strerror(errno())}`, errno());
  const v = new DataView(buf.buffer);
  const fmt = v.getUint32(STAT_ST_MODE, true) & S_IFMT;
  return {
    kind: fmt === S_IFREG ? "file" : fmt === S_IFDIR ? "directory" : "other",
    size: Number(v.getBigInt64(STAT_ST_SIZE, true)),
  };
}

function openFailed(what: string, path: string, e: number): PathError {
  // O_NOFOLLOW on a symlink answers ELOOP: say what it means.
  const why = e === ELOOP ? "it is a symbolic link" : strerror(e);
  return new PathError(`${what} ${path}: ${why}`, e);
}

/** Opens `path` with `flags` | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC and checks it is a regular file. */
function openRegular(path: string, flags: number, mode: number, what: string): { fd: number; size: number } {
  const fd = libc.symbols.open(cstr(path), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
  if (fd < 0) throw openFailed(what, path, errno());
  try {
    const st = fdStat(fd);
    if (st.kind !== "file") throw new PathError(`${what} ${path}: not a regular file (it is a ${st.kind})`);
    return { fd, size: st.size };
  } catch (e) {
    libc.symbols.close(fd);
    throw e;
  }
}

/**
 * Reads the regular file at `path` whole, refusing a symlink, anything but a
 * regular file, and more than `maxBytes` (checked before reading).
 */
export function readRegularFile(path: string, maxBytes: number, what = "cannot read"): Uint8Array {
  const { fd, size } = openRegular(path, O_RDONLY, 0, what);
  try {
    if (size > maxBytes) throw new PathError(`${what} ${path}: ${size} bytes, more than the limit of ${maxBytes}`);
    const buf = new Uint8Array(size + 1); // one more: a file that grew meanwhile is noticed
    let off = 0;
    while (off < buf.length) {
      const n = Number(libc.symbols.read(fd, buf.subarray(off), BigInt(buf.length - off)));
      if (n === 0) break;
      if (n < 0) {
        if (errno() === EINTR) continue;
        throw new PathError(`${what} ${path}: ${strerror(errno())}`, errno());
      }
      off += n;
    }
    if (off > maxBytes) throw new PathError(`${what} ${path}: more than the limit of ${maxBytes} bytes`);
    return buf.subarray(0, off);
  } finally {
    libc.symbols.close(fd);
  }
}

/**
 * Appends `data` to the regular file at `path` in one write(2) (O_APPEND, so
 * concurrent writers do not interleave within it), creating it with `mode`
 * when missing. A symlink, FIFO, device or directory there is refused.
 */
export function appendRegularFile(path: string, data: Uint8Array, mode = 0o600): void {
  const { fd } = openRegular(path, O_WRONLY | O_APPEND | O_CREAT, mode, "cannot append to");
  try {
    let off = 0;
    while (off < data.length) {
      const n = Number(libc.symbols.write(fd, data.subarray(off), BigInt(data.length - off)));
      if (n < 0) {
        if (errno() === EINTR) continue;
        throw new PathError(`cannot append to ${path}: ${strerror(errno())}`, errno());
      }
      off += n;
    }
  } finally {
    libc.symbols.close(fd);
  }
}

/** Reads and validates the snapshot file at `path` (regular file, no symlink, at most `LIMITS.bytes`). */
export function readSnapshot(path: string): Snapshot {
  try {
    return parseSnapshot(readRegularFile(path, LIMITS.bytes, "cannot read snapshot"));
  } catch (e) {
    if (e instanceof PathError) throw new SnapshotError(e.message);
    throw e;
  }
}

/**
 * A sink appending each line to the regular file at `path` in one write(2)
 * (concurrent plugin processes do not interleave within a line), the file
 * created 0600 and its directory 0700 when missing. A symlink, FIFO or
 * directory at `path` is refused (the logger drops the line).
 */
export function fileSink(path: string): Sink {
  const enc = new TextEncoder();
  return (line) => {
    try {
      appendRegularFile(path, enc.encode(line));
    } catch (e) {
      const dir = path.slice(0, path.lastIndexOf("/"));
      if (!(e instanceof PathError && e.errno === ENOENT) || dir === "") throw e;
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
      appendRegularFile(path, enc.encode(line));
    }
  };
}

/** A logger to `path` at `level`, or one that drops everything when `path` is empty. */
export function fileLogger(path: string | undefined | null, level: Level = "info", base: Fields = {}): Logger {
  return path ? new Logger(fileSink(path), level, base) : new Logger(() => {}, "error", base);
}

/**
 * Why `path` cannot be a log file, in words, or null: it exists and is not a
 * regular file (a symlink is not followed, a FIFO would block). A missing
 * file is fine (it is created). Checked up front so that a config naming a
 * bad log file fails clearly instead of logging nowhere.
 */
export function logFileProblem(path: string): string | null {
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(path);
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? null : "cannot be inspected";
  }
  if (st.isSymlink) return "is a symbolic link";
  if (!st.isFile) return "exists and is not a regular file";
  return null;
}
