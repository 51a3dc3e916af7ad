/**
 * `podnet hook`: an OCI runtime hook (prestart / createRuntime). The runtime
 * passes the container state on stdin; its `pid` names the sandbox, whose
 * netns `/proc/PID/ns/net` is the target. runsc runs these hooks at `create`
 * (and at `restore`) and copies the netns into its own network stack right
 * after, so whatever the hook installs is what the sandbox sees.
 *
 * Two modes:
 * - `--link-netns PATH`: capture the pod's links in PATH, move them into the
 *   sandbox netns and restore addresses, routes and gateway pins there.
 * - without it: capture the sandbox netns itself and pin its gateway
 *   neighbors in place (NUD_PERMANENT), so the sandbox copies them.
 *
 * Trust: the hook's flags come from the operator; the state's annotations
 * from whoever writes the pod spec. An annotation may name a netns
 * (`podnet.io/link-netns`) or an interface (`podnet.io/ifname`) only when the
 * operator gave `--allowed-netns-dir DIR` and the path resolves under DIR.
 * A container takes only links of its own attachment: the pod end of a
 * podnet veth whose host end (in the hook's netns) carries podnet's alias
 * `networkName/containerID/ifname` with THIS container's ID and the link's
 * name. Only the operator's `--ifname`, with the operator's `--link-netns`,
 * names other links. Nothing from the state is echoed in an error but the
 * validated container ID and the pid: an annotation's netns is called "the
 * netns named by annotation podnet.io/link-netns".
 *
 * Fail closed: the target must be provably a sandbox's netns, else nothing
 * is captured, probed or changed. Two proofs, both required:
 * - identity: not the hook's own netns (the node's; unreadable = refused) nor
 *   PID 1's (the host's initial one). PID 1's is unreadable under some
 *   runtimes (runsc runs hooks without the capabilities ptrace access to PID
 *   1 needs: EACCES); that proof is then missing, never taken as passed, and
 *   the content proof stands alone.
 * - content: with `--link-netns` the target holds nothing but `lo` (a
 *   sandbox's netns is new when the hook runs; the node's and the host's have
 *   their links). In place, it is the pod netns the sandbox joined, which
 *   holds the pod's links: each link but `lo` must be a veth whose peer lives
 *   in the hook's netns (a pod attached to this node, as podnet, Calico or
 *   bridge plugins make them); a physical link or any other kind is refused,
 *   so in-place pods with macvlan/ipvlan links are not served.
 * The link netns must not be the node's, PID 1's or the target, and only its
 * links proven this container's (or operator-named) move.
 *
 * @module
 */

import { errorText } from "../core/errors.ts";
import { int, parseFlags, str, strs, UsageError } from "../core/cli.ts";
import { ensurePrivateDir } from "../core/fsutil.ts";
import type { Io } from "../core/io.ts";
import { decodeJson, integer, JsonError, type Obj, object, string } from "../core/json.ts";
import { ID_RE, ifnameProblem, parseAlias } from "../core/names.ts";
import { type Snapshot, writeSnapshot } from "../core/snapshot.ts";
import { capturedByDefault, captureNetns, DEFAULT_TIMEOUT_MS } from "./capture.ts";
import { isVethPeer, type Link, linkList, netnsId, nsidOf, SELF_NETNS, Socket, withNetns } from "../netlink/mod.ts";
import { restoreSnapshot } from "./restore.ts";

/** Annotation naming the netns to take the pod's links from (honoured only under --allowed-netns-dir). */
export const ANNOTATION_LINK_NETNS = "podnet.io/link-netns";
/** Annotation naming the pod link to take (honoured only with --allowed-netns-dir). */
export const ANNOTATION_IFNAME = "podnet.io/ifname";

/** The OCI state is a few hundred bytes, annotations aside; its nesting is 2. */
const STATE_LIMITS = { maxBytes: 1 << 20, maxDepth: 16 };
/** The netns of PID 1: the host's initial netns. */
const INIT_NETNS = "/proc/1/ns/net";
const ANNOTATED = `the netns named by annotation ${ANNOTATION_LINK_NETNS}`;

