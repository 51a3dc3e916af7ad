/**
 * Reliability (issue 7, test 5): fuzzed and hostile input. At least 500
 * generated CNI invocations (config mutations: missing/extra fields, type
 * swaps, huge strings, unicode, deep nesting, empty and 1 MiB stdin, every
 * cniVersion; env mutations: every variable missing, malformed or pointing
 * somewhere wrong), run in-process in a long-lived process inside the node
 * netns, a slice of them also through the launcher: never a crash, never a
 * stack trace, always the spec's error JSON with a non-zero exit — with the
 * expected code where the input decides it — and success for valid input
 * (an ADD then DELs cleanly). Snapshots for `restore` are fuzzed the same way.
 * A seeded PRNG picks the cases; the seed is printed (PODNET_SEED reproduces).
 *
 * @module
 */

import assert from "node:assert/strict";
import { ip, ipJson, newFds, world } from "./harness.ts";
import { cni, makeNode, type Node } from "./cni_helpers.ts";
import {
  assertNoLeak,
  assertSpecOutcome,
  captureDirOf,
  InProc,
  LONG,
  nodeState,
  pluginDir,
  prng,
  relConf,
  seedFor,
  type WorkerReply,
} from "./rel_helpers.ts";

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/** A random string: ASCII, unicode (BMP, astral, RTL, combining, NUL) or huge. */
function str(r: Rand, max = 40): string {
  const alphabets = ["abcXYZ019_-.", "äöü€ß日本語", "😀🧪🚀", '\u202e\u0301\u200b\u0000\t\n"\\/', "{}[]:,"];
  const a = pick(r, alphabets);
  const chars = [...a];
  const n = Math.floor(r() * max);
  return Array.from({ length: n }, () => pick(r, chars)).join("");
}

/** A random JSON value, nested up to `depth`. */
function jsonValue(r: Rand, depth = 3): unknown {
  const k = Math.floor(r() * (depth > 0 ? 8 : 6));
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return pick(r, [0, -1, 1.5, 1e308, -0, 2 ** 53 + 1]);
    case 3:
      return str(r);
    case 4:
      return "x".repeat(Math.floor(r() * 5000));
    case 5:
      return str(r, 5);
    case 6:
      return Array.from({ length: Math.floor(r() * 4) }, () => jsonValue(r, depth - 1));
    default:
      return Object.fromEntries(
        Array.from({ length: Math.floor(r() * 4) }, () => [str(r, 8), jsonValue(r, depth - 1)]),
      );
  }
}

function deep(n: number): unknown {
  let v: unknown = "bottom";
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { d: v };
  return v;
}

/** What a case must end in: success, one of the codes, usage (CLI exit 2), or any spec outcome. */
type Expect = "ok" | "usage" | "any" | number[];

interface ConfMut {
  name: string;
  /** The stdin; `base` is a fresh valid config. */
  make: (base: Record<string, unknown>, r: Rand) => string | Uint8Array | Record<string, unknown>;
  /** Expected code when the env is fine, per command (default for all). */
  expect: Expect | ((cmd: string) => Expect);
  /** Found only while running (the IPAM plugin looked up), after the netns and alias checks. */
  late?: boolean;
}

/**
 * The config mutations. Paths are never fuzzed to absolute values outside the test's temp dir: a
 * valid one would be a real file anywhere on the machine (relative ones must be refused, and the
 * worker runs in a temp working directory in case they are not).
 */
