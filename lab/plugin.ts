/**
 * The podnet plugin file exactly as `podnet install` writes it into a CNI bin
 * dir (ops/install.ts `podnetSource`: a frozen copy of an up-to-date
 * dist/cni.js run through `#!/usr/bin/env`, else a launcher script), for the
 * measuring scripts, so that they time what an operator's node runs.
 *
 * @module
 */

import { podnetSource } from "../ops/install.ts";

/** Writes the installed form of podnet to `dir/podnet` (mode 0755); returns its path and what it is. */
export function installedPlugin(dir: string): { path: string; kind: string } {
  const src = podnetSource();
  const path = `${dir}/podnet`;
  Deno.writeFileSync(path, src.data, { mode: 0o755 });
  Deno.chmodSync(path, 0o755);
  return { path, kind: src.kind };
}
