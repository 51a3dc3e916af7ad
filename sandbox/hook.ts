/**
 * `podnet hook`: an OCI runtime hook (prestart / createRuntime). The runtime
 * passes the container state on stdin; its `pid` names the sandbox, whose
 * netns `/proc/PID/ns/net` is the target. runsc runs these hooks at `create`
 * and copies the netns into its own network stack at `start`, so whatever the
 * hook installs is what the sandbox sees.
 *
 * Two modes:
 * - `--link-netns PATH`: capture the pod's links in PATH, move them into the
 *   sandbox netns and restore addresses, routes and gateway pins there.
 * - without it: capture the sandbox netns itself and pin its gateway
 *   neighbors in place (NUD_PERMANENT), so the sandbox copies them.
 *
 * Trust: the hook's flags come from the operator; annotations come from
 * whoever writes the pod spec. So an annotation may name a netns
 * (`podnet.io/link-netns`) or an interface (`podnet.io/ifname`) only when the
 * operator gave `--allowed-netns-dir DIR` and the path resolves under DIR. A
 * link is moved only if it is the pod end of a podnet veth (its host-end peer
 * in the hook's netns carries podnet's `networkName/containerID/ifname`
 * alias) or the operator named it with `--ifname`; when the link netns came
 * from an annotation, that alias must also carry THIS container's ID (else one
 * pod spec could point at another pod's netns and take its link). The node's
 * own netns (the one the hook runs in, and PID 1's) is never a source or target.
 *
 * @module
 */

import { ID_RE, parseAlias } from "../core/names.ts";
import { int, parseFlags, str, strs, UsageError } from "../core/cli.ts";
import { ensurePrivateDir } from "../core/fsutil.ts";
import type { Io } from "../core/io.ts";
import { type Snapshot, writeSnapshot } from "../core/snapshot.ts";
import { capturedByDefault, captureNetns, DEFAULT_TIMEOUT_MS } from "./capture.ts";
import { isVethPeer, type Link, linkList, netnsId, nsidOf, Socket, validIfname, withNetns } from "../netlink/mod.ts";
import { restoreSnapshot } from "./restore.ts";

/** Annotation naming the netns to take the pod's links from (honoured only under --allowed-netns-dir). */
export const ANNOTATION_LINK_NETNS = "podnet.io/link-netns";
/** Annotation naming the pod link to take (honoured only with --allowed-netns-dir). */
export const ANNOTATION_IFNAME = "podnet.io/ifname";

const STATE_LIMIT = 1 << 20;

/** The part of the OCI container state the hook uses. */
export interface HookState {
  id: string;
  pid: number;
  annotations: Record<string, string>;
}

/** A refused or failed hook run; the message is the one line printed. */
export class HookError extends Error {
  override readonly name = "HookError";
}

/** Parses the OCI state JSON from the runtime. Unknown fields are ignored (the OCI spec adds fields). */
export function parseState(data: Uint8Array | string): HookState {
  const size = typeof data === "string" ? data.length : data.byteLength;
  if (size > STATE_LIMIT) throw new HookError(`container state is ${size} bytes, more than ${STATE_LIMIT}`);
  let v: unknown;
  try {
    v = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data));
  } catch {
    throw new HookError("container state on stdin is not JSON (is this running as an OCI hook?)");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new HookError("container state is not a JSON object");
  }
  const o = v as Record<string, unknown>;
  if (typeof o.id !== "string" || o.id.length > 1024 || !ID_RE.test(o.id)) {
    throw new HookError(`container state has no valid id: ${JSON.stringify(o.id)?.slice(0, 80)}`);
  }
  if (o.pid === undefined || o.pid === null || o.pid === 0) {
    throw new HookError(
      `container ${o.id}: state has no pid; run podnet hook as a prestart or createRuntime hook, when the sandbox exists`,
    );
  }
  if (typeof o.pid !== "number" || !Number.isInteger(o.pid) || o.pid < 1 || o.pid > 0x3fffffff) {
    throw new HookError(`container ${o.id}: state pid is not a process id: ${JSON.stringify(o.pid)?.slice(0, 40)}`);
  }
  const annotations: Record<string, string> = {};
  if (o.annotations !== undefined && o.annotations !== null) {
    if (typeof o.annotations !== "object" || Array.isArray(o.annotations)) {
      throw new HookError(`container ${o.id}: state annotations is not an object`);
    }
    for (const [k, a] of Object.entries(o.annotations as Record<string, unknown>)) {
      if (typeof a === "string") annotations[k] = a;
    }
  }
  return { id: o.id, pid: o.pid, annotations };
}

