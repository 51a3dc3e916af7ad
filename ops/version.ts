/**
 * Version facts — podnet's own, Deno's, V8's and libnl's (read from libnl's
 * exported `nl_ver_*` statics, so it is the library actually loaded) — and
 * `podnet --version` / `podnet version [--json]`.
 *
 * @module
 */

import { CNI_VERSIONS, VERSION } from "../core/constants.ts";
import type { Io } from "../core/io.ts";
import { libnlVersion } from "../netlink/info.ts";

/** Facts printed by `podnet --version` and `podnet version --json`. */
export interface VersionInfo {
  podnet: string;
  deno: string;
  v8: string;
  typescript: string;
  libnl: string;
  cniVersions: string[];
}

/** The version facts of this process. */
export function versionInfo(): VersionInfo {
  return {
    podnet: VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    libnl: libnlVersion(),
    cniVersions: [...CNI_VERSIONS],
  };
}

/** `podnet 0.1.0 (deno 2.9.6, v8 15.0…, libnl 3.7.0)`. */
export function versionLine(): string {
  const v = versionInfo();
  return `podnet ${v.podnet} (deno ${v.deno}, v8 ${v.v8}, libnl ${v.libnl})`;
}

export const VERSION_HELP = `usage: podnet version [--json]

Prints podnet's version with the Deno, V8 and libnl versions it runs on.
  --json   one JSON object: podnet, deno, v8, typescript, libnl, cniVersions
`;

/** `podnet --version` / `podnet version [--json]`. */
export async function versionCommand(args: string[], io: Io): Promise<number> {
  // The common forms are answered without loading the flag parser (node:util costs ~20 ms).
  const only = args.length === 1 ? args[0] : undefined;
  if (args.length === 0) io.stdout(`${versionLine()}\n`);
  else if (only === "--json") io.stdout(`${JSON.stringify(versionInfo())}\n`);
  else if (only === "--help" || only === "-h") io.stdout(VERSION_HELP);
  else {
    const { parseFlags } = await import("../core/cli.ts");
    const { values } = parseFlags("version", args, { json: { type: "boolean" } });
    io.stdout(values.help ? VERSION_HELP : values.json ? `${JSON.stringify(versionInfo())}\n` : `${versionLine()}\n`);
  }
  return 0;
}
