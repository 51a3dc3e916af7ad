/**
 * CNI GC and STATUS (spec 1.1).
 *
 * GC removes this network's podnet host ends whose attachment the runtime no
 * longer lists, and releases their leases: through IPAM GC when the IPAM
 * plugin speaks 1.1.0, else with one IPAM DEL per stale attachment.
 * STATUS says whether ADD can work: IPAM STATUS where supported, else
 * whether the IPAM plugin and the kernel interfaces are there.
 *
 * @module
 */

import { errorText } from "../core/errors.ts";
import { parseAlias } from "../core/names.ts";
import { linkDel, linkList, Socket } from "../netlink/mod.ts";
import { hostIdentity, ipv6ForwardingWarning } from "./attachment.ts";
import { removePodSnapshot } from "./capture.ts";
import type { Attachment } from "./config.ts";
import type { Ctx } from "./context.ts";
import { CniError, ERR, ignoreNotFound } from "./errors.ts";
import { Ipam } from "./ipam.ts";
import { kernelFacts } from "./observe.ts";
import { versionAtLeast } from "./versions.ts";

function need11(cmd: string, v: string): void {
  if (!versionAtLeast(v, "1.1.0")) {
    throw new CniError(ERR.incompatibleVersion, `${cmd} needs cniVersion 1.1.0, got ${v}`);
  }
}

/** Runs GC; returns the attachments it removed. */
export async function cmdGc(ctx: Ctx): Promise<Attachment[]> {
  const { conf, log } = ctx;
  need11("GC", conf.cniVersion);
  const valid = conf.validAttachments;
  // Without the list every attachment would look stale: refuse rather than delete them all.
  if (valid === null) throw new CniError(ERR.invalidConfig, "GC needs cni.dev/valid-attachments");
  const keep = new Set(valid.map((a) => `${a.containerID}/${a.ifname}`));
  const stale: Attachment[] = [];
  const errors: string[] = [];
  {
    using node = Socket.open();
    for (const l of linkList(node)) {
      if (l.kind !== "veth" || !l.name.startsWith(conf.hostInterfacePrefix)) continue;
      const a = parseAlias(l.alias);
      if (a === null || a.network !== conf.name || keep.has(`${a.containerId}/${a.ifname}`)) continue;
      // Only links whose name podnet would derive from the alias: a foreign alias is not a claim.
      const id = { containerId: a.containerId, ifname: a.ifname, prefix: conf.hostInterfacePrefix };
      if (hostIdentity(id).name !== l.name) continue;
      try {
        ignoreNotFound(() => linkDel(node, l));
      } catch (e) {
        errors.push(errorText(e));
        continue;
      }
      stale.push({ containerID: a.containerId, ifname: a.ifname });
      if (conf.captureDir !== null) {
        try {
          removePodSnapshot(conf.captureDir, a.containerId, a.ifname);
        } catch (e) {
          errors.push(`capture snapshot of ${a.containerId}/${a.ifname}: ${e instanceof Error ? e.name : "unknown"}`);
        }
      }
    }
  }
  const ipam = await Ipam.open(ctx);
  if (ipam.hasGcStatus) {
    await ipam.gc(valid);
  } else {
    for (const a of stale) {
      try {
        await ipam.del(a);
      } catch (e) {
        errors.push(errorText(e));
      }
    }
  }
  log.info("gc removed attachments", { removed: stale.map((a) => `${a.containerID}/${a.ifname}`) });
  if (errors.length) throw new CniError(ERR.internal, `GC incomplete: ${errors.join("; ")}`);
  return stale;
}

/** Runs STATUS; returns warnings that do not make the plugin unavailable. */
export async function cmdStatus(ctx: Ctx): Promise<string[]> {
  const { conf } = ctx;
  need11("STATUS", conf.cniVersion);
  let ipam: Ipam;
  try {
    ipam = await Ipam.open(ctx);
  } catch (e) {
    const m = errorText(e);
    throw new CniError(ERR.notAvailable, `podnet cannot add pods: ${m}`);
  }
  try {
    Socket.open().close();
  } catch (e) {
    throw new CniError(ERR.notAvailable, `podnet cannot talk rtnetlink: ${errorText(e)}`);
  }
  if (ipam.hasGcStatus) await ipam.status();
  const w = ipv6ForwardingWarning(kernelFacts());
  return w === null ? [] : [w];
}
