/**
 * Opens a symbol table on first use. `Deno.dlopen` JIT-compiles a call
 * trampoline for every symbol of the table it is given (~0.15–0.3 ms each
 * here), so opening all of libnl costs a CNI call 20–40 ms before it has done
 * anything; split into small tables opened lazily, each role pays only for
 * the symbols it calls (VERSION for none, DEL for the link table).
 *
 * @module
 */

/** A library whose symbols are bound when `symbols` is first read. */
export interface LazyLibrary<S extends Deno.ForeignLibraryInterface> {
  readonly symbols: Deno.StaticForeignLibraryInterface<S>;
}

/** `Deno.dlopen(path, symbols)`, deferred until `.symbols` is first read. */
export function lazyDlopen<const S extends Deno.ForeignLibraryInterface>(path: string, symbols: S): LazyLibrary<S> {
  let lib: Deno.DynamicLibrary<S> | null = null;
  return {
    get symbols(): Deno.StaticForeignLibraryInterface<S> {
      return (lib ??= Deno.dlopen(path, symbols)).symbols;
    },
  };
}
