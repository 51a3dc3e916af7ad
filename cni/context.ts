/**
 * What every CNI command handler gets: the parsed environment and config, the
 * logger and the test seams.
 *
 * @module
 */

import type { Logger } from "../core/log.ts";
import { Netns, NetnsRefused } from "../netlink/mod.ts";
import { CniError, ERR } from "./errors.ts";
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

/**
 * The pod netns of CNI_NETNS after checking it exists, is a network
 * namespace and is not the plugin's own (code 4 otherwise), with its socket open.
 */
export function openPodNetns(path: string): Netns {
  try {
    return Netns.other(path);
  } catch (e) {
    if (e instanceof NetnsRefused) throw new CniError(ERR.invalidEnv, `CNI_NETNS ${path} ${e.message}`);
    throw e;
  }
}
