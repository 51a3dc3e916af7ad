/**
 * Worlds for the sandbox tests: a "node" netns and a Calico-style pod netns
 * joined by a veth built with podnet's own netlink layer, OCI bundles with a
 * busybox-static rootfs, and a runner for real gVisor (runsc) containers
 * through podnet's runsc adapter (sandbox/runsc.ts).
 *
 * Pod: eth0 with 10.9.0.5/32 (+ fd00:9::5/128 when dual-stack), a scope-link
 * route to 169.254.1.1 and the default route via it (and via fe80::1).
 * Node: host end with proxy_arp=0, the node address 10.88.0.1/32 (the ping
 * target) and a /32 route back to the pod. Whether the host end answers for
 * the gateway (owns 169.254.1.1 and fe80::1) is the test's choice.
 *
 * @module
 */

import {
  addrAdd,
  ifSysctlKey,
  type Link,
  linkAddVeth,
  linkSet,
  netnsId,
  routeAdd,
  Socket,
  sysctlWrite,
  withNetns,
} from "../netlink/mod.ts";
import { ip, ipJson, PODNET, type Ran, runAsync, type World } from "./world.ts";
import { runsc as runscCall, type RunscConfig, runscDelete } from "../sandbox/runsc.ts";

export const POD_IP = "10.9.0.5";
export const POD_IP6 = "fd00:9::5";
export const NODE_IP = "10.88.0.1";
export const HOST_IF = "pnhost0";
export { PODNET };

/** A node + pod pair. */
export interface PodWorld {
  node: string;
  pod: string;
  nodePath: string;
  podPath: string;
  host: Link;
}

/** Options for `calicoPod`. */
export interface PodOptions {
  /** The host end owns 169.254.1.1 and fe80::1, so ARP/NDP for the gateway is answered. */
  hostOwnsGateway?: boolean;
  dualStack?: boolean;
  /** Alias on the host end (podnet's is `network/containerID/ifname`). */
  alias?: string;
}

/** Builds node + pod netns in `w`, Calico-style, proxy ARP off. */
export function calicoPod(w: World, o: PodOptions = {}): PodWorld {
  const node = w.netns("node"), pod = w.netns("pod");
  const nodePath = w.path(node), podPath = w.path(pod);
  let host: Link;
  {
    using s = Socket.open(nodePath);
    host = linkAddVeth(s, { name: HOST_IF, peerName: "eth0", peerNetns: podPath });
    linkSet(s, host, { up: true, ...(o.alias ? { alias: o.alias } : {}) });
    withNetns(nodePath, () => sysctlWrite(ifSysctlKey(4, HOST_IF, "proxy_arp"), 0));
    addrAdd(s, host, `${NODE_IP}/32`);
    routeAdd(s, { dst: `${POD_IP}/32`, link: host });
    if (o.hostOwnsGateway) {
      addrAdd(s, host, "169.254.1.1/32");
      addrAdd(s, host, "fe80::1/64", { nodad: true });
    }
    if (o.dualStack) routeAdd(s, { dst: `${POD_IP6}/128`, link: host });
  }
  {
    using p = Socket.open(podPath);
    if (o.dualStack) withNetns(podPath, () => sysctlWrite(ifSysctlKey(6, "eth0", "accept_dad"), 0));
    linkSet(p, "eth0", { up: true });
    addrAdd(p, "eth0", `${POD_IP}/32`);
    routeAdd(p, { dst: "169.254.1.1/32", link: "eth0", scope: "link" });
    routeAdd(p, { dst: "0.0.0.0/0", gateway: "169.254.1.1", link: "eth0" });
    if (o.dualStack) {
      addrAdd(p, "eth0", `${POD_IP6}/128`, { nodad: true });
      routeAdd(p, { dst: "::/0", gateway: "fe80::1", link: "eth0" });
    }
  }
  return { node, pod, nodePath, podPath, host };
}

/** `podnet ARGS…` through the launcher, as an operator would run it. */
export function podnet(args: string[], stdin = ""): Promise<Ran> {
  return runAsync(PODNET, args, { stdin });
}

/** Kernel view of a netns for before/after comparisons (addresses, routes, neighbors). */
// deno-lint-ignore no-explicit-any
export function kernelState(ns: string): any {
  const strip = (xs: Record<string, unknown>[]): unknown[] =>
    xs.map((x) => Object.fromEntries(Object.entries(x).filter(([k]) => !["used", "confirmed", "updated"].includes(k))));
  return {
    // Carrier (NO-CARRIER/LOWER_UP) settles asynchronously after a move: compare the admin state only.
    links: JSON.parse(ip(ns, "-j", "link", "show")).map((
      l: { ifname: string; address: string; mtu: number; flags: string[] },
    ) => [l.ifname, l.address, l.mtu, l.flags.includes("UP")]),
    addrs: JSON.parse(ip(ns, "-j", "addr", "show")).map((
      l: { ifname: string; addr_info: { local: string; prefixlen: number }[] },
    ) => [l.ifname, l.addr_info.map((a) => `${a.local}/${a.prefixlen}`).filter((a) => !a.startsWith("fe80:"))]),
    // The kernel adds a link's IPv6 link-local address and fe80::/64 route asynchronously, when
    // carrier comes up after a move or up: left out so snapshots taken a moment apart compare.
    routes: [...JSON.parse(ip(ns, "-j", "-4", "route", "show")), ...JSON.parse(ip(ns, "-j", "-6", "route", "show"))]
      .filter((r: { dst: string }) => r.dst !== "fe80::/64"),
    neigh: strip(
      JSON.parse(ip(ns, "-j", "neigh", "show")).filter((n: { state: string[] }) => n.state.includes("PERMANENT")),
    ),
  };
}