/** The part of the OCI container state the hook uses. */
export interface HookState {
  id: string;
  pid: number;
  /** podnet's own annotations only (others are not read). */
  annotations: Record<string, string>;
}

/** A refused or failed hook run; the message is the one line printed. */
export class HookError extends Error {
  override readonly name = "HookError";
}

/**
 * Parses the OCI state JSON from the runtime with the one decoder (bounded in
 * size and depth). Unknown fields are ignored (the OCI spec adds fields); no
 * error quotes the state: it names the field and says why.
 */
export function parseState(data: Uint8Array | string): HookState {
  let o: Obj;
  try {
    o = object(decodeJson(data, STATE_LIMITS), "");
  } catch (e) {
    if (!(e instanceof JsonError)) throw e;
    throw new HookError(`container state on stdin ${e.reason} (is this running as an OCI hook?)`);
  }
  try {
    const id = string(o.id, "id", 1024);
    if (!ID_RE.test(id)) throw new JsonError("id", 'is not a container ID (letters, digits, "_", "." and "-")');
    if (o.pid === undefined || o.pid === null || o.pid === 0) {
      throw new HookError(
        `container ${id}: state has no pid; run podnet hook as a prestart or createRuntime hook, when the sandbox exists`,
      );
    }
    const pid = integer(o.pid, "pid", 1, 0x3fffffff);
    const annotations: Record<string, string> = {};
    if (o.annotations !== undefined && o.annotations !== null) {
      const a = object(o.annotations, "annotations");
      for (const k of [ANNOTATION_LINK_NETNS, ANNOTATION_IFNAME]) {
        if (Object.hasOwn(a, k)) annotations[k] = string(a[k], `annotations.${k}`, 4096);
      }
    }
    return { id, pid, annotations };
  } catch (e) {
    if (e instanceof JsonError) throw new HookError(`container state: ${e.message}`);
    throw e;
  }
}

/** Options for `runHook` (the operator's flags, and two seams for tests). */
export interface HookOptions {
  linkNetns?: string | null;
  captureDir?: string | null;
  allowedNetnsDir?: string | null;
  /** Links the operator names: captured, and movable from the operator's --link-netns even when not podnet's. */
  ifnames?: string[];
  timeoutMs?: number;
  /** The netns the hook runs in (the node's); default /proc/thread-self/ns/net. */
  selfNetns?: string;
  /** The host's initial netns; default /proc/1/ns/net. */
  initNetns?: string;
}

/**
 * The identity of `path` (named `what`), refused when it is the node's own
 * netns or PID 1's. The hook's own netns is always readable, so an unreadable
 * one is a refusal. PID 1's is not readable under every runtime (runsc runs
 * hooks without the capabilities that ptrace access to PID 1 needs: EACCES);
 * then this proof is missing, never passed, and the content proof
 * (`checkTargetContent`, required in every case) must stand alone. Returns the
 * identity and whether PID 1's was unknown.
 */
function refuseNodeNetns(
  path: string,
  what: string,
  self: string,
  init: string,
): { id: string; initUnknown: string | null } {
  let id: string, mine: string;
  try {
    id = netnsId(path);
  } catch (e) {
    throw new HookError(`${what} cannot be opened: ${errorText(e)}`);
  }
  try {
    mine = netnsId(self);
  } catch (e) {
    throw new HookError(
      `refusing ${what}: cannot tell whether it is the node's own netns (the hook's): ${errorText(e)}`,
    );
  }
  if (id === mine) throw new HookError(`refusing ${what}: it is the node's own netns (the hook's)`);
  try {
    if (id === netnsId(init)) throw new HookError(`refusing ${what}: it is PID 1's netns`);
  } catch (e) {
    if (e instanceof HookError) throw e;
    return { id, initUnknown: errorText(e) };
  }
  return { id, initUnknown: null };
}