/** Options for `runHook` (the operator's flags). */
export interface HookOptions {
  linkNetns?: string | null;
  captureDir?: string | null;
  allowedNetnsDir?: string | null;
  /** Links the operator names: captured, and movable even without a podnet host end. */
  ifnames?: string[];
  timeoutMs?: number;
  /** The netns the hook runs in (the node's); default /proc/thread-self/ns/net. */
  selfNetns?: string;
}

function idOf(path: string, what: string): string {
  try {
    return netnsId(path);
  } catch (e) {
    throw new HookError(`${what} ${path} cannot be opened: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function tryId(path: string): string | null {
  try {
    return netnsId(path);
  } catch {
    return null;
  }
}

/** Refuses the node's own netns (the hook's, and PID 1's) as `path`. */
function refuseNodeNetns(path: string, what: string, self: string): string {
  const id = idOf(path, what);
  if (id === tryId(self)) throw new HookError(`refusing ${what} ${path}: it is the node's own netns (the hook's)`);
  if (id === tryId("/proc/1/ns/net")) throw new HookError(`refusing ${what} ${path}: it is PID 1's netns`);
  return id;
}

function realPath(p: string, what: string): string {
  try {
    return Deno.realPathSync(p);
  } catch (e) {
    throw new HookError(`${what} cannot resolve ${p}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The netns to take links from: the operator's flag, else an annotation under the allowed dir. */
function linkNetnsOf(state: HookState, opts: HookOptions): string | null {
  if (opts.linkNetns) return opts.linkNetns;
  const a = state.annotations[ANNOTATION_LINK_NETNS];
  if (a === undefined) return null;
  if (!opts.allowedNetnsDir) {
    throw new HookError(`refusing annotation ${ANNOTATION_LINK_NETNS}: the operator gave no --allowed-netns-dir`);
  }
  const dir = realPath(opts.allowedNetnsDir, "--allowed-netns-dir");
  const p = realPath(a, `refusing annotation ${ANNOTATION_LINK_NETNS}=${JSON.stringify(a)}:`);
  if (!p.startsWith(dir.endsWith("/") ? dir : `${dir}/`)) {
    throw new HookError(`refusing annotation ${ANNOTATION_LINK_NETNS}=${JSON.stringify(a)}: not under ${dir}`);
  }
  return p;
}

function ifnamesOf(state: HookState, opts: HookOptions): string[] {
  const a = state.annotations[ANNOTATION_IFNAME];
  if (a === undefined || (opts.ifnames && opts.ifnames.length > 0)) return opts.ifnames ?? [];
  if (!opts.allowedNetnsDir) {
    throw new HookError(`refusing annotation ${ANNOTATION_IFNAME}: the operator gave no --allowed-netns-dir`);
  }
  if (!validIfname(a)) throw new HookError(`refusing annotation ${ANNOTATION_IFNAME}: not an interface name`);
  return [a];
}

/**
 * The podnet host end (in the hook's netns) of `pod` (a link in the link
 * netns), or null: kind veth both sides, each naming the other as its peer,
 * and the host end's alias in podnet's form with the pod link's name as its
 * ifname. Returns the alias's container ID.
 */
function podnetOwner(pod: Link, hostLinks: Link[], linkNetnsNsid: number | null): string | null {
  if (pod.kind !== "veth" || pod.linkNetnsId === null || linkNetnsNsid === null) return null;
  for (const h of hostLinks) {
    if (!isVethPeer(h, pod)) continue;
    // Ifindexes repeat across namespaces (every fresh netns numbers its first veth 2): the host end's
    // peer must live in exactly the link netns, which the nsid says.
    if (h.linkNetnsId !== linkNetnsNsid) continue;
    const a = parseAlias(h.alias);
    if (a && a.ifname === pod.name) return a.containerId;
  }
  return null;
}

/** Which links the hook may take, and under what proof of ownership. */
interface Takeable {
  linkNetns: string;
  /** Selected links (empty: what capture selects, every link that is up but loopback). */
  ifnames: string[];
  /** Operator-named links: movable without a podnet host end. */
  named: string[];
  /** When set (the link netns came from an annotation), the host end must belong to this container. */
  containerId: string | null;
  selfNetns: string;
}

/**
 * Refuses, before anything is captured or probed, to take a link that is not
 * podnet's (or the operator's). A link netns named by an annotation must hold
 * THIS container's pod end: otherwise one pod spec could take another pod's link.
 * Returns the names checked, which are then exactly the ones captured and moved.
 */
function checkMovable(t: Takeable): string[] {
  using src = Socket.open(t.linkNetns);
  using self = Socket.open(t.selfNetns);
  const pods = linkList(src), hosts = linkList(self);
  const linkNetnsNsid = withNetns(t.selfNetns, () => nsidOf(t.linkNetns));
  const taken = t.ifnames.length > 0 ? t.ifnames : pods.filter(capturedByDefault).map((l) => l.name);
  for (const name of taken) {
    if (t.containerId === null && t.named.includes(name)) continue;
    const pod = pods.find((p) => p.name === name);
    const owner = pod ? podnetOwner(pod, hosts, linkNetnsNsid) : null;
    if (owner === null) {
      throw new HookError(
        `refusing to move ${name} from ${t.linkNetns}: it is not the pod end of a podnet veth ` +
          `(no host end with a podnet alias here)${t.containerId === null ? " and --ifname does not name it" : ""}`,
      );
    }
    if (t.containerId !== null && owner !== t.containerId) {
      throw new HookError(
        `refusing to move ${name} from ${t.linkNetns} (named by annotation ${ANNOTATION_LINK_NETNS}): ` +
          `it belongs to container ${owner}, not ${t.containerId}`,
      );
    }
  }
  return taken;
}

/** Runs the hook for `state`; returns the snapshot it applied. */
export function runHook(state: HookState, opts: HookOptions): Snapshot {
  const self = opts.selfNetns ?? "/proc/thread-self/ns/net";
  const target = `/proc/${state.pid}/ns/net`;
  const targetId = refuseNodeNetns(target, `container ${state.id} netns`, self);
  const linkNetns = linkNetnsOf(state, opts);
  const ifnames = ifnamesOf(state, opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let snap: Snapshot;
  if (linkNetns) {
    if (refuseNodeNetns(linkNetns, "link netns", self) === targetId) {
      throw new HookError(`refusing link netns ${linkNetns}: it is the container's own netns`);
    }
    const taken = checkMovable({
      linkNetns,
      ifnames,
      named: opts.ifnames ?? [],
      containerId: opts.linkNetns ? null : state.id,
      selfNetns: self,
    });
    snap = captureNetns(linkNetns, { ifnames: taken, timeoutMs });
    restoreSnapshot(snap, { netns: target, linkNetns });
  } else {
    snap = captureNetns(target, { ifnames, timeoutMs });
    restoreSnapshot(snap, { netns: target, neighborsOnly: true });
  }
  if (opts.captureDir) {
    ensurePrivateDir(opts.captureDir);
    writeSnapshot(`${opts.captureDir}/${state.id}.json`, snap);
  }
  return snap;
}

export const HOOK_HELP = `usage: podnet hook [--link-netns PATH] [--capture-dir DIR] [--allowed-netns-dir DIR]
                   [--ifname NAME]... [--timeout-ms N]

OCI runtime hook (prestart or createRuntime): reads the container state JSON on stdin;
the target is the sandbox's netns /proc/PID/ns/net.
  --link-netns PATH         capture the pod's links in PATH, move them into the sandbox netns
                            and restore addresses, routes and gateway pins there; without it,
                            pin the gateway neighbors of the sandbox's own netns in place
  --capture-dir DIR         also write the applied snapshot to DIR/<id>.json (0600)
  --allowed-netns-dir DIR   honour the annotations ${ANNOTATION_LINK_NETNS} (a netns path that must
                            resolve under DIR) and ${ANNOTATION_IFNAME}; without it they are refused
  --ifname NAME             take this link (repeatable); an operator-named link may be moved
                            even when it is not the pod end of a podnet veth
  --timeout-ms N            wait per unresolved gateway (default ${DEFAULT_TIMEOUT_MS})
A link is moved only when it is the pod end of a podnet veth or named by --ifname; the
node's own netns is never a source or target. Failure: one line on stderr, exit 1.
`;

/** `podnet hook`. */
export async function hookCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags("hook", args, {
    "link-netns": { type: "string" },
    "capture-dir": { type: "string" },
    "allowed-netns-dir": { type: "string" },
    ifname: { type: "string", multiple: true },
    "timeout-ms": { type: "string" },
  });
  if (values.help) {
    io.stdout(HOOK_HELP);
    return 0;
  }
  const ifnames = strs(values, "ifname");
  for (const n of ifnames) {
    if (!validIfname(n)) throw new UsageError(`podnet hook: --ifname ${JSON.stringify(n)} is not an interface name`);
  }
  const opts: HookOptions = {
    linkNetns: str(values, "link-netns") ?? null,
    captureDir: str(values, "capture-dir") ?? null,
    allowedNetnsDir: str(values, "allowed-netns-dir") ?? null,
    ifnames,
    timeoutMs: int("hook", values, "timeout-ms", DEFAULT_TIMEOUT_MS),
  };
  try {
    runHook(parseState(await io.stdin()), opts);
    return 0;
  } catch (e) {
    if (!(e instanceof Error)) throw e;
    // The runtime shows the hook's stderr when it fails container creation: keep it to one line.
    io.stderr(`podnet hook: ${e.message.replace(/\s*\n\s*/g, " ")}\n`);
    return 1;
  }
}
