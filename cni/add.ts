/**
 * CNI ADD: builds the attachment cni/attachment.ts plans — a routed veth from
 * the node netns (the one podnet runs in) into the pod netns, addresses from
 * IPAM, link-local gateways — with cni/apply.ts. Every step that changes
 * something registers its undo as soon as it has succeeded; any failure rolls
 * back all of it, the IPAM lease this call obtained included, and nothing
 * this call did not make.
 *
 * Before IPAM runs, one targeted request (the host end by name) refuses an
 * attachment that already exists: host-local's DEL releases every lease of
 * a container ID, so a refused ADD's rollback would otherwise release the
 * live attachment's lease. The caller holds the attachment's lock (cni/main.ts),
 * so no other call for it runs meanwhile. IPAM then runs as a process of its
 * own while the pod netns is checked and the veth made; only addressing waits
 * for its result.
 *
 * @module
 */

import { GW4, GW6 } from "../core/constants.ts";
import { isVethPeer, type Link, linkDel, linkFind, linkNamePresent, Netns } from "../netlink/mod.ts";
import { mark } from "../core/profile.ts";
import { load } from "../sys/load.ts";
import { addressLinks, createLinks, finish } from "./apply.ts";
import { type AttachmentSpec, claimOf, NO_FACTS, type Plan, plan } from "./attachment.ts";
import { checkAliasLength } from "./config.ts";
import { type Ctx, openPodNetns } from "./context.ts";
import { CniError, ERR, ignoreNotFound } from "./errors.ts";
import { Ipam, type Pending } from "./ipam.ts";
import { kernelFacts } from "./observe.ts";
import { parseResult, type Result } from "./result.ts";
import { Rollback } from "./rollback.ts";

/** The attachment a CNI call is about, without addresses (they come from IPAM). */
export function cniSpec(ctx: Ctx): AttachmentSpec {
  const { env, conf } = ctx;
  return {
    network: conf.name,
    containerId: env.containerId,
    ifname: env.ifname,
    prefix: conf.hostInterfacePrefix,
    mtu: conf.mtu,
    gatewayMode: conf.gatewayMode,
    addresses: [],
  };
}

/** Refuses an existing host end that is complete or not ours; returns a leftover to replace, else null. */
function refuseExisting(ctx: Ctx, links: Plan, node: Netns): Link | null {
  const existing = linkFind(node.sock, links.host.name);
  if (existing === null) return null;
  switch (claimOf(existing, links.host)) {
    case "complete":
      throw new CniError(
        ERR.invalidEnv,
        `attachment ${ctx.env.containerId}/${ctx.env.ifname} already exists (host interface ${links.host.name}); DEL it first`,
      );
    case "foreign":
      throw new CniError(ERR.internal, `host interface ${links.host.name} already exists and is not this attachment's`);
    case "leftover":
      return existing;
  }
}