function confMuts(node: Node, tmp: string): ConfMut[] {
  const set = (k: string, v: (r: Rand) => unknown) => (b: Record<string, unknown>, r: Rand) => ({ ...b, [k]: v(r) });
  const del = (k: string) => (b: Record<string, unknown>) => {
    const c = { ...b };
    delete c[k];
    return c;
  };
  const enc = new TextEncoder();
  return [
    // valid
    { name: "as is", make: (b) => b, expect: "ok" },
    { name: "extra field", make: (b, r) => ({ ...b, [str(r, 12) || "x"]: jsonValue(r) }), expect: "ok" },
    { name: "deep nesting", make: (b, r) => ({ ...b, nested: deep(10 + Math.floor(r() * 50)) }), expect: "ok" },
    // Past the decoder's bound (64 levels) whatever the command: refused before parsing (V8's parser
    // would run out of stack at ~10k), code 6. VERSION reads no config.
    {
      name: "too deep",
      make: (b, r) => {
        const n = pick(r, [64, 100, 1000, 10_000]); // written as text: JSON.stringify itself overflows at 10k
        return `${JSON.stringify(b).slice(0, -1)},"nested":${"[".repeat(n)}${"]".repeat(n)}}`;
      },
      expect: (cmd) => (cmd === "VERSION" ? "ok" : [6]),
    },
    { name: "1 MiB config", make: (b) => ({ ...b, blob: "x".repeat(1 << 20) }), expect: "ok" },
    { name: "every cniVersion", make: set("cniVersion", (r) => pick(r, VERSIONS)), expect: "ok" },
    { name: "valid mtu", make: set("mtu", (r) => pick(r, [1280, 1400, 1500, 9000])), expect: "ok" },
    { name: "gatewayMode", make: set("gatewayMode", (r) => pick(r, ["proxy-arp", "static-neighbor"])), expect: "ok" },
    { name: "logLevel", make: set("logLevel", (r) => pick(r, ["debug", "info", "warn", "error"])), expect: "ok" },
    {
      name: "prefix",
      make: set("hostInterfacePrefix", (r) => str(r, 7).replace(/[^a-zA-Z0-9_-]/g, "") || "q"),
      expect: "ok",
    },
    { name: "dns", make: set("dns", () => ({ nameservers: ["10.0.0.10"], search: ["x.local"] })), expect: "ok" },
    { name: "other type", make: set("type", () => "something-else"), expect: "ok" },
    { name: "v4 only", make: (b) => relConf(node, { v6: false, extra: { logFile: b.logFile } }), expect: "ok" },
    { name: "v6 only", make: (b) => relConf(node, { v4: false, extra: { logFile: b.logFile } }), expect: "ok" },
    // invalid: the whole document
    { name: "empty stdin", make: () => "", expect: [6] },
    { name: "malformed JSON", make: (b) => JSON.stringify(b).slice(0, -3), expect: [6] },
    { name: "not an object", make: (_, r) => JSON.stringify(pick(r, [[], "x", 5, null, true])), expect: [6] },
    { name: "not UTF-8", make: (b) => new Uint8Array([...enc.encode(JSON.stringify(b)), 0xff, 0xfe]), expect: [6] },
    // The decoder drops a UTF-8 byte order mark, as JSON readers may (RFC 8259 §8.1).
    { name: "BOM", make: (b) => `\ufeff${JSON.stringify(b)}`, expect: "ok" },
    { name: "1 MiB garbage", make: () => "{".repeat(1 << 20), expect: [6] },
    // invalid: one field
    { name: "no cniVersion", make: del("cniVersion"), expect: [7] },
    {
      name: "bad cniVersion",
      make: set("cniVersion", (r) => pick(r, ["0.1.0", "0.2.0", "2.0.0", "", "1.1", "1.0.0-rc1", str(r)])),
      expect: [1],
    },
    { name: "cniVersion type", make: set("cniVersion", (r) => pick(r, [1, {}, [], true])), expect: [7] },
    { name: "no name", make: del("name"), expect: [7] },
    { name: "bad name", make: set("name", (r) => pick(r, ["-x", "a b", "ü", "", 5, {}, str(r) + "/"])), expect: [7] },
    {
      name: "huge name",
      make: set("name", () => "n".repeat(100_000)),
      // Only ADD checks the alias (name/containerID/ifname) fits the kernel's 255 bytes; a DEL goes on to
      // host-local, which cannot make a directory of that name.
      expect: (cmd) => (cmd === "ADD" ? [4] : "any"),
    },
    { name: "mtu type", make: set("mtu", (r) => pick(r, ["1500", {}, [], true, 1.5])), expect: [7] },
    { name: "mtu range", make: set("mtu", (r) => pick(r, [0, 67, -1, 65536, 1e9])), expect: [7] },
    // Below IPv6's minimum (1280) every IPv6 setting of a link fails: refused up front, never a 999 later.
    { name: "small mtu", make: set("mtu", (r) => 68 + Math.floor(r() * 1212)), expect: [7] },
    { name: "gatewayMode value", make: set("gatewayMode", (r) => pick(r, ["bogus", "", str(r)])), expect: [2] },
    { name: "gatewayMode type", make: set("gatewayMode", (r) => pick(r, [1, {}, []])), expect: [7] },
    {
      name: "bad prefix",
      make: set("hostInterfacePrefix", (r) => pick(r, ["", "toolong8", "a/b", "ü", 5])),
      expect: [7],
    },
    {
      name: "relative logFile",
      make: set("logFile", (r) => pick(r, ["log.txt", "./x", `rel-${str(r, 10)}`])),
      expect: [7],
    },
    { name: "logFile type", make: set("logFile", (r) => pick(r, [1, {}, []])), expect: [7] },
    { name: "logLevel", make: set("logLevel", (r) => pick(r, ["trace", "", 1, {}])), expect: [7] },
    { name: "no ipam", make: del("ipam"), expect: (cmd) => (cmd === "VERSION" ? "ok" : [7]) },
    { name: "ipam type", make: set("ipam", (r) => pick(r, [[], null, "host-local", 5])), expect: [7] },
    {
      name: "ipam.type",
      make: (b, r) => ({
        ...b,
        ipam: { ...(b.ipam as object), type: pick(r, ["", "../host-local", "/bin/sh", ".", 5]) },
      }),
      expect: [7],
    },
    {
      name: "missing IPAM plugin",
      make: (b, r) => ({ ...b, ipam: { ...(b.ipam as object), type: `no-such-${str(r, 6).replace(/\W/g, "")}` } }),
      late: true,
      expect: (cmd) => (cmd === "ADD" || cmd === "DEL" ? [5] : "any"),
    },
    {
      name: "dns type",
      make: set("dns", (r) => pick(r, ["x", [], { nameservers: "x" }, { search: [1] }])),
      expect: [7],
    },
    // DEL needs no prevResult and must release what it can whatever it holds; the others refuse it.
    {
      name: "prevResult type",
      make: set("prevResult", (r) => pick(r, [[], "x", 5, { ips: [{ address: "x" }] }])),
      expect: (cmd) => (cmd === "DEL" ? "ok" : cmd === "VERSION" || cmd === "GC" || cmd === "STATUS" ? "any" : [7]),
    },
    { name: "captureDir type", make: set("captureDir", (r) => pick(r, [5, {}, []])), expect: [7] },
    // A relative captureDir would be written relative to whatever directory the runtime runs plugins in.
    { name: "relative captureDir", make: set("captureDir", () => "capture-here"), expect: [7] },
    {
      name: "logFile elsewhere in the test dir",
      make: set("logFile", (r) => `${tmp}/logs-${Math.floor(r() * 3)}/p.log`),
      expect: "ok",
    },
  ];
}

