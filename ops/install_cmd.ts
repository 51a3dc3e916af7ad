/**
 * `podnet install` / `podnet uninstall` on the command line: flags, help,
 * the plan printed or applied (ops/install.ts holds the plan and its
 * application; ops/containerd.ts and ops/kube.ts what install learns from
 * containerd's config and the Kubernetes API).
 *
 * @module
 */

import { int, parseFlags, str, strs, UsageError, type Values } from "../core/cli.ts";
import { CNI_VERSIONS, MTU_MAX, MTU_MIN } from "../core/constants.ts";
import { GATEWAY_MODES } from "../cni/attachment.ts";
import { removeIfExists } from "../core/fsutil.ts";
import type { Io } from "../core/io.ts";
import { CONTAINERD_DEFAULTS, containerdCni, containerdSettings } from "./containerd.ts";
import { canonicalSubnets, CONFLIST_NAME, MANIFEST_NAME, NETWORK_NAME_RE } from "./files.ts";
import { applyInstall, DEFAULT_DIRS, formatPlan, planInstall, planUninstall } from "./install.ts";
import { inClusterAccess, nodePodCidrs, SERVICE_ACCOUNT_DIR } from "./kube.ts";

export const INSTALL_HELP = `usage: podnet install --subnet CIDR [--subnet CIDR]… [flags]

Installs podnet on this node: the plugin binary into the CNI bin dir, the
network list ${CONFLIST_NAME} (podnet, then portmap and tuning) into the CNI
config dir, and an OCI hook description (hooks.d) that runs \`podnet hook\` for
containers annotated podnet.io/sandbox=true|gvisor. Each file is written
atomically (temp file in the same dir, fsync, rename); re-running changes
nothing that is already right.

The binary is this program itself when it is a compiled podnet, else the
checkout's dist/podnet (scripts/compile.ts), else a small launcher script that
runs the checkout's bin/launch.sh (deno compile needs the denort runtime, which
cannot always be downloaded).

  --cni-bin-dir DIR     where runtimes look for plugins (default /opt/cni/bin)
  --cni-conf-dir DIR    where runtimes read network lists (default /etc/cni/net.d)
  --hooks-dir DIR       OCI hooks.d directory (default /etc/containers/oci/hooks.d)
  --no-hook             do not write the hook description
  --runtime containerd  install for containerd's CRI plugin (the Kubernetes node path): the CNI
                        dirs default to what containerd's config.toml sets (else containerd's
                        defaults, as above), no hook (containerd does not read hooks.d), and the
                        config.toml settings the node needs are printed
  --containerd-config F containerd's config file (default ${CONTAINERD_DEFAULTS.config})
  --subnet CIDR         pod subnet (repeat for dual-stack); host-local hands out addresses from it
  --subnet-from-node N  take the subnets from node N's spec.podCIDRs in the Kubernetes API
                        (in-cluster service account; needs RBAC get on nodes)
  --kube-api URL        API server (default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)
  --kube-token-dir DIR  service-account token and ca.crt (default ${SERVICE_ACCOUNT_DIR})
  --name NAME           network name (default podnet)
  --cni-version V       cniVersion of the list (default 1.0.0: the libcni of podman 4.3 and of
                        containerd 1.6/1.7 stops there)
  --gateway-mode MODE   static-neighbor (default) or proxy-arp
  --mtu N               pod MTU, 1280..65535 (default: podnet's own)
  --ipam-data-dir DIR   host-local lease directory (default: host-local's /var/lib/cni/networks)
  --capture-dir DIR     passed to \`podnet hook --capture-dir\`
  --dry-run             print the plan and the file contents; change nothing
`;

export const UNINSTALL_HELP =
  `usage: podnet uninstall [--cni-bin-dir DIR] [--cni-conf-dir DIR] [--hooks-dir DIR] [--dry-run]

Removes what \`podnet install\` wrote, in reverse order (network list first, so
no runtime picks podnet while the binary goes). A file is removed only while it
still has the content install recorded in ${MANIFEST_NAME} beside the binary;
without that record, only files that are recognisably podnet's (the launcher
marker, a list whose first plugin is podnet, a hook that runs \`podnet hook\`).
Changed files are kept and named. Uses the same directory flags as install.
`;

/** A directory without its trailing slashes (`/` stays `/`). */
function trimSlash(dir: string): string {
  return dir.replace(/(.)\/+$/, "$1");
}

