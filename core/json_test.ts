import assert from "node:assert/strict";
import { array, cidr, decodeJson, integer, ip, JsonError, mac, object, oneOf, string } from "./json.ts";

const LIMITS = { maxBytes: 1 << 20 };

Deno.test("decodeJson bounds size and depth before parsing", () => {
  assert.deepEqual(decodeJson('{"a":[1,{"b":"[[[["}]}', LIMITS), { a: [1, { b: "[[[[" }] });
  assert.throws(() => decodeJson("x".repeat(11), { maxBytes: 10 }), /11 bytes, more than the limit of 10/);
  const deep = "[".repeat(10_000) + "]".repeat(10_000);
  assert.throws(() => decodeJson(deep, LIMITS), (e) => e instanceof JsonError && /deeper than 64/.test(e.message));
  assert.deepEqual(decodeJson("[".repeat(64) + "]".repeat(64), LIMITS), JSON.parse("[".repeat(64) + "]".repeat(64)));
  // Brackets inside strings (and escaped quotes) do not count.
  assert.ok(decodeJson(JSON.stringify({ s: '\\"[[[[' + "[".repeat(100) }), LIMITS));
  assert.throws(() => decodeJson(new Uint8Array([0xff, 0xfe]), LIMITS), /not UTF-8/);
});

Deno.test("decode errors never quote the input", () => {
  for (const bad of ['{"password":"hunter2-secret" x}', '{"k": "hunter2-secret', "hunter2-secret"]) {
    try {
      decodeJson(bad, LIMITS);
      assert.fail("decoded");
    } catch (e) {
      assert.ok(e instanceof JsonError);
      assert.ok(!e.message.includes("hunter2"), e.message);
      assert.match(e.message, /not valid JSON/);
    }
  }
});

Deno.test("field readers name the path and the problem, never the value", () => {
  const secret = "hunter2-secret\u003c";
  const cases: [() => unknown, RegExp][] = [
    [() => object(secret, "conf"), /^conf: wants an object, got a string$/],
    [
      () => object({ a: 1, [secret]: 2 }, "x", { required: ["a"], strict: true }),
      /^x: has 1 unknown field\(s\); allowed: a$/,
    ],
    [() => object({}, "x", { required: ["a"] }), /^x\.a: is missing$/],
    [() => array({}, "l"), /wants a list, got an object/],
    [() => array([1, 2, 3], "l", 2), /3 entries, more than the limit of 2/],
    [() => string(1, "s"), /wants a string, got a number/],
    [() => oneOf(secret, "mode", ["a", "b"]), /^mode: wants one of "a", "b", got a string$/],
    [() => integer(70000, "mtu", 1280, 65535), /^mtu: 70000 is above 65535$/],
    [() => integer(1.5, "mtu", 1280, 65535), /wants a whole number, got a number/],
    [() => ip(secret, "gw"), /^gw: is not an IP address$/],
    [() => cidr(secret, "dst"), /^dst: is not a CIDR/],
    [() => mac(secret, "mac"), /^mac: is not a unicast MAC address$/],
    [() => mac("01:00:5e:00:00:01", "mac"), /unicast/],
  ];
  for (const [f, want] of cases) {
    assert.throws(f, (e) => e instanceof JsonError && want.test(e.message) && !e.message.includes("hunter2"));
  }
  assert.equal(ip("FD00::0001", "x").text, "fd00::1");
  assert.equal(cidr("10.0.0.5/24", "x").text, "10.0.0.5/24");
});
