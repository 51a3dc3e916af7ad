import assert from "node:assert/strict";
import { decodeConfig, parseConfig, parseEnv } from "./config.ts";
import { versionAtLeast } from "./versions.ts";
import { CniError } from "./errors.ts";

const ENV = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "abc",
  CNI_NETNS: "/run/netns/p",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin",
};

function code(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof CniError) return e.code;
    throw e;
  }
  return 0;
}

Deno.test("parseEnv accepts a complete ADD environment and splits CNI_PATH", () => {
  const e = parseEnv((k) => ({ ...ENV, CNI_PATH: "/a::/b" } as Record<string, string>)[k]);
  assert.deepEqual(e.path, ["/a", "/b"]);
  assert.equal(e.command, "ADD");
});

Deno.test("parseEnv rejects bad containerIDs and ifnames with code 4", () => {
  for (const id of ["", "-a", ".a", "a/b", "a b", "ä"]) {
    assert.equal(code(() => parseEnv((k) => ({ ...ENV, CNI_CONTAINERID: id } as Record<string, string>)[k])), 4, id);
  }
  for (const ifn of ["", ".", "..", "a/b", "a:b", "a b", "0123456789abcdef"]) {
    assert.equal(code(() => parseEnv((k) => ({ ...ENV, CNI_IFNAME: ifn } as Record<string, string>)[k])), 4, ifn);
  }
});

Deno.test("DEL needs no CNI_NETNS; VERSION needs nothing but the command", () => {
  assert.equal(parseEnv((k) => ({ ...ENV, CNI_COMMAND: "DEL", CNI_NETNS: "" } as Record<string, string>)[k]).netns, "");
  assert.equal(parseEnv((k) => (k === "CNI_COMMAND" ? "VERSION" : undefined)).command, "VERSION");
});

Deno.test("parseConfig applies defaults and keeps the raw object for IPAM", () => {
  const raw = { cniVersion: "1.0.0", name: "n", type: "podnet", ipam: { type: "host-local", x: 1 } };
  const c = parseConfig(raw, "ADD");
  assert.equal(c.gatewayMode, "static-neighbor");
  assert.equal(c.hostInterfacePrefix, "pn");
  assert.equal(c.mtu, null);
  assert.equal(c.logLevel, "info");
  assert.equal(c.ipamType, "host-local");
  assert.equal(c.raw, raw);
});

Deno.test("parseConfig codes: 1 unsupported version, 2 unsupported gatewayMode, 7 invalid fields", () => {
  const base = { cniVersion: "1.0.0", name: "n", type: "podnet", ipam: { type: "host-local" } };
  assert.equal(code(() => parseConfig({ ...base, cniVersion: "0.2.0" }, "ADD")), 1);
  assert.equal(code(() => parseConfig({ ...base, gatewayMode: "x" }, "ADD")), 2);
  assert.equal(code(() => parseConfig({ ...base, mtu: 67 }, "ADD")), 7);
  assert.equal(code(() => parseConfig({ ...base, ipam: {} }, "ADD")), 7);
  assert.equal(code(() => parseConfig({ ...base, hostInterfacePrefix: "" }, "ADD")), 7);
});

Deno.test("GC config reads cni.dev/valid-attachments and the older cni.dev/attachments", () => {
  const base = { cniVersion: "1.1.0", name: "n", type: "podnet", ipam: { type: "host-local" } };
  const a = [{ containerID: "c", ifname: "eth0" }];
  assert.deepEqual(parseConfig({ ...base, "cni.dev/valid-attachments": a }, "GC").validAttachments, a);
  assert.deepEqual(parseConfig({ ...base, "cni.dev/attachments": a }, "GC").validAttachments, a);
});

Deno.test("decodeConfig reports code 6 without echoing the config", () => {
  try {
    decodeConfig(new TextEncoder().encode('{"password": "hunter2",'));
    assert.fail("no error");
  } catch (e) {
    assert.ok(e instanceof CniError && e.code === 6);
    assert.ok(!`${e.message} ${e.details}`.includes("hunter2"));
  }
});

Deno.test("versionAtLeast compares numerically", () => {
  assert.ok(versionAtLeast("1.0.0", "0.4.0"));
  assert.ok(versionAtLeast("0.10.0", "0.4.0"));
  assert.ok(!versionAtLeast("0.3.1", "0.4.0"));
});