function dirFlags(v: Values): { cniBinDir: string; cniConfDir: string; hooksDir: string | null } {
  return {
    cniBinDir: trimSlash(str(v, "cni-bin-dir") ?? DEFAULT_DIRS.cniBinDir),
    cniConfDir: trimSlash(str(v, "cni-conf-dir") ?? DEFAULT_DIRS.cniConfDir),
    hooksDir: v["no-hook"] ? null : trimSlash(str(v, "hooks-dir") ?? DEFAULT_DIRS.hooksDir),
  };
}

function requireAbsolute(cmd: string, values: Values, flags: string[]): void {
  for (const f of flags) {
    const p = str(values, f);
    if (p !== undefined && !p.startsWith("/")) {
      throw new UsageError(`podnet ${cmd}: --${f} wants an absolute path, got ${JSON.stringify(p)}`);
    }
  }
}

const DIR_FLAGS = {
  "cni-bin-dir": { type: "string" },
  "cni-conf-dir": { type: "string" },
  "hooks-dir": { type: "string" },
  "no-hook": { type: "boolean" },
  "dry-run": { type: "boolean" },
} as const;

/** `podnet install`. */
export async function installCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags("install", args, {
    ...DIR_FLAGS,
    subnet: { type: "string", multiple: true },
    "subnet-from-node": { type: "string" },
    "kube-api": { type: "string" },
    "kube-token-dir": { type: "string" },
    name: { type: "string" },
    "cni-version": { type: "string" },
    "gateway-mode": { type: "string" },
    mtu: { type: "string" },
    "ipam-data-dir": { type: "string" },
    "capture-dir": { type: "string" },
    runtime: { type: "string" },
    "containerd-config": { type: "string" },
  });
  if (values.help) {
    io.stdout(INSTALL_HELP);
    return 0;
  }
  const runtime = str(values, "runtime");
  if (runtime !== undefined && runtime !== "containerd") {
    throw new UsageError(
      `podnet install: --runtime knows only containerd (podman and CRI-O need no flag), got ${JSON.stringify(runtime)}`,
    );
  }
  const containerd = runtime === "containerd";
  if (!containerd && values["containerd-config"] !== undefined) {
    throw new UsageError("podnet install: --containerd-config goes with --runtime containerd");
  }
  if (containerd && (values["hooks-dir"] !== undefined || values["capture-dir"] !== undefined)) {
    throw new UsageError(
      "podnet install: --hooks-dir and --capture-dir do not go with --runtime containerd: containerd does not read OCI hooks.d",
    );
  }
  let subnets: string[];
  try {
    subnets = canonicalSubnets(strs(values, "subnet"));
  } catch (e) {
    throw new UsageError(`podnet install: ${(e as Error).message}`);
  }
  const fromNode = str(values, "subnet-from-node");
  if (fromNode !== undefined) {
    if (subnets.length > 0) throw new UsageError("podnet install: give --subnet or --subnet-from-node, not both");
    const access = inClusterAccess(io.env, str(values, "kube-token-dir"), str(values, "kube-api"));
    const cidrs = await nodePodCidrs(access, fromNode);
    try {
      subnets = canonicalSubnets(cidrs);
    } catch (e) {
      throw new Error(`node ${fromNode}: ${(e as Error).message.replace(/^--subnet /, "podCIDR ")}`);
    }
    io.stdout(`subnets of node ${fromNode}: ${subnets.join(", ")}\n`);
  }
  if (subnets.length === 0) {
    throw new UsageError(
      "podnet install: --subnet CIDR is required (repeat it for dual-stack), or --subnet-from-node NODE",
    );
  }
  const name = str(values, "name") ?? "podnet";
  if (!NETWORK_NAME_RE.test(name)) {
    throw new UsageError(`podnet install: --name ${JSON.stringify(name)} is not a valid network name`);
  }
  const cniVersion = str(values, "cni-version") ?? "1.0.0";
  if (!CNI_VERSIONS.includes(cniVersion)) {
    throw new UsageError(`podnet install: --cni-version ${JSON.stringify(cniVersion)} is not one podnet speaks`);
  }
  const mode = str(values, "gateway-mode") ?? GATEWAY_MODES[0];
  const gatewayMode = GATEWAY_MODES.find((m) => m === mode);
  if (gatewayMode === undefined) {
    throw new UsageError(
      `podnet install: --gateway-mode must be static-neighbor or proxy-arp, got ${JSON.stringify(mode)}`,
    );
  }
  const mtu = values.mtu === undefined ? undefined : int("install", values, "mtu", 0);
  if (mtu !== undefined && (mtu < MTU_MIN || mtu > MTU_MAX)) {
    // The same range the plugin accepts (core/constants.ts): below 1280 every IPv6 setting of a link fails.
    throw new UsageError(`podnet install: --mtu must be ${MTU_MIN}…${MTU_MAX}`);
  }
  requireAbsolute("install", values, [
    "cni-bin-dir",
    "cni-conf-dir",
    "hooks-dir",
    "ipam-data-dir",
    "capture-dir",
    "containerd-config",
  ]);
  const forContainerd = containerd ? containerdDirs(values) : null;
  const dirs = forContainerd?.dirs ?? dirFlags(values);
  const ipamDataDir = str(values, "ipam-data-dir");
  const captureDir = str(values, "capture-dir");
  const plan = await planInstall({
    ...dirs,
    subnets,
    name,
    cniVersion,
    gatewayMode,
    ...(mtu !== undefined ? { mtu } : {}),
    ...(ipamDataDir !== undefined ? { ipamDataDir } : {}),
    ...(captureDir !== undefined ? { captureDir } : {}),
    ...(containerd ? { runtime: "containerd" as const } : {}),
  });
  plan.warnings.push(...forContainerd?.warnings ?? []);
  const extra = forContainerd
    ? `${forContainerd.notes.join("\n")}\n\n${containerdSettings(dirs.cniBinDir, dirs.cniConfDir)}`
    : "";
  const dryRun = values["dry-run"] === true;
  if (dryRun) {
    io.stdout(formatPlan(plan, true) + (extra ? `\n${extra}` : ""));
    return 0;
  }
  // Write first, report after: a closed stdout (a log pipe gone) must not stop the install halfway.
  const written = applyInstall(plan);
  io.stdout(
    formatPlan(plan, false) + (written.length === 0 ? "nothing to change\n" : `wrote ${written.length} file(s)\n`) +
      (extra ? `\n${extra}` : ""),
  );
  return 0;
}

