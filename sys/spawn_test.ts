import assert from "node:assert/strict";
import { executableIn } from "./spawn.ts";

Deno.test("executableIn finds the first executable regular file, skipping relative dirs, plain files and directories", () => {
  const a = Deno.makeTempDirSync(), b = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${a}/tool`, "not executable", { mode: 0o644 });
    Deno.mkdirSync(`${a}/dir`, { mode: 0o755 });
    Deno.writeTextFileSync(`${b}/tool`, "#!/bin/sh\n", { mode: 0o755 });
    Deno.writeTextFileSync(`${b}/dir`, "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(executableIn(["relative", a, `${b}//`], "tool")?.path, `${b}/tool`);
    assert.equal(executableIn([a, b], "dir")?.path, `${b}/dir`);
    assert.ok(executableIn([a, b], "tool")!.info.isFile);
    assert.equal(executableIn([a], "tool"), null);
    assert.equal(executableIn([], "tool"), null);
  } finally {
    Deno.removeSync(a, { recursive: true });
    Deno.removeSync(b, { recursive: true });
  }
});
