/**
 * CNI CHECK: compares prevResult and the contract with what the kernel has,
 * and fails naming every difference found (the runtime logs the message).
 *
 * @module
 */

import {
  addrList,
  isVethPeer,
  linkFind,
  neighList,
  routeList,
  Socket,
  sysctlTryRead,
  withNetns,
} from "../netlink/mod.ts";
import { readSnapshot } from "../sys/files.ts";
import { capturePath } from "./capture.ts";
import { versionAtLeast } from "./config.ts";
import { type Ctx, GW4, GW6 } from "./context.ts";
import { hostCidr, openPodSocket } from "./add.ts";
import { CniError, ERR } from "./errors.ts";
import { Ipam } from "./ipam.ts";
import { hostAlias, hostEnd } from "../core/names.ts";
import { familyOfCidr, parseResult } from "./result.ts";

/** Runs CHECK; throws a CniError listing the drift. */
export async function cmdCheck(ctx: Ctx): Promise<void> {
  const { env, conf } = ctx;
  if (!versionAtLeast(conf.cniVersion, "0.4.0")) {
    throw new CniError(ERR.incompatibleVersion, `CHECK needs cniVersion 0.4.0 or later, got ${conf.cniVersion}`);
  }
  if (conf.prevResult === null) throw new CniError(ERR.invalidConfig, "CHECK needs prevResult");
  const prev = parseResult(conf.prevResult, "prevResult");
  const host = hostEnd(conf.hostInterfacePrefix, env.containerId, env.ifname);
  const alias = hostAlias(conf.name, env.containerId, env.ifname);
  const drift: string[] = [];
  using pod = openPodSocket(env.netns);
  using node = Socket.open();

  const hostLink = linkFind(node, host.name);
  const podLink = linkFind(pod, env.ifname);
  if (hostLink === null) drift.push(`host interface ${host.name} is missing`);
  if (podLink === null) drift.push(`interface ${env.ifname} is missing in ${env.netns}`);
  if (hostLink === null || podLink === null) throw driftError(drift);

  if (hostLink.alias !== alias) drift.push(`host interface ${host.name} has alias ${JSON.stringify(hostLink.alias)}`);
  if (!isVethPeer(hostLink, podLink)) drift.push(`${env.ifname} is not the veth peer of ${host.name}`);
  if (!hostLink.up) drift.push(`host interface ${host.name} is down`);
  if (!podLink.up) drift.push(`${env.ifname} is down`);

  const podIdx = prev.interfaces.findIndex((i) => i.name === env.ifname && i.sandbox !== undefined);
  const hostIface = prev.interfaces.find((i) => i.name === host.name && i.sandbox === undefined);
  const podIface = prev.interfaces[podIdx];
  if (podIface === undefined) drift.push(`prevResult has no interface ${env.ifname} with a sandbox`);
  if (podIface?.sandbox !== undefined && podIface.sandbox !== env.netns) {
    drift.push(`prevResult puts ${env.ifname} in ${podIface.sandbox}, CNI_NETNS is ${env.netns}`);
  }
  if (hostIface === undefined) drift.push(`prevResult has no host interface ${host.name}`);
  if (hostIface?.mac !== undefined && hostIface.mac.toLowerCase() !== hostLink.mac) {
    drift.push(`host interface ${host.name} has MAC ${hostLink.mac}, prevResult says ${hostIface.mac}`);
  }
  if (podIface?.mac !== undefined && podIface.mac.toLowerCase() !== podLink.mac) {
    drift.push(`${env.ifname} has MAC ${podLink.mac}, prevResult says ${podIface.mac}`);
  }
  if (podIface?.mtu !== undefined && podIface.mtu !== podLink.mtu) {
    drift.push(`${env.ifname} has MTU ${podLink.mtu}, prevResult says ${podIface.mtu}`);
  }
  if (conf.mtu !== null && podLink.mtu !== conf.mtu) {
    drift.push(`${env.ifname} has MTU ${podLink.mtu}, config says ${conf.mtu}`);
  }

  const ips = prev.ips.filter((i) => i.interface === undefined || i.interface === podIdx);
  const has4 = ips.some((i) => familyOfCidr(i.address) === 4);
  const has6 = ips.some((i) => familyOfCidr(i.address) === 6);
  if (!has4 && !has6) drift.push(`prevResult has no addresses on ${env.ifname}`);

  // Pod addresses and the host routes pointing at them.
  const podAddrs = new Set(addrList(pod, { ifindex: podLink.index }).map((a) => a.cidr));
  const hostRoutes = routeList(node, { ifindex: hostLink.index });
  for (const ip of ips) {
    if (!podAddrs.has(ip.address)) drift.push(`address ${ip.address} is missing on ${env.ifname}`);
    const dst = hostCidr(ip.address);
    if (!hostRoutes.some((r) => r.dst === dst && r.ifindex === hostLink.index && r.gateway === null)) {
      drift.push(`host route ${dst} dev ${host.name} is missing`);
    }
  }

  // Host end: fe80::1, forwarding and the gateway mode's sysctls.
  if (has6) {
    const a = addrList(node, { ifindex: hostLink.index, family: 6 }).find((x) => x.cidr === `${GW6}/64`);
    if (a === undefined) drift.push(`${GW6}/64 is missing on ${host.name}`);
    else if (a.tentative) drift.push(`${GW6} on ${host.name} is tentative (DAD)`);
  }
  const want = (key: string, value: string): void => {
    const got = sysctlTryRead(key);
    if (got !== value) drift.push(`sysctl ${key.replaceAll("/", ".")} is ${got ?? "missing"}, want ${value}`);
  };
  if (has4) want(`net/ipv4/conf/${host.name}/forwarding`, "1");
  if (has6) {
    if (sysctlTryRead(`net/ipv6/conf/${host.name}/force_forwarding`) !== null) {
      want(`net/ipv6/conf/${host.name}/force_forwarding`, "1");
    } else want(`net/ipv6/conf/${host.name}/forwarding`, "1");
  }
  if (sysctlTryRead(`net/ipv6/conf/${host.name}/accept_ra`) !== null) want(`net/ipv6/conf/${host.name}/accept_ra`, "0");
  if (has4) want(`net/ipv4/conf/${host.name}/proxy_arp`, conf.gatewayMode === "proxy-arp" ? "1" : "0");

  // Pod routes: the gateway's link route, the defaults and prevResult's routes via the gateway.
  const podRoutes = [
    ...(has4 ? routeList(pod, { family: 4, ifindex: podLink.index }) : []),
    ...(has6 ? routeList(pod, { family: 6, ifindex: podLink.index }) : []),
  ];
  if (has4 && !podRoutes.some((r) => r.dst === `${GW4}/32` && r.gateway === null && r.scope === "link")) {
    drift.push(`route ${GW4}/32 dev ${env.ifname} scope link is missing`);
  }
  for (const r of prev.routes) {
    const fam = familyOfCidr(r.dst);
    if ((fam === 4 && !has4) || (fam === 6 && !has6)) continue;
    if (!podRoutes.some((k) => k.dst === r.dst && (r.gw === undefined || k.gateway === r.gw))) {
      drift.push(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ""} dev ${env.ifname} is missing`);
    }
  }

  // Pinned gateway neighbors (static-neighbor mode).
  if (conf.gatewayMode === "static-neighbor") {
    const neigh = neighList(pod, { ifindex: podLink.index });
    for (const [fam, gw] of [[4, GW4], [6, GW6]] as const) {
      if ((fam === 4 && !has4) || (fam === 6 && !has6)) continue;
      const n = neigh.find((x) => x.ip === gw);
      if (n === undefined || !n.permanent) drift.push(`permanent neighbor ${gw} on ${env.ifname} is missing`);
      else if (n.mac !== hostLink.mac) {
        drift.push(`neighbor ${gw} on ${env.ifname} is ${n.mac}, host end is ${hostLink.mac}`);
      }
    }
  }
  if (has6) {
    const dad = withNetns(env.netns, () => sysctlTryRead(`net/ipv6/conf/${env.ifname}/accept_dad`));
    if (dad !== "0") {
      drift.push(`sysctl net.ipv6.conf.${env.ifname}.accept_dad is ${dad ?? "missing"} in the pod, want 0`);
    }
  }
  if (conf.captureDir !== null) {
    const path = capturePath(conf.captureDir, env.containerId, env.ifname);
    try {
      const snap = readSnapshot(path);
      const l = snap.links[0];
      if (l?.name !== env.ifname || l.mac !== podLink.mac) {
        drift.push(`capture snapshot ${path} describes another link`);
      }
    } catch (e) {
      drift.push(`capture snapshot: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (drift.length) throw driftError(drift);

  const ipam = await Ipam.open(ctx);
  if (versionAtLeast(ipam.version, "0.4.0")) await ipam.check(conf.prevResult);
}

function driftError(drift: string[]): CniError {
  return new CniError(ERR.internal, `CHECK failed: ${drift.join("; ")}`, `${drift.length} difference(s)`);
}
