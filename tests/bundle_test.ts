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
  // A DEL without CNI_CONTAINERID: answered by the CNI role (the bundle or the sources) without any kernel work.
  const call = async (): Promise<{ code: number; stdout: string; stderr: string }> =>
    await runAsync(`${copy}/bin/podnet`, [], {
      env: { CNI_COMMAND: "DEL", CNI_PATH: "/usr/lib/cni", PODNET_DENO: DENO, DENO_DIR: `${copy}/.cache` },
      clearEnv: true,
      cwd: "/",
      stdin: '{"cniVersion":"1.0.0"}',
    });
  const answer = (r: { stdout: string }): unknown => JSON.parse(r.stdout).msg;

  const fresh = await call();
  assert.equal(fresh.code, 1, fresh.stderr);
  assert.ok(!fresh.stderr.includes("out of date"), "a matching bundle runs without a word about freshness");
  assert.equal(answer(fresh), "CNI_CONTAINERID is required");

  Deno.writeTextFileSync(`${copy}/cni/del.ts`, "\n// edited after the bundle was built\n", { append: true });
  const stale = await call();
  assert.match(stale.stderr, /dist\/cni\.js is out of date \(cni\/del\.ts changed\); running from source/);
  assert.equal(answer(stale), "CNI_CONTAINERID is required", "the sources give the same answer");

  Deno.removeSync(`${copy}/dist/cni.json`);
  const noManifest = await call();
  assert.match(noManifest.stderr, /out of date \(its manifest dist\/cni\.json is unreadable/);
  assert.equal(answer(noManifest), "CNI_CONTAINERID is required");
});
