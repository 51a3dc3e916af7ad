import assert from "node:assert/strict";
import { fileLogger, Logger } from "./log.ts";

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