/**
 * Writes an OCI bundle with a busybox-static rootfs running `args`, joining
 * the netns at `netns` (null: runsc makes a new, empty one), with optional
 * prestart hooks.
 */
export function makeBundle(
  dir: string,
  args: string[],
  netns: string | null,
  prestart: { path: string; args: string[] }[] = [],
): void {
  Deno.mkdirSync(`${dir}/rootfs/bin`, { recursive: true });
  Deno.mkdirSync(`${dir}/rootfs/proc`, { recursive: true });
  Deno.copyFileSync("/bin/busybox", `${dir}/rootfs/bin/busybox`);
  const caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"];
  const config = {
    ociVersion: "1.0.0",
    process: {
      user: { uid: 0, gid: 0 },
      args,
      env: ["PATH=/bin"],
      cwd: "/",
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      terminal: false,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "podnet",
    mounts: [{ destination: "/proc", type: "proc", source: "proc" }],
    linux: {
      namespaces: [
        { type: "pid" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        netns === null ? { type: "network" } : { type: "network", path: netns },
      ],
    },
    ...(prestart.length > 0 ? { hooks: { prestart: prestart.map((h) => ({ ...h, timeout: 30 })) } } : {}),
  };
  Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config, null, 2));
}

/**
 * A process whose netns is `path` (the "sandbox pid" a runtime would pass to
 * a hook); killed by PID at clean-up. Never a process of the root netns.
 */
export async function sleeperIn(w: World, path: string): Promise<number> {
  const child = new Deno.Command("nsenter", { args: [`--net=${path}`, "sleep", "120"], stdout: "null", stderr: "null" })
    .spawn();
  w.defer(async () => {
    child.kill("SIGKILL");
    await child.status;
  });
  const want = netnsId(path);
  for (let i = 0; i < 200; i++) {
    try {
      if (netnsId(`/proc/${child.pid}/ns/net`) === want) return child.pid;
    } catch {
      // not started yet
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`sleeper ${child.pid} never entered ${path}`);
}

/** The PERMANENT neighbors of a netns (by name) as [ip, mac]. */
export function permanent(ns: string): [string, string][] {
  return ipJson(ns, "neigh", "show").filter((n) => n.state.includes("PERMANENT")).map((n) => [n.dst, n.lladdr]);
}

let seq = 0;

/** Options for `runsc`. */
export interface RunscOptions {
  /** Netns the runtime itself runs in. */
  runtimeNetns: string;
  /** The container's network namespace: a path to join, or null for a new empty one. */
  containerNetns: string | null;
  /** Container command (busybox applets by full path). */
  args: string[];
  /** OCI prestart hooks. */
  prestart?: { path: string; args: string[] }[];
  /** Container ID (default a fresh `pnt-…` one). */
  id?: string;
}

/** A fresh container ID for `runsc` (so a test can name it in an alias first). */
export function containerId(w: World): string {
  return `pnt-${w.id}-${seq++}`;
}

/**
 * Runs one runsc container to completion (`runsc run`) and returns its
 * output. Cleaned up with `runsc delete -force` by the world, also on failure.
 */
export async function runsc(w: World, o: RunscOptions): Promise<Ran> {
  const cfg: RunscConfig = { root: w.tempDir(), emptyDir: w.tempDir(), netns: o.runtimeNetns };
  const bundle = w.tempDir();
  const id = o.id ?? containerId(w);
  makeBundle(bundle, o.args, o.containerNetns, o.prestart);
  // Output goes to files, not pipes: a lingering sandbox process would hold a pipe open forever.
  const out = `${w.tempDir()}/out`;
  // `run` deletes the container when it exits; this covers a failed or timed-out run.
  w.defer(async () => void await runscDelete(cfg, id));
  const r = await runscCall(cfg, ["run", "--bundle", bundle, id], { log: out, timeoutMs: 60_000 });
  const read = (f: string): string => {
    try {
      return Deno.readTextFileSync(f);
    } catch {
      return "";
    }
  };
  return { code: r.code, stdout: read(out), stderr: read(`${out}.stderr`) };
}

/** The busybox ping the sandbox tests use: one echo to the node address. */
export const PING_NODE = ["/bin/busybox", "ping", "-c", "1", "-W", "2", NODE_IP];