/** Runs ADD; returns the result in podnet's internal shape. */
export async function cmdAdd(ctx: Ctx): Promise<Result> {
  const { env, conf, log, seam } = ctx;
  const spec = cniSpec(ctx);
  const links = plan(spec, NO_FACTS);
  checkAliasLength(links.host.alias);
  if (conf.captureDir !== null) {
    (await load<typeof import("./capture.ts")>("cni/capture.ts")).ensureCaptureDir(conf.captureDir);
  }
  using node = Netns.here();
  // One targeted look before IPAM starts: the host end's name in /proc (no libnl needed when it is
  // free, the common case); only a name that is there is looked at through netlink.
  const leftover = linkNamePresent(links.host.name) ? refuseExisting(ctx, links, node) : null;
  mark("host-end check");
  let ipam: Ipam, pending: Pending<Result>;
  try {
    ipam = await Ipam.open(ctx);
    pending = ipam.startAdd();
    mark("ipam start");
  } catch (e) {
    // The checks of CNI_NETNS come first in what a failed ADD reports (code 4 for a bad netns
    // whatever the IPAM config): when IPAM cannot even start, run them for their error.
    openPodNetns(env.netns).close();
    throw e;
  }
  const undo = new Rollback();
  undo.push(`IPAM ${ipam.type} DEL`, async () => {
    await pending.done.catch(() => {}); // whatever it did must have finished before DEL
    await ipam.del();
  });
  let pod: Netns | null = null; // closed after the rollback, which needs it
  try {
    pod = openPodNetns(env.netns);
    const taken = linkFind(pod.sock, env.ifname);
    mark("pod netns");
    if (taken !== null && !(leftover !== null && isVethPeer(leftover, taken))) {
      throw new CniError(ERR.invalidEnv, `interface ${env.ifname} already exists in ${env.netns}`);
    }
    if (leftover !== null) {
      // Left over by an ADD that was killed before it finished: replace it. Its lease has the same
      // containerID/ifname, so host-local refused the ADD above as a duplicate: release it, ask again.
      log.warn("replacing leftover host interface", { host: links.host.name });
      ignoreNotFound(() => linkDel(node.sock, leftover));
      await pending.done.catch(() => {});
      await ipam.del();
      pending = ipam.startAdd();
    }
    const written = new Set<string>();
    const ends = createLinks(links, node, pod, undo, seam, written);

    const ipamResult = await pending.done;
    seam("ipam");
    if (ipamResult.ips.length === 0) throw new CniError(ERR.internal, `IPAM plugin ${ipam.type} returned no addresses`);
    const addresses = ipamResult.ips.map((i) => i.address);
    // The kernel's facts matter for IPv6 forwarding only: an IPv4 pod needs no sysctl read for them.
    const facts = addresses.some((a) => a.includes(":")) ? kernelFacts() : NO_FACTS;
    const p = plan({ ...spec, addresses, routes: ipamResult.routes }, facts);
    for (const w of p.warnings) log.warn(w, { host: p.host.name });
    addressLinks(p, node, pod, ends, seam, written);

    const mtu = ends.host.mtu;
    if (conf.captureDir !== null) {
      const dir = conf.captureDir;
      const capture = await load<typeof import("./capture.ts")>("cni/capture.ts");
      capture.writePodSnapshot(dir, env.containerId, p, mtu);
      undo.push("remove capture snapshot", () => capture.removePodSnapshot(dir, env.containerId, env.ifname));
    }
    seam("capture");
    finish(p, node, ends);
    mark("alias");

    const result: Result = {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: p.host.name, mac: p.host.mac, mtu },
        { name: env.ifname, mac: p.pod.mac, mtu, sandbox: env.netns },
      ],
      ips: p.pod.addresses.map((address) => ({ address, gateway: address.includes(":") ? GW6 : GW4, interface: 1 })),
      routes: p.pod.routes.filter((r) => r.gateway !== undefined).map((r) => ({ dst: r.dst, gw: r.gateway! })),
      dns: conf.dns ?? ipamResult.dns,
    };
    seam("result");
    return conf.prevResult ? chain(parseResult(conf.prevResult, "prevResult"), result) : result;
  } catch (e) {
    const failed = await undo.run();
    if (failed.length) log.error("rollback incomplete", { failed });
    throw e;
  } finally {
    pod?.close();
  }
}

/** Appends podnet's part to the result of an earlier plugin in the chain. */
function chain(prev: Result, mine: Result): Result {
  const off = prev.interfaces.length;
  return {
    cniVersion: mine.cniVersion,
    interfaces: [...prev.interfaces, ...mine.interfaces],
    ips: [...prev.ips, ...mine.ips.map((i) => ({ ...i, interface: (i.interface ?? 0) + off }))],
    routes: [...prev.routes, ...mine.routes],
    dns: Object.keys(mine.dns).length ? mine.dns : prev.dns,
  };
}
