/**
 * Privileged tests of the netns helper and of sockets bound to a netns:
 * switching always comes back to the original namespace (checked by the
 * identity of /proc/thread-self/ns/net), and a socket keeps addressing the
 * netns it was opened in.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  isCurrentNetns,
  linkAddVeth,
  linkList,
  NetlinkError,
  netnsId,
  routeAdd,
  routeList,
  Socket,
  withNetns,
} from "../netlink/mod.ts";
import { ip, ipJson, run, world } from "./harness.ts";

const SELF = "/proc/thread-self/ns/net";
const MISSING = "/run/netns/pnt-no-such-netns";

/** Asserts the thread is (still) in the namespace identified by `id`. */
function assertIn(id: string, why: string): void {
  assert.equal(netnsId(SELF), id, `thread netns after ${why}`);
}

Deno.test("withNetns runs fn inside the target netns and returns its value", async () => {
  await using w = world();
  const ns = w.netns("a");
  ip(ns, "link", "add", "name", "mark0", "type", "veth", "peer", "name", "mark1");
  const home = netnsId(SELF);
  const seen = withNetns(w.path(ns), () => {
    const dev = Deno.readTextFileSync("/proc/thread-self/net/dev").split("\n").slice(2);
    return {
      id: netnsId(SELF),
      current: isCurrentNetns(w.path(ns)),
      links: dev.map((l) => l.split(":")[0]!.trim()).filter(Boolean).sort(),
    };
  });
  assert.equal(seen.id, netnsId(w.path(ns)));
  assert.notEqual(seen.id, home);
  assert.equal(seen.current, true);
  assert.deepEqual(seen.links, ["lo", "mark0", "mark1"], "sync reads inside see the target netns");
  assertIn(home, "withNetns");
  assert.equal(isCurrentNetns(w.path(ns)), false);
});

Deno.test("withNetns restores the original netns when fn throws", async () => {
  await using w = world();
  const ns = w.netns("a");
  const home = netnsId(SELF);
  const boom = new Error("boom");
  assert.throws(() =>
    withNetns(w.path(ns), () => {
      assert.equal(netnsId(SELF), netnsId(w.path(ns)));
      throw boom;
    }), (e) => e === boom);
  assertIn(home, "a throwing fn");
});

Deno.test("withNetns nests and unwinds to each saved netns", async () => {
  await using w = world();
  const a = w.netns("a");
  const b = w.netns("b");
  const home = netnsId(SELF);
  withNetns(w.path(a), () => {
    withNetns(w.path(b), () => assert.equal(netnsId(SELF), netnsId(w.path(b))));
    assert.equal(netnsId(SELF), netnsId(w.path(a)));
    assert.throws(() => withNetns(w.path(b), () => Promise.reject(new Error("async"))), TypeError);
    assert.equal(netnsId(SELF), netnsId(w.path(a)));
  });
  assertIn(home, "nested withNetns");
});

Deno.test("withNetns refuses an async fn and still restores the original netns", async () => {
  await using w = world();
  const ns = w.netns("a");
  const home = netnsId(SELF);
  let ranInside = false;
  assert.throws(
    () =>
      withNetns(w.path(ns), async () => {
        ranInside = netnsId(SELF) === netnsId(w.path(ns));
        await Promise.resolve();
      }),
    (e) => e instanceof TypeError && /synchronous/.test(e.message),
  );
  assert.equal(ranInside, true, "the synchronous part ran inside");
  assertIn(home, "an async fn");
  // Let the refused promise settle: it must not surface as an unhandled rejection.
  await new Promise((r) => setTimeout(r, 10));
  assertIn(home, "the refused promise settled");
});