/** The netns to take links from (operator's flag, else an annotation under the allowed dir) and how to name it. */
function linkNetnsOf(state: HookState, opts: HookOptions): { path: string; label: string; annotated: boolean } | null {
  if (opts.linkNetns) return { path: opts.linkNetns, label: opts.linkNetns, annotated: false };
  const a = state.annotations[ANNOTATION_LINK_NETNS];
  if (a === undefined) return null;
  const refuse = (reason: string): never => {
    throw new HookError(`refusing annotation ${ANNOTATION_LINK_NETNS}: ${reason}`);
  };
  if (!opts.allowedNetnsDir) refuse("the operator gave no --allowed-netns-dir");
  let dir = "", p = "";
  try {
    dir = Deno.realPathSync(opts.allowedNetnsDir!);
  } catch (e) {
    refuse(`--allowed-netns-dir ${opts.allowedNetnsDir} cannot be resolved: ${errorText(e)}`);
  }
  try {
    p = Deno.realPathSync(a);
  } catch (e) {
    refuse(`its path cannot be resolved (${(e as { code?: string }).code ?? "error"})`);
  }
  if (!p.startsWith(dir.endsWith("/") ? dir : `${dir}/`)) refuse(`its path does not resolve under ${dir}`);
  return { path: p, label: ANNOTATED, annotated: true };
}

function ifnamesOf(state: HookState, opts: HookOptions): string[] {
  const a = state.annotations[ANNOTATION_IFNAME];
  if (a === undefined || (opts.ifnames && opts.ifnames.length > 0)) return opts.ifnames ?? [];
  if (!opts.allowedNetnsDir) {
    throw new HookError(`refusing annotation ${ANNOTATION_IFNAME}: the operator gave no --allowed-netns-dir`);
  }
  const problem = ifnameProblem(a);
  if (problem !== null) throw new HookError(`refusing annotation ${ANNOTATION_IFNAME}: it ${problem}`);
  return [a];
}

/**
 * The host end (in the hook's netns) whose veth peer is `pod` (a link in the
 * netns the hook's netns calls `nsid`), or null. Ifindexes repeat across
 * namespaces (every fresh netns numbers its first veth 2), so the host end's
 * peer must live in exactly that netns, which the nsid says.
 */
function hostEndOf(pod: Link, hostLinks: Link[], nsid: number | null): Link | null {
  if (pod.kind !== "veth" || pod.linkNetnsId === null || nsid === null) return null;
  return hostLinks.find((h) => isVethPeer(h, pod) && h.linkNetnsId === nsid) ?? null;
}

/** The container ID in the podnet alias of `pod`'s host end, when the alias is podnet's for `pod`'s name. */
function podnetOwner(pod: Link, hostLinks: Link[], nsid: number | null): string | null {
  const a = parseAlias(hostEndOf(pod, hostLinks, nsid)?.alias ?? null);
  return a && a.ifname === pod.name ? a.containerId : null;
}

/**
 * Proves `target` a sandbox's netns by what it holds (see the module doc),
 * else refuses; `initUnknown` (why PID 1's identity could not be read) is
 * said in the refusal, as that proof is missing too.
 */
function checkTargetContent(
  target: string,
  what: string,
  self: string,
  inPlace: boolean,
  initUnknown: string | null,
): void {
  using t = Socket.open(target);
  const links = linkList(t).filter((l) => !l.loopback);
  const also = initUnknown === null ? "" : ` (and whether it is PID 1's netns cannot be told: ${initUnknown})`;
  if (!inPlace) {
    if (links.length > 0) {
      throw new HookError(
        `refusing ${what}: it holds ${links.length} link(s) besides lo, so it is no new sandbox netns${also}`,
      );
    }
    return;
  }
  using s = Socket.open(self);
  const hosts = linkList(s);
  const nsid = withNetns(self, () => nsidOf(target));
  const foreign = links.filter((l) => hostEndOf(l, hosts, nsid) === null).length;
  if (foreign > 0) {
    throw new HookError(
      `refusing ${what}: ${foreign} of its links is not a veth to this node's netns, so it is not provably a pod's${also}`,
    );
  }
}

