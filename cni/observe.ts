/**
 * Reads an attachment from the kernel into the model's shape
 * (cni/attachment.ts `Observed`), for CHECK, `podnet status` and
 * `podnet attach`. Only dumps of the pod netns are whole (it is tiny); the
 * node's tables are read filtered to the host end. Dumps retry under churn
 * (netlink/object.ts).
 *
 * @module
 */

import {
  addrList,
  isVethPeer,
  type Link,
  linkFind,
  linkList,
  neighList,
  Netns,
  nsidOf,
  routeList,
  sysctlTryRead,
} from "../netlink/mod.ts";
import type { KernelFacts, Observed, ObservedEnd, Plan, RouteWant } from "./attachment.ts";

/** The kernel facts a plan depends on, read in the netns podnet runs in. */
export function kernelFacts(): KernelFacts {
  return {
    forceForwarding: sysctlTryRead("net/ipv6/conf/default/force_forwarding") !== null,
    ipv6Forwarding: sysctlTryRead("net/ipv6/conf/all/forwarding") === "1",
  };
}

function routesOf(ns: Netns, ifindex: number): RouteWant[] {
  return routeList(ns.sock, { ifindex }).filter((r) => r.protocol !== "kernel" && r.type === "unicast").map((r) =>
    r.gateway !== null ? { dst: r.dst, gateway: r.gateway } : { dst: r.dst, scope: "link" as const }
  );
}

/** One end as the model sees it; `sysctlKeys` are read inside `ns`. */
function observeEnd(ns: Netns, link: Link, sysctlKeys: string[]): ObservedEnd {
  return {
    name: link.name,
    mac: link.mac,
    mtu: link.mtu,
    up: link.up,
    alias: link.alias,
    addresses: addrList(ns.sock, { ifindex: link.index }).map((a) => ({ cidr: a.cidr, tentative: a.tentative })),
    routes: routesOf(ns, link.index),
    neighbors: neighList(ns.sock, { ifindex: link.index }).map((n) => ({
      ip: n.ip,
      mac: n.mac,
      permanent: n.permanent,
    })),
    sysctls: ns.sysctlReadMany(sysctlKeys),
  };
}

/**
 * Whether a process holds a packet socket on interface `ifindex` of `ns`:
 * gVisor's runsc (`--network=sandbox`) reads its link through one once it has
 * taken the link's addresses and routes into its own stack.
 */
export function packetSocketOn(ns: Netns, ifindex: number): boolean {
  let text: string;
  try {
    text = ns.procNet("packet");
  } catch {
    return false;
  }
  // sk RefCnt Type Proto Iface R Rmem User Inode
  return text.split("\n").slice(1).some((l) => l.trim().split(/\s+/)[4] === String(ifindex));
}

/**
 * Reads the attachment `p` describes: the host end by name in `node` (unless
 * the caller has just read it: `hostLink`), the pod end in `pod` (null: not
 * reachable, the pod side is then unknown). The pod end is the host end's
 * veth peer when `pod` is its peer's netns; otherwise it is looked up by
 * name and reported unpaired.
 */
export function observe(
  p: Plan,
  node: Netns,
  pod: Netns | null,
  hostLink: Link | null = linkFind(node.sock, p.host.name),
): Observed {
  if (hostLink === null) return { host: null, pod: null, paired: false, sandboxed: false };
  const host = observeEnd(node, hostLink, p.host.sysctls.map((s) => s.key));
  if (pod === null) return { host, pod: null, paired: false, sandboxed: false };
  const podLinks = linkList(pod.sock);
  const nsid = pod.path === null ? null : node.run(() => nsidOf(pod.path!));
  const peer = podLinks.find((l) => isVethPeer(hostLink, l) && hostLink.linkNetnsId === nsid) ?? null;
  const podLink = peer ?? podLinks.find((l) => l.name === p.pod.name) ?? null;
  if (podLink === null) return { host, pod: null, paired: false, sandboxed: false };
  return {
    host,
    pod: observeEnd(pod, podLink, p.pod.sysctls.map((s) => s.key)),
    paired: peer !== null,
    sandboxed: peer !== null && packetSocketOn(pod, podLink.index),
  };
}
