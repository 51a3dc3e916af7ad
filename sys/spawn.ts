/**
 * Runs a plugin binary with posix_spawn: stdin fed from memory, stdout and
 * stderr collected, the child leading its own session so that a deadline
 * kills it with everything it started.
 *
 * Why not `Deno.Command`: it forks the whole Deno process (Rust's spawn falls
 * back to fork when a pre-exec step such as setsid is wanted), sets up web
 * streams, and a deadline needs `setTimeout`, whose first use costs ~10 ms of
 * lazy runtime set-up. On a busy 2-core node that held the JS thread for
 * 25–60 ms per IPAM call, a third of a CNI ADD, during which no netlink work
 * could overlap the plugin. Here posix_spawn returns after a vfork-style exec
 * (~1–2 ms) and one `poll(2)` on Deno's blocking pool waits for output, exit
 * and the deadline together.
 *
 * @module
 */

import {
  cstr,
  EINTR,
  errno,
  F_SETPIPE_SZ,
  libc,
  libcSpawn,
  O_CLOEXEC,
  PIPE_CAPACITY,
  POLLIN,
  POSIX_SPAWN_FILE_ACTIONS_SIZE,
  POSIX_SPAWN_SETSID,
  POSIX_SPAWN_SETSIGDEF,
  POSIX_SPAWN_SETSIGMASK,
  POSIX_SPAWNATTR_SIZE,
  SIGKILL,
  SIGPIPE,
  strerror,
  WNOHANG,
} from "../ffi/libc.ts";

/**
 * The first `DIR/name` of `dirs` that is an executable regular file, with
 * what stat says of it; null when there is none. Relative directories are
 * skipped: what they name depends on the working directory.
 */
