/**
 * Deterministic names for the host end of a pod's veth: the same
 * containerID/ifname always maps to the same interface name and MAC, so a
 * retried ADD, DEL, CHECK and GC all find it without any state file.
 *
 * @module
 */

export { hostAlias, parseAlias } from "../core/alias.ts";
import { sha256 } from "../core/sha256.ts";

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

/** Derives the host end's name and MAC (SHA-256 of `containerID/ifname`). */
export function hostEnd(prefix: string, containerId: string, ifname: string): HostEnd {
  const digest = sha256(new TextEncoder().encode(`${containerId}/${ifname}`));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const name = prefix + hex.slice(0, 15 - prefix.length);
  // The MACs come from the far end of the digest, so they do not repeat the name's bits.
  return { name, mac: macFrom(digest.slice(26, 32)), podMac: macFrom(digest.slice(20, 26)) };
}

function macFrom(m: Uint8Array): string {
  // Bit 1 of the first octet set = locally administered, bit 0 clear = unicast.
  m[0] = (m[0]! & 0xfc) | 0x02;
  return Array.from(m, (b) => b.toString(16).padStart(2, "0")).join(":");
}
