/**
 * The answer to CNI VERSION: the requested version echoed (spec) with the
 * versions podnet speaks. VERSION needs no config, so this imports nothing
 * but the constants: version_entry.ts answers it without loading the plugin.
 *
 * @module
 */

import { CNI_VERSIONS, VERSION_RE } from "../core/constants.ts";

/**
 * The VERSION answer line for stdin `bytes`. Only a version-shaped
 * `cniVersion` is echoed (a config's text is never repeated otherwise);
 * anything else, or no config at all, is answered for the newest version.
 */
export function versionAnswer(bytes: Uint8Array): string {
  let requested = CNI_VERSIONS.at(-1)!;
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as { cniVersion?: unknown };
    if (typeof v.cniVersion === "string" && VERSION_RE.test(v.cniVersion)) requested = v.cniVersion;
  } catch {
    // VERSION works without a config (and a stack-deep one cannot be parsed: same answer)
  }
  return `${JSON.stringify({ cniVersion: requested, supportedVersions: CNI_VERSIONS })}\n`;
}
