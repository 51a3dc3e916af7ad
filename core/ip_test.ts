import assert from "node:assert/strict";
import {
  addressOf,
  canonicalCidr,
  canonicalIp,
  cidrContains,
  familyOf,
  formatIp,
  formatMac,
  isHostPrefix,
  isLinkLocal,
  networkOf,
  parseCidr,
  parseIp,
  parseMac,
} from "./ip.ts";

Deno.test("IPv4 parses and formats round trip", () => {
  assert.equal(canonicalIp("10.244.1.5"), "10.244.1.5");
  assert.equal(parseIp("10.244.1.5")?.family, 4);
});

Deno.test("IPv4 rejects malformed input", () => {
  for (const s of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.x", " 1.2.3.4"]) {
    assert.equal(parseIp(s), null, s);
  }
});

Deno.test("IPv6 formats per RFC 5952", () => {
  assert.equal(canonicalIp("FE80:0:0:0:0:0:0:1"), "fe80::1");
  assert.equal(canonicalIp("::"), "::");
  assert.equal(canonicalIp("::1"), "::1");
  assert.equal(canonicalIp("fd00:244:1::5"), "fd00:244:1::5");
  assert.equal(canonicalIp("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  assert.equal(canonicalIp("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
  assert.equal(canonicalIp("::ffff:1.2.3.4"), "::ffff:102:304");
});

Deno.test("IPv6 rejects malformed input", () => {
  for (const s of [":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "g::1", "1:2:3:4:5:6:7::8"]) {
    assert.equal(parseIp(s), null, s);
  }
});

Deno.test("CIDR parses prefixes and bounds", () => {
  assert.equal(canonicalCidr("10.0.0.5/24"), "10.0.0.5/24");
  assert.equal(canonicalCidr("10.0.0.5"), "10.0.0.5/32");
  assert.equal(canonicalCidr("fd00::/64"), "fd00::/64");
  assert.equal(parseCidr("10.0.0.0/33"), null);
  assert.equal(parseCidr("fd00::/129"), null);
  assert.equal(parseCidr("10.0.0.0/-1"), null);
  assert.equal(parseCidr("10.0.0.0/"), null);
});

Deno.test("networkOf clears host bits and cidrContains matches", () => {
  const c = parseCidr("10.244.1.77/23")!;
  assert.equal(formatIp(networkOf(c).bytes), "10.244.0.0");
  assert.ok(cidrContains(c, parseIp("10.244.0.1")!));
  assert.ok(!cidrContains(c, parseIp("10.244.2.1")!));
  assert.ok(!cidrContains(c, parseIp("fd00::1")!));
});

Deno.test("MAC parses and formats lowercase", () => {
  assert.equal(formatMac(parseMac("EE:EE:ee:00:01:ff")!), "ee:ee:ee:00:01:ff");
  for (const s of ["", "ee:ee:ee:ee:ee", "ee-ee-ee-ee-ee-ee", "ee:ee:ee:ee:ee:eg", "eee:ee:ee:ee:ee:e"]) {
    assert.equal(parseMac(s), null, s);
  }
});

Deno.test("familyOf, addressOf, isHostPrefix and isLinkLocal read address text", () => {
  assert.equal(familyOf("10.0.0.5/24"), 4);
  assert.equal(familyOf("fd00::5"), 6);
  assert.equal(addressOf("fd00::5/128"), "fd00::5");
  assert.equal(addressOf("10.0.0.5"), "10.0.0.5");
  assert.deepEqual(["10.0.0.5/32", "fd00::5/128", "10.0.0.0/24", "fd00::/64", "10.0.0.5"].map(isHostPrefix), [
    true,
    true,
    false,
    false,
    false,
  ]);
  // fe80::/10 is fe80:: to febf::; 169.254.0.0/16; case and prefixes do not matter.
  assert.deepEqual(
    ["169.254.1.1", "169.254.0.0/16", "FE80::1", "febf::1/64", "fec0::1", "169.253.1.1", "fd00::1", "nonsense"].map(
      isLinkLocal,
    ),
    [true, true, true, true, false, false, false, false],
  );
});
