/**
 * Binds a symbol table one symbol at a time, on first use, without
 * compiling anything.
 *
 * `Deno.dlopen` JIT-compiles a fast-call trampoline for every function of the
 * table it is given: 0.15–0.35 ms per symbol here, 20–40 ms for all of libnl,
 * paid by every CNI call before it has done anything. A symbol bound here is
 * first looked up with dlsym(3) and called through `Deno.UnsafeFnPointer`
 * (~0.02 ms to bind, ~1 µs more per call than a trampoline); only a symbol
 * that turns out to be hot (a bulk route install, a big dump) gets its
 * trampoline, after `HOT` calls. A CNI ADD makes about 200 calls in all.
 *
 * @module
 */

/** A library whose symbols are bound when each is first read. */
export interface LazyLibrary<S extends Deno.ForeignLibraryInterface> {
  readonly symbols: Deno.StaticForeignLibraryInterface<S>;
}

/** Calls of one symbol after which it is worth its compiled trampoline (~0.3 ms = ~250 calls saved 1 µs). */
export const HOT = 256;

const RTLD_LAZY = 0x1;

/** dlopen(3)/dlsym(3) themselves: the one table opened the ordinary way (two trampolines). */
let loader: Deno.DynamicLibrary<typeof LOADER> | null = null;
const LOADER = {
  dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
  dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

const handles = new Map<string, Deno.PointerObject>();

/** Encodes a JS string as a NUL-terminated C string. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${s}\0`);
}

function address(path: string, name: string): Deno.PointerValue {
  const l = (loader ??= Deno.dlopen("libc.so.6", LOADER)).symbols;
  let h = handles.get(path);
  if (h === undefined) {
    const p = l.dlopen(cstr(path), RTLD_LAZY);
    if (p === null) throw new Error(`Could not open library ${path}`);
    handles.set(path, h = p);
  }
  return l.dlsym(h, cstr(name));
}

function bind(
  path: string,
  name: string,
  def: Deno.ForeignFunction | Deno.ForeignStatic,
  symbols: Record<string, unknown>,
): unknown {
  // A static is read, not called: the ordinary way costs no trampoline.
  if ("type" in def) return Deno.dlopen(path, { [name]: def }).symbols[name];
  const ptr = address(path, name);
  if (ptr === null) {
    if (def.optional) return null;
    throw new Error(`Failed to register symbol ${name}: not found in ${path}`);
  }
  const fn = new Deno.UnsafeFnPointer(ptr as Deno.PointerObject<typeof def>, def);
  if (def.nonblocking) return (...args: unknown[]) => fn.call(...(args as never[]));
  let calls = 0;
  return (...args: unknown[]) => {
    if (++calls === HOT) symbols[name] = Deno.dlopen(path, { [name]: def }).symbols[name];
    return fn.call(...(args as never[]));
  };
}

/**
 * The symbols of `defs` in the library at `path` (a soname), each bound on
 * first read; the same calling conventions as `Deno.dlopen(path, defs).symbols`.
 * A Proxy, so that making a table costs nothing per symbol: a getter per
 * symbol took 2–5 ms for libnl's ~120 at every process start.
 */
export function lazyDlopen<const S extends Deno.ForeignLibraryInterface>(path: string, defs: S): LazyLibrary<S> {
  const bound: Record<string, unknown> = {};
  const symbols: Record<string, unknown> = new Proxy(bound, {
    get(target, name): unknown {
      if (typeof name !== "string") return undefined;
      const value = target[name];
      if (value !== undefined || !Object.hasOwn(defs, name)) return value;
      return (target[name] = bind(path, name, defs[name]!, target));
    },
    has: (_, name): boolean => typeof name === "string" && Object.hasOwn(defs, name),
  });
  return { symbols: symbols as unknown as Deno.StaticForeignLibraryInterface<S> };
}