/**
 * The CNI dirs for a containerd node: the flags, else what containerd's config.toml sets (Debian's
 * package sets bin_dir = "/usr/lib/cni", where its reference plugins are), else containerd's
 * defaults. The notes say where each came from.
 */
function containerdDirs(
  values: Values,
): { dirs: ReturnType<typeof dirFlags>; notes: string[]; warnings: string[] } {
  const file = str(values, "containerd-config") ?? CONTAINERD_DEFAULTS.config;
  let text: string | null = null;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const cfg = text === null ? {} : containerdCni(text);
  /** The dir to use for one setting, and a note saying where it came from. */
  const pick = (flag: string, key: string, set: string | undefined, fallback: string): [string, string] => {
    const given = str(values, flag);
    const dir = trimSlash(given ?? set ?? fallback);
    const from = given !== undefined
      ? `--${flag}${set !== undefined && trimSlash(set) !== dir ? `; ${file} says ${set}` : ""}`
      : set !== undefined
      ? `from ${file}`
      : `containerd's default; ${file} ${text === null ? "does not exist" : `does not set ${key}`}`;
    return [dir, `containerd: ${key} ${dir} (${from})`];
  };
  const [cniBinDir, binNote] = pick("cni-bin-dir", "bin_dir", cfg.binDir, CONTAINERD_DEFAULTS.binDir);
  const [cniConfDir, confNote] = pick("cni-conf-dir", "conf_dir", cfg.confDir, CONTAINERD_DEFAULTS.confDir);
  const dirs = { cniBinDir, cniConfDir, hooksDir: null };
  const warnings = cfg.maxConfNum !== undefined && cfg.maxConfNum !== 1
    ? [
      `${file} sets max_conf_num = ${cfg.maxConfNum}: containerd attaches every list it loads; podnet's must be the only one (max_conf_num = 1)`,
    ]
    : [];
  return { dirs, notes: [binNote, confNote], warnings };
}

/** `podnet uninstall`. */
export async function uninstallCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags("uninstall", args, DIR_FLAGS);
  if (values.help) {
    io.stdout(UNINSTALL_HELP);
    return 0;
  }
  requireAbsolute("uninstall", values, ["cni-bin-dir", "cni-conf-dir", "hooks-dir"]);
  const steps = await planUninstall(dirFlags(values));
  const dryRun = values["dry-run"] === true;
  const lines = [dryRun ? "podnet uninstall plan (dry run: nothing removed):" : "podnet uninstall:"];
  for (const s of steps) lines.push(`  ${s.action.padEnd(7)} ${s.role.padEnd(8)} ${s.path}  (${s.why})`);
  io.stdout(`${lines.join("\n")}\n`);
  if (dryRun) return 0;
  for (const s of steps) if (s.action === "remove") removeIfExists(s.path);
  return 0;
}
