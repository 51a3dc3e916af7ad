import assert from "node:assert/strict";
import { fileStamp } from "./stamp.ts";

Deno.test("fileStamp gives size and mtime as Deno.statSync sees them, and null for a missing file", () => {
  const dir = Deno.makeTempDirSync({ prefix: "podnet-stamp-" });
  try {
    const f = `${dir}/f`;
    Deno.writeTextFileSync(f, "hello");
    Deno.utimeSync(f, new Date(1_700_000_000_123), new Date(1_700_000_000_456));
    assert.equal(fileStamp(f), "5:1700000000.456000000");
    const st = Deno.statSync(f);
    assert.equal(fileStamp(f), `${st.size}:${Math.floor(st.mtime!.getTime() / 1000)}.456000000`);
    Deno.writeTextFileSync(f, "hello!");
    assert.notEqual(fileStamp(f), "5:1700000000.456000000");
    assert.equal(fileStamp(`${dir}/missing`), null);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
