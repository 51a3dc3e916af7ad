import assert from "node:assert/strict";
import { LIMITS, parseSnapshot, type Snapshot, SnapshotError, validateSnapshot } from "./snapshot.ts";

function good(): Snapshot {
  return {
    schema: "podnet.capture/v1",
    capturedAt: "2026-01-01T00:00:00Z",
    links: [{
      name: "eth0",
      mac: "0a:58:0a:f4:01:05",
      mtu: 1500,
      addresses: [{ cidr: "10.244.1.5/32" }, { cidr: "fd00:244:1::5/128" }],
      routes: [
        { dst: "169.254.1.1/32", scope: "link" },
        { dst: "0.0.0.0/0", gateway: "169.254.1.1" },
        { dst: "::/0", gateway: "fe80::1" },
      ],
      neighbors: [{ ip: "169.254.1.1", mac: "ee:ee:ee:ee:ee:ee" }, { ip: "fe80::1", mac: "ee:ee:ee:ee:ee:ee" }],
    }],
  };
}

function rejects(mutate: (s: Record<string, unknown> & Snapshot) => void, pattern: RegExp): void {
  const s = structuredClone(good()) as Record<string, unknown> & Snapshot;
  mutate(s);
  assert.throws(() => validateSnapshot(s), (e: unknown) => e instanceof SnapshotError && pattern.test(e.message));
}

Deno.test("the README example snapshot validates and comes back unchanged", () => {
  assert.deepEqual(validateSnapshot(good()), good());
});

Deno.test("validation canonicalises MACs and IPv6 addresses", () => {
  const s = good();
  s.links[0]!.mac = "0A:58:0A:F4:01:05";
  s.links[0]!.addresses[1]!.cidr = "FD00:244:1:0:0:0:0:5/128";
  s.links[0]!.neighbors[1]!.ip = "FE80::0001";
  const v = validateSnapshot(s);
  assert.equal(v.links[0]!.mac, "0a:58:0a:f4:01:05");
  assert.equal(v.links[0]!.addresses[1]!.cidr, "fd00:244:1::5/128");
  assert.equal(v.links[0]!.neighbors[1]!.ip, "fe80::1");
});

Deno.test("a wrong schema string is refused", () => {
  rejects((s) => (s.schema = "podnet.capture/v2" as never), /^invalid snapshot: schema: wants "podnet.capture\/v1"/);
});

Deno.test("unknown fields are refused and named", () => {
  rejects((s) => (s.extra = 1), /snapshot: has 1 unknown field\(s\); allowed: schema, capturedAt, links$/);
  rejects((s) => ((s.links[0] as unknown as Record<string, unknown>).alias = "x"), /links\[0\]: has 1 unknown field/);
  rejects(
    (s) => ((s.links[0]!.routes[1] as unknown as Record<string, unknown>).table = 10),
    /routes\[1\]: has 1 unknown field/,
  );
});

Deno.test("bad MACs are refused: malformed, multicast, all-zero", () => {
  rejects((s) => (s.links[0]!.mac = "0a:58:0a:f4:01"), /links\[0\]\.mac: is not a unicast MAC/);
  rejects((s) => (s.links[0]!.neighbors[0]!.mac = "ff:ff:ff:ff:ff:ff"), /neighbors\[0\]\.mac: is not a unicast MAC/);
  rejects((s) => (s.links[0]!.neighbors[0]!.mac = "00:00:00:00:00:00"), /neighbors\[0\]\.mac/);
  rejects((s) => (s.links[0]!.mac = "0a:58:0a:f4:01:05; rm -rf /"), /links\[0\]\.mac/);
});

Deno.test("bad CIDRs and IPs are refused", () => {
  rejects((s) => (s.links[0]!.addresses[0]!.cidr = "10.244.1.5"), /addresses\[0\]\.cidr: is not a CIDR/);
  rejects((s) => (s.links[0]!.addresses[0]!.cidr = "10.244.1.500/32"), /addresses\[0\]\.cidr/);
  rejects(
    (s) => (s.links[0]!.routes[1]!.dst = "10.0.0.1/24"),
    /routes\[1\]\.dst: has host bits set \(the network is 10\.0\.0\.0\/24\)/,
  );
  rejects(
    (s) => (s.links[0]!.routes[1]!.gateway = "fe80::1"),
    /routes\[1\]\.gateway: is not of the family of 0\.0\.0\.0\/0/,
  );
  rejects((s) => (s.links[0]!.neighbors[0]!.ip = "169.254.1.1/32"), /neighbors\[0\]\.ip: is not an IP address/);
  rejects((s) => (s.links[0]!.routes[0]!.scope = "nowhere" as never), /routes\[0\]\.scope/);
});

