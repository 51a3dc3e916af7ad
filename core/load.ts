/**
 * Loads a module on demand. Before running anything, Deno reads and checks
 * the cache of every module a literal `import("./x.ts")` names, transitively:
 * with main.ts's command table that was 47 files for any podnet call (every
 * role's code, ~10 ms on a busy node, more under load). A specifier computed
 * at run time is loaded only when that code runs. The types stay checked
 * (`typeof import(...)` is type-only), and `deno compile` is told about these
 * modules through `ON_DEMAND` (scripts/compile.ts).
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url);

/** Every module loaded through `load`, as a path from the repository root. */
export const ON_DEMAND = [
  "core/version_cmd.ts",
  "cni/main.ts",
  "cni/add.ts",
  "cni/del.ts",
  "cni/check.ts",
  "cni/gc.ts",
  "cni/capture.ts",
  "sandbox/capture.ts",
  "sandbox/restore.ts",
  "sandbox/hook.ts",
  "ops/install.ts",
  "ops/status.ts",
  "core/cli.ts",
] as const;

/** One of `ON_DEMAND`. */
export type OnDemand = typeof ON_DEMAND[number];

/** `import()` of `path` (from the repository root), resolved only now; `T` is `typeof import(path)`. */
export function load<T>(path: OnDemand): Promise<T> {
  return import(new URL(path, ROOT).href) as Promise<T>;
}
