/**
 * A CNI node for tests, the demo and the measuring scripts: a node netns with
 * an uplink stand-in (an `ifb` device carrying the node's addresses and
 * default routes, so the node has addresses to ping and proxy ARP has
 * "another interface"), configs with host-local IPAM keeping its leases in
 * the world's temp dir, and a runner that calls a plugin (podnet through
 * bin/podnet by default) the way a runtime does: bare environment, inside
 * the node netns.
 *
 * @module
 */

import { CNI_BIN, ip, PODNET, runAsync, type World } from "./world.ts";

export { CNI_BIN, PODNET };
export const NODE_V4 = "10.99.0.1";
export const NODE_V6 = "fd00:99::1";
export const SUBNET4 = "10.244.1.0/24";
export const SUBNET6 = "fd00:244:1::/64";

/** A node netns plus what the tests need to drive the plugin in it. */
export interface Node {
  w: World;
  /** netns name of the node. */
  ns: string;
  path: string;
  dataDir: string;
  logFile: string;
  /** PODNET_STATE_DIR for the plugin (its IPAM version cache). */
  stateDir: string;
}

/** Builds the node netns: lo up, ifb0 up with NODE_V4/NODE_V6 and default routes through it. */
export function makeNode(w: World): Node {
  const ns = w.netns("node");
  ip(ns, "link", "add", "ifb0", "type", "ifb");
  ip(ns, "link", "set", "ifb0", "up");
  ip(ns, "addr", "add", `${NODE_V4}/24`, "dev", "ifb0");
  ip(ns, "addr", "add", `${NODE_V6}/64`, "dev", "ifb0", "nodad");
  ip(ns, "route", "add", "default", "dev", "ifb0");
  ip(ns, "-6", "route", "add", "default", "dev", "ifb0");
  const dir = w.tempDir();
  return {
    w,
    ns,
    path: w.path(ns),
    dataDir: `${dir}/ipam`,
    logFile: `${dir}/log/podnet.log`,
    stateDir: `${dir}/state`,
  };
}

/** Options for `netConf`. */
export interface ConfOpts {
  v4?: boolean;
  v6?: boolean;
  cniVersion?: string;
  gatewayMode?: string;
  name?: string;
  mtu?: number;
  /** Extra top-level fields (overrides). */
  extra?: Record<string, unknown>;
  /** Replaces the ipam object. */
  ipam?: Record<string, unknown>;
}

/** A podnet network config with host-local IPAM in the node's data dir. */
export function netConf(node: Node, o: ConfOpts = {}): Record<string, unknown> {
  const ranges: unknown[] = [];
  if (o.v4 ?? true) ranges.push([{ subnet: SUBNET4 }]);
  if (o.v6 ?? true) ranges.push([{ subnet: SUBNET6 }]);
  return {
    cniVersion: o.cniVersion ?? "1.1.0",
    name: o.name ?? "podnet",
    type: "podnet",
    ...(o.gatewayMode ? { gatewayMode: o.gatewayMode } : {}),
    ...(o.mtu ? { mtu: o.mtu } : {}),
    logFile: node.logFile,
    ipam: o.ipam ?? { type: "host-local", dataDir: node.dataDir, ranges },
    ...o.extra,
  };
}

/** What one plugin call returned; `json` is stdout parsed (null when empty). */
export interface CniRun {
  code: number;
  stdout: string;
  stderr: string;
  // deno-lint-ignore no-explicit-any
  json: any;
}

/** CNI_* for one call. */
export interface CallEnv {
  command: string;
  containerId?: string;
  netns?: string;
  ifname?: string;
  path?: string;
  /** Extra variables (test seams); a value of null drops a CNI_* variable. */
  env?: Record<string, string | null>;
}

/**
 * Runs `plugin` (default: podnet through bin/podnet) inside the node netns
 * with a bare environment, as container runtimes do.
 */
export async function cni(node: Node, e: CallEnv, config: unknown, plugin = PODNET): Promise<CniRun> {
  const env: Record<string, string> = {
    CNI_COMMAND: e.command,
    CNI_CONTAINERID: e.containerId ?? "ctr1",
    CNI_NETNS: e.netns ?? "",
    CNI_IFNAME: e.ifname ?? "eth0",
    CNI_PATH: e.path ?? CNI_BIN,
    PODNET_STATE_DIR: node.stateDir,
  };
  if (env.CNI_NETNS === "") delete env.CNI_NETNS;
  for (const [k, v] of Object.entries(e.env ?? {})) {
    if (v === null) delete env[k];
    else env[k] = v;
  }
  const stdin = typeof config === "string" ? config : JSON.stringify(config);
  const r = await runAsync("/usr/bin/nsenter", [`--net=${node.path}`, plugin], { stdin, env, clearEnv: true });
  let json = null;
  if (r.stdout.trim() !== "") {
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = { unparsable: r.stdout };
    }
  }
  return { ...r, json };
}
