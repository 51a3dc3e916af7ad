/**
 * CNI DEL: removes the host end (its peer, host routes and per-interface
 * sysctls go with it) and always releases the IPAM lease. Succeeds when the
 * netns, the link or the lease is already gone, when called twice, and for a
 * container that was never added (spec: DEL must be idempotent). It needs
 * nothing of the config beyond what names the attachment and the IPAM
 * plugin: a garbled prevResult or a captureDir that is not a directory does
 * not keep it from releasing the lease.
 *
 * @module
 */

import { linkDel, linkFind, Netns } from "../netlink/mod.ts";
import { mark } from "../core/profile.ts";
import { load } from "../sys/load.ts";
import { cniSpec } from "./add.ts";
import { claimOf, NO_FACTS, plan } from "./attachment.ts";
import type { Ctx } from "./context.ts";
import { ignoreNotFound } from "./errors.ts";
import { Ipam, type Pending } from "./ipam.ts";

/** Runs DEL. */
export async function cmdDel(ctx: Ctx): Promise<void> {
  const { env, conf, log } = ctx;
  for (const w of conf.warnings) log.warn(w, { containerID: env.containerId });
  // IPAM DEL runs as its own process while the veth goes (deleting a link waits for an RCU grace
  // period: tens of milliseconds). A failure of either is reported after both have run.
  let ipamError: unknown = null;
  let pending: Pending<string> | null = null;
  try {
    pending = (await Ipam.open(ctx)).startDel();
    mark("ipam start");
  } catch (e) {
    ipamError = e;
  }
  let linkError: unknown = null;
  try {
    const p = plan(cniSpec(ctx), NO_FACTS);
    using node = Netns.here();
    const link = linkFind(node.sock, p.host.name);
    if (link !== null && claimOf(link, p.host) !== "foreign") {
      ignoreNotFound(() => linkDel(node.sock, link));
    } else if (link !== null) {
      // Same name, other owner: not ours to delete (hash collision or a foreign link).
      log.warn("host interface belongs to another attachment; left alone", { host: p.host.name });
    }
  } catch (e) {
    linkError = e;
  }
  mark("link del");
  if (conf.captureDir !== null) {
    try {
      (await load<typeof import("./capture.ts")>("cni/capture.ts")).removePodSnapshot(
        conf.captureDir,
        env.containerId,
        env.ifname,
      );
    } catch (e) {
      log.warn("capture snapshot not removed", { error: e instanceof Error ? e.name : "unknown" });
    }
  }
  if (pending !== null) await pending.done.catch((e) => (ipamError = e));
  mark("ipam wait");
  if (ipamError !== null) throw ipamError;
  if (linkError !== null) throw linkError;
}
