/**
 * `podnet hook` against real kernel state (no runsc): what it takes, what it
 * refuses, and that a refusal changes nothing. The target is always a sleeper
 * process inside a netns the test made; the host's initial netns and PID 1
 * are stood in for by the `initNetns`/`selfNetns` seams, never used.
 */

import assert from "node:assert/strict";
import { runHook } from "../sandbox/hook.ts";
import { ip, ipJson, type World, world } from "./harness.ts";
import { calicoPod, HOST_IF, kernelState, permanent, podnet, type PodWorld, sleeperIn } from "../lab/sandbox.ts";

function state(pid: number | undefined, annotations: Record<string, string> = {}): string {
  return JSON.stringify({ ociVersion: "1.0.2", id: "ctr1", status: "created", pid, bundle: "/x", annotations });
}

function links(ns: string): string[] {
  return ipJson(ns, "link", "show").map((l) => l.ifname);
}

function hookWorld(w: World, alias?: string): PodWorld & { q: string } {
  const pw = calicoPod(w, alias ? { alias } : {});
  ip(pw.pod, "neigh", "replace", "169.254.1.1", "lladdr", pw.host.mac, "dev", "eth0", "nud", "permanent");
  return { ...pw, q: w.netns("q") };
}

// ------------------------------------------------------------------ the state on stdin

Deno.test("hook: a state without pid fails with one clear line", async () => {
  const r = await podnet(["hook", "--link-netns", "/run/netns/nothing"], state(undefined));
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    "podnet hook: container ctr1: state has no pid; run podnet hook as a prestart or createRuntime hook, when the sandbox exists\n",
  );
});

Deno.test("hook: a hostile state is refused in one line naming the field, quoting nothing from it; deep nesting is bounded", async () => {
  const secret = "SECRET-7f3a";
  const base = { ociVersion: "1.0.2", id: "ctr1", status: "created", pid: 4242, bundle: "/x" };
  const deep = `{"id":"ctr1","pid":4242,"x":${"[".repeat(10_000)}${"]".repeat(10_000)}}`;
  const cases: [string, RegExp][] = [
    [deep, /^podnet hook: container state on stdin is nested deeper than 16 levels/],
    [
      JSON.stringify({ ...base, pad: secret.repeat(120_000) }),
      /^podnet hook: container state on stdin is \d+ bytes, more than the limit of 1048576/,
    ],
    [`{"id": "${secret}", "pid": `, /^podnet hook: container state on stdin is not valid JSON/],
    [JSON.stringify({ ...base, id: `${secret}/../x` }), /^podnet hook: container state: id: is not a container ID/],
    [
      JSON.stringify({ ...base, id: { v: secret } }),
      /^podnet hook: container state: id: wants a string, got an object/,
    ],
    [
      JSON.stringify({ ...base, pid: secret }),
      /^podnet hook: container state: pid: wants a whole number, got a string/,
    ],
    [
      JSON.stringify({ ...base, pid: 2 ** 40 }),
      /^podnet hook: container state: pid: 1099511627776 is above 1073741823/,
    ],
    [JSON.stringify({ ...base, annotations: [secret] }), /^podnet hook: container state: annotations: wants an object/],
    [
      JSON.stringify({ ...base, annotations: { "podnet.io/ifname": { v: secret } } }),
      /^podnet hook: container state: annotations\.podnet\.io\/ifname: wants a string/,
    ],
    [
      JSON.stringify({ ...base, annotations: { "podnet.io/ifname": `${secret}%d` } }),
      /^podnet hook: refusing annotation podnet\.io\/ifname: the operator gave no --allowed-netns-dir/,
    ],
    [JSON.stringify([secret]), /^podnet hook: container state on stdin wants an object, got a list/],
  ];
  for (const [stdin, pattern] of cases) {
    const r = await podnet(["hook", "--link-netns", "/run/netns/nothing"], stdin);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.split("\n").length, 2, `one line: ${r.stderr}`);
    assert.ok(!r.stderr.includes(secret) && !r.stderr.includes("RangeError"), r.stderr);
  }
  // An annotation's value is the pod author's: never printed, whichever way it is refused.
  await using w = world();
  const allowed = w.tempDir();
  const pw = calicoPod(w);
  const pid = await sleeperIn(w, w.path(w.netns("q")));
  const annotated: [string[], Record<string, string>, RegExp][] = [
    [
      ["--allowed-netns-dir", allowed],
      { "podnet.io/link-netns": `/${secret}/ns` },
      /its path cannot be resolved \(ENOENT\)/,
    ],
    [["--allowed-netns-dir", allowed], { "podnet.io/link-netns": pw.podPath }, /its path does not resolve under \//],
    [
      ["--allowed-netns-dir", allowed],
      { "podnet.io/ifname": `${secret}%d` },
      /podnet\.io\/ifname: it is \d+ bytes|contains/,
    ],
  ];
  for (const [flags, ann, pattern] of annotated) {
    const r = await podnet(["hook", ...flags], state(pid, ann));
    assert.equal(r.code, 1);
    assert.match(r.stderr, pattern);
    assert.ok(!r.stderr.includes(secret) && !r.stderr.includes(pw.podPath), r.stderr);
  }
});

