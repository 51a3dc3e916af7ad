import assert from "node:assert/strict";
import { Ipam, pickVersion } from "./ipam.ts";
import { parseConfig, parseEnv } from "./config.ts";

Deno.test("pickVersion keeps the requested version when the IPAM plugin has it", () => {
  assert.equal(pickVersion("0.4.0", ["0.3.1", "0.4.0", "1.0.0"]), "0.4.0");
});

Deno.test("pickVersion falls back to the highest older version both sides speak", () => {
  assert.equal(pickVersion("1.1.0", ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]), "1.0.0");
  assert.equal(pickVersion("1.0.0", ["0.3.1", "0.4.0"]), "0.4.0");
});

Deno.test("pickVersion returns null when nothing podnet speaks is offered at or below the request", () => {
  assert.equal(pickVersion("1.1.0", ["0.1.0", "0.2.0"]), null);
  assert.equal(pickVersion("0.3.0", ["1.0.0"]), null);
});

Deno.test("Ipam.open asks VERSION once per plugin build and caches the answer", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "podnet-ipam-" });
  try {
    const counter = `${dir}/calls`;
    const bin = `${dir}/fake-ipam`;
    const script = (versions: string): string =>
      `#!/bin/sh\necho x >> ${counter}\necho '{"cniVersion":"1.0.0","supportedVersions":${versions}}'\n`;
    Deno.writeTextFileSync(bin, script('["0.3.1","0.4.0","1.0.0"]'), { mode: 0o755 });
    const env = parseEnv((k) =>
      ({ CNI_COMMAND: "ADD", CNI_CONTAINERID: "c", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: dir })[k]
    );
    const conf = parseConfig({ cniVersion: "1.1.0", name: "n", type: "podnet", ipam: { type: "fake-ipam" } }, "ADD");
    const ctx = { conf, env, stateDir: `${dir}/state` };
    const calls = (): number => Deno.readTextFileSync(counter).split("\n").filter(Boolean).length;

    assert.equal((await Ipam.open(ctx)).version, "1.0.0");
    assert.equal((await Ipam.open(ctx)).version, "1.0.0");
    assert.equal(calls(), 1, "second open used the cache");
    assert.equal(Deno.statSync(`${dir}/state/ipam-versions.json`).mode! & 0o777, 0o600);

    // A replaced binary (new size/mtime) is asked again.
    Deno.writeTextFileSync(bin, script('["0.4.0","1.0.0","1.1.0"] '), { mode: 0o755 });
    const again = await Ipam.open(ctx);
    assert.equal(again.version, "1.1.0");
    assert.ok(again.hasGcStatus);
    assert.equal(calls(), 2);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
