import assert from "node:assert/strict";
import { hostAlias, parseAlias } from "./alias.ts";

Deno.test("parseAlias inverts hostAlias and refuses what ADD could not have written", () => {
  assert.deepEqual(parseAlias(hostAlias("podnet", "c.1_x-2", "eth0")), {
    network: "podnet",
    containerId: "c.1_x-2",
    ifname: "eth0",
  });
  for (
    const a of [
      null,
      "",
      "a/b",
      "a/b/c/d",
      "/c/eth0",
      "n//eth0",
      "n/c/",
      "-n/c/eth0",
      "n/c d/eth0",
      "n/c/..",
      "n/c/eth:0",
      "n/c/abcdefghijklmnop",
    ]
  ) {
    assert.equal(parseAlias(a), null, String(a));
  }
});
