/**
 * Loads a module on demand. Before running anything, Deno reads and checks
 * the cache of every module a literal `import("./x.ts")` names, transitively:
 * with a command table of literal imports that was 47 files for any podnet
 * call (every role's code, ~10 ms on a busy node, more under load). A
 * specifier computed at run time is loaded only when that code runs. The
 * types stay checked (`typeof import(...)` is type-only). Which modules are
 * loaded this way is declared once, in commands.ts (`ON_DEMAND`), from which
 * `deno compile` (scripts/compile.ts) and the bundle (bundle_entry.ts) learn it.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url);

/** Modules a bundle carries inside itself (`provide`); null when running from source. */
let provided: Map<string, unknown> | null = null;

/**
 * Registers the modules a bundle contains (bundle_entry.ts → dist/cni.js).
 * From then on `load` serves only these: importing a source file beside them
 * would create a second copy of every module it shares with the bundle (a
 * second `NetlinkError` class that `instanceof` does not recognise), so a
 * path the bundle lacks is an error, not a silent fallback.
 */
export function provide(mods: Record<string, unknown>): void {
  provided = new Map(Object.entries(mods));
}

/** Whether this process runs a bundle (`provide` was called). */
export function bundled(): boolean {
  return provided !== null;
}

/** `import()` of `path` (from the repository root), resolved only now; `T` is `typeof import(path)`. */
export function load<T>(path: string): Promise<T> {
  if (provided !== null) {
    const m = provided.get(path);
    if (m === undefined) return Promise.reject(new Error(`${path} is not part of this bundle`));
    return Promise.resolve(m as T);
  }
  return import(new URL(path, ROOT).href) as Promise<T>;
}
