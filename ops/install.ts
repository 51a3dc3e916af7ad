/**
 * `podnet install` / `podnet uninstall`: put podnet on a node the way CNI
 * plugins are installed. Every file is written to a temp name in its target
 * directory, fsynced and renamed, so a runtime running ADD meanwhile sees the
 * old file or the new one, never half of one, and never "text file busy"
 * (rename swaps the directory entry; a running plugin keeps its old inode).
 * A manifest beside the binary records each file's SHA-256; uninstall removes
 * a file only while it still has the content install wrote.
 *
 * @module
 */

import { int, parseFlags, str, strs, UsageError, type Values } from "../core/cli.ts";
import { listDir, removeIfExists, writeFileAtomic } from "../core/fsutil.ts";
import type { Io } from "../core/io.ts";
import { MTU_MAX, MTU_MIN, VERSION } from "../core/constants.ts";
import { CONTAINERD_DEFAULTS, containerdCni, containerdSettings } from "./containerd.ts";
import { inClusterAccess, nodePodCidrs, SERVICE_ACCOUNT_DIR } from "./kube.ts";
import {
  BIN_NAME,
  buildConflist,
  buildHook,
  buildLauncher,
  canonicalSubnets,
  CONFLIST_NAME,
  HOOK_NAME,
  jsonText,
  LAUNCHER_MARKER,
  MANIFEST_NAME,
  NETWORK_NAME_RE,
} from "./files.ts";

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

/** Defaults of the directory flags. */
export const DEFAULT_DIRS = {
  cniBinDir: "/opt/cni/bin",
  cniConfDir: "/etc/cni/net.d",
  hooksDir: "/etc/containers/oci/hooks.d",
} as const;

type Role = "binary" | "hook" | "conflist";

/** One file of the plan. */
export interface PlannedFile {
  role: Role;
  path: string;
  mode: number;
  data: Uint8Array;
  sha256: string;
  /** Where the bytes come from (for the plan text). */
  source: string;
  action: "create" | "replace" | "unchanged";
}

/** What install is going to do. */
export interface InstallPlan {
  files: PlannedFile[];
  manifestPath: string;
  warnings: string[];
}

/** Manifest written beside the binary. */
export interface InstallManifest {
  schema: "podnet.install/v1";
  podnet: string;
  files: { role: Role; path: string; sha256: string }[];
}

/** Options of `planInstall`. */
export interface InstallOptions {
  cniBinDir: string;
  cniConfDir: string;
  hooksDir: string | null;
  subnets: string[];
  name: string;
  cniVersion: string;
  gatewayMode: "static-neighbor" | "proxy-arp";
  mtu?: number;
  ipamDataDir?: string;
  captureDir?: string;
  /** The runtime the node runs, when it needs more than the list (containerd: the loopback plugin). */
  runtime?: "containerd";
  /** Overrides the binary source (tests); default `podnetSource()`. */
  source?: BinarySource;
}

/** Where the installed binary's bytes come from. */
export interface BinarySource {
  kind: "compiled" | "dist" | "launcher";
  /** File copied, or the checkout's bin/launch.sh that the launcher script sources. */
  path: string;
  data: Uint8Array;
}

const CHECKOUT = new URL("..", import.meta.url);

/**
 * The binary to install: a compiled podnet copies itself; a checkout copies
 * dist/podnet when scripts/compile.ts produced one, else writes a launcher.
 */