// ------------------------------------------------------------------ annotations

Deno.test("hook: annotations at /proc/1/ns/net, outside the allowed dir, or with no allowed dir are refused; nothing changes", async () => {
  await using w = world();
  const hw = hookWorld(w, "podnet-test/ctr1/eth0");
  const pid = await sleeperIn(w, w.path(hw.q));
  const allowed = w.tempDir();
  const before = [kernelState(hw.pod), kernelState(hw.q)];
  const cases: [string[], Record<string, string>, RegExp][] = [
    [
      ["--allowed-netns-dir", allowed],
      { "podnet.io/link-netns": "/proc/1/ns/net" },
      /^podnet hook: refusing annotation podnet\.io\/link-netns: its path (does not resolve under|cannot be resolved)/,
    ],
    [
      ["--allowed-netns-dir", allowed],
      { "podnet.io/link-netns": hw.podPath },
      /refusing annotation podnet\.io\/link-netns: its path does not resolve under/,
    ],
    [
      ["--allowed-netns-dir", allowed],
      { "podnet.io/link-netns": `${allowed}/../../..${hw.podPath}` },
      /does not resolve under/,
    ],
    [[], { "podnet.io/link-netns": hw.podPath }, /the operator gave no --allowed-netns-dir/],
    [
      [],
      { "podnet.io/ifname": "eth0" },
      /refusing annotation podnet\.io\/ifname: the operator gave no --allowed-netns-dir/,
    ],
  ];
  for (const [flags, ann, pattern] of cases) {
    const r = await podnet(["hook", ...flags], state(pid, ann));
    assert.equal(r.code, 1, JSON.stringify(ann));
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.split("\n").length, 2, "one line");
  }
  assert.deepEqual([kernelState(hw.pod), kernelState(hw.q)], before);
});

Deno.test("hook: an annotation under the allowed dir is honoured and moves the podnet pod end into the sandbox", async () => {
  await using w = world();
  const hw = hookWorld(w, "podnet-test/ctr1/eth0");
  const pid = await sleeperIn(w, w.path(hw.q));
  runHook(JSON.parse(state(pid, { "podnet.io/link-netns": hw.podPath })), {
    allowedNetnsDir: "/run/netns",
    selfNetns: hw.nodePath,
  });
  assert.deepEqual(links(hw.pod), ["lo"]);
  assert.deepEqual(ipJson(hw.q, "-4", "addr", "show", "eth0")[0].addr_info.map((a: { local: string }) => a.local), [
    "10.9.0.5",
  ]);
  assert.deepEqual(permanent(hw.q), [["169.254.1.1", hw.host.mac]]);
});