Deno.test("bad interface names and MTUs are refused", () => {
  for (const name of ["", "a/b", "eth0:1", "way-too-long-name", "..", "has space", "net%d", "eth0\0x", "e\n0"]) {
    rejects((s) => (s.links[0]!.name = name as string), /links\[0\]\.name: is not an interface name/);
  }
  rejects((s) => (s.links[0]!.name = 7 as never), /links\[0\]\.name: wants a string/);
  rejects((s) => (s.links[0]!.mtu = 67), /links\[0\]\.mtu: 67 is below 68/);
  // IPv6 is disabled on a link below 1280: its IPv6 address could never be restored.
  rejects((s) => (s.links[0]!.mtu = 1279), /addresses\[1\]\.cidr: is IPv6 on a link of MTU 1279/);
  // ...nor an IPv6 route or neighbor: the restore would fail late, after moving the link.
  const v4only = (s: Snapshot): void => {
    s.links[0]!.mtu = 1279;
    s.links[0]!.addresses = s.links[0]!.addresses.filter((a) => !a.cidr.includes(":"));
  };
  rejects((s) => {
    v4only(s);
    s.links[0]!.neighbors = s.links[0]!.neighbors.filter((n) => !n.ip.includes(":"));
  }, /routes\[\d+\]\.dst: is IPv6 on a link of MTU 1279, below IPv6's minimum of 1280/);
  rejects((s) => {
    v4only(s);
    s.links[0]!.routes = s.links[0]!.routes.filter((r) => !r.dst.includes(":"));
  }, /neighbors\[\d+\]\.ip: is IPv6 on a link of MTU 1279/);
  assert.equal(
    validateSnapshot({
      ...good(),
      links: [{ ...good().links[0]!, mtu: 576, addresses: [{ cidr: "10.0.0.1/32" }], neighbors: [], routes: [] }],
    }).links[0]!.mtu,
    576,
  );
  rejects((s) => (s.links[0]!.mtu = 1500.5), /links\[0\]\.mtu/);
});

Deno.test("duplicates and empty link lists are refused", () => {
  rejects((s) => s.links.push(structuredClone(s.links[0]!)), /links\[1\]\.name: duplicates another link's name/);
  rejects((s) => s.links[0]!.neighbors.push({ ip: "169.254.1.1", mac: "ee:ee:ee:ee:ee:01" }), /duplicate neighbor/);
  rejects((s) => (s.links = []), /links: is empty/);
});

Deno.test("oversized inputs are refused before parsing", () => {
  const big = " ".repeat(LIMITS.bytes + 1);
  assert.throws(() => parseSnapshot(big), /more than the limit of 1048576/);
  rejects((s) => {
    s.links[0]!.neighbors = Array.from({ length: LIMITS.neighborsPerLink + 1 }, (_, i) => ({
      ip: `10.0.${i >> 8}.${i & 255}`,
      mac: "ee:ee:ee:ee:ee:ee",
    }));
  }, /neighbors: has 257 entries, more than the limit of 256/);
});

Deno.test("non-JSON and bad times are refused", () => {
  assert.throws(() => parseSnapshot("{"), /invalid snapshot: is not valid JSON/);
  assert.throws(() => parseSnapshot("[".repeat(10_000)), /invalid snapshot: is nested deeper than 64 levels/);
  rejects((s) => (s.capturedAt = "yesterday"), /capturedAt: wants an RFC 3339 UTC time/);
});

Deno.test("a refused snapshot never echoes its text, whatever the field", () => {
  const secret = "hunter2-\u003csecret-value";
  const muts: ((s: Record<string, unknown> & Snapshot) => void)[] = [
    (s) => (s.schema = secret as never),
    (s) => (s.capturedAt = secret),
    (s) => (s.links[0]!.name = secret),
    (s) => (s.links[0]!.mac = secret),
    (s) => (s.links[0]!.addresses[0]!.cidr = secret),
    (s) => (s.links[0]!.routes[0]!.dst = secret),
    (s) => (s.links[0]!.routes[1]!.gateway = secret),
    (s) => (s.links[0]!.routes[0]!.scope = secret as never),
    (s) => (s.links[0]!.neighbors[0]!.ip = secret),
    (s) => ((s as Record<string, unknown>)[secret] = 1),
  ];
  for (const m of muts) {
    const s = structuredClone(good()) as Record<string, unknown> & Snapshot;
    m(s);
    assert.throws(
      () => validateSnapshot(s),
      (e: unknown) => e instanceof SnapshotError && !/hunter2|secret/.test(e.message),
    );
  }
});
