/**
 * CNI ADD: a routed veth from the node netns (the one podnet runs in) into
 * the pod netns, addresses from IPAM, link-local gateways. Every step that
 * changes something registers its undo as soon as it has succeeded; any
 * failure rolls back all of it, IPAM lease included.
 *
 * Netlink use is kept to one socket per netns and no table dumps: the veth is
 * created with its peer already inside the pod netns (one request), the host
 * end is configured with one RTM_NEWLINK, and the pod end's index comes from
 * the host end's IFLA_LINK instead of a lookup. The peer is created under its
 * final name (CNI_IFNAME) and MAC, so no rename request is needed. The IPAM
 * plugin is started first and runs as a process while everything else is
 * checked and the veth created; only addresses, routes and per-family
 * sysctls wait for its result.
 *
 * @module
 */

import { load } from "../sys/load.ts";
import {
  addrAdd,
  isCurrentNetns,
  isVethPeer,
  type Link,
  linkAddVeth,
  linkDel,
  linkFind,
  linkSet,
  neighSet,
  parseCidr,
  routeAdd,
  Socket,
  sysctlRead,
  sysctlWrite,
  withNetns,
} from "../netlink/mod.ts";
import { checkAliasLength } from "./config.ts";
import { type Ctx, GW4, GW6 } from "./context.ts";
import { CniError, ERR, ignoreNotFound } from "./errors.ts";
import { Ipam, type Pending } from "./ipam.ts";
import { hostAlias, type HostEnd, hostEnd } from "../core/names.ts";
import { familyOfCidr, parseResult, type Result, type ResultRoute } from "./result.ts";
import { Rollback } from "./rollback.ts";

/** Opens a socket inside CNI_NETNS after checking it exists and is not the plugin's own netns. */
export function openPodSocket(netns: string): Socket {
  let own: boolean;
  try {
    own = isCurrentNetns(netns);
  } catch (e) {
    throw new CniError(ERR.invalidEnv, `CNI_NETNS ${netns} does not exist or is not readable`, String(e));
  }
  if (own) throw new CniError(ERR.invalidEnv, `CNI_NETNS ${netns} is the plugin's own network namespace`);
  try {
    return Socket.open(netns);
  } catch (e) {
    throw new CniError(ERR.invalidEnv, `CNI_NETNS ${netns} is not a network namespace`, String(e));
  }
}

/**
 * Whether a host-end link belongs to this attachment: its alias says so, or it
 * has no alias yet (an ADD killed between creating the veth and setting the
 * alias; the kernel ignores IFLA_IFALIAS at creation) and carries the MAC
 * podnet derives for this attachment.
 */
export function isOurs(link: Link, alias: string, mac: string): boolean {
  return link.alias === alias || (link.alias === null && link.kind === "veth" && link.mac === mac);
}

/** The address of `cidr` as a host prefix, `/32` or `/128`: how podnet puts it on the pod end and routes it. */
export function hostCidr(cidr: string): string {
  return `${cidr.slice(0, cidr.indexOf("/"))}/${familyOfCidr(cidr) === 4 ? 32 : 128}`;
}

/** What ADD finds before it changes anything: the host end's identity, one socket per netns, a leftover. */
interface Inspected {
  host: HostEnd;
  pod: Socket;
  node: Socket;
  /** A host end of this attachment left by an interrupted ADD (to be replaced), else null. */
  leftover: Link | null;
}

/**
 * Opens one socket per netns (also pushed onto `sockets`, which the caller
 * closes) and checks that the attachment can be made: CNI_NETNS is another
 * netns, CNI_IFNAME is free there, and a host end of the same name, if any, is
 * this attachment's (then it is the `leftover`). Throws the CNI error otherwise.
 */
function inspect(ctx: Ctx, alias: string, sockets: Socket[]): Inspected {
  const { env, conf } = ctx;
  const host = hostEnd(conf.hostInterfacePrefix, env.containerId, env.ifname);
  const pod = openPodSocket(env.netns);
  sockets.push(pod);
  const node = Socket.open();
  sockets.push(node);
  const existingPod = linkFind(pod, env.ifname);
  const existingHost = linkFind(node, host.name);
  if (existingHost !== null) {
    if (!isOurs(existingHost, alias, host.mac)) {
      throw new CniError(
        ERR.internal,
        `host interface ${host.name} already exists and is not this attachment's`,
        `its alias is ${JSON.stringify(existingHost.alias)}, expected ${JSON.stringify(alias)}`,
      );
    }
    if (existingPod !== null && !isVethPeer(existingHost, existingPod)) {
      throw new CniError(ERR.invalidEnv, `interface ${env.ifname} already exists in ${env.netns}`);
    }
  } else if (existingPod !== null) {
    throw new CniError(ERR.invalidEnv, `interface ${env.ifname} already exists in ${env.netns}`);
  }
  return { host, pod, node, leftover: existingHost };
}

