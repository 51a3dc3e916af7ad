import assert from "node:assert/strict";
import { hostAlias, hostEnd, ifnameProblem, parseAlias, validIfname } from "./names.ts";

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

Deno.test("hostEnd is deterministic, at most 15 bytes, with locally administered unicast MACs", () => {
  const a = hostEnd("pn", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "eth0");
  const b = hostEnd("pn", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "eth0");
  assert.deepEqual(a, b);
  assert.match(a.name, /^pn[0-9a-f]{13}$/);
  for (const mac of [a.mac, a.podMac]) {
    assert.match(mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.equal(parseInt(mac.slice(0, 2), 16) & 3, 2);
  }
  assert.notEqual(a.mac, a.podMac);
  assert.equal(hostEnd("podnet1", "c", "eth0").name.length, 15);
});

Deno.test("hostEnd differs per containerID and per ifname", () => {
  const names = new Set<string>();
  for (const id of ["c1", "c2"]) for (const i of ["eth0", "net1"]) names.add(hostEnd("pn", id, i).name);
  assert.equal(names.size, 4);
});

Deno.test("parseAlias inverts hostAlias and rejects other aliases", () => {
  assert.deepEqual(parseAlias(hostAlias("net", "c.1_x", "eth0")), {
    network: "net",
    containerId: "c.1_x",
    ifname: "eth0",
  });
  for (const a of [null, "", "foo", "a/b", "/a/b", "a/b/"]) assert.equal(parseAlias(a), null, String(a));
});

Deno.test("hostEnd keeps the names and MACs of earlier releases (an upgrade must find existing host ends)", () => {
  // Values computed with podnet 0.1.0's crypto.subtle implementation.
  assert.deepEqual(hostEnd("pn", "c1", "eth0"), {
    name: "pnd72e032fedd94",
    mac: "8e:32:90:c7:40:d8",
    podMac: "7a:21:1c:27:39:31",
  });
  assert.deepEqual(hostEnd("pn", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "net1"), {
    name: "pnd20894bbb0dda",
    mac: "1a:37:94:8c:6f:c8",
    podMac: "9a:d3:16:7e:e0:69",
  });
});

Deno.test("one interface-name rule: the kernel's, plus no % template, NUL or control character", () => {
  for (const ok of ["eth0", "net1", "e", "eth-9_x", "a".repeat(15), "äöü€ß", "pn0123456789abc"]) {
    assert.equal(ifnameProblem(ok), null, ok);
  }
  const bad: [unknown, RegExp][] = [
    ["", /empty/],
    ["a".repeat(16), /16 bytes, more than 15/],
    ["üüüüüüüü", /16 bytes/],
    [".", /"\." or "\.\."/],
    ["..", /"\." or "\.\."/],
    ["eth%d", /"%"/],
    ["%d", /"%"/],
    ["a/b", /"\/"/],
    ["e:0", /":"/],
    ["e 0", /whitespace/],
    ["e\t0", /whitespace/],
    ["eth0\0x", /NUL/],
    ["e\x010", /control/],
    [42, /not a string/],
  ];
  for (const [name, why] of bad) {
    assert.match(ifnameProblem(name) ?? "", why, JSON.stringify(name));
    assert.equal(validIfname(name), false);
  }
  // The reason never repeats the name (it may hold anything).
  assert.ok(!(ifnameProblem("secret%x") ?? "").includes("secret"));
});
