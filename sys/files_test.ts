import assert from "node:assert/strict";
import { Logger } from "../core/log.ts";
import { SnapshotError } from "../core/snapshot.ts";
import { appendRegularFile, fileLogger, logFileProblem, PathError, readRegularFile, readSnapshot } from "./files.ts";

Deno.test("Logger writes one JSON line per call at or above its level, with base fields", () => {
  const lines: string[] = [];
  const log = new Logger((l) => lines.push(l), "info", { component: "t" });
  log.debug("hidden");
  log.info("shown", { n: 1, skip: undefined });
  log.with({ req: "r1" }).error("bad");
  assert.equal(lines.length, 2);
  const [a, b] = lines.map((l) => JSON.parse(l));
  assert.equal(a.msg, "shown");
  assert.equal(a.component, "t");
  assert.equal(a.n, 1);
  assert.ok(!("skip" in a));
  assert.equal(b.req, "r1");
  assert.equal(b.level, "error");
  assert.ok(lines.every((l) => l.endsWith("\n") && !l.slice(0, -1).includes("\n")));
});

Deno.test("a logger whose sink throws does not throw", () => {
  new Logger(() => {
    throw new Error("disk full");
  }).error("x");
});

Deno.test("fileLogger creates its directory 0700 and file 0600 and appends", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/sub/log.jsonl`;
    fileLogger(path, "debug").info("one");
    fileLogger(path, "debug").info("two");
    assert.equal(Deno.readTextFileSync(path).trim().split("\n").length, 2);
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    assert.equal(Deno.statSync(`${dir}/sub`).mode! & 0o777, 0o700);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a log file that is a symlink, a FIFO or a directory is refused, never written through nor waited on", () => {
  const dir = Deno.makeTempDirSync({ prefix: "podnet-files-" });
  try {
    const victim = `${dir}/victim`;
    Deno.writeTextFileSync(victim, "");
    Deno.chmodSync(victim, 0o644);
    Deno.symlinkSync(victim, `${dir}/link.log`);
    new Deno.Command("mkfifo", { args: [`${dir}/fifo.log`] }).outputSync();
    Deno.mkdirSync(`${dir}/dir.log`);
    for (const name of ["link.log", "fifo.log", "dir.log"]) {
      const t0 = performance.now();
      assert.throws(() => appendRegularFile(`${dir}/${name}`, new TextEncoder().encode("x\n")), PathError, name);
      assert.ok(performance.now() - t0 < 1000, `${name}: did not block`);
      fileLogger(`${dir}/${name}`).info("dropped, not written through"); // never throws
    }
    assert.equal(Deno.readTextFileSync(victim), "", "the symlink's target is untouched");
    assert.equal(Deno.statSync(victim).mode! & 0o777, 0o644);
    assert.equal(logFileProblem(`${dir}/link.log`), "is a symbolic link");
    assert.equal(logFileProblem(`${dir}/fifo.log`), "exists and is not a regular file");
    assert.equal(logFileProblem(`${dir}/new.log`), null);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readRegularFile refuses a symlink, a FIFO, a directory and an oversized file before reading", () => {
  const dir = Deno.makeTempDirSync({ prefix: "podnet-files-" });
  try {
    Deno.writeTextFileSync(`${dir}/f`, "hello");
    Deno.symlinkSync(`${dir}/f`, `${dir}/l`);
    new Deno.Command("mkfifo", { args: [`${dir}/p`] }).outputSync();
    assert.equal(new TextDecoder().decode(readRegularFile(`${dir}/f`, 5)), "hello");
    assert.throws(() => readRegularFile(`${dir}/l`, 5), /symbolic link/);
    assert.throws(() => readRegularFile(`${dir}/p`, 5), /not a regular file/);
    assert.throws(() => readRegularFile(dir, 5), /not a regular file \(it is a directory\)/);
    assert.throws(() => readRegularFile(`${dir}/f`, 4), /5 bytes, more than the limit of 4/);
    assert.throws(
      () => readSnapshot(`${dir}/p`),
      (e) => e instanceof SnapshotError && /not a regular file/.test(e.message),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
