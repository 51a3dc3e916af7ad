import assert from "node:assert/strict";
import { protocolName, protocolNumber, routeTypeName, routeTypeNumber, scopeName, scopeNumber } from "./scope.ts";

Deno.test("scopes map to the rtnetlink numbers both ways; unknown numbers stay numbers", () => {
  for (const [name, n] of [["universe", 0], ["site", 200], ["link", 253], ["host", 254], ["nowhere", 255]] as const) {
    assert.equal(scopeNumber(name), n);
    assert.equal(scopeName(n), name);
  }
  assert.equal(scopeName(17), 17);
  assert.equal(scopeNumber(17), 17);
});

Deno.test("route protocols and types map as iproute2 names them", () => {
  assert.equal(protocolNumber("boot"), 3);
  assert.equal(protocolNumber("static"), 4);
  assert.equal(protocolName(2), "kernel");
  assert.equal(protocolName(186), 186); // e.g. bgp: left numeric
  assert.equal(routeTypeNumber("unicast"), 1);
  assert.equal(routeTypeNumber("blackhole"), 6);
  assert.equal(routeTypeName(7), "unreachable");
  assert.equal(routeTypeName(42), 42);
});