Deno.test("hook: an annotation naming another container's pod netns is refused without printing its path; nothing moves", async () => {
  await using w = world();
  const hw = hookWorld(w, "podnet-test/other-pod/eth0"); // a genuine podnet pod end, of another container
  const pid = await sleeperIn(w, w.path(hw.q));
  assert.throws(
    () =>
      runHook(JSON.parse(state(pid, { "podnet.io/link-netns": hw.podPath })), {
        allowedNetnsDir: "/run/netns",
        selfNetns: hw.nodePath,
        ifnames: [],
      }),
    /^HookError: refusing to move eth0 from the netns named by annotation podnet\.io\/link-netns: it belongs to container other-pod, not ctr1$/,
  );
  // The operator's --ifname names a link, not a netns: it does not open another pod's netns to an annotation.
  assert.throws(
    () =>
      runHook(JSON.parse(state(pid, { "podnet.io/link-netns": hw.podPath })), {
        allowedNetnsDir: "/run/netns",
        selfNetns: hw.nodePath,
        ifnames: ["eth0"],
      }),
    /it belongs to container other-pod, not ctr1/,
  );
  assert.deepEqual(links(hw.pod), ["lo", "eth0"]);
  assert.deepEqual(links(hw.q), ["lo"]);
});

Deno.test("hook: an annotation podnet.io/ifname naming another container's podnet link in the operator's link netns never moves it", async () => {
  await using w = world();
  const hw = hookWorld(w, "podnet-test/ctr1/eth0");
  // A second podnet pod end in the same link netns, of another container.
  ip(hw.node, "link", "add", "pnhost1", "type", "veth", "peer", "name", "eth1", "netns", hw.pod);
  ip(hw.node, "link", "set", "pnhost1", "alias", "podnet-test/other/eth1", "up");
  ip(hw.pod, "link", "set", "eth1", "up");
  const pid = await sleeperIn(w, w.path(hw.q));
  const opts = { linkNetns: hw.podPath, allowedNetnsDir: "/run/netns", selfNetns: hw.nodePath };
  const before = [kernelState(hw.pod), kernelState(hw.q)];
  assert.throws(
    () => runHook(JSON.parse(state(pid, { "podnet.io/ifname": "eth1" })), opts),
    /^HookError: refusing to move eth1 from \/run\/netns\/pnt-\S+: it belongs to container other, not ctr1$/,
  );
  // Unnamed, the default selection (every link up) holds the other container's link too: refused whole.
  assert.throws(() => runHook(JSON.parse(state(pid)), opts), /refusing to move eth1 .*belongs to container other/);
  assert.deepEqual([kernelState(hw.pod), kernelState(hw.q)], before);
  // Its own link, named by annotation, moves; the other stays.
  runHook(JSON.parse(state(pid, { "podnet.io/ifname": "eth0" })), opts);
  assert.deepEqual(links(hw.pod), ["lo", "eth1"]);
  assert.deepEqual(links(hw.q).sort(), ["eth0", "lo"]);
  // Only the operator's --ifname names another container's link.
  const q2 = w.netns("q2");
  runHook(JSON.parse(state(await sleeperIn(w, w.path(q2)))), { ...opts, ifnames: ["eth1"] });
  assert.deepEqual(links(q2).sort(), ["eth1", "lo"]);
});

Deno.test("hook: refuses to move a link that is not the pod end of a podnet veth, unless the operator names it", async () => {
  await using w = world();
  const hw = hookWorld(w); // host end without podnet's alias
  const pid = await sleeperIn(w, w.path(hw.q));
  const st = JSON.parse(state(pid));
  assert.throws(
    () => runHook(st, { linkNetns: hw.podPath, selfNetns: hw.nodePath }),
    /refusing to move eth0 from \/run\/netns\/pnt-\S+: it is not the pod end of a podnet veth/,
  );
  assert.deepEqual(links(hw.pod), ["lo", "eth0"]);
  ip(hw.node, "link", "set", HOST_IF, "alias", "other/ctr1/eth1"); // podnet's form, but for another ifname
  assert.throws(
    () => runHook(st, { linkNetns: hw.podPath, selfNetns: hw.nodePath }),
    /not the pod end of a podnet veth/,
  );
  runHook(st, { linkNetns: hw.podPath, selfNetns: hw.nodePath, ifnames: ["eth0"] });
  assert.deepEqual(links(hw.pod), ["lo"]);
  assert.deepEqual(permanent(hw.q), [["169.254.1.1", hw.host.mac]]);
});

