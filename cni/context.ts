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

export { DEFAULT_STATE_DIR, GW4, GW6 } from "../core/constants.ts";
