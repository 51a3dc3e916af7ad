/**
 * The launcher (`bin/podnet`) as container runtimes call it (symlinked into a
 * CNI bin dir, bare environment, cwd /), and `scripts/compile.ts` where
 * `denort` cannot be had: one clear sentence, exit 1, no binary left behind.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runAsync, world } from "./harness.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const PODNET = `${ROOT}/bin/podnet`;
const COMPILE = `${ROOT}/scripts/compile.ts`;
const DIST = `${ROOT}/dist/podnet`;
const VERSION_LINE = /^podnet \d+\.\d+\.\d+ \(deno \S+, v8 \S+, libnl 3\.\d+\.\d+\)\n$/;

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("bin/podnet works symlinked into another dir and run with env -i from /", async () => {
  await using w = world();
  const bin = w.tempDir();
  Deno.symlinkSync(PODNET, `${bin}/podnet`);
  // A chain of links, as when /opt/cni/bin/podnet points at an installed copy's link.
  const other = w.tempDir();
  Deno.symlinkSync(`${bin}/podnet`, `${other}/podnet`);
  for (const link of [`${bin}/podnet`, `${other}/podnet`]) {
    const r = await runAsync("env", ["-i", link, "--version"], { cwd: "/" });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, VERSION_LINE);
    assert.equal(r.stderr, "", "nothing on stderr (no download or permission prompts)");
  }
  const json = await runAsync("env", ["-i", `${other}/podnet`, "version", "--json"], { cwd: "/" });
  assert.equal(json.code, 0, json.stderr);
  assert.equal(JSON.parse(json.stdout).deno, Deno.version.deno);
});

Deno.test("bin/podnet answers a CNI VERSION call made like a runtime's (symlink, bare env, cwd /, stdin)", async () => {
  await using w = world();
  const bin = w.tempDir();
  Deno.symlinkSync(PODNET, `${bin}/podnet`);
  const r = await runAsync(
    "env",
    ["-i", "CNI_COMMAND=VERSION", `CNI_PATH=${bin}`, `${bin}/podnet`],
    { cwd: "/", stdin: '{"cniVersion":"1.0.0"}' },
  );
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout);
  assert.ok(Array.isArray(v.supportedVersions) && v.supportedVersions.includes("1.1.0"), r.stdout);
});

Deno.test("bin/podnet names the missing Deno when PODNET_DENO is wrong", async () => {
  const r = await runAsync("env", ["-i", "PODNET_DENO=/nonexistent/deno", PODNET, "--version"], { cwd: "/" });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /Deno not found at \/nonexistent\/deno/);
});

/** A private env for compile.ts: an empty DENO_DIR (no cached denort) and a proxy that cannot help. */
function compileEnv(denoDir: string, proxy: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    DENO_DIR: denoDir,
    HTTPS_PROXY: proxy,
    HTTP_PROXY: proxy,
    ...extra,
  };
}

async function runCompile(env: Record<string, string>, ...args: string[]): ReturnType<typeof runAsync> {
  return await runAsync(Deno.execPath(), ["run", "-A", "--no-config", COMPILE, ...args], { env, clearEnv: true });
}

