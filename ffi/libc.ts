/**
 * Raw libc symbols used by podnet: namespace switching, file descriptors,
 * errno, stat, sockets and process spawning. C names verbatim; no logic lives here.
 *
 * @module
 */

import { lazyDlopen } from "./open.ts";

export { cstr } from "./open.ts";

/** Opened on first use (ffi/open.ts): a CNI VERSION call never needs it. */
export const libc = lazyDlopen(
  "libc.so.6",
  {
    setns: { parameters: ["i32", "i32"], result: "i32" },
    // open(2) is variadic; podnet always passes the mode (ignored without O_CREAT).
    open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    fstat: { parameters: ["i32", "buffer"], result: "i32" },
    fstatfs: { parameters: ["i32", "buffer"], result: "i32" },
    flock: { parameters: ["i32", "i32"], result: "i32" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    __errno_location: { parameters: [], result: "pointer" },
    strerror: { parameters: ["i32"], result: "pointer" },
    stat: { parameters: ["buffer", "buffer"], result: "i32" },
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    sendto: {
      parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
      result: "isize",
    },
    setsockopt: {
      parameters: ["i32", "i32", "i32", "buffer", "u32"],
      result: "i32",
    },
    // RTM_GETNSID has no libnl helper (netlink/nsid.ts speaks it over a raw netlink socket).
    recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/**
 * Process spawning for plugin calls (core/spawn.ts). posix_spawn starts the child with
 * vfork semantics; Deno.Command forks the whole (large) Deno process first, which blocks the
 * JS thread for 5–60 ms on a busy node. `poll` runs on Deno's blocking pool (`nonblocking`):
 * it waits for output, exit and the deadline at once, while the JS thread keeps working.
 */
export const libcSpawn = lazyDlopen(
  "libc.so.6",
  {
    pipe2: { parameters: ["buffer", "i32"], result: "i32" },
    posix_spawn: { parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"], result: "i32" },
    posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
    posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
    posix_spawn_file_actions_addchdir_np: { parameters: ["buffer", "buffer"], result: "i32" },
    posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
    posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
    posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
    posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
    posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
    posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
    pidfd_open: { parameters: ["i32", "u32"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    // fcntl is variadic; every call podnet makes passes one int.
    fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
    waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
    kill: { parameters: ["i32", "i32"], result: "i32" },
    poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** <spawn.h> flags (glibc values). */
export const POSIX_SPAWN_SETSIGDEF = 0x04;
export const POSIX_SPAWN_SETSIGMASK = 0x08;
export const POSIX_SPAWN_SETSID = 0x80;
/** Sizes of glibc's opaque spawn structs (80 and 336 bytes on x86-64), rounded up generously. */
export const POSIX_SPAWN_FILE_ACTIONS_SIZE = 256;
export const POSIX_SPAWNATTR_SIZE = 512;
export const SIGPIPE = 13;
export const SIGKILL = 9;
export const WNOHANG = 1;
export const POLLIN = 0x1;
export const F_SETPIPE_SZ = 1031;
/** Default pipe capacity on Linux (16 pages). */
export const PIPE_CAPACITY = 65536;
export const EINTR = 4;

/** sizeof(struct stat) on x86_64, and where st_size and st_mtim (sec, nsec) sit in it. */
export const STAT_SIZE = 144;
export const STAT_ST_SIZE = 48;
export const STAT_ST_MTIM = 88;

/** sizeof(struct statfs) on x86_64; f_type is its first field. */
export const STATFS_SIZE = 120;
/** st_mode's offset in struct stat on x86_64, and the file-type bits of st_mode. */
export const STAT_ST_MODE = 24;
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
/** statfs f_type of the namespace filesystem (/proc/PID/ns/*, bind mounts of them). */
export const NSFS_MAGIC = 0x6e736673;

/** flock(2) operations. */
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const EWOULDBLOCK = 11;

/** open(2) flags, namespace and socket constants from the kernel headers. */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_CLOEXEC = 0o2000000;
export const ELOOP = 40;
export const ENOENT = 2;
export const CLONE_NEWNET = 0x40000000;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_BINDTODEVICE = 25;

/** Reads the calling thread's errno (valid right after a failed libc call). */
export function errno(): number {
  const p = libc.symbols.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** strerror(3) text for an errno value. */
export function strerror(code: number): string {
  const p = libc.symbols.strerror(code);
  return p === null ? `errno ${code}` : Deno.UnsafePointerView.getCString(p);
}
