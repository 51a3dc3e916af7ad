/**
 * The bundled CNI role (scripts/bundle.ts → dist/cni.js): the launcher runs
 * it for CNI calls, and a bundle whose sources changed since it was built
 * says so and runs the sources instead.
 *
 * @module
 */

import assert from "node:assert/strict";
import { add, cni, makeNode, netConf } from "./cni_helpers.ts";
import { PROGRAM_ENTRIES, run, runAsync, world } from "./harness.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DENO = Deno.execPath();

Deno.test("dist/cni.js matches the sources, and CNI calls run it", async () => {
  const check = await runAsync(DENO, ["run", "-A", `${ROOT}/scripts/bundle.ts`, "--check"]);
  assert.equal(check.code, 0, `${check.stdout}${check.stderr}(rebuild: deno task bundle)`);
  await using w = world();
  const node = makeNode(w);
  const pod = w.netns("pod");
  const conf = netConf(node);
  await add(node, pod, conf);
  const del = await cni(node, { command: "DEL", netns: w.path(pod) }, conf);
  assert.equal(del.code, 0, del.stdout);
  assert.equal(del.stderr, "");
  const ops = Deno.readTextFileSync(node.logFile).trim().split("\n").map((l) => JSON.parse(l))
    .filter((l) => l.msg.startsWith("cni "));
  assert.deepEqual(ops.map((l) => [l.command, l.runFrom]), [["ADD", "dist/cni.js"], ["DEL", "dist/cni.js"]]);
});

Deno.test("a bundle whose sources changed says so on stderr and runs the sources", async () => {
  await using w = world();
  // A checkout of our own (cp -a keeps the mtimes the manifest recorded), so the real one is untouched; a space in
  // its path, which import.meta.url %-encodes.
  const copy = `${w.tempDir()}/check out`;
  Deno.mkdirSync(copy);
  for (const entry of [...PROGRAM_ENTRIES, "dist"]) {
    run("cp", ["-a", `${ROOT}/${entry}`, `${copy}/`]);
  }
  const version = async (): Promise<{ code: number; stdout: string; stderr: string }> =>
    await runAsync(`${copy}/bin/podnet`, [], {
      env: { CNI_COMMAND: "VERSION", PODNET_DENO: DENO, DENO_DIR: `${copy}/.cache` },
      clearEnv: true,
      cwd: "/",
      stdin: '{"cniVersion":"1.0.0"}',
    });

  const fresh = await version();
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.equal(fresh.stderr, "", "a matching bundle runs quietly");
  assert.equal(JSON.parse(fresh.stdout).cniVersion, "1.0.0");

  Deno.writeTextFileSync(`${copy}/cni/del.ts`, "\n// edited after the bundle was built\n", { append: true });
  const stale = await version();
  assert.equal(stale.code, 0, stale.stderr);
  assert.match(stale.stderr, /dist\/cni\.js is out of date \(cni\/del\.ts changed\); running from source/);
  assert.deepEqual(JSON.parse(stale.stdout).supportedVersions, ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);

  Deno.removeSync(`${copy}/dist/cni.json`);
  const noManifest = await version();
  assert.equal(noManifest.code, 0, noManifest.stderr);
  assert.match(noManifest.stderr, /out of date \(its manifest dist\/cni\.json is unreadable/);
});