Deno.test("withNetns with a bad netns path fails clearly and leaves the thread where it was", () => {
  const home = netnsId(SELF);
  let ran = false;
  assert.throws(
    () => withNetns(MISSING, () => (ran = true)),
    (e) => e instanceof NetlinkError && e.notFound && e.message.includes(MISSING),
  );
  assert.equal(ran, false);
  assertIn(home, "a missing netns");
  // A file that is not a namespace: refused on the open descriptor (not nsfs), before setns.
  assert.throws(
    () => withNetns("/proc/self/status", () => (ran = true)),
    (e) =>
      e instanceof NetlinkError && e.errno === 22 && /open netns \/proc\/self\/status: not a namespace/.test(e.message),
  );
  assert.equal(ran, false);
  assertIn(home, "a non-netns file");
  // A FIFO where a netns should be: refused at once, not waited on (the open is non-blocking).
  const dir = Deno.makeTempDirSync({ prefix: "podnet-fifo-" });
  try {
    run("mkfifo", [`${dir}/ns`]);
    const t0 = performance.now();
    assert.throws(() => withNetns(`${dir}/ns`, () => (ran = true)), (e) => e instanceof NetlinkError && e.errno === 22);
    assert.ok(performance.now() - t0 < 1000, "the FIFO open did not block");
    assert.throws(() => Socket.open(`${dir}/ns`), /not a namespace/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  assert.equal(ran, false);
  assertIn(home, "a FIFO");
});

Deno.test("Socket.open with a bad netns path fails clearly and leaves the thread where it was", () => {
  const home = netnsId(SELF);
  assert.throws(
    () => Socket.open(MISSING),
    (e) => e instanceof NetlinkError && e.notFound && e.message.includes(MISSING),
  );
  assertIn(home, "Socket.open of a missing netns");
  assert.throws(
    () => Socket.open("/etc/hostname"),
    (e) => e instanceof NetlinkError && e.errno === 22 && e.message.includes("/etc/hostname"),
  );
  assertIn(home, "Socket.open of a non-netns file");
});

Deno.test("an empty netns path is an error, not the caller's own netns", () => {
  const home = netnsId(SELF);
  assert.throws(() => Socket.open(""), (e) => e instanceof NetlinkError && e.notFound && /open netns/.test(e.message));
  assert.throws(() => withNetns("", () => 1), (e) => e instanceof NetlinkError && e.notFound);
  assertIn(home, "an empty path");
  using own = Socket.open();
  assert.equal(own.netns, null);
  using own2 = Socket.open(null);
  assert.equal(own2.netns, null);
});

Deno.test("a socket opened in netns A keeps operating on A after the thread switched back", async () => {
  await using w = world();
  const a = w.netns("a");
  const home = netnsId(SELF);
  using s = Socket.open(w.path(a));
  assert.equal(s.netns, w.path(a));
  assertIn(home, "Socket.open");
  linkAddVeth(s, { name: "sa0", peerName: "sa1" });
  ip(a, "link", "set", "sa0", "up");
  ip(a, "addr", "add", "10.7.0.1/24", "dev", "sa0");
  routeAdd(s, { dst: "10.70.0.0/16", gateway: "10.7.0.254", link: "sa0" });
  assert.deepEqual(
    linkList(s).map((l) => l.name).sort(),
    ipJson(a, "link", "show").map((l: { ifname: string }) => l.ifname).sort(),
  );
  assert.deepEqual(ipJson(a, "route", "show", "10.70.0.0/16").map((r: { gateway: string }) => r.gateway), [
    "10.7.0.254",
  ]);
  assert.ok(routeList(s).some((r) => r.dst === "10.70.0.0/16"));
  // The caller's netns got none of it (read-only check by name; it is not touched).
  using own = Socket.open();
  assert.equal(own.netns, null);
  assert.equal(linkList(own).some((l) => l.name === "sa0"), false);
  assertIn(home, "using the socket");
});

Deno.test("two sockets in two netns see only their own links", async () => {
  await using w = world();
  const a = w.netns("a");
  const b = w.netns("b");
  using sa = Socket.open(w.path(a));
  using sb = Socket.open(w.path(b));
  linkAddVeth(sa, { name: "xa", peerName: "xb", peerNetns: w.path(b) });
  assert.deepEqual(linkList(sa).map((l) => l.name).sort(), ["lo", "xa"]);
  assert.deepEqual(linkList(sb).map((l) => l.name).sort(), ["lo", "xb"]);
  // The thread's netns does not matter to a socket: inside B, sa still addresses A.
  const insideB = withNetns(w.path(b), () => linkList(sa).map((l) => l.name).sort());
  assert.deepEqual(insideB, ["lo", "xa"]);
});

Deno.test("Socket.close is idempotent and a closed socket refuses use", async () => {
  await using w = world();
  const a = w.netns("a");
  const s = Socket.open(w.path(a));
  assert.equal(s.closed, false);
  assert.ok(linkList(s).length >= 1);
  s.close();
  assert.equal(s.closed, true);
  s.close();
  s[Symbol.dispose]();
  assert.throws(
    () => linkList(s),
    (e) => e instanceof NetlinkError && /socket is closed/.test(e.message),
  );
  assert.throws(() => s.ptr, (e) => e instanceof NetlinkError && !e.notFound && !e.exists);
});

Deno.test("using disposes the socket at the end of the block", async () => {
  await using w = world();
  const a = w.netns("a");
  let kept: Socket;
  {
    using s = Socket.open(w.path(a));
    kept = s;
    assert.equal(s.closed, false);
  }
  assert.equal(kept.closed, true);
});
