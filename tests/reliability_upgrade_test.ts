/**
 * Reliability (issue 7, test 8): upgrading podnet while ADDs run. Two
 * checkouts take turns installing themselves (`podnet install` rewrites the
 * CNI bin dir's launcher by temp file + rename) while the checkouts' own
 * launcher and main.ts are replaced the same way, as a `git pull` would:
 * 24 ADDs, 8 at a time, through the installed plugin all succeed, nothing
 * says "text file busy", and every install succeeds.
 *
 * @module
 */

import assert from "node:assert/strict";
import { PROGRAM_ENTRIES, run, runAsync, world } from "./harness.ts";
import { cni, makeNode, type Node, SUBNET4 } from "./cni_helpers.ts";
import { assertNoLeak, mustDel, nodeState, pool, relConf } from "./rel_helpers.ts";
import { writeFileAtomic } from "../core/fsutil.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** A copy of this checkout's program (sharing its Deno and module cache) at `dir`. */
function checkout(dir: string): string {
  Deno.mkdirSync(dir);
  run("cp", [
    "-r",
    ...PROGRAM_ENTRIES.map((f) => `${ROOT}/${f}`),
    dir,
  ]);
  Deno.symlinkSync(`${ROOT}/.tools`, `${dir}/.tools`);
  return dir;
}

/** Replaces `path` by temp file + rename with its content plus a marker line (a new version). */
function replaceFile(path: string, marker: string): number {
  const text = Deno.readTextFileSync(path).replace(/\n(#|\/\/) upgrade .*\n$/, "\n");
  writeFileAtomic(
    path,
    `${text}${path.endsWith(".ts") ? "//" : "#"} upgrade ${marker}\n`,
    Deno.statSync(path).mode! & 0o777,
  );
  return Deno.statSync(path).ino!;
}

async function install(node: Node, from: string, bin: string, conf: string): Promise<void> {
  const r = await runAsync(`${from}/bin/podnet`, [
    "install",
    "--cni-bin-dir",
    bin,
    "--cni-conf-dir",
    conf,
    "--no-hook",
    "--subnet",
    SUBNET4,
    "--ipam-data-dir",
    node.dataDir,
  ]);
  assert.equal(r.code, 0, `install from ${from}: ${r.stderr}`);
  assert.ok(!/text file busy/i.test(r.stdout + r.stderr), r.stderr);
}

Deno.test("24 ADDs through the installed plugin all succeed while podnet is re-installed and its files replaced", async () => {
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const base = w.tempDir();
  const [a, b] = [checkout(`${base}/a`), checkout(`${base}/b`)];
  const bin = `${base}/cni-bin`, confDir = `${base}/cni-conf`;
  await install(node, a, bin, confDir);
  const plugin = `${bin}/podnet`;
  const conf = relConf(node);
  const n = 24;
  const pods = Array.from({ length: n }, (_, i) => w.netns(`u${i}`));

  let running = true;
  const inodes = new Set<number>();
  let installs = 0, replaced = 0;
  const upgrader = (async () => {
    for (let k = 0; running; k++) {
      await install(node, k % 2 === 0 ? b : a, bin, confDir);
      installs++;
      inodes.add(Deno.statSync(plugin).ino!);
    }
  })();
  // The checkouts change under the running ADDs far more often than a whole install takes.
  const puller = (async () => {
    for (let k = 0; running; k++) {
      for (const co of [a, b]) {
        for (const f of ["main.ts", "bin/podnet", "cni/add.ts", "cni/main.ts"]) {
          replaceFile(`${co}/${f}`, `${k}`);
          replaced++;
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const t0 = performance.now();
  const runs = await pool(
    pods,
    8,
    (pod, i) => cni(node, { command: "ADD", containerId: `upg-${i}`, netns: w.path(pod) }, conf, plugin),
  );
  const ms = performance.now() - t0;
  running = false;
  await Promise.all([upgrader, puller]);
  runs.forEach((r, i) => {
    assert.equal(r.code, 0, `ADD ${i} failed during the upgrade: ${r.stdout} ${r.stderr}`);
    // A launcher read half-written can also "succeed" without doing anything: the result must be there.
    assert.equal(r.json?.ips?.length, 2, `ADD ${i} printed no result: ${r.stdout}`);
    assert.ok(!/text file busy/i.test(r.stdout + r.stderr), r.stderr);
  });
  console.log(`${n} ADDs in ${ms.toFixed(0)} ms during ${installs} installs and ${replaced} file replacements`);
  assert.ok(installs >= 3 && inodes.size >= 2, `the plugin was not replaced while ADDs ran (${installs} installs)`);
  for (const [i, pod] of pods.entries()) {
    await mustDel(node, { command: "DEL", containerId: `upg-${i}`, netns: w.path(pod) }, conf);
  }
  await assertNoLeak(node, before, "upgrade", { pods });
});

Deno.test("control: the same ADDs break when the launcher is rewritten in place instead of replaced", async () => {
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const plugin = `${w.tempDir()}/podnet`;
  const text = `#!/bin/sh\nexec ${ROOT}/bin/podnet "$@"\n`;
  Deno.writeTextFileSync(plugin, text, { mode: 0o755 });
  let running = true, busy = 0;
  const writer = (async () => {
    while (running) {
      let f: Deno.FsFile;
      try {
        f = Deno.openSync(plugin, { write: true, truncate: true }); // what a non-atomic installer does
      } catch (e) {
        // The kernel refuses to write a file while it is being exec'd: the installer's own failure mode.
        if (!String(e).includes("(os error 26)")) throw e; // ETXTBSY
        busy++;
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      await new Promise((r) => setTimeout(r, 1));
      f.writeSync(new TextEncoder().encode(text));
      f.close();
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  const conf = relConf(node);
  const pods = Array.from({ length: 16 }, (_, i) => w.netns(`n${i}`));
  const runs = await pool(
    pods,
    8,
    (pod, i) => cni(node, { command: "ADD", containerId: `inplace-${i}`, netns: w.path(pod) }, conf, plugin),
  );
  running = false;
  await writer;
  const broken = runs.filter((r) => r.code !== 0 || r.json?.ips?.length !== 2).length;
  console.log(`in-place rewrites: ${broken}/${pods.length} ADDs broken, ${busy} writes refused (text file busy)`);
  assert.ok(broken > 0, "in-place rewrites broke nothing: the upgrade test could not see a non-atomic install");
  for (const [i, pod] of pods.entries()) {
    await mustDel(node, { command: "DEL", containerId: `inplace-${i}`, netns: w.path(pod) }, conf);
  }
  await assertNoLeak(node, before, "in-place control", { pods });
});