Deno.test("hook: a veth whose ifindexes mirror a podnet pod end but whose peer lives elsewhere is refused (nsid check)", async () => {
  await using w = world();
  const hw = hookWorld(w, "podnet-test/ctr1/eth0");
  const podEnd = ipJson(hw.pod, "link", "show", "eth0")[0];
  // A decoy in another netns L: eth0 with the pod end's ifindex, its peer (in Z) with the host end's.
  // Ifindexes alone cannot tell it from the real pod end; only the peer's netns id can.
  const l = w.netns("decoy"), z = w.netns("z");
  const index = (i: number): string[] => ["index", String(i)];
  ip(
    l,
    "link",
    "add",
    "eth0",
    ...index(podEnd.ifindex),
    "type",
    "veth",
    "peer",
    "name",
    "zz",
    "netns",
    z,
    ...index(hw.host.index),
  );
  ip(l, "link", "set", "eth0", "up");
  const pid = await sleeperIn(w, w.path(hw.q));
  assert.throws(
    () => runHook(JSON.parse(state(pid)), { linkNetns: w.path(l), selfNetns: hw.nodePath }),
    /refusing to move eth0 from \/run\/netns\/pnt-\S+: it is not the pod end of a podnet veth/,
  );
  assert.deepEqual(links(l), ["lo", "eth0"]);
  assert.deepEqual(links(hw.q), ["lo"]);
  // The genuine pod end is still taken.
  runHook(JSON.parse(state(pid)), { linkNetns: hw.podPath, selfNetns: hw.nodePath });
  assert.deepEqual(links(hw.q), ["lo", "eth0"]);
});

// ------------------------------------------------------------------ which netns may be a target

Deno.test("hook: refuses the node's own netns as target or link source, and a --link-netns target holding more than lo", async () => {
  await using w = world();
  const hw = hookWorld(w, "podnet-test/ctr1/eth0");
  const inNode = await sleeperIn(w, hw.nodePath);
  const inQ = await sleeperIn(w, w.path(hw.q));
  const opts = { linkNetns: hw.podPath, selfNetns: hw.nodePath };
  assert.throws(
    () => runHook(JSON.parse(state(inNode)), opts),
    /refusing container ctr1 netns \/proc\/\d+\/ns\/net: it is the node's own netns/,
  );
  assert.throws(
    () => runHook(JSON.parse(state(inQ)), { linkNetns: hw.nodePath, selfNetns: hw.nodePath }),
    /refusing link netns \S+: it is the node's own netns/,
  );
  // A target that already holds a link is no new sandbox netns (here: one with an eth0 of its own).
  const busy = w.netns("busy");
  ip(busy, "link", "add", "eth0", "type", "ifb");
  const inBusy = await sleeperIn(w, w.path(busy));
  const before = [kernelState(hw.pod), kernelState(busy)];
  assert.throws(
    () => runHook(JSON.parse(state(inBusy)), opts),
    /^HookError: refusing container ctr1 netns \/proc\/\d+\/ns\/net: it holds 1 link\(s\) besides lo, so it is no new sandbox netns/,
  );
  assert.deepEqual([kernelState(hw.pod), kernelState(busy)], before);
});

/**
 * A stand-in for a host's initial netns: an "uplink" (ifb, not a veth) with
 * an address and a default route through a gateway nobody answers, which
 * capture would probe.
 */
function fakeHost(w: World): { ns: string; path: string } {
  const ns = w.netns("host");
  ip(ns, "link", "add", "up0", "type", "ifb");
  ip(ns, "link", "set", "up0", "up");
  ip(ns, "addr", "add", "192.0.2.10/24", "dev", "up0");
  ip(ns, "route", "add", "default", "via", "192.0.2.1", "dev", "up0");
  return { ns, path: w.path(ns) };
}