/** A localhost port nothing listens on (connections are refused). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function assertOneSentence(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.match(lines[0]!, /^compile: cannot build .+\.$/);
  return lines[0]!;
}

Deno.test("compile.ts without DENORT_BIN and without Deno's servers says so in one sentence and builds nothing", async () => {
  await using w = world();
  const out = `${w.tempDir()}/podnet`;
  const distBefore = exists(DIST);
  const env = compileEnv(w.tempDir(), `http://127.0.0.1:${closedPort()}`);
  const r = await runCompile(env, "--out", out);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, "");
  const msg = assertOneSentence(r.stderr);
  assert.match(msg, /needs the denort \S+ runtime .* could not download it from Deno's servers/);
  assert.match(msg, /set DENORT_BIN/);
  assert.equal(exists(out), false);
  assert.deepEqual([...Deno.readDirSync(out.replace(/\/podnet$/, ""))], [], "no partial files");
  assert.equal(exists(DIST), distBefore, "dist/podnet neither created nor removed");
});

Deno.test("compile.ts with DENORT_BIN naming a missing file says so in one sentence and builds nothing", async () => {
  await using w = world();
  const distBefore = exists(DIST);
  const missing = `${w.tempDir()}/denort-missing`;
  const env = compileEnv(w.tempDir(), `http://127.0.0.1:${closedPort()}`, { DENORT_BIN: missing });
  const r = await runCompile(env); // default output: dist/podnet
  assert.equal(r.code, 1, r.stderr);
  const msg = assertOneSentence(r.stderr);
  assert.ok(msg.includes(`DENORT_BIN=${missing} is not a file`), msg);
  assert.ok(msg.includes("dist/podnet"), msg);
  assert.equal(exists(DIST), distBefore, "dist/podnet neither created nor removed");
});

Deno.test("compile.ts refuses a DENORT_BIN that is not denort instead of shipping a broken binary", async () => {
  await using w = world();
  const out = `${w.tempDir()}/podnet`;
  const env = compileEnv(w.tempDir(), `http://127.0.0.1:${closedPort()}`, { DENORT_BIN: "/bin/true" });
  const r = await runCompile(env, "--out", out);
  assert.equal(r.code, 1, r.stderr);
  const msg = assertOneSentence(r.stderr);
  assert.match(msg, /built on DENORT_BIN=\/bin\/true does not run podnet --version/);
  assert.equal(exists(out), false);
});

Deno.test("compile.ts gives up after --timeout-ms when the denort download hangs", async () => {
  await using w = world();
  // A "proxy" that accepts connections and never answers: the download would hang forever.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const c of listener) held.push(c);
    } catch { /* closed */ }
  })();
  w.defer(async () => {
    listener.close();
    for (const c of held) c.close();
    await accepting;
  });
  const out = `${w.tempDir()}/podnet`;
  const env = compileEnv(w.tempDir(), `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`);
  const t0 = performance.now();
  const r = await runCompile(env, "--out", out, "--timeout-ms", "3000");
  const took = performance.now() - t0;
  assert.equal(r.code, 1, r.stderr);
  const msg = assertOneSentence(r.stderr);
  assert.match(msg, /did not finish within 3000 ms/);
  assert.ok(took < 15_000, `took ${Math.round(took)} ms`);
  assert.ok(held.length >= 1, "deno compile did try the (hanging) download");
  assert.equal(exists(out), false);
});

Deno.test("compile.ts builds with the launcher's permissions", async () => {
  // A DENO_DIR of its own: Deno creates it, and nothing outside the test's temp dirs may be written.
  const denoDir = Deno.makeTempDirSync({ prefix: "podnet-test-denodir-" });
  try {
    await checkPermissions(denoDir);
  } finally {
    Deno.removeSync(denoDir, { recursive: true });
  }
});

async function checkPermissions(denoDir: string): Promise<void> {
  const r = await runCompile(compileEnv(denoDir, "http://127.0.0.1:1"), "--print-command", "--out", "/x/p");
  assert.equal(r.code, 0, r.stderr);
  const launcher = Deno.readTextFileSync(`${ROOT}/bin/launch.sh`).split("\n").filter((l) =>
    !l.trimStart().startsWith("#")
  ).join("\n");
  const perms = [...new Set(launcher.match(/--allow-[a-z-]+/g))];
  assert.ok(perms.length > 0);
  const cmd = r.stdout.trim().split(" ");
  assert.equal(cmd[1], "compile");
  for (const p of perms) assert.ok(cmd.includes(p), `${p} in ${r.stdout}`);
  assert.deepEqual(cmd.filter((a) => a.startsWith("--allow-")).sort(), perms.sort());
  assert.equal(cmd[cmd.indexOf("--output") + 1], "/x/p");
  assert.equal(cmd.at(-1), `${ROOT}/main.ts`);
  const bad = await runCompile(compileEnv(denoDir, "http://127.0.0.1:1"), "--frobnicate");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--frobnicate/);
}
