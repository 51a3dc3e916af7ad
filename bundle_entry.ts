/**
 * The CNI role as one program, for `scripts/bundle.ts`, which turns it into
 * `dist/cni.js`: one file for Deno to read and compile instead of the ~40
 * modules of main.ts → cni/main.ts → cni/add.ts. The launcher runs it when
 * CNI_COMMAND is set and the file exists (README, "How a CNI call runs").
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
import { mark, profileStart } from "./core/profile.ts";
import { provide } from "./sys/load.ts";
import { whyStale } from "./sys/bundle.ts";

export { type BundleManifest, staleBundle, staleSource } from "./sys/bundle.ts";
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

if (import.meta.main) {
  const profile = Deno.env.get("PODNET_PROFILE");
  if (profile) profileStart(performance.now(), profile);
  // Run as dist/cni.js (this file is only ever run bundled): the checkout is one level up.
  const root = new URL("../", import.meta.url);
  // Paths, not URLs: a checkout under a name with spaces is %-encoded in the URL.
  const why = whyStale(decodeURIComponent(root.pathname), decodeURIComponent(new URL(import.meta.url).pathname));
  if (why === null) {
    mark("bundle check");
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
