import assert from "node:assert/strict";
import { NLE_AGAIN, NLE_DUMP_INTR, NLE_EXIST, NLE_NODEV, NLE_OBJ_NOTFOUND } from "../ffi/libnl.ts";
import { check, libcError, NetlinkError, resetKernelErrno, retryTransient } from "./errors.ts";

Deno.test("check passes non-negative return codes through", () => {
  assert.equal(check(0, "noop"), 0);
  assert.equal(check(7, "noop"), 7);
});

Deno.test("check turns a negative libnl code into a NetlinkError naming the action and libnl's text", () => {
  resetKernelErrno();
  assert.throws(
    () => check(-NLE_EXIST, "link add v0"),
    (e) =>
      e instanceof NetlinkError && e.action === "link add v0" && e.code === NLE_EXIST && e.errno === 0 &&
      e.exists && !e.notFound && /^link add v0: Object exists \(NLE 6\)$/.test(e.message),
  );
  assert.throws(() => check(-NLE_OBJ_NOTFOUND, "x"), (e) => e instanceof NetlinkError && e.notFound && !e.exists);
  assert.throws(() => check(-NLE_NODEV, "x"), (e) => e instanceof NetlinkError && e.notFound);
});

Deno.test("NetlinkError kinds follow errno as well as the NLE code", () => {
  assert.ok(new NetlinkError("a", 0, 2, "ENOENT").notFound);
  assert.ok(new NetlinkError("a", 0, 19, "ENODEV").notFound);
  assert.ok(new NetlinkError("a", 0, 3, "ESRCH").notFound);
  assert.ok(new NetlinkError("a", 0, 99, "EADDRNOTAVAIL").notFound);
  assert.ok(new NetlinkError("a", 0, 17, "EEXIST").exists);
  assert.ok(new NetlinkError("a", 0, 16, "EBUSY").transient);
  assert.ok(new NetlinkError("a", NLE_DUMP_INTR, 0, "dump interrupted").transient);
  const plain = new NetlinkError("a", 1, 101, "ENETUNREACH");
  assert.deepEqual([plain.notFound, plain.exists, plain.transient], [false, false, false]);
  assert.equal(plain.name, "NetlinkError");
  assert.ok(plain instanceof Error);
});

Deno.test("libcError carries the errno and strerror text", () => {
  const e = libcError("open netns /x", 2);
  assert.deepEqual([e.code, e.errno, e.notFound], [0, 2, true]);
  assert.equal(e.message, "open netns /x: No such file or directory (errno 2)");
});

Deno.test("retryTransient retries transient failures a bounded number of times and rethrows others at once", () => {
  let calls = 0;
  assert.equal(
    retryTransient(() => {
      if (++calls < 3) throw new NetlinkError("dump", NLE_AGAIN, 0, "again");
      return "ok";
    }),
    "ok",
  );
  assert.equal(calls, 3);
  calls = 0;
  assert.throws(
    () =>
      retryTransient(() => {
        calls++;
        throw new NetlinkError("dump", NLE_DUMP_INTR, 0, "interrupted");
      }, 4),
    (e) => e instanceof NetlinkError && e.transient,
  );
  assert.equal(calls, 4);
  calls = 0;
  assert.throws(() =>
    retryTransient(() => {
      calls++;
      throw new NetlinkError("add", NLE_EXIST, 17, "exists");
    }), (e) => e instanceof NetlinkError && e.exists);
  assert.equal(calls, 1);
  calls = 0;
  assert.throws(() =>
    retryTransient(() => {
      calls++;
      throw new TypeError("bug");
    }), TypeError);
  assert.equal(calls, 1);
});

Deno.test("retryTransient with a time budget backs off and retries until it succeeds, then gives up when it runs out", () => {
  let calls = 0;
  const t0 = performance.now();
  assert.equal(
    retryTransient(() => {
      if (++calls < 4) throw new NetlinkError("dump", NLE_DUMP_INTR, 0, "interrupted");
      return "whole";
    }, { budgetMs: 5000 }),
    "whole",
  );
  assert.equal(calls, 4);
  assert.ok(performance.now() - t0 >= 1 + 2 + 4, "it waited 1, 2 and 4 ms between the tries");
  calls = 0;
  assert.throws(
    () =>
      retryTransient(() => {
        calls++;
        throw new NetlinkError("dump", NLE_DUMP_INTR, 0, "interrupted");
      }, { budgetMs: 50 }),
    (e) => e instanceof NetlinkError && e.transient,
  );
  assert.ok(calls > 1 && calls < 20, `a few tries within 50 ms, not a spin: ${calls}`);
  calls = 0;
  assert.throws(() =>
    retryTransient(() => {
      calls++;
      throw new NetlinkError("add", NLE_EXIST, 17, "exists");
    }, { budgetMs: 5000 }), (e) => e instanceof NetlinkError && e.exists);
  assert.equal(calls, 1, "a failure that is not transient is not retried");
});
