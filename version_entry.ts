/**
 * CNI VERSION as its own small program: the launcher runs it (from source)
 * when CNI_COMMAND is VERSION. libcni asks every plugin of a list for VERSION
 * before it uses it, so this call is made as often as ADD; it loads three
 * small modules and no FFI instead of the whole CNI role (dist/cni.js), and
 * it needs no freshness check because it is the source itself.
 *
 * @module
 */

import { readStdin } from "./core/io.ts";
import { versionAnswer } from "./cni/version.ts";

if (import.meta.main) {
  let bytes: Uint8Array = new Uint8Array();
  try {
    bytes = readStdin();
  } catch {
    // VERSION works without a config
  }
  Deno.stdout.writeSync(new TextEncoder().encode(versionAnswer(bytes)));
}