interface EnvMut {
  name: string;
  apply: (env: Record<string, string>, r: Rand) => void;
  /** Expected outcome for a command whose config is valid; undefined = no effect on it. */
  expect: (cmd: string) => Expect | undefined;
  /** Found while running (netns opened, alias built, IPAM looked up), so after the config is validated. */
  late?: boolean;
}

const PER_CONTAINER = ["ADD", "DEL", "CHECK"];

function envMuts(tmp: string): EnvMut[] {
  const perContainer =
    (e: Expect) => (cmd: string): Expect | undefined => (PER_CONTAINER.includes(cmd) ? e : undefined);
  return [
    { name: "no CNI_COMMAND", apply: (e) => delete e.CNI_COMMAND, expect: () => "usage" },
    {
      name: "bad CNI_COMMAND",
      apply: (e, r) => (e.CNI_COMMAND = pick(r, ["add", "", "ADD ", "FOO", "ÄDD", "x".repeat(10_000)])),
      expect: () => [4],
    },
    {
      name: "bad container ID",
      apply: (e, r) => (e.CNI_CONTAINERID = pick(r, ["", "-x", "a b", "ü", "a/b", str(r) + "$"])),
      expect: perContainer([4]),
    },
    { name: "no container ID", apply: (e) => delete e.CNI_CONTAINERID, expect: perContainer([4]) },
    {
      name: "long container ID",
      apply: (e) => (e.CNI_CONTAINERID = "c".repeat(300)),
      late: true,
      expect: (cmd) => (cmd === "ADD" ? [4] : cmd === "DEL" ? "ok" : cmd === "CHECK" ? "any" : undefined),
    },
    {
      name: "bad ifname",
      apply: (e, r) => (e.CNI_IFNAME = pick(r, ["", "a".repeat(16), ".", "..", "a/b", "e:0", "e 0", "üüüüüüüü"])),
      expect: perContainer([4]),
    },
    { name: "no ifname", apply: (e) => delete e.CNI_IFNAME, expect: perContainer([4]) },
    {
      name: "other ifname",
      apply: (e, r) => (e.CNI_IFNAME = pick(r, ["net1", "e", "eth-9_x"])),
      expect: () => undefined,
    },
    {
      name: "no netns",
      apply: (e) => delete e.CNI_NETNS,
      expect: (cmd) => (cmd === "ADD" || cmd === "CHECK" ? [4] : undefined),
    },
    { name: "relative netns", apply: (e) => (e.CNI_NETNS = "pod"), expect: perContainer([4]) },
    {
      name: "missing netns",
      late: true,
      apply: (e) => (e.CNI_NETNS = "/run/netns/pnt-no-such-netns"),
      expect: (cmd) => (cmd === "ADD" ? [4] : cmd === "CHECK" ? "any" : undefined),
    },
    {
      name: "own netns",
      late: true,
      apply: (e) => (e.CNI_NETNS = "/proc/self/ns/net"),
      expect: (cmd) => (cmd === "ADD" ? [4] : cmd === "CHECK" ? "any" : undefined),
    },
    {
      name: "netns is a file",
      late: true,
      apply: (e) => (e.CNI_NETNS = `${tmp}/not-a-netns`),
      expect: (cmd) => (cmd === "ADD" ? [4] : cmd === "CHECK" ? "any" : undefined),
    },
    { name: "no CNI_PATH", apply: (e) => delete e.CNI_PATH, expect: (cmd) => (cmd === "VERSION" ? undefined : [4]) },
    {
      name: "CNI_PATH elsewhere",
      late: true,
      apply: (e) => (e.CNI_PATH = `${tmp}/empty-bin:/nonexistent`),
      expect: (cmd) => (cmd === "ADD" || cmd === "DEL" ? [5] : cmd === "VERSION" ? undefined : "any"),
    },
    {
      name: "CNI_ARGS",
      late: true,
      apply: (e, r) => (e.CNI_ARGS = pick(r, ["IgnoreUnknown=1;K8S_POD_NAME=x", "=;;=", str(r), "a=b"])),
      expect: (cmd) => (cmd === "VERSION" ? undefined : "any"),
    },
  ];
}

