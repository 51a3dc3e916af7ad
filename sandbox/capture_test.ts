import assert from "node:assert/strict";
import type { Route } from "../netlink/mod.ts";
import { gatewaysOf } from "./capture.ts";

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
