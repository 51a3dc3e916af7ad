/**
 * What every CNI command handler gets: the parsed environment and config, the
 * logger and the test seams.
 *
 * @module
 */

import type { Logger } from "../core/log.ts";
import type { CniEnv, NetConf } from "./config.ts";
import type { Seam } from "./seams.ts";

/** One invocation's context. */
export interface Ctx {
  env: CniEnv;
  conf: NetConf;
  log: Logger;
  seam: Seam;
  /** Where podnet keeps small caches (PODNET_STATE_DIR, default /run/podnet). */
  stateDir: string;
  /** Limit of one IPAM plugin call (PODNET_IPAM_TIMEOUT_MS; default in ipam.ts). */
  ipamTimeoutMs?: number;
}

/** Default state directory: on tmpfs, so caches never outlive a reboot. */
export const DEFAULT_STATE_DIR = "/run/podnet";

/** The pod's link-local IPv4 gateway (answered by the host end; Calico uses the same). */
export const GW4 = "169.254.1.1";
/** The pod's IPv6 gateway, an address of the host end. */
export const GW6 = "fe80::1";
