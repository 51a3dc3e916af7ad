/**
 * Command-line parsing for subcommands on top of `node:util` parseArgs:
 * unknown flags and bad values become a `UsageError` (exit 2) that names them.
 *
 * @module
 */

import { parseArgs } from "node:util";

import { errorText, UsageError } from "./errors.ts";

export { UsageError };

/** Flag definitions in parseArgs form. */
export type Flags = Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;

/** Parsed flag values. */
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/**
 * Parses `args` for subcommand `cmd`. Always accepts `--help`/`-h`.
 * Positional arguments are refused unless `positionals` is true.
 */
export function parseFlags(
  cmd: string,
  args: string[],
  flags: Flags,
  positionals = false,
): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({
      args,
      options: { ...flags, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: positionals,
    });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    const msg = errorText(e);
    // node's messages: "Unknown option '--x'", "Option '--y <value>' argument missing", …
    throw new UsageError(`podnet ${cmd}: ${msg.split("\n")[0]!.replace(/\. To specify.*$/, "")}`);
  }
}

/** A string flag, or undefined. */
export function str(v: Values, name: string): string | undefined {
  const x = v[name];
  return typeof x === "string" ? x : undefined;
}

/** A repeatable string flag. */
export function strs(v: Values, name: string): string[] {
  const x = v[name];
  return Array.isArray(x) ? x.filter((s): s is string => typeof s === "string") : typeof x === "string" ? [x] : [];
}

/** A string flag that must be given and not empty; `hint` is added to the usage error. */
export function required(cmd: string, v: Values, name: string, hint = ""): string {
  const x = str(v, name);
  if (x === undefined || x === "") throw new UsageError(`podnet ${cmd}: --${name} is required${hint}`);
  return x;
}

/** A non-negative integer flag, or `def`. The refused text is not repeated (a flag's value is input too). */
export function int(cmd: string, v: Values, name: string, def: number): number {
  const x = str(v, name);
  if (x === undefined) return def;
  if (!/^[0-9]{1,9}$/.test(x)) throw new UsageError(`podnet ${cmd}: --${name} wants a whole number`);
  return Number(x);
}