/** Runs ADD; returns the result in podnet's internal shape. */
export async function cmdAdd(ctx: Ctx): Promise<Result> {
  const { env, conf, log, seam } = ctx;
  const alias = hostAlias(conf.name, env.containerId, env.ifname);
  checkAliasLength(alias);
  // IPAM first: its plugin is a process of its own (tens of milliseconds, the longest step of an
  // ADD), so it runs while the names are derived, the sockets opened, the leftovers checked and the
  // veth made. Only addresses, routes and the per-family sysctls wait for its result. A check below
  // that fails rolls the lease back like any later failure.
  let ipam: Ipam, pending: Pending<Result>;
  try {
    ipam = await Ipam.open(ctx);
    pending = ipam.startAdd();
  } catch (e) {
    // The checks of CNI_NETNS and the interfaces come first in what a failed ADD reports (code 4
    // for a bad netns whatever the IPAM config): when IPAM cannot even start, run them for their error.
    const opened: Socket[] = [];
    try {
      inspect(ctx, alias, opened);
    } finally {
      for (const s of opened) s.close();
    }
    throw e;
  }
  const undo = new Rollback();
  undo.push(`IPAM ${ipam.type} DEL`, async () => {
    await pending.done.catch(() => {}); // whatever it did must have finished before DEL
    await ipam.del();
  });
  // Closed after the rollback, which needs them (a `using` inside the try would close them first).
  const sockets: Socket[] = [];
  try {
    const { host, pod, node, leftover } = inspect(ctx, alias, sockets);
    if (leftover !== null) {
      // Left over by an ADD that was killed before it finished or rolled back: replace it.
      log.warn("replacing leftover host interface", { host: host.name });
      ignoreNotFound(() => linkDel(node, leftover));
      // The leftover's lease has the same containerID/ifname, so host-local refused the ADD above
      // as a duplicate: release it, then ask again.
      await pending.done.catch(() => {});
      await ipam.del();
      pending = ipam.startAdd();
    }

    const hostLink = linkAddVeth(node, {
      name: host.name,
      peerName: env.ifname,
      peerNetns: env.netns,
      mac: host.mac,
      peerMac: host.podMac,
      ...(conf.mtu !== null ? { mtu: conf.mtu } : {}),
    });
    // Everything below lives on the veth (per-interface sysctls, addresses, host and pod routes,
    // pinned neighbors) and goes away with it, so one undo covers them all.
    undo.push(`delete veth ${host.name}`, () => {
      ignoreNotFound(() => linkDel(node, hostLink));
    });
    seam("veth");
    const podLink = { index: hostLink.parentIndex, name: env.ifname };

    // Before anything can arrive on it, whatever the pod's families: the kernel takes Router
    // Advertisements on an interface whose own `forwarding` is 0 (`force_forwarding` does not count),
    // so a pod could otherwise make itself the node's IPv6 default router (a node without IPv6 has
    // nothing to protect).
    ignoreNotFound(() => sysctlWrite(`net/ipv6/conf/${host.name}/accept_ra`, 0));
    // Host end up while its peer is still down (no carrier, so no link-local yet); addrgenmode none
    // in the same request keeps the kernel from ever adding an EUI-64 one next to fe80::1.
    linkSet(node, hostLink, { alias, addrGenMode: "none", up: true });
    seam("host-link");

    // Pod end: DAD off before the link comes up, so even its kernel link-local is usable at once
    // (IPv6 disabled: nothing to detect).
    withNetns(env.netns, () => ignoreNotFound(() => sysctlWrite(`net/ipv6/conf/${env.ifname}/accept_dad`, 0)));
    linkSet(pod, podLink, { up: true });
    seam("pod-link");

    const ipamResult = await pending.done;
    seam("ipam");
    const ips = ipamResult.ips.map((i) => ({ family: familyOfCidr(i.address), cidr: hostCidr(i.address) }));
    const has4 = ips.some((i) => i.family === 4), has6 = ips.some((i) => i.family === 6);
    if (!has4 && !has6) throw new CniError(ERR.internal, `IPAM plugin ${ipam.type} returned no addresses`);

    if (has6) addrAdd(node, hostLink, `${GW6}/64`, { nodad: true });
    if (has4) sysctlWrite(`net/ipv4/conf/${host.name}/forwarding`, 1);
    if (has6) enableIpv6Forwarding(host.name, ctx);
    if (has4 && conf.gatewayMode === "proxy-arp") {
      // proxy_delay first: with the default (up to 0.8 s random delay) the first ARP reply is late.
      sysctlWrite(`net/ipv4/neigh/${host.name}/proxy_delay`, 0);
      sysctlWrite(`net/ipv4/conf/${host.name}/proxy_arp`, 1);
    }
    seam("host-sysctl");

    for (const ip of ips) routeAdd(node, { dst: ip.cidr, link: hostLink, scope: "link" });
    seam("host-routes");

    const podIps = ips.map(({ family, cidr }) => {
      addrAdd(pod, podLink, cidr, family === 6 ? { nodad: true } : {});
      return { address: cidr, gateway: family === 4 ? GW4 : GW6, interface: 1 };
    });
    seam("pod-addrs");

    const routes = podRoutes(ipamResult, has4, has6);
    const pin = conf.gatewayMode === "static-neighbor";
    if (has4) {
      routeAdd(pod, { dst: `${GW4}/32`, link: podLink, scope: "link" });
      if (pin) neighSet(pod, { link: podLink, ip: GW4, mac: host.mac });
    }
    if (has6 && pin) neighSet(pod, { link: podLink, ip: GW6, mac: host.mac });
    for (const r of routes) routeAdd(pod, { dst: r.dst, gateway: r.gw!, link: podLink });
    seam("pod-routes");

    const mtu = hostLink.mtu;
    if (conf.captureDir !== null) {
      const dir = conf.captureDir;
      const { removePodSnapshot, writePodSnapshot } = await load<typeof import("./capture.ts")>("cni/capture.ts");
      writePodSnapshot(dir, env.containerId, {
        ifname: env.ifname,
        mac: host.podMac,
        mtu,
        addresses: podIps.map((i) => i.address),
        routes,
        has4,
        has6,
        gatewayMac: host.mac,
      });
      undo.push("remove capture snapshot", () => removePodSnapshot(dir, env.containerId, env.ifname));
    }
    seam("capture");

    const result: Result = {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: host.name, mac: host.mac, mtu },
        { name: env.ifname, mac: host.podMac, mtu, sandbox: env.netns },
      ],
      ips: podIps,
      routes,
      dns: conf.dns ?? ipamResult.dns,
    };
    seam("result");
    return conf.prevResult ? chain(parseResult(conf.prevResult, "prevResult"), result) : result;
  } catch (e) {
    const failed = await undo.run();
    if (failed.length) log.error("rollback incomplete", { failed });
    throw e;
  } finally {
    for (const s of sockets) s.close();
  }
}

