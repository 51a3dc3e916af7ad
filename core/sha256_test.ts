import assert from "node:assert/strict";
import { hex, sha256 } from "./sha256.ts";

Deno.test("sha256 matches the FIPS 180-4 examples", () => {
  const enc = new TextEncoder();
  assert.equal(hex(sha256(enc.encode(""))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(hex(sha256(enc.encode("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(
    hex(sha256(enc.encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

Deno.test("sha256 equals Web Crypto's for every length across the block boundaries", async () => {
  // Lengths 0..200 cover one, two and four blocks and every padding position (55/56/64 bytes).
  for (let n = 0; n <= 200; n++) {
    const data = new Uint8Array(n).map((_, i) => (i * 131 + n * 7) & 0xff);
    const want = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    assert.deepEqual(sha256(data), want, `length ${n}`);
  }
});