/**
 * Merges the env's and the config's expectations: parseEnv's errors come first (it runs before stdin
 * is read), then the config's, then what only running the command finds (`late`).
 */
function expected(cmd: string, envExp: Expect | undefined, confExp: Expect, late: boolean, confLate: boolean): Expect {
  if (envExp !== undefined && envExp !== "ok" && !late) return envExp;
  if (cmd === "VERSION") return "ok"; // VERSION answers whatever the config
  // Both found late: the env's error wins (ADD checks the netns and names first), but an env that is fine for the
  // command ("ok", e.g. DEL of a never-added long container ID) does not hide the config's error.
  if (confExp !== "ok") return confLate && envExp !== undefined && envExp !== "ok" ? envExp : confExp;
  if (envExp !== undefined) return envExp;
  return cmd === "ADD" || cmd === "DEL" ? "ok" : "any";
}

function judge(what: string, exp: Expect, code: number, stdout: string): void {
  if (exp === "usage") {
    assert.equal(code, 2, `${what}: want the CLI usage exit 2, got ${code}: ${stdout}`);
    assert.equal(stdout, "", `${what}: usage goes to stderr`);
    return;
  }
  assertSpecOutcome(code, stdout, what);
  if (exp === "ok") {
    assert.equal(code, 0, `${what}: valid input failed: ${stdout.slice(0, 400)}`);
  } else if (Array.isArray(exp)) {
    assert.notEqual(code, 0, `${what}: invalid input succeeded`);
    const got = JSON.parse(stdout).code;
    assert.ok(exp.includes(got), `${what}: want code ${exp.join("|")}, got ${stdout.slice(0, 400)}`);
  }
}

