/**
 * Names: the one validator for every interface name that reaches the kernel
 * (CNI_IFNAME, snapshot links, hook annotations and flags, the host-end
 * prefix), the container-ID rule, the alias podnet gives a pod's host end
 * (`networkName/containerID/ifname`: how ADD marks a link as its own and how
 * DEL, GC, `podnet status` and the hook recognise it) and the host end's
 * name and MACs, derived from the attachment so that every command finds
 * them without a state file.
 *
 * @module
 */

import { formatMac } from "./ip.ts";
import { hex, sha256 } from "./sha256.ts";

/** IFNAMSIZ - 1: the longest interface name in bytes. */
export const IFNAME_MAX = 15;

/** A CNI container ID or network name as podnet accepts them (the spec's rule for container IDs). */
export const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

/**
 * Why `name` cannot be used as an interface name verbatim, in words (never
 * echoing the name, which may be anything), or null when it can. Beyond the
 * kernel's own rule (dev_valid_name: 1–15 bytes, no `/`, `:` or whitespace,
 * not `.`/`..`), `%` is refused because the kernel expands it as a name
 * template (`eth%d` becomes `eth0`), and NUL and other control characters
 * because libnl cuts a name at NUL and a log line must stay one line.
 */
export function ifnameProblem(name: unknown): string | null {
  if (typeof name !== "string") return "is not a string";
  if (name === "") return "is empty";
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > IFNAME_MAX) return `is ${bytes} bytes, more than ${IFNAME_MAX}`;
  if (name === "." || name === "..") return 'is "." or ".."';
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x20\x7f\s]/.test(name)) return "contains whitespace, a NUL byte or a control character";
  if (/[/:%]/.test(name)) return 'contains "/", ":" or "%"';
  return null;
}

/** Whether `name` is an interface name podnet passes to the kernel (see `ifnameProblem`). */
export function validIfname(name: unknown): name is string {
  return ifnameProblem(name) === null;
}

/** The alias of the host end of `containerId`'s interface `ifname` in network `network`. */
export function hostAlias(network: string, containerId: string, ifname: string): string {
  return `${network}/${containerId}/${ifname}`;
}

/** The kernel's limit on an interface alias (IFLA_IFALIAS: 256 bytes with the NUL). */
export const ALIAS_MAX = 255;

/** The byte length of `alias` when it is longer than an interface alias can be, else null. */
export function aliasOverflow(alias: string): number | null {
  const n = new TextEncoder().encode(alias).length;
  return n > ALIAS_MAX ? n : null;
}

/** An alias made by `hostAlias`, split; null when `alias` is not one (each part checked). */
export function parseAlias(alias: string | null): { network: string; containerId: string; ifname: string } | null {
  if (alias === null) return null;
  const parts = alias.split("/");
  if (parts.length !== 3) return null;
  const [network, containerId, ifname] = parts as [string, string, string];
  if (!ID_RE.test(network) || !ID_RE.test(containerId) || !validIfname(ifname)) return null;
  return { network, containerId, ifname };
}

/** Host-end identity derived from `containerID/ifname`. */
export interface HostEnd {
  /** prefix + lowercase hex, at most 15 bytes (IFNAMSIZ - 1). */
  name: string;
  /** Locally administered unicast MAC from the same hash. */
  mac: string;
  /**
   * MAC for the pod end, set at creation too: stable across a retried ADD and
   * known without asking the kernel.
   */
  podMac: string;
}

let lastKey = "";
let lastDigest: Uint8Array = new Uint8Array(32);

/**
 * SHA-256 of an attachment key (`containerID/ifname`), remembered for the
 * last key: a CNI call derives the host end's name and its lock's name from
 * the same key, and the first SHA-256 of a process costs ~0.5 ms of
 * interpreter warm-up.
 */
export function keyDigest(key: string): Uint8Array {
  if (key !== lastKey) {
    lastDigest = sha256(new TextEncoder().encode(key));
    lastKey = key;
  }
  return lastDigest.slice();
}

/** Derives the host end's name and MACs (SHA-256 of `containerID/ifname`). */
export function hostEnd(prefix: string, containerId: string, ifname: string): HostEnd {
  const digest = keyDigest(`${containerId}/${ifname}`);
  const name = prefix + hex(digest).slice(0, IFNAME_MAX - prefix.length);
  // The MACs come from the far end of the digest, so they do not repeat the name's bits.
  return { name, mac: macFrom(digest.slice(26, 32)), podMac: macFrom(digest.slice(20, 26)) };
}

function macFrom(m: Uint8Array): string {
  // Bit 1 of the first octet set = locally administered, bit 0 clear = unicast.
  m[0] = (m[0]! & 0xfc) | 0x02;
  return formatMac(m);
}
