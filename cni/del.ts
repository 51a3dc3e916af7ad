/**
 * CNI DEL: removes the host end (its peer, host routes and per-interface
 * sysctls go with it) and always releases the IPAM lease. Succeeds when the
 * netns, the link or the lease is already gone, when called twice, and for a
 * container that was never added (spec: DEL must be idempotent).
 *
 * @module
 */

import { load } from "../sys/load.ts";
import { linkDel, linkFind, Socket } from "../netlink/mod.ts";
import { isOurs } from "./add.ts";
import type { Ctx } from "./context.ts";
import { ignoreNotFound } from "./errors.ts";
import { Ipam, type Pending } from "./ipam.ts";
import { hostAlias, hostEnd } from "../core/names.ts";

/** Runs DEL. */
export async function cmdDel(ctx: Ctx): Promise<void> {
  const { env, conf, log } = ctx;
  // IPAM DEL runs as its own process while the veth goes (deleting a link waits for an RCU grace
  // period: tens of milliseconds). A failure of either is reported after both have run.
  let ipamError: unknown = null;
  let pending: Pending<string> | null = null;
  try {
    pending = (await Ipam.open(ctx)).startDel();
  } catch (e) {
    ipamError = e;
  }
  let linkError: unknown = null;
  try {
    const host = hostEnd(conf.hostInterfacePrefix, env.containerId, env.ifname);
    const alias = hostAlias(conf.name, env.containerId, env.ifname);
    using node = Socket.open();
    const link = linkFind(node, host.name);
    if (link !== null && isOurs(link, alias, host.mac)) {
      ignoreNotFound(() => linkDel(node, link));
    } else if (link !== null) {
      // Same name, other owner: not ours to delete (hash collision or a foreign link).
      log.warn("host interface belongs to another attachment; left alone", { host: host.name, alias: link.alias });
    }
  } catch (e) {
    linkError = e;
  }
  if (conf.captureDir !== null) {
    (await load<typeof import("./capture.ts")>("cni/capture.ts")).removePodSnapshot(
      conf.captureDir,
      env.containerId,
      env.ifname,
    );
  }
  if (pending !== null) await pending.done.catch((e) => (ipamError = e));
  if (ipamError !== null) throw ipamError;
  if (linkError !== null) throw linkError;
}
