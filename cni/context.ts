/**
 * What every CNI command handler gets: the parsed environment and config, the
 * logger and the test seams.
 *
 * @module
 */

import type { Logger } from "../core/log.ts";
import { isCurrentNetns, NetlinkError, Netns } from "../netlink/mod.ts";
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

export { DEFAULT_STATE_DIR, GW4, GW6 } from "../core/constants.ts";

/**
 * The pod netns of CNI_NETNS after checking it exists, is a network
 * namespace and is not the plugin's own (code 4 otherwise), with its socket open.
 */
export function openPodNetns(path: string): Netns {
  let own: boolean;
  try {
    own = isCurrentNetns(path);
  } catch {
    throw new CniError(ERR.invalidEnv, `CNI_NETNS ${path} does not exist or is not readable`);
  }
  if (own) throw new CniError(ERR.invalidEnv, `CNI_NETNS ${path} is the plugin's own network namespace`);
  const ns = Netns.at(path);
  try {
    void ns.sock;
  } catch (e) {
    ns.close();
    const why = e instanceof NetlinkError ? e.message.slice(e.action.length + 2) : "cannot be entered";
    throw new CniError(ERR.invalidEnv, `CNI_NETNS ${path} is not a network namespace (${why})`);
  }
  return ns;
}
