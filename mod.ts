/**
 * podnet's public library API: the agent API (`attach`/`detach` a pod with
 * known addresses), the typed netlink layer (links, addresses, routes,
 * neighbors, sysctls, network namespaces) over libnl-3 via Deno FFI, the
 * sandbox tools (capture, restore, checkpoint and resume of gVisor sandboxes)
 * and version facts.
 *
 * Everything returns plain values and throws `NetlinkError` (with `notFound`,
 * `exists` and `transient` to branch on) — no C pointer escapes a call.
 *
 * @example List the links and routes of the current network namespace (read-only)
 * ```ts
 * import { linkList, routeList, Socket } from "./mod.ts";
 *
 * using sock = Socket.open();
 * for (const link of linkList(sock)) console.log(link.index, link.name, link.mac, link.up ? "UP" : "DOWN");
 * console.log(routeList(sock, { family: 4 }).length, "IPv4 routes in the main table");
 * ```
 *
 * @example Configure a pod through a socket opened inside its netns
 * ```ts ignore
 * import { addrAdd, linkSet, neighSet, routeAdd, Socket } from "./mod.ts";
 *
 * using pod = Socket.open("/run/netns/pod1"); // stays bound to pod1
 * linkSet(pod, "eth0", { up: true, mtu: 1450 });
 * addrAdd(pod, "eth0", "fd00:244:1::5/128", { nodad: true });
 * routeAdd(pod, { dst: "169.254.1.1/32", link: "eth0", scope: "link" });
 * routeAdd(pod, { dst: "0.0.0.0/0", gateway: "169.254.1.1", link: "eth0" });
 * neighSet(pod, { link: "eth0", ip: "169.254.1.1", mac: "ee:ee:ee:00:00:01" }); // NUD_PERMANENT
 * ```
 *
 * @example Branch on error kinds instead of matching strings
 * ```ts
 * import { linkByName, NetlinkError, Socket } from "./mod.ts";
 *
 * using sock = Socket.open();
 * try {
 *   linkByName(sock, "no-such-link");
 * } catch (e) {
 *   if (!(e instanceof NetlinkError && e.notFound)) throw e;
 *   console.log(e.message); // "link show no-such-link: No such device (NLE 31)"
 * }
 * ```
 *
 * @example The host end's name CNI ADD and `attach` give a pod's interface (pure: runs anywhere)
 * ```ts
 * import { hostInterfaceName } from "./mod.ts";
 *
 * const name = hostInterfaceName("0123456789abcdef", "eth0");
 * console.log(name, name.length <= 15); // "pn" + 13 hex digits, true
 * ```
 *
 * @example Attach a pod whose addresses the caller allocated (the agent API), then detach it
 * ```ts ignore
 * import { attach, detach } from "./mod.ts";
 *
 * const a = attach({ netns: "/run/netns/pod1", containerId: "pod1", ips: ["10.244.1.5", "fd00:244:1::5"] });
 * console.log(a.hostInterface, a.outcome); // pn…, "created" (a second identical call: "unchanged")
 * detach({ containerId: "pod1", ips: ["10.244.1.5", "fd00:244:1::5"] });
 * ```
 *
 * @example Capture a pod's network and restore it into a sandbox netns
 * ```ts ignore
 * import { captureNetns, restoreSnapshot, writeSnapshot } from "./mod.ts";
 *
 * const snap = captureNetns("/run/netns/pod1"); // podnet.capture/v1, gateway MACs resolved
 * writeSnapshot("/run/podnet/pod1.json", snap); // atomic, 0600
 * restoreSnapshot(snap, { netns: "/proc/4242/ns/net", linkNetns: "/run/netns/pod1" });
 * ```
 *
 * @example Move a gVisor sandbox to a new pod (docs/resume.md): checkpoint on one node, resume on another
 * ```ts ignore
 * import { checkpoint, resume } from "./mod.ts";
 *
 * const runtime = { root: "/run/runsc", emptyDir: "/run/podnet/empty" }; // runsc as this node runs it
 * // Source node: refuses while the sandbox holds a TCP connection (this runsc would kill it).
 * await checkpoint({ runtime, id: "web-1", imageDir: "/var/lib/move/web-1", snapshot: "/run/podnet/capture/web-1-eth0.json" });
 * // Target node, after the runtime attached the new pod: gateways re-resolved here, then runsc restore.
 * const report = await resume({
 *   runtime, id: "web-1", imageDir: "/var/lib/move/web-1", bundle: "/run/bundles/web-1", log: "/var/log/web-1.log",
 *   podNetns: "/run/netns/web-1b", sameAddress: true,
 * });
 * console.log([...report.pinned]); // [["169.254.1.1", "<this node's host end MAC>"], …]
 * ```
 *
 * @module
 */

export * from "./netlink/mod.ts";
export {
  parseSnapshot,
  SCHEMA,
  type Snapshot,
  SnapshotError,
  validateSnapshot,
  writeSnapshot,
} from "./core/snapshot.ts";
export { readSnapshot } from "./sys/files.ts";
export {
  attach,
  AttachError,
  type AttachRequest,
  type AttachResult,
  detach,
  type DetachRequest,
  type DetachResult,
  hostInterfaceName,
} from "./cni/attach.ts";
export { captureNetns, type CaptureOptions } from "./sandbox/capture.ts";
export { type RestoredLink, type RestoreOptions, restoreSnapshot } from "./sandbox/restore.ts";
export {
  checkpoint,
  CheckpointError,
  type CheckpointOptions,
  type CheckpointReport,
  SNAPSHOT_FILE,
} from "./sandbox/checkpoint.ts";
export { resume, ResumeError, type ResumeOptions, type ResumeReport } from "./sandbox/resume.ts";
export { type Plan, planRestore } from "./sandbox/plan.ts";
export type { RunscConfig } from "./sandbox/runsc.ts";
export { CNI_VERSIONS, VERSION } from "./core/constants.ts";
export { type VersionInfo, versionInfo, versionLine } from "./ops/version.ts";
