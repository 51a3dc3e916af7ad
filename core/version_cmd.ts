/**
 * `podnet --version` / `podnet version [--json]`.
 *
 * @module
 */

import { parseFlags } from "./cli.ts";
import type { Io } from "./io.ts";
import { versionInfo, versionLine } from "./version.ts";

export const VERSION_HELP = `usage: podnet version [--json]

Prints podnet's version with the Deno, V8 and libnl versions it runs on.
  --json   one JSON object: podnet, deno, v8, typescript, libnl, cniVersions
`;

export function versionCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags("version", args, { json: { type: "boolean" } });
  if (values.help) io.stdout(VERSION_HELP);
  else if (values.json) io.stdout(`${JSON.stringify(versionInfo())}\n`);
  else io.stdout(`${versionLine()}\n`);
  return Promise.resolve(0);
}
