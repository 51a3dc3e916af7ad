import assert from "node:assert/strict";
import { Rollback } from "./rollback.ts";

Deno.test("Rollback runs undos newest first, keeps going past a failing one, and reports it", async () => {
  const ran: string[] = [];
  const r = new Rollback();
  r.push("first", () => void ran.push("first"));
  r.push("second", () => {
    throw new Error("boom");
  });
  r.push("third", async () => {
    await Promise.resolve();
    ran.push("third");
  });
  assert.equal(r.size, 3);
  assert.deepEqual(await r.run(), ["second: boom"]);
  assert.deepEqual(ran, ["third", "first"]);
  assert.equal(r.size, 0);
  assert.deepEqual(await r.run(), [], "a second run has nothing left to undo");
});
