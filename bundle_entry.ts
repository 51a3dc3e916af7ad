/**
 * The CNI role as one program, for `scripts/bundle.ts`, which turns it into
 * `dist/cni.js`: one file for Deno to read and compile instead of the ~40
 * modules of main.ts → cni/main.ts → cni/add.ts. The launcher runs it when
 * CNI_COMMAND is set and the file exists; it saves ~8–11 ms of an ADD (README, "How a CNI call runs").
 *
 * Before running, the bundle compares the sources it was built from
 * (`dist/cni.json`: path, size, mtime to the ns) with the files now in the checkout.
 * When one differs (an edit, a `git pull` without a rebuild) it says so on
 * stderr and runs main.ts from source instead: a stale bundle costs speed,
 * never correctness.
 *
 * @module
 */

import { processIo } from "./core/io.ts";
import { provide } from "./sys/load.ts";
import { fileStamp } from "./sys/stamp.ts";
import { main } from "./main.ts";
import * as add from "./cni/add.ts";
import * as capture from "./cni/capture.ts";
import * as check from "./cni/check.ts";
import * as del from "./cni/del.ts";
import * as gc from "./cni/gc.ts";
import * as cniMain from "./cni/main.ts";

/**
 * The modules the CNI role loads on demand (commands.ts: the `cni` command's
 * module and its lazy ones), carried inside the bundle. A unit test checks
 * this against the registry.
 */
export const CNI_ROLE: Record<string, unknown> = {
  "cni/main.ts": cniMain,
  "cni/add.ts": add,
  "cni/del.ts": del,
  "cni/check.ts": check,
  "cni/gc.ts": gc,
  "cni/capture.ts": capture,
};

/** What `scripts/bundle.ts` writes beside the bundle. */
export interface BundleManifest {
  /** Deno version that built it. */
  deno: string;
  /** The `fileStamp` of the dist/cni.js this manifest belongs to. */
  bundle: string;
  /** Every local module of the bundle: path from the repository root and its `fileStamp`. */
  sources: [string, string][];
}

/**
 * The first source whose stamp (size, mtime) differs from the manifest, or
 * that is gone, with the reason; null when the bundle matches the checkout.
 * `root` ends with a slash.
 */
export function staleSource(
  root: string,
  manifest: BundleManifest,
  stamp: (path: string) => string | null = fileStamp,
): string | null {
  if (!Array.isArray(manifest.sources) || manifest.sources.length === 0) return "its manifest lists no sources";
  for (const [path, want] of manifest.sources) {
    const now = stamp(`${root}${path}`);
    if (now === null) return `${path} is gone`;
    if (now !== want) return `${path} changed`;
  }
  return null;
}

/**
 * Why the bundle at `bundle` cannot be trusted with `manifest`, or null: the
 * manifest belongs to another build (a rebuild is halfway), or a source changed.
 */
export function staleBundle(
  root: string,
  bundle: string,
  manifest: BundleManifest,
  stamp: (path: string) => string | null = fileStamp,
): string | null {
  if (stamp(bundle) !== manifest.bundle) return "dist/cni.json belongs to another build of it";
  return staleSource(root, manifest, stamp);
}

/** Why the bundle at `bundle` (its manifest beside it) cannot be trusted, or null. */
function whyStale(root: string, bundle: string): string | null {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(Deno.readTextFileSync(`${bundle.slice(0, bundle.lastIndexOf("/"))}/cni.json`));
  } catch (e) {
    return `its manifest dist/cni.json is unreadable (${e instanceof Error ? e.message : String(e)})`;
  }
  return staleBundle(root, bundle, manifest);
}

if (import.meta.main) {
  // Run as dist/cni.js (this file is only ever run bundled): the checkout is one level up.
  const root = new URL("../", import.meta.url);
  // Paths, not URLs: a checkout under a name with spaces is %-encoded in the URL.
  const why = whyStale(decodeURIComponent(root.pathname), decodeURIComponent(new URL(import.meta.url).pathname));
  if (why === null) {
    provide(CNI_ROLE);
    Deno.exit(await main(Deno.args, processIo()));
  }
  // Nothing of the bundle has run yet (its modules only define things): the source takes over whole.
  Deno.stderr.writeSync(
    new TextEncoder().encode(
      `podnet: dist/cni.js is out of date (${why}); running from source. Rebuild it: deno task bundle\n`,
    ),
  );
  const source = await import(new URL("main.ts", root).href) as typeof import("./main.ts");
  Deno.exit(await source.main(Deno.args, processIo()));
}
