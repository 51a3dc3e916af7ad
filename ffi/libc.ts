/**
 * Raw libc symbols used by podnet: namespace switching, file descriptors,
 * errno, stat, sockets and process spawning. C names verbatim; no logic lives here.
 *
 * Each entry sits under its C prototype and each parameter line names its C type and
 * parameter, so every line can be checked against glibc's headers (`/usr/include`, glibc 2.36
 * on x86-64), whose names are kept without their reserved `__` prefix (`__fd` is `fd`). An
 * entry with no parameter, or with one integer, stays on one line under its prototype. Here
 * `pid_t` is `int`, `mode_t` and `socklen_t` are `unsigned int`, `nfds_t` is `unsigned long`.
 * `buffer` is memory podnet passes from JS; its comment says what it holds (a NUL-terminated
 * string from `cstr`, bytes, or an out-parameter).
 *
 * @module
 */

import { lazyDlopen } from "./open.ts";

export { cstr } from "./open.ts";

/** Opened on first use (ffi/open.ts): a CNI VERSION call never needs it. */
export const libc = lazyDlopen(
  "libc.so.6",
  {
    // int setns(int fd, int nstype)
    setns: {
      parameters: [
        "i32", // int fd
        "i32", // int nstype
      ],
      result: "i32", // int
    },
    // open(2) is variadic; podnet always passes the mode (ignored without O_CREAT).
    // int open(const char *file, int oflag, ...)
    open: {
      parameters: [
        "buffer", // const char *file (C string)
        "i32", // int oflag
        "u32", // mode_t mode (variadic)
      ],
      result: "i32", // int
    },
    // int close(int fd)
    close: { parameters: ["i32"], result: "i32" },
    // int fstat(int fd, struct stat *buf)
    fstat: {
      parameters: [
        "i32", // int fd
        "buffer", // struct stat *buf (out, STAT_SIZE bytes)
      ],
      result: "i32", // int
    },
    // int fstatfs(int fildes, struct statfs *buf)
    fstatfs: {
      parameters: [
        "i32", // int fildes
        "buffer", // struct statfs *buf (out, STATFS_SIZE bytes)
      ],
      result: "i32", // int
    },
    // int flock(int fd, int operation)
    flock: {
      parameters: [
        "i32", // int fd
        "i32", // int operation
      ],
      result: "i32", // int
    },
    // ssize_t read(int fd, void *buf, size_t nbytes)
    read: {
      parameters: [
        "i32", // int fd
        "buffer", // void *buf (out, nbytes bytes)
        "usize", // size_t nbytes
      ],
      result: "isize", // ssize_t
    },
    // ssize_t write(int fd, const void *buf, size_t n)
    write: {
      parameters: [
        "i32", // int fd
        "buffer", // const void *buf (n bytes)
        "usize", // size_t n
      ],
      result: "isize", // ssize_t
    },
    // int *__errno_location(void)
    __errno_location: { parameters: [], result: "pointer" },
    // char *strerror(int errnum)
    strerror: { parameters: ["i32"], result: "pointer" },
    // int stat(const char *file, struct stat *buf)
    stat: {
      parameters: [
        "buffer", // const char *file (C string)
        "buffer", // struct stat *buf (out, STAT_SIZE bytes)
      ],
      result: "i32", // int
    },
    // int socket(int domain, int type, int protocol)
    socket: {
      parameters: [
        "i32", // int domain
        "i32", // int type
        "i32", // int protocol
      ],
      result: "i32", // int
    },
    // ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t addr_len)
    sendto: {
      parameters: [
        "i32", // int fd
        "buffer", // const void *buf (n bytes)
        "usize", // size_t n
        "i32", // int flags
        "buffer", // const struct sockaddr *addr (addr_len bytes)
        "u32", // socklen_t addr_len
      ],
      result: "isize", // ssize_t
    },
    // int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
    setsockopt: {
      parameters: [
        "i32", // int fd
        "i32", // int level
        "i32", // int optname
        "buffer", // const void *optval (optlen bytes)
        "u32", // socklen_t optlen
      ],
      result: "i32", // int
    },
    // RTM_GETNSID has no libnl helper (netlink/nsid.ts speaks it over a raw netlink socket).
    // ssize_t recv(int fd, void *buf, size_t n, int flags)
    recv: {
      parameters: [
        "i32", // int fd
        "buffer", // void *buf (out, n bytes)
        "usize", // size_t n
        "i32", // int flags
      ],
      result: "isize", // ssize_t
    },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/**
 * Process spawning for plugin calls (sys/spawn.ts). posix_spawn starts the child with
 * vfork semantics; Deno.Command forks the whole (large) Deno process first, which blocks the
 * JS thread for 5–60 ms on a busy node. `poll` runs on Deno's blocking pool (`nonblocking`):
 * it waits for output, exit and the deadline at once, while the JS thread keeps working.
 */
export const libcSpawn = lazyDlopen(
  "libc.so.6",
  {
    // int pipe2(int pipedes[2], int flags)
    pipe2: {
      parameters: [
        "buffer", // int pipedes[2] (out, Int32Array(2))
        "i32", // int flags
      ],
      result: "i32", // int
    },
    // int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *file_actions, const posix_spawnattr_t *attrp, char *const argv[], char *const envp[])
    posix_spawn: {
      parameters: [
        "buffer", // pid_t *pid (out, Int32Array(1))
        "buffer", // const char *path (C string)
        "buffer", // const posix_spawn_file_actions_t *file_actions (POSIX_SPAWN_FILE_ACTIONS_SIZE bytes)
        "buffer", // const posix_spawnattr_t *attrp (POSIX_SPAWNATTR_SIZE bytes)
        "buffer", // char *const argv[] (NULL-terminated BigUint64Array of C string addresses)
        "buffer", // char *const envp[] (NULL-terminated BigUint64Array of C string addresses)
      ],
      result: "i32", // int
    },
    // int posix_spawn_file_actions_init(posix_spawn_file_actions_t *file_actions)
    posix_spawn_file_actions_init: {
      parameters: [
        "buffer", // posix_spawn_file_actions_t *file_actions (POSIX_SPAWN_FILE_ACTIONS_SIZE bytes)
      ],
      result: "i32", // int
    },
    // int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *file_actions, int fd, int newfd)
    posix_spawn_file_actions_adddup2: {
      parameters: [
        "buffer", // posix_spawn_file_actions_t *file_actions (after _init)
        "i32", // int fd
        "i32", // int newfd
      ],
      result: "i32", // int
    },
    // int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path)
    posix_spawn_file_actions_addchdir_np: {
      parameters: [
        "buffer", // posix_spawn_file_actions_t *actions (after _init)
        "buffer", // const char *path (C string)
      ],
      result: "i32", // int
    },
    // int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *file_actions)
    posix_spawn_file_actions_destroy: {
      parameters: [
        "buffer", // posix_spawn_file_actions_t *file_actions (after _init)
      ],
      result: "i32", // int
    },
    // int posix_spawnattr_init(posix_spawnattr_t *attr)
    posix_spawnattr_init: {
      parameters: [
        "buffer", // posix_spawnattr_t *attr (POSIX_SPAWNATTR_SIZE bytes)
      ],
      result: "i32", // int
    },
    // int posix_spawnattr_setflags(posix_spawnattr_t *attr, short int flags)
    posix_spawnattr_setflags: {
      parameters: [
        "buffer", // posix_spawnattr_t *attr (after _init)
        "i16", // short int flags
      ],
      result: "i32", // int
    },
    // int posix_spawnattr_setsigdefault(posix_spawnattr_t *attr, const sigset_t *sigdefault)
    posix_spawnattr_setsigdefault: {
      parameters: [
        "buffer", // posix_spawnattr_t *attr (after _init)
        "buffer", // const sigset_t *sigdefault (128 bytes)
      ],
      result: "i32", // int
    },
    // int posix_spawnattr_setsigmask(posix_spawnattr_t *attr, const sigset_t *sigmask)
    posix_spawnattr_setsigmask: {
      parameters: [
        "buffer", // posix_spawnattr_t *attr (after _init)
        "buffer", // const sigset_t *sigmask (128 bytes)
      ],
      result: "i32", // int
    },
    // int posix_spawnattr_destroy(posix_spawnattr_t *attr)
    posix_spawnattr_destroy: {
      parameters: [
        "buffer", // posix_spawnattr_t *attr (after _init)
      ],
      result: "i32", // int
    },
    // int pidfd_open(pid_t pid, unsigned int flags)
    pidfd_open: {
      parameters: [
        "i32", // pid_t pid
        "u32", // unsigned int flags
      ],
      result: "i32", // int
    },
    // ssize_t write(int fd, const void *buf, size_t n)
    write: {
      parameters: [
        "i32", // int fd
        "buffer", // const void *buf (n bytes)
        "usize", // size_t n
      ],
      result: "isize", // ssize_t
    },
    // ssize_t read(int fd, void *buf, size_t nbytes)
    read: {
      parameters: [
        "i32", // int fd
        "buffer", // void *buf (out, nbytes bytes)
        "usize", // size_t nbytes
      ],
      result: "isize", // ssize_t
    },
    // fcntl is variadic; every call podnet makes passes one int.
    // int fcntl(int fd, int cmd, ...)
    fcntl: {
      parameters: [
        "i32", // int fd
        "i32", // int cmd
        "i32", // int arg (variadic)
      ],
      result: "i32", // int
    },
    // pid_t waitpid(pid_t pid, int *stat_loc, int options)
    waitpid: {
      parameters: [
        "i32", // pid_t pid
        "buffer", // int *stat_loc (out, Int32Array(1))
        "i32", // int options
      ],
      result: "i32", // pid_t
    },
    // int kill(pid_t pid, int sig)
    kill: {
      parameters: [
        "i32", // pid_t pid
        "i32", // int sig
      ],
      result: "i32", // int
    },
    // int poll(struct pollfd *fds, nfds_t nfds, int timeout)
    poll: {
      parameters: [
        "buffer", // struct pollfd *fds (in/out, nfds entries of 8 bytes)
        "u64", // nfds_t nfds
        "i32", // int timeout
      ],
      result: "i32", // int
      nonblocking: true,
    },
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
export const EWOULDBLOCK = 11;

/** open(2) flags, namespace and socket constants from the kernel headers. */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
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