/** Which links the hook may take from the link netns, under what proof of ownership. */
interface Takeable {
  linkNetns: string;
  label: string;
  /** Selected links (empty: what capture selects, every link that is up but loopback). */
  ifnames: string[];
  /** Operator-named links movable without being this container's (only from the operator's link netns). */
  named: string[];
  containerId: string;
  selfNetns: string;
}

/**
 * Refuses, before anything is captured or probed, to take a link that is not
 * this container's podnet pod end (or operator-named). Returns the names
 * checked, which are then exactly the ones captured and moved.
 */
function checkMovable(t: Takeable): string[] {
  using src = Socket.open(t.linkNetns);
  using self = Socket.open(t.selfNetns);
  const pods = linkList(src), hosts = linkList(self);
  const nsid = withNetns(t.selfNetns, () => nsidOf(t.linkNetns));
  const taken = t.ifnames.length > 0 ? t.ifnames : pods.filter(capturedByDefault).map((l) => l.name);
  for (const name of taken) {
    if (t.named.includes(name)) continue;
    const pod = pods.find((p) => p.name === name);
    const owner = pod ? podnetOwner(pod, hosts, nsid) : null;
    if (owner === null) {
      throw new HookError(
        `refusing to move ${name} from ${t.label}: it is not the pod end of a podnet veth ` +
          `(no host end with a podnet alias here) and --ifname does not name it`,
      );
    }
    if (owner !== t.containerId) {
      throw new HookError(
        `refusing to move ${name} from ${t.label}: it belongs to container ${owner}, not ${t.containerId}`,
      );
    }
  }
  return taken;
}

/** Runs the hook for `state`; returns the snapshot it applied. */
export function runHook(state: HookState, opts: HookOptions): Snapshot {
  const self = opts.selfNetns ?? SELF_NETNS;
  const init = opts.initNetns ?? INIT_NETNS;
  const target = `/proc/${state.pid}/ns/net`;
  const what = `container ${state.id} netns ${target}`;
  const link = linkNetnsOf(state, opts);
  const ifnames = ifnamesOf(state, opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { id: targetId, initUnknown } = refuseNodeNetns(target, what, self, init);
  let snap: Snapshot;
  if (link) {
    // The link netns's content is proven link by link (checkMovable): only this container's pod ends move.
    if (refuseNodeNetns(link.path, `link netns ${link.label}`, self, init).id === targetId) {
      throw new HookError(`refusing link netns ${link.label}: it is the container's own netns`);
    }
    checkTargetContent(target, what, self, false, initUnknown);
    const taken = checkMovable({
      linkNetns: link.path,
      label: link.label,
      ifnames,
      named: link.annotated ? [] : opts.ifnames ?? [],
      containerId: state.id,
      selfNetns: self,
    });
    try {
      snap = captureNetns(link.path, { ifnames: taken, timeoutMs });
      restoreSnapshot(snap, { netns: target, linkNetns: link.path });
    } catch (e) {
      // An annotation's path is the pod author's word: name it, never print it.
      if (link.annotated && e instanceof Error) e.message = e.message.replaceAll(link.path, link.label);
      throw e;
    }
  } else {
    checkTargetContent(target, what, self, true, initUnknown);
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
  --ifname NAME             take this link (repeatable); from --link-netns, an operator-named link
                            is moved even when it is not this container's podnet pod end
  --timeout-ms N            wait per unresolved gateway (default ${DEFAULT_TIMEOUT_MS})
A link is moved only when it is the pod end of this container's podnet veth (the host end's
alias names the container) or named by --ifname. The target must be provably a sandbox's
netns: not the node's or PID 1's (an unreadable identity is a refusal), with --link-netns
holding nothing but lo, in place holding only veths to this node. Failure: one line on
stderr, exit 1.
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
    const problem = ifnameProblem(n);
    if (problem !== null) throw new UsageError(`podnet hook: --ifname is not an interface name: it ${problem}`);
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
