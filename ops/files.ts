/**
 * The files `podnet install` puts on a node, as pure builders: the CNI
 * network list, the OCI hook description for hooks.d, and the launcher used
 * when no compiled binary exists. Kept free of I/O so tests and the deploy/
 * templates can be checked against exactly what install writes.
 *
 * @module
 */

import { ID_RE } from "../core/names.ts";
import { formatCidr, networkOf, parseCidr } from "../core/ip.ts";

/** File name of the network list; `10-` sorts it before most distro defaults. */
export const CONFLIST_NAME = "10-podnet.conflist";
/** File name of the OCI hook description. */
export const HOOK_NAME = "podnet.json";
/** Name of the plugin binary in the CNI bin dir (the `type` runtimes exec). */
export const BIN_NAME = "podnet";
/** Install record kept beside the binary; its dot keeps runtimes from mistaking it for a plugin. */
export const MANIFEST_NAME = ".podnet-install.json";
/** First line after the shebang of every launcher podnet writes; uninstall looks for it. */
export const LAUNCHER_MARKER = "# podnet-launcher v1: written by `podnet install`";
/**
 * Annotation that selects containers for the hook. podman and CRI-O copy
 * annotations into the OCI spec, and hooks.d `when.annotations` matches them.
 */
export const SANDBOX_ANNOTATION = "podnet.io/sandbox";

/** What the network list is built from. */
export interface ConflistOptions {
  /** Network name (`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`). */
  name: string;
  /** CNI version of the list. podman 4.3's libcni stops at 1.0.0, so that is the default. */
  cniVersion: string;
  /** Pod subnets, one host-local range set each (IPv4 and/or IPv6). */
  subnets: string[];
  gatewayMode: "static-neighbor" | "proxy-arp";
  /** host-local's lease directory; omitted means host-local's own default (/var/lib/cni/networks). */
  ipamDataDir?: string;
  mtu?: number;
}

/** Network names the CNI spec allows (section "Network configuration"). */
export const NETWORK_NAME_RE = ID_RE;

/**
 * Checks and canonicalises subnets: each must be a network address (no host
 * bits; host-local would silently use the network anyway). Duplicates collapse.
 */
export function canonicalSubnets(subnets: string[]): string[] {
  const out: string[] = [];
  for (const s of subnets) {
    const c = s.includes("/") ? parseCidr(s) : null;
    if (c === null) throw new RangeError(`--subnet ${JSON.stringify(s)} is not a CIDR (address/prefix)`);
    const net = networkOf(c);
    const text = formatCidr(net.bytes, net.prefix);
    if (formatCidr(c.bytes, c.prefix) !== text) {
      throw new RangeError(`--subnet ${s} has host bits set (the network is ${text})`);
    }
    if (!out.includes(text)) out.push(text);
  }
  return out;
}

/** The `10-podnet.conflist` object: podnet, then portmap and tuning. */
export function buildConflist(o: ConflistOptions): Record<string, unknown> {
  if (!NETWORK_NAME_RE.test(o.name)) throw new RangeError(`network name ${JSON.stringify(o.name)} is not valid`);
  if (o.subnets.length === 0) throw new RangeError("at least one --subnet is needed");
  const ipam: Record<string, unknown> = {
    type: "host-local",
    ranges: o.subnets.map((subnet) => [{ subnet }]),
  };
  if (o.ipamDataDir !== undefined) ipam.dataDir = o.ipamDataDir;
  const podnet: Record<string, unknown> = { type: "podnet", gatewayMode: o.gatewayMode };
  if (o.mtu !== undefined) podnet.mtu = o.mtu;
  podnet.ipam = ipam;
  return {
    cniVersion: o.cniVersion,
    name: o.name,
    plugins: [
      podnet,
      // portmap acts only when the runtime passes portMappings (capability-gated).
      { type: "portmap", capabilities: { portMappings: true } },
      // tuning with no sysctls is a pass-through that lets operators add per-pod sysctls here.
      { type: "tuning" },
    ],
  };
}

/** The OCI hook description (containers/common hooks schema 1.0.0). */
export function buildHook(binPath: string, captureDir?: string): Record<string, unknown> {
  const args = [BIN_NAME, "hook"];
  if (captureDir !== undefined) args.push("--capture-dir", captureDir);
  return {
    version: "1.0.0",
    hook: { path: binPath, args },
    // Only sandboxed containers need their gateway neighbors captured and pinned;
    // runc pods already see the permanent pins podnet set in their netns.
    when: { annotations: { [`^${SANDBOX_ANNOTATION.replaceAll(".", "\\.")}$`]: "^(true|gvisor)$" } },
    // prestart runs after the runtime created the container's netns and before
    // the workload starts: the moment runsc copies the netns state.
    stages: ["prestart"],
  };
}

/** Quotes `s` for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'"'"'`)}'`;
}

/**
 * A launcher for the checkout at `root`: it names the checkout and sources
 * its `bin/launch.sh`, which execs Deno, so a CNI call starts one shell, not
 * two (`exec bin/podnet` would start a second one: ~3 ms). Used where
 * `deno compile` cannot produce dist/podnet (it needs the denort runtime).
 */
export function buildLauncher(root: string): string {
  const missing = `podnet: no podnet checkout at ${root} (bin/launch.sh is missing); run podnet install again`;
  return [
    "#!/bin/sh",
    LAUNCHER_MARKER,
    `root=${shellQuote(root)}`,
    `[ -r "$root/bin/launch.sh" ] || { echo ${shellQuote(missing)} >&2; exit 1; }`,
    '. "$root/bin/launch.sh"',
    "",
  ].join("\n");
}

/** Pretty JSON as written to disk (trailing newline). */
export function jsonText(v: unknown): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}