Deno.test("hook fails closed on PID 1's netns: when it is the target, and when its identity cannot be read and the target's content proves nothing", async () => {
  await using w = world();
  const hw = hookWorld(w, "podnet-test/ctr1/eth0");
  const host = fakeHost(w);
  const inHost = await sleeperIn(w, host.path);
  const before = [kernelState(host.ns), ipJson(host.ns, "neigh", "show"), kernelState(hw.pod)];
  const unreadable = `${w.tempDir()}/no-such-pid/ns/net`; // what EACCES on /proc/1/ns/net amounts to
  // The target is "PID 1's netns" (the seam names the stand-in): refused in either mode.
  for (const linkNetns of [null, hw.podPath]) {
    assert.throws(
      () => runHook(JSON.parse(state(inHost)), { linkNetns, selfNetns: hw.nodePath, initNetns: host.path }),
      /^HookError: refusing container ctr1 netns \/proc\/\d+\/ns\/net: it is PID 1's netns$/,
    );
  }
  // PID 1's identity unreadable: that proof is missing, not passed; the content must prove the target a pod's.
  assert.throws(
    () => runHook(JSON.parse(state(inHost)), { selfNetns: hw.nodePath, initNetns: unreadable }),
    /^HookError: refusing container ctr1 netns \/proc\/\d+\/ns\/net: 1 of its links is not a veth to this node's netns, so it is not provably a pod's \(and whether it is PID 1's netns cannot be told: stat netns \S+: No such file or directory/,
  );
  assert.throws(
    () => runHook(JSON.parse(state(inHost)), { linkNetns: hw.podPath, selfNetns: hw.nodePath, initNetns: unreadable }),
    /it holds 1 link\(s\) besides lo, so it is no new sandbox netns \(and whether it is PID 1's netns cannot be told/,
  );
  // Nothing was captured or probed there: no neighbor entry for its gateway, nothing changed.
  assert.deepEqual([kernelState(host.ns), ipJson(host.ns, "neigh", "show"), kernelState(hw.pod)], before);
  // The hook's own netns must be readable: no identity, no hook.
  assert.throws(
    () => runHook(JSON.parse(state(inHost)), { linkNetns: hw.podPath, selfNetns: unreadable }),
    /refusing container ctr1 netns \/proc\/\d+\/ns\/net: cannot tell whether it is the node's own netns/,
  );
  // As under runsc (EACCES on /proc/1/ns/net): a new netns holding only lo is proof enough, the link moves.
  const pid = await sleeperIn(w, w.path(hw.q));
  runHook(JSON.parse(state(pid)), { linkNetns: hw.podPath, selfNetns: hw.nodePath, initNetns: unreadable });
  assert.deepEqual(links(hw.q).sort(), ["eth0", "lo"]);
});

Deno.test("hook without --link-netns pins the sandbox netns's own gateway neighbors in place", async () => {
  await using w = world();
  const pw = calicoPod(w);
  ip(pw.pod, "neigh", "replace", "169.254.1.1", "lladdr", pw.host.mac, "dev", "eth0", "nud", "reachable");
  const pid = await sleeperIn(w, pw.podPath);
  const before = ipJson(pw.pod, "route", "show");
  runHook(JSON.parse(state(pid)), { selfNetns: pw.nodePath });
  assert.deepEqual(permanent(pw.pod), [["169.254.1.1", pw.host.mac]]);
  assert.deepEqual(ipJson(pw.pod, "route", "show"), before);
});

Deno.test("hook without --link-netns refuses a pod netns holding a link that is not a veth to the node; nothing is probed", async () => {
  await using w = world();
  const pw = calicoPod(w);
  ip(pw.pod, "neigh", "replace", "169.254.1.1", "lladdr", pw.host.mac, "dev", "eth0", "nud", "reachable");
  ip(pw.pod, "link", "add", "up0", "type", "ifb");
  ip(pw.pod, "link", "set", "up0", "up");
  const pid = await sleeperIn(w, pw.podPath);
  const before = [kernelState(pw.pod), ipJson(pw.pod, "neigh", "show")];
  assert.throws(
    () => runHook(JSON.parse(state(pid)), { selfNetns: pw.nodePath }),
    /1 of its links is not a veth to this node's netns, so it is not provably a pod's/,
  );
  assert.deepEqual([kernelState(pw.pod), ipJson(pw.pod, "neigh", "show")], before);
});