export function executableIn(dirs: readonly string[], name: string): { path: string; info: Deno.FileInfo } | null {
  for (const dir of dirs) {
    if (!dir.startsWith("/")) continue;
    const path = `${dir.replace(/\/+$/, "")}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return { path, info };
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** How a spawned process ended and what it printed. */
export interface Exited {
  /** Exit status; 128 + signal number when a signal ended it (as shells and Deno report it). */
  code: number;
  /** The signal that ended it, or null. */
  signal: number | null;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** The deadline passed and the process group was killed. */
  timedOut: boolean;
}

/** A started process. */
export interface Spawned {
  pid: number;
  /** Settles when the process has exited and both its output pipes reached EOF. */
  done: Promise<Exited>;
}

/** Options for `spawn`. */
export interface SpawnOptions {
  /** Variables added to (or overriding) this process's environment. */
  env: Record<string, string>;
  /** Written to the child's stdin, which is then closed. */
  stdin: Uint8Array;
  /** Arguments after argv[0] (default none: a CNI plugin takes none). */
  args?: readonly string[];
  /** Working directory of the child (default "/"). */
  cwd?: string;
  /** After this many milliseconds the child's whole process group is sent SIGKILL. */
  timeoutMs: number;
}

/** posix_spawn failed; `errno` says why (ENOENT, EACCES, ENOEXEC …). */
export class SpawnError extends Error {
  override readonly name = "SpawnError";
  readonly errno: number;
  constructor(bin: string, code: number) {
    super(`${strerror(code)} (errno ${code}): ${bin}`);
    this.errno = code;
  }
}

/** A NULL-terminated `char *[]` over `strs`; keep `strs` alive while it is used. */
function cArray(strs: Uint8Array<ArrayBuffer>[]): BigUint64Array<ArrayBuffer> {
  const a = new BigUint64Array(strs.length + 1);
  strs.forEach((s, i) => (a[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s)))));
  return a;
}

function pipe(): [number, number] {
  const fds = new Int32Array(2);
  if (libcSpawn.symbols.pipe2(fds, O_CLOEXEC) !== 0) throw new Error(`pipe2: ${strerror(errno())}`);
  return [fds[0]!, fds[1]!];
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function decodeStatus(st: number): { code: number; signal: number | null } {
  const sig = st & 0x7f;
  return sig === 0 ? { code: (st >> 8) & 0xff, signal: null } : { code: 128 + sig, signal: sig };
}

/**
 * Collects the child's output and exit. `poll` (on the blocking pool) wakes
 * for readable pipes, for the pidfd when the child exits, or at the deadline;
 * the reads and the reap that follow cannot block.
 */
async function supervise(pid: number, pidfd: number, outR: number, errR: number, timeoutMs: number): Promise<Exited> {
  const s = libcSpawn.symbols;
  const deadline = performance.now() + timeoutMs;
  const chunks: Record<number, Uint8Array[]> = { [outR]: [], [errR]: [] };
  const open = new Set([outR, errR, pidfd]);
  let status: { code: number; signal: number | null } | null = null;
  let timedOut = false;
  let failures = 0;
  const fds = new Int32Array(6); // struct pollfd { int fd; short events; short revents; } x 3
  const buf = new Uint8Array(PIPE_CAPACITY);
  try {
    while (open.size > 0) {
      const list = [...open];
      list.forEach((fd, i) => {
        fds[2 * i] = fd;
        fds[2 * i + 1] = POLLIN; // events = POLLIN, revents = 0 (little-endian shorts)
      });
      // After the kill, wait for the pipes without a deadline (as a plain wait would).
      const wait = timedOut ? -1 : Math.max(0, Math.ceil(deadline - performance.now()));
      const n = await s.poll(fds, BigInt(list.length), wait);
      if (n < 0) {
        // EINTR (a signal hit the pool thread; its errno is not readable here): poll again.
        if (++failures > 1000) throw new Error(`poll on plugin ${pid} keeps failing`);
        continue;
      }
      if (n === 0 && !timedOut) {
        timedOut = true;
        s.kill(-pid, SIGKILL);
        continue;
      }
      list.forEach((fd, i) => {
        if ((fds[2 * i + 1]! >>> 16) === 0) return; // revents
        if (fd === pidfd) {
          const st = new Int32Array(1);
          if (s.waitpid(pid, st, WNOHANG) === pid) {
            status = decodeStatus(st[0]!);
            open.delete(fd);
          }
          return;
        }
        const got = Number(s.read(fd, buf, BigInt(buf.length)));
        if (got > 0) chunks[fd]!.push(buf.slice(0, got));
        else if (got === 0 || errno() !== EINTR) open.delete(fd); // EOF (or a broken pipe)
      });
    }
  } finally {
    for (const fd of [outR, errR, pidfd]) libc.symbols.close(fd);
  }
  const st: { code: number; signal: number | null } = status ?? { code: 255, signal: null };
  return { ...st, stdout: concat(chunks[outR]!), stderr: concat(chunks[errR]!), timedOut };
}

/**
 * Starts `bin` (an absolute path) as the leader of a new session, with its
 * stdin written and closed before this returns. Throws `SpawnError` when it
 * cannot be executed.
 */
export function spawn(bin: string, o: SpawnOptions): Spawned {
  const s = libcSpawn.symbols;
  const [inR, inW] = pipe();
  const [outR, outW] = pipe();
  const [errR, errW] = pipe();
  const fa = new Uint8Array(POSIX_SPAWN_FILE_ACTIONS_SIZE);
  const attr = new Uint8Array(POSIX_SPAWNATTR_SIZE);
  s.posix_spawn_file_actions_init(fa);
  s.posix_spawnattr_init(attr);
  const pid = new Int32Array(1);
  let rc: number;
  try {
    // dup2 onto 0/1/2 clears O_CLOEXEC there; every other podnet fd is O_CLOEXEC.
    s.posix_spawn_file_actions_adddup2(fa, inR, 0);
    s.posix_spawn_file_actions_adddup2(fa, outW, 1);
    s.posix_spawn_file_actions_adddup2(fa, errW, 2);
    const cwd = cstr(o.cwd ?? "/");
    s.posix_spawn_file_actions_addchdir_np(fa, cwd);
    // Deno ignores SIGPIPE, and an ignored signal stays ignored across exec: give the child the default.
    const sigdef = new BigUint64Array(16); // sigset_t, 1024 bits
    sigdef[0] = 1n << BigInt(SIGPIPE - 1);
    s.posix_spawnattr_setsigdefault(attr, sigdef);
    s.posix_spawnattr_setsigmask(attr, new BigUint64Array(16));
    s.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    const path = cstr(bin);
    const argv = [path, ...(o.args ?? []).map(cstr)];
    const envp = Object.entries({ ...Deno.env.toObject(), ...o.env }).map(([k, v]) => cstr(`${k}=${v}`));
    rc = s.posix_spawn(pid, path, fa, attr, cArray(argv), cArray(envp));
  } finally {
    s.posix_spawn_file_actions_destroy(fa);
    s.posix_spawnattr_destroy(attr);
    for (const fd of [inR, outW, errW]) libc.symbols.close(fd);
  }
  if (rc !== 0) {
    for (const fd of [inW, outR, errR]) libc.symbols.close(fd);
    throw new SpawnError(bin, rc);
  }
  const child = pid[0]!;
  const pidfd = s.pidfd_open(child, 0);
  if (pidfd < 0) {
    const e = errno();
    s.kill(-child, SIGKILL);
    s.waitpid(child, new Int32Array(1), 0);
    for (const fd of [inW, outR, errR]) libc.symbols.close(fd);
    throw new Error(`pidfd_open ${child}: ${strerror(e)}`);
  }
  // The pipe is empty and the write blocking: input that fits its capacity goes in at once. A larger
  // one (a CNI config is far smaller) gets a pipe that big first (root may exceed pipe-max-size).
  if (o.stdin.length > PIPE_CAPACITY) s.fcntl(inW, F_SETPIPE_SZ, o.stdin.length);
  let off = 0;
  while (off < o.stdin.length) {
    const n = Number(s.write(inW, o.stdin.subarray(off), BigInt(o.stdin.length - off)));
    if (n > 0) off += n;
    else if (n < 0 && errno() === EINTR) continue;
    else break; // EPIPE: the plugin exited without reading; its exit status tells the story
  }
  libc.symbols.close(inW);
  return { pid: child, done: supervise(child, pidfd, outR, errR, o.timeoutMs) };
}