const CASES = LONG ? 3000 : 520;

Deno.test(`${CASES} fuzzed CNI invocations: never a crash or stack trace, spec errors with the right code, valid ones work`, async () => {
  const seed = seedFor("cni fuzz");
  const r = prng(seed);
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const pod = w.netns("pod");
  const tmp = w.tempDir();
  Deno.writeTextFileSync(`${tmp}/not-a-netns`, "");
  Deno.mkdirSync(`${tmp}/empty-bin`);
  const bin = pluginDir(w);
  const cwd = `${tmp}/cwd`;
  Deno.mkdirSync(cwd);
  const cm = confMuts(node, tmp), em = envMuts(tmp);
  await using worker = await InProc.start(node, cwd);
  const tally: Record<string, number> = {};
  let adds = 0, viaLauncher = 0;
  let fdsEarly: string[] = [], fdsLast: string[] = [];
  for (let i = 0; i < CASES; i++) {
    const cmd = pick(r, ["ADD", "ADD", "ADD", "ADD", "DEL", "DEL", "CHECK", "GC", "STATUS", "VERSION"]);
    const env: Record<string, string> = {
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: `fz${i}`,
      CNI_NETNS: w.path(pod),
      CNI_IFNAME: "eth0",
      CNI_PATH: bin,
      PODNET_STATE_DIR: node.stateDir,
    };
    const c = r() < 0.85 ? pick(r, cm) : cm[0]!;
    const e = r() < 0.3 ? pick(r, em) : null;
    e?.apply(env, r);
    const made = c.make(relConf(node), r);
    const stdin = typeof made === "string" || made instanceof Uint8Array ? made : JSON.stringify(made);
    const confExp = typeof c.expect === "function" ? c.expect(cmd) : c.expect;
    const exp = expected(cmd, e?.expect(cmd), confExp, e?.late ?? false, c.late ?? false);
    const what = `case ${i} (seed ${seed}): ${cmd} ${c.name}${e ? ` + ${e.name}` : ""}`;
    const rep: WorkerReply = await worker.call(env, stdin);
    assert.equal(rep.threw, undefined, `${what}: crashed: ${rep.threw}`);
    judge(what, exp, rep.code, rep.out);
    if (i < 50) fdsEarly = [...new Set([...fdsEarly, ...rep.fds])];
    fdsLast = rep.fds;
    assert.deepEqual(rep.fds.filter((f) => f.includes("netlink")), [], `${what}: netlink sockets left open`);
    assert.ok(!/\n\s+at .*\.ts:\d+/.test(rep.err), `${what}: stack trace on stderr: ${rep.err}`);
    tally[exp === "ok" ? "valid" : "invalid"] = (tally[exp === "ok" ? "valid" : "invalid"] ?? 0) + 1;
    // A slice through the real launcher: the exit status and stdout of the process itself.
    // (An environment value cannot hold a NUL byte: no runtime can pass one, only the in-process call.)
    const passable = Object.values(env).every((v) => !v.includes("\0"));
    if (i % 13 === 0 && exp !== "ok" && env.CNI_COMMAND !== undefined && passable) {
      const full: Record<string, string | null> = {
        CNI_CONTAINERID: null,
        CNI_NETNS: null,
        CNI_IFNAME: null,
        CNI_PATH: null,
        ...env,
      };
      const text = typeof stdin === "string" ? stdin : new TextDecoder().decode(stdin);
      const ran = await cni(node, { command: env.CNI_COMMAND, env: full }, text);
      judge(`${what} (launcher)`, exp, ran.code, ran.stdout);
      viaLauncher++;
    }
    if (cmd === "ADD" && rep.code === 0) {
      adds++;
      const res = JSON.parse(rep.out);
      const sent = typeof made === "object" && !(made instanceof Uint8Array) ? made.cniVersion : undefined;
      if (typeof sent === "string") assert.equal(res.cniVersion, sent, `${what}: result version`);
      const d = await worker.call({ ...env, CNI_COMMAND: "DEL" }, stdin);
      assert.equal(d.code, 0, `${what}: DEL after ADD: ${d.out}`);
    }
  }
  // Whatever ADD did and DEL undid, including invalid ADDs that touched nothing.
  const left = ipJson(pod, "link", "show").filter((l: { ifname: string }) => l.ifname !== "lo");
  assert.deepEqual(left, [], "links left in the pod");
  assert.deepEqual([...Deno.readDirSync(cwd)], [], "something was written relative to the working directory");
  assert.deepEqual([...Deno.readDirSync(captureDirOf(node))].filter((f) => !f.name.startsWith(".")), []);
  assert.deepEqual(newFds(fdsEarly, fdsLast), [], `the long-lived process keeps fds open`);
  console.log(
    `fuzz: ${CASES} cases (${
      JSON.stringify(tally)
    }), ${adds} ADDs succeeded and were deleted, ${viaLauncher} also via the launcher`,
  );
  await assertNoLeak(node, before, "fuzz", { pods: [pod], except: [worker.pid] });
});

