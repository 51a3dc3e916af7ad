/**
 * The `captureDir` snapshot: ADD writes the pod end as a `podnet.capture/v1`
 * document (what the sandbox restorer pins inside a gVisor netns), drawn from
 * the attachment's plan without reading the kernel back or resolving
 * anything: the gateway MAC is the host end's own. DEL and GC remove it.
 *
 * @module
 */

import { GATEWAYS } from "../core/constants.ts";
import { removeWithTemps, writeFileAtomic } from "../core/fsutil.ts";
import { hex, sha256 } from "../core/sha256.ts";
import { formatSnapshot, SCHEMA, type Snapshot } from "../core/snapshot.ts";
import { now } from "../core/time.ts";
import type { Plan } from "./attachment.ts";
import { CniError, ERR } from "./errors.ts";

/** NAME_MAX of the filesystems a captureDir lives on. */
const NAME_MAX = 255;

/**
 * `DIR/<containerID>-<ifname>.json`; a container ID too long for a file name
 * (the spec allows any length) is replaced by the hex of its SHA-256.
 */
export function capturePath(dir: string, containerId: string, ifname: string): string {
  let name = `${containerId}-${ifname}.json`;
  // Room for writeFileAtomic's temp name beside it: `.NAME.PID.XXXXXXXX.tmp`.
  if (new TextEncoder().encode(name).length > NAME_MAX - 32) {
    name = `sha256-${hex(sha256(new TextEncoder().encode(containerId)))}-${ifname}.json`;
  }
  return `${dir.replace(/\/+$/, "")}/${name}`;
}

/** The snapshot of the pod end of `p` with link MTU `mtu`: routes in restore order, gateways pinned to the host end. */
export function podSnapshot(p: Plan, mtu: number): Snapshot {
  return {
    schema: SCHEMA,
    capturedAt: now(),
    links: [{
      name: p.pod.name,
      mac: p.pod.mac,
      mtu,
      addresses: p.pod.addresses.map((cidr) => ({ cidr })),
      routes: p.pod.routes.map((
        r,
      ) => (r.gateway !== undefined ? { dst: r.dst, gateway: r.gateway } : { dst: r.dst, scope: "link" })),
      // The host end's MAC in both gateway modes: proxy ARP answers with it too.
      neighbors: p.families.map((f) => ({ ip: GATEWAYS[f], mac: p.host.mac })),
    }],
  };
}

/**
 * Checks that `dir` is a real directory (not a symlink, not a file), creating
 * it 0700 when missing: podnet writes snapshots into it and must not be led
 * elsewhere. Throws code 7 naming `captureDir`.
 */
export function ensureCaptureDir(dir: string): void {
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new CniError(ERR.invalidConfig, `captureDir cannot be inspected: ${(e as Error).name}`);
    }
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    st = Deno.lstatSync(dir);
  }
  if (st.isSymlink) throw new CniError(ERR.invalidConfig, "captureDir is a symbolic link; it must be a real directory");
  if (!st.isDirectory) throw new CniError(ERR.invalidConfig, "captureDir exists and is not a directory");
}

/** Writes the pod end's snapshot (0600, atomic) into `dir`, which `ensureCaptureDir` checked; returns its path. */
export function writePodSnapshot(dir: string, containerId: string, p: Plan, mtu: number): string {
  const path = capturePath(dir, containerId, p.pod.name);
  writeFileAtomic(path, formatSnapshot(podSnapshot(p, mtu)), 0o600);
  return path;
}

/**
 * Removes an attachment's snapshot; a missing one is fine, and so is a
 * captureDir that is not a directory (no snapshot can be in it): DEL must
 * release what it can whatever the config says.
 */
export function removePodSnapshot(dir: string, containerId: string, ifname: string): void {
  try {
    if (!Deno.lstatSync(dir).isDirectory) return;
  } catch {
    return;
  }
  removeWithTemps(capturePath(dir, containerId, ifname));
}
