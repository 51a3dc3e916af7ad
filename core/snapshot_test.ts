import assert from "node:assert/strict";
import { gatewaysOf, LIMITS, parseSnapshot, type Snapshot, SnapshotError, validateSnapshot } from "./snapshot.ts";
import type { Route } from "../netlink/mod.ts";

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

Deno.test("the DESIGN.md example validates and comes back unchanged", () => {
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
  rejects((s) => (s.extra = 1), /snapshot\.extra: unknown field/);
  rejects((s) => ((s.links[0] as unknown as Record<string, unknown>).alias = "x"), /links\[0\]\.alias: unknown field/);
  rejects(
    (s) => ((s.links[0]!.routes[1] as unknown as Record<string, unknown>).table = 10),
    /routes\[1\]\.table: unknown field/,
  );
});

Deno.test("bad MACs are refused: malformed, multicast, all-zero", () => {
  rejects((s) => (s.links[0]!.mac = "0a:58:0a:f4:01"), /links\[0\]\.mac: not a unicast MAC/);
  rejects((s) => (s.links[0]!.neighbors[0]!.mac = "ff:ff:ff:ff:ff:ff"), /neighbors\[0\]\.mac: not a unicast MAC/);
  rejects((s) => (s.links[0]!.neighbors[0]!.mac = "00:00:00:00:00:00"), /neighbors\[0\]\.mac/);
  rejects((s) => (s.links[0]!.mac = "0a:58:0a:f4:01:05; rm -rf /"), /links\[0\]\.mac/);
});

Deno.test("bad CIDRs and IPs are refused", () => {
  rejects((s) => (s.links[0]!.addresses[0]!.cidr = "10.244.1.5"), /addresses\[0\]\.cidr: not a CIDR/);
  rejects((s) => (s.links[0]!.addresses[0]!.cidr = "10.244.1.500/32"), /addresses\[0\]\.cidr/);
  rejects(
    (s) => (s.links[0]!.routes[1]!.dst = "10.0.0.1/24"),
    /routes\[1\]\.dst: has host bits set \(the network is 10\.0\.0\.0\/24\)/,
  );
  rejects((s) => (s.links[0]!.routes[1]!.gateway = "fe80::1"), /routes\[1\]\.gateway: fe80::1 is not of the family/);
  rejects((s) => (s.links[0]!.neighbors[0]!.ip = "169.254.1.1/32"), /neighbors\[0\]\.ip: not an IP address/);
  rejects((s) => (s.links[0]!.routes[0]!.scope = "nowhere" as never), /routes\[0\]\.scope/);
});

Deno.test("bad interface names and MTUs are refused", () => {
  for (const name of ["", "a/b", "eth0:1", "way-too-long-name", "..", "has space", 7]) {
    rejects((s) => (s.links[0]!.name = name as string), /links\[0\]\.name: not an interface name/);
  }
  rejects((s) => (s.links[0]!.mtu = 67), /links\[0\]\.mtu: wants a whole number in 68\.\.65535/);
  rejects((s) => (s.links[0]!.mtu = 1500.5), /links\[0\]\.mtu/);
});

Deno.test("duplicates and empty link lists are refused", () => {
  rejects((s) => s.links.push(structuredClone(s.links[0]!)), /links\[1\]\.name: duplicate link eth0/);
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
  assert.throws(() => parseSnapshot("{"), /invalid snapshot: not JSON/);
  rejects((s) => (s.capturedAt = "yesterday"), /capturedAt: wants an RFC 3339 UTC time/);
});

function route(r: Partial<Route>): Route {
  return {
    family: 4,
    dst: "0.0.0.0/0",
    gateway: null,
    ifindex: 2,
    scope: "universe",
    table: 254,
    protocol: "boot",
    type: "unicast",
    metric: 0,
    onlink: false,
    src: null,
    nexthops: [{ gateway: r.gateway ?? null, ifindex: r.ifindex ?? 2, onlink: false, weight: 0 }],
    ...r,
  };
}

Deno.test("gateways: route gateways on the link and link-local scope-link host routes", () => {
  const routes = [
    route({ dst: "169.254.1.1/32", scope: "link" }),
    route({ dst: "0.0.0.0/0", gateway: "169.254.1.1" }),
    route({ family: 6, dst: "::/0", gateway: "fe80::1" }),
    route({ dst: "10.1.0.0/16", gateway: "10.9.9.9", ifindex: 3 }), // another link
    route({ dst: "10.2.0.5/32", scope: "link" }), // not link-local: a peer, not a gateway
  ];
  assert.deepEqual(gatewaysOf(routes, 2), ["169.254.1.1", "fe80::1"]);
});

Deno.test("gateways: a subnet design yields the default route's gateway", () => {
  const routes = [
    route({ dst: "10.22.0.0/24", scope: "link", protocol: "kernel" }),
    route({ dst: "0.0.0.0/0", gateway: "10.22.0.1" }),
  ];
  assert.deepEqual(gatewaysOf(routes, 2), ["10.22.0.1"]);
});
