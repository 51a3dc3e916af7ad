/**
 * What `podnet install` / `podnet uninstall` do (the command line is
 * ops/install_cmd.ts): put podnet on a node the way CNI
 * plugins are installed. Every file is written to a temp name in its target
 * directory, fsynced and renamed, so a runtime running ADD meanwhile sees the
 * old file or the new one, never half of one, and never "text file busy"
 * (rename swaps the directory entry; a running plugin keeps its old inode).
 * A manifest beside the binary records each file's SHA-256; uninstall removes
 * a file only while it still has the content install wrote.
 *
 * @module
 */

import { listDir, writeFileAtomic } from "../core/fsutil.ts";
import { VERSION } from "../core/constants.ts";
import type { GatewayMode } from "../cni/attachment.ts";
import { sha256HexOfLarge } from "../core/sha256.ts";
import {
  BIN_NAME,
  buildConflist,
  buildHook,
  buildLauncher,
  CONFLIST_NAME,
  HOOK_NAME,
  jsonText,
  LAUNCHER_MARKER,
  MANIFEST_NAME,
} from "./files.ts";

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
  gatewayMode: GatewayMode;
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
  return { role, path, mode, data, sha256: await sha256HexOfLarge(data), source, action };
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
      // A compiled binary or a frozen bundle is not read on a terminal: its size says what it is.
      if (f.role === "binary" && (!isText(f.data) || f.data.length > 16_384)) {
        lines.push("", `--- ${f.path} (${f.data.length} bytes, not shown)`);
        continue;
      }
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
      const same = (await sha256HexOfLarge(data)) === e.sha256;
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
