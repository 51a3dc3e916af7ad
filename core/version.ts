/**
 * Version facts: podnet's own, Deno's, V8's and libnl's (read from libnl's
 * exported `nl_ver_*` statics, so it is the library actually loaded).
 *
 * @module
 */

import { libnlVersion } from "../ffi/libnl.ts";

/** podnet's release version. Keep in step with deno.json. */
export const VERSION = "0.1.0";

/** Facts printed by `podnet --version` and `podnet version --json`. */
export interface VersionInfo {
  podnet: string;
  deno: string;
  v8: string;
  typescript: string;
  libnl: string;
  cniVersions: string[];
}

/** CNI spec versions podnet speaks, oldest first. */
export const CNI_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

export function versionInfo(): VersionInfo {
  return {
    podnet: VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    libnl: libnlVersion(),
    cniVersions: CNI_VERSIONS,
  };
}

/** `podnet 0.1.0 (deno 2.9.6, v8 15.0…, libnl 3.7.0)`. */
export function versionLine(): string {
  const v = versionInfo();
  return `podnet ${v.podnet} (deno ${v.deno}, v8 ${v.v8}, libnl ${v.libnl})`;
}
