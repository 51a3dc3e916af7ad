/**
 * Domain constants every layer shares, each written once: podnet's version,
 * the CNI versions it speaks, the pod gateways and the MTU range.
 *
 * @module
 */

/** podnet's release version. Keep in step with deno.json. */
export const VERSION = "0.1.0";

/** CNI spec versions podnet speaks, oldest first. */
export const CNI_VERSIONS: readonly string[] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/** A CNI version string's shape (`1.0.0`): a value of this shape can hold no secret and may be quoted. */
export const VERSION_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The pod's link-local IPv4 gateway, answered by the host end (Calico uses the same). */
export const GW4 = "169.254.1.1";
/** The pod's IPv6 gateway, an address of the host end. */
export const GW6 = "fe80::1";
/** The gateway of each family. */
export const GATEWAYS = { 4: GW4, 6: GW6 } as const;

/**
 * The MTU range of a link podnet makes (CNI `mtu`, `podnet install --mtu`,
 * `podnet attach --mtu`). The floor is IPv6's minimum link MTU (RFC 8200):
 * below it the kernel disables IPv6 on the link, so every IPv6 setting of an
 * attachment fails (EAFNOSUPPORT), and whether IPAM hands out IPv6 is known
 * only after the veth exists. 65535 is the largest MTU a veth accepts.
 */
export const MTU_MIN = 1280;
/** See `MTU_MIN`. */
export const MTU_MAX = 65535;

/** Where podnet keeps its small state (IPAM version cache, attachment locks): tmpfs, gone at reboot. */
export const DEFAULT_STATE_DIR = "/run/podnet";

/** Default prefix of host-end names. */
export const DEFAULT_PREFIX = "pn";
