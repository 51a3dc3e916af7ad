import assert from "node:assert/strict";
import { removeIfExists, removeWithTemps, writeFileAtomic } from "./fsutil.ts";

Deno.test("removeWithTemps removes the file and only its own writeFileAtomic temp files", () => {
  const d = Deno.makeTempDirSync();
  try {
    writeFileAtomic(`${d}/a-eth0.json`, "x");
    for (
      const n of [".a-eth0.json.123.0abc12ef.tmp", ".a-eth0.json.123.0abc12ef.tmpx", ".a-eth00.json.1.0abc12ef.tmp"]
    ) {
      Deno.writeTextFileSync(`${d}/${n}`, "");
    }
    removeWithTemps(`${d}/a-eth0.json`);
    removeWithTemps(`${d}/a-eth0.json`); // twice: nothing left to remove is fine
    const left = [...Deno.readDirSync(d)].map((e) => e.name).sort();
    assert.deepEqual(left, [".a-eth0.json.123.0abc12ef.tmpx", ".a-eth00.json.1.0abc12ef.tmp"]);
    removeWithTemps(`${d}/missing-dir/x.json`);
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("removeIfExists: a missing file or a name too long to exist is not an error", () => {
  removeIfExists(`/tmp/${"c".repeat(300)}.json`);
  removeIfExists("/tmp/podnet-no-such-file-here");
});
