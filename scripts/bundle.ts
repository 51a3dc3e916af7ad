/**
 * Builds `dist/cni.js`, the CNI role (bundle_entry.ts) as one JavaScript file,
 * with `deno bundle`, and `dist/cni.json`, the list of sources it was built
 * from (path, size, mtime) that the bundle checks before it runs. The
 * launcher runs the bundle for CNI calls when it exists; see bundle_entry.ts.
 *
 * `deno bundle` uses esbuild, which Deno fetches from the npm registry into
 * DENO_DIR the first time.
 *
 * Usage: deno run -A scripts/bundle.ts [--check]
 *   --check  exit 1 (saying why) when dist/cni.js is missing or older than its sources
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseFlags } from "../core/cli.ts";
import { writeFileAtomic } from "../core/fsutil.ts";
import { type BundleManifest, staleBundle } from "../sys/bundle.ts";
import { fileStamp } from "../sys/stamp.ts";
import { stripAnsi } from "./compile.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const ENTRY = join(ROOT, "bundle_entry.ts");

const HELP = `usage: scripts/bundle.ts [--check]

Bundles bundle_entry.ts into dist/cni.js with deno bundle, and writes dist/cni.json, the sources it
was built from. The launcher runs the bundle for CNI calls; a bundle whose sources have changed
since runs main.ts from source instead and says so on stderr.
  --check  only say whether dist/cni.js is up to date (exit 1 when not)
`;

function denoRun(args: string[]): { ok: boolean; stdout: string; stderr: string } {
  const out = new Deno.Command(Deno.execPath(), {
    args,
    env: { DENO_DIR: Deno.env.get("DENO_DIR") || join(ROOT, ".cache/deno"), DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const dec = new TextDecoder();
  const plain = (b: Uint8Array): string => stripAnsi(dec.decode(b));
  return { ok: out.success, stdout: plain(out.stdout), stderr: plain(out.stderr) };
}

/** One module of `deno info --json`: its imports, with `code` set for those that run (not type-only). */
interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string } }[];
}

/**
 * The checkout's own modules the entry runs, as paths from the repository
 * root: its graph followed along code imports only, so a module main.ts names
 * in a type alone (ops/, sandbox/) does not make the bundle out of date.
 */
export function localSources(): string[] {
  const info = denoRun(["info", "--json", "--no-config", "--no-lock", ENTRY]);
  if (!info.ok) throw new Error(`deno info ${ENTRY} failed: ${info.stderr.trim()}`);
  const graph = JSON.parse(info.stdout) as { roots: string[]; modules: InfoModule[] };
  const bySpecifier = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const walk = (specifier: string): void => {
    if (seen.has(specifier) || !specifier.startsWith("file://")) return;
    seen.add(specifier);
    for (const d of bySpecifier.get(specifier)?.dependencies ?? []) if (d.code) walk(d.code.specifier);
  };
  graph.roots.forEach(walk);
  return [...seen].map((s) => relative(ROOT, fileURLToPath(s))).sort();
}

/** The stamps (size, mtime) of `paths` now. */
function manifestOf(paths: string[]): Omit<BundleManifest, "bundle"> {
  return {
    deno: Deno.version.deno,
    sources: paths.map((p) => {
      const stamp = fileStamp(join(ROOT, p));
      if (stamp === null) throw new Error(`cannot stat ${p}`);
      return [p, stamp];
    }),
  };
}

/** Runs the build (or the check); returns the exit code. */
export function bundle(args: string[], say: (line: string) => void): number {
  const { values } = parseFlags("bundle", args, { check: { type: "boolean" } });
  if (values.help) {
    say(HELP.trimEnd());
    return 0;
  }
  const outDir = join(ROOT, "dist");
  const js = join(outDir, "cni.js"), json = join(outDir, "cni.json");
  if (values.check) {
    let why: string | null;
    try {
      Deno.statSync(js);
      why = staleBundle(`${ROOT}/`, js, JSON.parse(Deno.readTextFileSync(json)));
    } catch (e) {
      why = e instanceof Error ? e.message : String(e);
    }
    say(why === null ? `bundle: ${js} is up to date` : `bundle: ${js} is out of date: ${why}`);
    return why === null ? 0 : 1;
  }
  // Sizes and mtimes are taken before bundling: a file edited meanwhile then no longer matches,
  // so the bundle errs towards "out of date", never towards running old code as new.
  const manifest = manifestOf(localSources());
  Deno.mkdirSync(outDir, { recursive: true });
  // Built under its final name in a private dir (the map's name is written into the bundle), then
  // moved into place: a failed or killed build never leaves a partial dist/cni.js.
  const tmp = Deno.makeTempDirSync({ dir: outDir, prefix: ".build-" });
  try {
    // Minified (~80 KB instead of ~140 KB: ~1.5 ms less for Deno to load), with names kept for error
    // messages and a source map beside it, which Deno reads only to print a stack trace.
    const built = denoRun([
      "bundle",
      "--no-config",
      "--no-lock",
      "--platform",
      "deno",
      "--minify",
      "--keep-names",
      "--sourcemap",
      "linked",
      "--output",
      join(tmp, "cni.js"),
      ENTRY,
    ]);
    if (!built.ok) {
      say(`bundle: deno bundle failed:\n${built.stderr.trim()}`);
      return 1;
    }
    // The bundle first, then the manifest that names it by its own stamp: a CNI call in between
    // sees a manifest that is not this bundle's and runs from source, never old code as new.
    for (const f of ["cni.js.map", "cni.js"]) {
      Deno.chmodSync(join(tmp, f), 0o644);
      Deno.renameSync(join(tmp, f), join(outDir, f));
    }
    const bundleStamp = fileStamp(js);
    if (bundleStamp === null) throw new Error(`cannot stat ${js}`);
    const lines = manifest.sources.map((s) => `  ${JSON.stringify(s)}`).join(",\n");
    writeFileAtomic(
      json,
      `{ "deno": ${JSON.stringify(manifest.deno)}, "bundle": ${
        JSON.stringify(bundleStamp)
      }, "sources": [\n${lines}\n] }\n`,
      0o644,
    );
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
  say(`bundle: wrote ${js} (${manifest.sources.length} modules, ${Deno.statSync(js).size} bytes)`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(bundle(Deno.args, (l) => console.log(l)));
}