/**
 * The pod's routes: one default per family via the link-local gateway (an
 * IPAM default merges into it), then IPAM's other routes via the same
 * gateway. Routes of a family without an address are dropped.
 */
function podRoutes(ipam: Result, has4: boolean, has6: boolean): ResultRoute[] {
  const out: ResultRoute[] = [];
  if (has4) out.push({ dst: "0.0.0.0/0", gw: GW4 });
  if (has6) out.push({ dst: "::/0", gw: GW6 });
  const seen = new Set(out.map((r) => r.dst));
  for (const r of ipam.routes) {
    const fam = parseCidr(r.dst)?.family;
    if ((fam === 4 && !has4) || (fam === 6 && !has6) || seen.has(r.dst)) continue;
    seen.add(r.dst);
    out.push({ dst: r.dst, gw: fam === 4 ? GW4 : GW6 });
  }
  return out;
}

/**
 * IPv6 forwarding without touching `all.forwarding`: `force_forwarding` on
 * the host end (kernel >= 6.17); on older kernels the per-interface
 * `forwarding`, which forwards only when `all.forwarding` is on — then warn.
 */
function enableIpv6Forwarding(ifname: string, ctx: Ctx): void {
  if (ignoreNotFound(() => sysctlWrite(`net/ipv6/conf/${ifname}/force_forwarding`, 1))) return;
  sysctlWrite(`net/ipv6/conf/${ifname}/forwarding`, 1);
  if (sysctlRead("net/ipv6/conf/all/forwarding") === "0") {
    ctx.log.warn(
      "IPv6 pods are not forwarded: this kernel has no per-interface force_forwarding and net.ipv6.conf.all.forwarding is 0",
      { host: ifname },
    );
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
