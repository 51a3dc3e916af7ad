/**
 * The command line through the real launcher (`bin/podnet`): version facts,
 * help, and usage errors (exit 2, message naming the bad word).
 *
 * @module
 */

import assert from "node:assert/strict";
import { libnlVersion } from "../ffi/libnl.ts";
import { VERSION } from "../core/constants.ts";
import { PODNET, runAsync } from "./harness.ts";

const VERSION_LINE = /^podnet \d+\.\d+\.\d+ \(deno \S+, v8 \S+, libnl 3\.\d+\.\d+\)$/;

function podnet(...args: string[]): ReturnType<typeof runAsync> {
  return runAsync(PODNET, args);
}

Deno.test("podnet --version prints exactly one line with podnet, deno, v8 and libnl versions", async () => {
  const r = await podnet("--version");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.ok(r.stdout.endsWith("\n"));
  const lines = r.stdout.slice(0, -1).split("\n");
  assert.equal(lines.length, 1, JSON.stringify(r.stdout));
  assert.match(lines[0]!, VERSION_LINE);
  assert.equal(
    lines[0],
    `podnet ${VERSION} (deno ${Deno.version.deno}, v8 ${Deno.version.v8}, libnl ${libnlVersion()})`,
  );
  assert.equal((await podnet("-V")).stdout, r.stdout);
});

Deno.test("podnet version --json prints one JSON object with the same facts", async () => {
  const r = await podnet("version", "--json");
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout);
  assert.equal(v.podnet, VERSION);
  assert.equal(v.deno, Deno.version.deno);
  assert.equal(v.v8, Deno.version.v8);
  assert.match(v.libnl, /^3\.\d+\.\d+$/);
  assert.ok(Array.isArray(v.cniVersions) && v.cniVersions.includes("1.1.0"), JSON.stringify(v.cniVersions));
  assert.equal((await podnet("version")).stdout, (await podnet("--version")).stdout);
});

Deno.test("podnet --help prints usage on stdout and exits 0; version --help too", async () => {
  for (const flag of ["--help", "-h", "help"]) {
    const r = await podnet(flag);
    assert.equal(r.code, 0, `${flag}: ${r.stderr}`);
    assert.match(r.stdout, /^usage: podnet <command>/m);
    assert.match(r.stdout, /^\s+version\s/m, "lists the version command");
  }
  const v = await podnet("version", "--help");
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^usage: podnet version/m);
  assert.match(v.stdout, /--json/);
});

Deno.test("podnet without arguments prints usage on stderr and exits 2", async () => {
  const r = await podnet();
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^usage: podnet <command>/m);
});

Deno.test("an unknown command or flag exits 2 with a message naming it", async () => {
  const cmd = await podnet("frobnicate", "--x");
  assert.equal(cmd.code, 2);
  assert.equal(cmd.stdout, "");
  assert.match(cmd.stderr, /unknown command "frobnicate"/);
  const flag = await podnet("--frobnicate");
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /unknown flag "--frobnicate"/);
  const sub = await podnet("version", "--frobnicate");
  assert.equal(sub.code, 2);
  assert.equal(sub.stdout, "");
  assert.match(sub.stderr, /^podnet version: .*--frobnicate/);
  assert.doesNotMatch(sub.stderr, /\n\s+at /, "no stack trace");
  const proto = await podnet("__proto__");
  assert.equal(proto.code, 2, "inherited object keys are not commands");
  assert.match(proto.stderr, /unknown command "__proto__"/);
});
