/**
 * Raw libc symbols used by podnet: namespace switching, file descriptors,
 * errno and interface lookup. C names verbatim; no logic lives here.
 *
 * @module
 */

export const libc = Deno.dlopen(
  "libc.so.6",
  {
    setns: { parameters: ["i32", "i32"], result: "i32" },
    open: { parameters: ["buffer", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    __errno_location: { parameters: [], result: "pointer" },
    strerror: { parameters: ["i32"], result: "pointer" },
    if_nametoindex: { parameters: ["buffer"], result: "u32" },
    getpid: { parameters: [], result: "i32" },
    gettid: { parameters: [], result: "i32" },
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    sendto: {
      parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
      result: "isize",
    },
    setsockopt: {
      parameters: ["i32", "i32", "i32", "buffer", "u32"],
      result: "i32",
    },
    // RTM_GETNSID has no libnl helper (ops/nsid.ts speaks it over a raw netlink socket).
    recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  } as const satisfies Deno.ForeignLibraryInterface,
);

/** open(2) flags and namespace constants from the kernel headers. */
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_BINDTODEVICE = 25;

/** Encodes a JS string as a NUL-terminated C string. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(s);
  const buf = new Uint8Array(bytes.length + 1);
  buf.set(bytes);
  return buf;
}

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
