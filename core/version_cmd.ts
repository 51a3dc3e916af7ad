/**
 * `podnet --version` / `podnet version [--json]`.
 *
 * @module
 */

import type { Io } from "./io.ts";
import { versionInfo, versionLine } from "./version.ts";

export const VERSION_HELP = `usage: podnet version [--json]

Prints podnet's version with the Deno, V8 and libnl versions it runs on.
  --json   one JSON object: podnet, deno, v8, typescript, libnl, cniVersions
`;

export async function versionCommand(args: string[], io: Io): Promise<number> {
  // The common forms are answered without loading the flag parser (node:util costs ~20 ms).
  const only = args.length === 1 ? args[0] : undefined;
  if (args.length === 0) io.stdout(`${versionLine()}\n`);
  else if (only === "--json") io.stdout(`${JSON.stringify(versionInfo())}\n`);
  else if (only === "--help" || only === "-h") io.stdout(VERSION_HELP);
  else {
    const { parseFlags } = await import("./cli.ts");
    const { values } = parseFlags("version", args, { json: { type: "boolean" } });
    io.stdout(values.help ? VERSION_HELP : values.json ? `${JSON.stringify(versionInfo())}\n` : `${versionLine()}\n`);
  }
  return 0;
}