export function podnetSource(): BinarySource {
  const exe = Deno.execPath();
  // A `deno compile` binary runs from a virtual root and is not named deno.
  if (CHECKOUT.protocol !== "file:" || import.meta.url.includes("/deno-compile-") || !/\/deno$/.test(exe)) {
    return { kind: "compiled", path: exe, data: Deno.readFileSync(exe) };
  }
  const root = decodeURIComponent(CHECKOUT.pathname).replace(/\/$/, "");
  const dist = `${root}/dist/podnet`;
  try {
    if (Deno.statSync(dist).isFile) return { kind: "dist", path: dist, data: Deno.readFileSync(dist) };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const launcher = `${root}/bin/launch.sh`;
  return { kind: "launcher", path: launcher, data: new TextEncoder().encode(buildLauncher(root)) };
}

/**
 * Hex SHA-256 by Web Crypto, not core/sha256.ts: that one is for short names on the CNI path, while
 * this hashes the installed binary (a compiled podnet is ~90 MB: 0.44 s here, 1.5 s in pure JS).
 */
async function sha256(data: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

function readOrNull(path: string): Uint8Array | null {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function modeOf(path: string): number | null {
  try {
    return (Deno.statSync(path).mode ?? 0) & 0o7777;
  } catch {
    return null;
  }
}

async function planned(role: Role, path: string, data: Uint8Array, mode: number, source: string): Promise<PlannedFile> {
  const old = readOrNull(path);
  const action = old === null ? "create" : sameBytes(old, data) && modeOf(path) === mode ? "unchanged" : "replace";
  return { role, path, mode, data, sha256: await sha256(data), source, action };
}

/** Computes what install would write; reads, never writes. */
export async function planInstall(o: InstallOptions): Promise<InstallPlan> {
  const warnings: string[] = [];
  const src = o.source ?? podnetSource();
  const binPath = `${o.cniBinDir}/${BIN_NAME}`;
  const files: PlannedFile[] = [];
  const how = src.kind === "launcher"
    ? `launcher script that sources ${src.path} (no dist/podnet: deno compile needs the denort runtime)`
    : src.kind === "dist"
    ? `copy of ${src.path} (compiled)`
    : `copy of this compiled binary ${src.path}`;
  files.push(await planned("binary", binPath, src.data, 0o755, how));
  if (o.hooksDir !== null) {
    const hook = buildHook(binPath, o.captureDir);
    files.push(await planned("hook", `${o.hooksDir}/${HOOK_NAME}`, enc(jsonText(hook)), 0o644, "OCI hook description"));
  }
  const conf = buildConflist({
    name: o.name,
    cniVersion: o.cniVersion,
    subnets: o.subnets,
    gatewayMode: o.gatewayMode,
    ...(o.ipamDataDir !== undefined ? { ipamDataDir: o.ipamDataDir } : {}),
    ...(o.mtu !== undefined ? { mtu: o.mtu } : {}),
  });
  // Last: once the list exists runtimes start using podnet, so everything it runs must be in place.
  files.push(await planned("conflist", `${o.cniConfDir}/${CONFLIST_NAME}`, enc(jsonText(conf)), 0o644, "network list"));

  // containerd's CRI plugin attaches a loopback network of its own to every pod, before the list.
  for (const p of ["host-local", "portmap", "tuning", ...(o.runtime === "containerd" ? ["loopback"] : [])]) {
    if (readOrNull(`${o.cniBinDir}/${p}`) === null) {
      warnings.push(
        `${o.cniBinDir}/${p} is missing: the list needs the reference plugin ${p} (containernetworking-plugins)`,
      );
    }
  }
  for (const f of listDir(o.cniConfDir)) {
    if (/\.(conf|conflist|json)$/.test(f) && f < CONFLIST_NAME) {
      warnings.push(
        `${o.cniConfDir}/${f} sorts before ${CONFLIST_NAME}: runtimes that take the first list will use it`,
      );
    }
  }
  return { files, manifestPath: `${o.cniBinDir}/${MANIFEST_NAME}`, warnings };
}

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function manifestOf(plan: InstallPlan): InstallManifest {
  return {
    schema: "podnet.install/v1",
    podnet: VERSION,
    files: plan.files.map((f) => ({ role: f.role, path: f.path, sha256: f.sha256 })),
  };
}

/** Writes the plan's files (only those that change) and the manifest. Returns the paths written. */
export function applyInstall(plan: InstallPlan): string[] {
  const written: string[] = [];
  for (const f of plan.files) {
    if (f.action === "unchanged") continue;
    const dir = f.path.slice(0, f.path.lastIndexOf("/")) || "/";
    Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileAtomic(f.path, f.data, f.mode);
    written.push(f.path);
  }
  const m = enc(jsonText(manifestOf(plan)));
  const old = readOrNull(plan.manifestPath);
  if (old === null || !sameBytes(old, m)) {
    writeFileAtomic(plan.manifestPath, m, 0o644);
    written.push(plan.manifestPath);
  }
  return written;
}

/** Plan text as printed by install (and by --dry-run, with contents). */
export function formatPlan(plan: InstallPlan, dryRun: boolean): string {
  const lines = [dryRun ? "podnet install plan (dry run: nothing written):" : "podnet install:"];
  for (const f of plan.files) {
    lines.push(`  ${f.action.padEnd(9)} ${f.role.padEnd(8)} ${f.path}  (${f.source}, mode ${f.mode.toString(8)})`);
  }
  lines.push(`  record    manifest ${plan.manifestPath}`);
  for (const w of plan.warnings) lines.push(`  warning: ${w}`);
  if (dryRun) {
    for (const f of plan.files) {
      if (f.role === "binary" && !isText(f.data)) continue;
      lines.push("", `--- ${f.path}`, new TextDecoder().decode(f.data).trimEnd());
    }
  }
  return `${lines.join("\n")}\n`;
}

function isText(d: Uint8Array): boolean {
  return d.length < 65536 && !d.includes(0);
}

/** What uninstall did (or would do) with one file. */
export interface RemovalStep {
  role: Role | "manifest";
  path: string;
  action: "remove" | "absent" | "keep";
  why: string;
}

/** Recognises podnet's files when no manifest exists. */
function recognised(role: Role, data: Uint8Array): boolean {
  const text = isText(data) ? new TextDecoder().decode(data) : "";
  try {
    if (role === "binary") return text.split("\n")[1] === LAUNCHER_MARKER;
    const j = JSON.parse(text);
    if (role === "conflist") return Array.isArray(j.plugins) && j.plugins[0]?.type === "podnet";
    return Array.isArray(j.hook?.args) && j.hook.args[0] === BIN_NAME && j.hook.args[1] === "hook";
  } catch {
    return false;
  }
}

/** Works out what uninstall removes. */
export async function planUninstall(
  dirs: { cniBinDir: string; cniConfDir: string; hooksDir: string | null },
): Promise<RemovalStep[]> {
  const manifestPath = `${dirs.cniBinDir}/${MANIFEST_NAME}`;
  const raw = readOrNull(manifestPath);
  let entries: { role: Role; path: string; sha256: string | null }[];
  if (raw !== null) {
    const m = JSON.parse(new TextDecoder().decode(raw)) as InstallManifest;
    if (m.schema !== "podnet.install/v1" || !Array.isArray(m.files)) {
      throw new Error(`${manifestPath} is not a podnet install manifest`);
    }
    entries = m.files;
  } else {
    entries = [
      { role: "binary", path: `${dirs.cniBinDir}/${BIN_NAME}`, sha256: null },
      ...(dirs.hooksDir !== null
        ? [{ role: "hook" as const, path: `${dirs.hooksDir}/${HOOK_NAME}`, sha256: null }]
        : []),
      { role: "conflist", path: `${dirs.cniConfDir}/${CONFLIST_NAME}`, sha256: null },
    ];
  }
  const steps: RemovalStep[] = [];
  // Reverse of install: the list goes first so no new ADD is sent to a vanishing binary.
  for (const e of [...entries].reverse()) {
    const data = readOrNull(e.path);
    if (data === null) steps.push({ role: e.role, path: e.path, action: "absent", why: "not there" });
    else if (e.sha256 !== null) {
      const same = (await sha256(data)) === e.sha256;
      steps.push({
        role: e.role,
        path: e.path,
        action: same ? "remove" : "keep",
        why: same ? "content as installed" : "changed since install",
      });
    } else {
      const ours = recognised(e.role, data);
      steps.push({
        role: e.role,
        path: e.path,
        action: ours ? "remove" : "keep",
        why: ours ? "recognised as podnet's (no manifest)" : "no manifest and not recognisably podnet's",
      });
    }
  }
  if (raw !== null) {
    const kept = steps.some((s) => s.action === "keep");
    steps.push({
      role: "manifest",
      path: manifestPath,
      action: kept ? "keep" : "remove",
      why: kept ? "install record, kept while a recorded file is kept" : "install record",
    });
  }
  return steps;
}

function dirFlags(v: Values): { cniBinDir: string; cniConfDir: string; hooksDir: string | null } {
  return {
    cniBinDir: (str(v, "cni-bin-dir") ?? DEFAULT_DIRS.cniBinDir).replace(/(.)\/+$/, "$1"),
    cniConfDir: (str(v, "cni-conf-dir") ?? DEFAULT_DIRS.cniConfDir).replace(/(.)\/+$/, "$1"),
    hooksDir: v["no-hook"] ? null : (str(v, "hooks-dir") ?? DEFAULT_DIRS.hooksDir).replace(/(.)\/+$/, "$1"),
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
  if (!["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"].includes(cniVersion)) {
    throw new UsageError(`podnet install: --cni-version ${JSON.stringify(cniVersion)} is not one podnet speaks`);
  }
  const gatewayMode = str(values, "gateway-mode") ?? "static-neighbor";
  if (gatewayMode !== "static-neighbor" && gatewayMode !== "proxy-arp") {
    throw new UsageError(
      `podnet install: --gateway-mode must be static-neighbor or proxy-arp, got ${JSON.stringify(gatewayMode)}`,
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
  const trim = (p: string): string => p.replace(/(.)\/+$/, "$1");
  /** The dir to use for one setting, and a note saying where it came from. */
  const pick = (flag: string, key: string, set: string | undefined, fallback: string): [string, string] => {
    const given = str(values, flag);
    const dir = trim(given ?? set ?? fallback);
    const from = given !== undefined
      ? `--${flag}${set !== undefined && trim(set) !== dir ? `; ${file} says ${set}` : ""}`
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
