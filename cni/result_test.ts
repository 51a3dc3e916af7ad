import assert from "node:assert/strict";
import { formatResult, parseResult } from "./result.ts";

const IPAM_030 = {
  cniVersion: "0.3.1",
  ips: [{ version: "4", address: "10.0.0.5/24", gateway: "10.0.0.1" }, { version: "6", address: "FD00::0005/64" }],
  routes: [{ dst: "0.0.0.0/0" }, { dst: "192.168.0.0/16", gw: "10.0.0.1" }],
  dns: { nameservers: ["10.0.0.10"] },
};

Deno.test("parseResult normalises a 0.3.x result (version dropped, addresses canonical)", () => {
  const r = parseResult(IPAM_030, "test");
  assert.deepEqual(r.ips, [{ address: "10.0.0.5/24", gateway: "10.0.0.1" }, { address: "fd00::5/64" }]);
  assert.deepEqual(r.routes[1], { dst: "192.168.0.0/16", gw: "10.0.0.1" });
  assert.deepEqual(r.interfaces, []);
});

Deno.test("parseResult rejects a malformed address with a message naming the source", () => {
  assert.throws(() => parseResult({ ips: [{ address: "10.0.0.300/24" }] }, "IPAM plugin x"), /IPAM plugin x.*ips\[0\]/);
});

Deno.test("formatResult adds ips[].version before 1.0.0 and interfaces[].mtu only from 1.1.0", () => {
  const r = parseResult({
    cniVersion: "1.1.0",
    interfaces: [{ name: "pn1", mac: "02:00:00:00:00:01", mtu: 1500 }, { name: "eth0", mtu: 1500, sandbox: "/x" }],
    ips: [{ address: "10.0.0.5/32", interface: 1 }, { address: "fd00::5/128", interface: 1 }],
  }, "t");
  const old = formatResult(r, "0.4.0") as { ips: { version?: string }[]; interfaces: { mtu?: number }[] };
  assert.deepEqual(old.ips.map((i) => i.version), ["4", "6"]);
  assert.equal(old.interfaces[0]!.mtu, undefined);
  const v1 = formatResult(r, "1.0.0") as { ips: { version?: string }[] };
  assert.equal(v1.ips[0]!.version, undefined);
  const v11 = formatResult(r, "1.1.0") as { interfaces: { mtu?: number; sandbox?: string }[] };
  assert.equal(v11.interfaces[1]!.mtu, 1500);
  assert.equal(v11.interfaces[1]!.sandbox, "/x");
});
