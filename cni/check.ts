/**
 * CNI CHECK: the attachment prevResult describes, planned (cni/attachment.ts)
 * and compared with what the kernel has (cni/observe.ts) by the same rules
 * `podnet status` uses; fails naming every difference found (the runtime
 * logs the message). A pod end taken by a gVisor sandbox is not drift.
 *
 * @module
 */

import { errorText } from "../core/errors.ts";
import { GW4, GW6 } from "../core/constants.ts";
import { Netns } from "../netlink/mod.ts";
import { readSnapshot } from "../sys/files.ts";
import { cniSpec } from "./add.ts";
import { diff, plan } from "./attachment.ts";
import { capturePath } from "./capture.ts";
import { type Ctx, openPodNetns } from "./context.ts";
import { CniError, ERR } from "./errors.ts";
import { Ipam } from "./ipam.ts";
import { kernelFacts, observe } from "./observe.ts";
import { versionAtLeast } from "./versions.ts";

/** Runs CHECK; throws a CniError listing the drift. */
export async function cmdCheck(ctx: Ctx): Promise<void> {
  const { env, conf } = ctx;
  if (!versionAtLeast(conf.cniVersion, "0.4.0")) {
    throw new CniError(ERR.incompatibleVersion, `CHECK needs cniVersion 0.4.0 or later, got ${conf.cniVersion}`);
  }
  const prev = conf.prev;
  if (prev === null) throw new CniError(ERR.invalidConfig, "CHECK needs prevResult");
  const drift: string[] = [];
  const spec = cniSpec(ctx);
  const podIdx = prev.interfaces.findIndex((i) => i.name === env.ifname && i.sandbox !== undefined);
  const podIface = prev.interfaces[podIdx];
  if (podIface === undefined) drift.push(`prevResult has no interface ${env.ifname} with a sandbox`);
  else if (podIface.sandbox !== env.netns) drift.push(`prevResult puts ${env.ifname} in another netns than CNI_NETNS`);
  const ips = prev.ips.filter((i) => i.interface === undefined || i.interface === podIdx).map((i) => i.address);
  if (ips.length === 0) drift.push(`prevResult has no addresses on ${env.ifname}`);
  // Only the routes through podnet's gateways are podnet's (earlier plugins of a chain add their own).
  const routes = prev.routes.filter((r) => r.gw === undefined || r.gw === GW4 || r.gw === GW6);
  const p = plan({ ...spec, addresses: ips, routes: routes.map((r) => ({ dst: r.dst })) }, kernelFacts());
  const hostIface = prev.interfaces.find((i) => i.name === p.host.name && i.sandbox === undefined);
  if (hostIface === undefined) drift.push(`prevResult has no host interface ${p.host.name}`);
  else if (hostIface.mac !== undefined && hostIface.mac.toLowerCase() !== p.host.mac) {
    drift.push(`prevResult gives host interface ${p.host.name} another MAC than podnet derives`);
  }
  if (podIface?.mac !== undefined && podIface.mac.toLowerCase() !== p.pod.mac) {
    drift.push(`prevResult gives ${env.ifname} another MAC than podnet derives`);
  }

  using node = Netns.here();
  using pod = openPodNetns(env.netns);
  const observed = observe(p, node, pod);
  drift.push(...diff(p, observed).drift);
  if (podIface?.mtu !== undefined && observed.pod !== null && podIface.mtu !== observed.pod.mtu) {
    drift.push(`${env.ifname} has MTU ${observed.pod.mtu}, prevResult says ${podIface.mtu}`);
  }
  if (conf.captureDir !== null) {
    const path = capturePath(conf.captureDir, env.containerId, env.ifname);
    try {
      const l = readSnapshot(path).links[0];
      if (l?.name !== env.ifname || l.mac !== p.pod.mac) drift.push(`capture snapshot ${path} describes another link`);
    } catch (e) {
      drift.push(`capture snapshot: ${errorText(e)}`);
    }
  }
  if (drift.length) {
    throw new CniError(ERR.internal, `CHECK failed: ${drift.join("; ")}`, `${drift.length} difference(s)`);
  }

  const ipam = await Ipam.open(ctx);
  if (versionAtLeast(ipam.version, "0.4.0")) await ipam.check();
}
