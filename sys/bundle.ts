/**
 * Whether a bundle (dist/cni.js, built by scripts/bundle.ts) still matches
 * the checkout it was built from: the manifest beside it (dist/cni.json)
 * records every source's stamp (size, mtime to the ns); a stale bundle runs
 * the sources instead, so a stale bundle costs speed, never correctness.
 *
 * @module
 */

import { errorText } from "../core/errors.ts";
import { fileStamp } from "./stamp.ts";

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
export function whyStale(root: string, bundle: string): string | null {
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(Deno.readTextFileSync(`${bundle.slice(0, bundle.lastIndexOf("/"))}/cni.json`));
  } catch (e) {
    return `its manifest dist/cni.json is unreadable (${errorText(e)})`;
  }
  return staleBundle(root, bundle, manifest);
}