const SNAPSHOTS = LONG ? 1000 : 200;

Deno.test(`${SNAPSHOTS} fuzzed snapshots for restore: never a crash or stack trace, one error line or success`, async () => {
  const seed = seedFor("restore fuzz");
  const r = prng(seed);
  await using w = world();
  const node = makeNode(w);
  const before = nodeState(node);
  const sb = w.netns("sb");
  const peer = w.netns("peer");
  ip(sb, "link", "add", "eth0", "type", "veth", "peer", "name", "p0", "netns", peer);
  ip(peer, "link", "set", "p0", "up");
  const mac = ipJson(sb, "link", "show", "dev", "eth0")[0].address as string;
  const base = (): Record<string, unknown> => ({
    schema: "podnet.capture/v1",
    capturedAt: "2026-01-01T00:00:00Z",
    links: [{
      name: "eth0",
      mac,
      mtu: 1500,
      addresses: [{ cidr: "10.244.9.5/32" }, { cidr: "fd00:244:9::5/128" }],
      routes: [
        { dst: "169.254.1.1/32", scope: "link" },
        { dst: "0.0.0.0/0", gateway: "169.254.1.1" },
        { dst: "::/0", gateway: "fe80::1" },
      ],
      neighbors: [{ ip: "169.254.1.1", mac: "ee:ee:ee:ee:ee:ee" }, { ip: "fe80::1", mac: "ee:ee:ee:ee:ee:ee" }],
    }],
  });
  type Snap = Record<string, unknown> & { links: Record<string, unknown>[] };
  const link = (s: Snap): Record<string, unknown> => s.links[0]!;
  const muts: { name: string; make: (s: Snap) => unknown; ok?: boolean }[] = [
    { name: "as is", make: (s) => s, ok: true },
    { name: "again (idempotent)", make: (s) => s, ok: true },
    { name: "no schema", make: (s) => ({ ...s, schema: undefined }) },
    { name: "other schema", make: (s) => ({ ...s, schema: pick(r, ["podnet.capture/v2", "", 1, str(r)]) }) },
    { name: "links type", make: (s) => ({ ...s, links: pick(r, [{}, "x", null, 5]) }) },
    { name: "no links", make: (s) => ({ ...s, links: [] }) },
    { name: "extra field", make: (s) => ({ ...s, [str(r, 10) || "k"]: jsonValue(r) }) },
    {
      name: "link field",
      make: (s) => (link(s)[pick(r, ["name", "mac", "mtu", "addresses", "routes", "neighbors"])] = jsonValue(r), s),
    },
    { name: "link name", make: (s) => (link(s).name = pick(r, ["", "x".repeat(16), "a/b", "..", str(r, 20)]), s) },
    {
      name: "mac",
      make: (s) => (link(s).mac = pick(r, ["", "zz:zz", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", str(r)]), s),
    },
    { name: "mtu", make: (s) => (link(s).mtu = pick(r, [0, -1, 67, 65536, 1e12, "1500", 1.5]), s) },
    {
      name: "cidr",
      make: (
        s,
      ) => (link(s).addresses = [{ cidr: pick(r, ["300.1.1.1/32", "10.0.0.0/33", "::/129", "x", "", "1.2.3.4"]) }], s),
    },
    {
      name: "route",
      make: (s) => (link(s).routes = [{
        dst: pick(r, ["0.0.0.0/0", "10.0.0.0/8", "bogus", "::/0"]),
        gateway: pick(r, ["10.9.9.9", "169.254.1.1", "fe80::1", "x", 5, undefined]),
        scope: pick(r, ["link", "global", "host", "bogus", undefined]),
      }],
        s),
    },
    {
      name: "neighbor",
      make: (
        s,
      ) => (link(s).neighbors = [{
        ip: pick(r, ["169.254.1.1", "x", "::", "224.0.0.1"]),
        mac: pick(r, ["ee:ee:ee:ee:ee:ee", "", "x", 5]),
      }],
        s),
    },
    {
      name: "many links",
      make: (s) => ({ ...s, links: Array.from({ length: 50 }, (_, i) => ({ ...link(s), name: `l${i}` })) }),
    },
    { name: "deep", make: (s) => ({ ...s, extra: deep(300) }) },
    { name: "huge", make: (s) => ({ ...s, blob: "y".repeat(1 << 20) }) },
    { name: "empty", make: () => "" },
    { name: "malformed", make: (s) => JSON.stringify(s).slice(0, -2) },
    { name: "not an object", make: () => pick(r, [[], "x", 5, null]) },
    { name: "not UTF-8", make: () => new Uint8Array([0x7b, 0xff, 0x7d]) },
  ];
  await using worker = await InProc.start(node);
  let ok = 0;
  for (let i = 0; i < SNAPSHOTS; i++) {
    const m = i < 2 ? muts[i]! : pick(r, muts);
    const made = m.make(base() as Snap);
    const stdin = made instanceof Uint8Array ? made : typeof made === "string" ? made : JSON.stringify(made);
    const what = `snapshot ${i} (seed ${seed}): ${m.name}`;
    const rep = await worker.call({}, stdin, ["restore", "--from", "-", "--netns", w.path(sb), "--timeout-ms", "200"]);
    assert.equal(rep.threw, undefined, `${what}: crashed: ${rep.threw}`);
    assert.ok(rep.code === 0 || rep.code === 1, `${what}: exit ${rep.code}: ${rep.err}`);
    assert.equal(rep.out, "", `${what}: restore prints nothing on stdout`);
    if (m.ok) assert.equal(rep.code, 0, `${what}: a valid snapshot failed: ${rep.err}`);
    if (rep.code !== 0) {
      assert.equal(rep.err.trim().split("\n").length, 1, `${what}: want one error line: ${rep.err}`);
      assert.ok(rep.err.length < 2000, `${what}: huge error message`);
    }
    assert.ok(!/\n\s+at |\.ts:\d+/.test(rep.err), `${what}: stack trace: ${rep.err}`);
    if (rep.code === 0) ok++;
  }
  console.log(`restore fuzz: ${SNAPSHOTS} snapshots, ${ok} restored`);
  await assertNoLeak(node, before, "restore fuzz", { except: [worker.pid] });
});
