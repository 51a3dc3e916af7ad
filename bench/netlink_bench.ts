/**
 * Netlink-layer microbenchmarks (`deno bench -A bench/netlink_bench.ts`), each
 * beside `ip` doing the same work in the same run. Every iteration builds a
 * throwaway netns and removes it; the machine's own netns is never touched.
 *
 * @module
 */

import {
  linkAddVeth,
  linkByName,
  linkList,
  linkSet,
  neighList,
  neighSet,
  routeAdd,
  routeList,
  Socket,
} from "../mod.ts";

const dec = new TextDecoder();
let seq = 0;

function ip(args: string[]): void {
  const o = new Deno.Command("ip", { args, stdin: "null", stdout: "null", stderr: "piped" }).outputSync();
  if (!o.success) throw new Error(`ip ${args.join(" ")}: ${dec.decode(o.stderr)}`);
}

/** `ip -n NS -batch FILE`: always inside the scratch netns, never the machine's own. */
function ipBatch(ns: string, file: string): void {
  ip(["-n", ns, "-batch", file]);
}

/** A netns with lo up and a dummy-like veth `r0` to hang routes on. */
function scratch(): { ns: string; path: string; drop: () => void } {
  const ns = `pnb-${Deno.pid.toString(36)}-${seq++}`;
  ip(["netns", "add", ns]);
  ip(["-n", ns, "link", "add", "r0", "type", "veth", "peer", "name", "r1"]);
  ip(["-n", ns, "link", "set", "r0", "up"]);
  ip(["-n", ns, "link", "set", "r1", "up"]);
  ip(["-n", ns, "link", "set", "lo", "up"]);
  return { ns, path: `/run/netns/${ns}`, drop: () => ip(["netns", "del", ns]) };
}

const N_ROUTES = 10_000;
function routeDst(i: number): string {
  return `10.${(i >> 8) & 0xff}.${i & 0xff}.0/24`;
}

const batchFile = Deno.makeTempFileSync({ prefix: "podnet-bench-", suffix: ".batch" });
Deno.writeTextFileSync(
  batchFile,
  Array.from({ length: N_ROUTES }, (_, i) => `route add ${routeDst(i)} dev r0`).join("\n") + "\n",
);
globalThis.addEventListener("unload", () => Deno.removeSync(batchFile));

Deno.bench({ name: "routeAdd ×10,000 (podnet)", group: "route-add", n: 5, warmup: 1 }, (b) => {
  const s = scratch();
  using sock = Socket.open(s.path);
  const r0 = linkByName(sock, "r0");
  b.start();
  for (let i = 0; i < N_ROUTES; i++) routeAdd(sock, { dst: routeDst(i), link: r0 });
  b.end();
  s.drop();
});

Deno.bench({ name: "ip -batch route add ×10,000", group: "route-add", baseline: true, n: 5, warmup: 1 }, (b) => {
  const s = scratch();
  b.start();
  ipBatch(s.ns, batchFile);
  b.end();
  s.drop();
});

// Listing: one netns with 10,000 routes, 1,000 links, 1,000 neighbors, shared by the list benches.
const big = scratch();
{
  ipBatch(big.ns, batchFile);
  using sock = Socket.open(big.path);
  for (let i = 0; i < 500; i++) {
    const a = linkAddVeth(sock, { name: `b${i}a`, peerName: `b${i}b` });
    linkSet(sock, a, { up: true });
  }
  for (let i = 0; i < 1000; i++) {
    neighSet(sock, {
      link: "r0",
      ip: `10.250.${i >> 8}.${i & 0xff}`,
      mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`,
    });
  }
}
globalThis.addEventListener("unload", () => big.drop());
const bigSock = Socket.open(big.path);

function ipJ(...args: string[]): number {
  const o = new Deno.Command("ip", { args: ["-n", big.ns, "-j", ...args], stdout: "piped", stderr: "piped" })
    .outputSync();
  return JSON.parse(dec.decode(o.stdout)).length;
}

Deno.bench({ name: "routeList 10,000 (podnet)", group: "route-list" }, () => {
  if (routeList(bigSock, { family: 4 }).length < N_ROUTES) throw new Error("short route list");
});
Deno.bench({ name: "ip -j route 10,000", group: "route-list", baseline: true }, () => {
  if (ipJ("route") < N_ROUTES) throw new Error("short route list");
});
Deno.bench({ name: "linkList 1,000+ (podnet)", group: "link-list" }, () => {
  if (linkList(bigSock).length < 1000) throw new Error("short link list");
});
Deno.bench({ name: "ip -j link 1,000+", group: "link-list", baseline: true }, () => {
  if (ipJ("link") < 1000) throw new Error("short link list");
});
Deno.bench({ name: "neighList 1,000 (podnet)", group: "neigh-list" }, () => {
  if (neighList(bigSock, { family: 4 }).length < 1000) throw new Error("short neigh list");
});
Deno.bench({ name: "ip -j neigh 1,000", group: "neigh-list", baseline: true }, () => {
  if (ipJ("-4", "neigh") < 1000) throw new Error("short neigh list");
});
