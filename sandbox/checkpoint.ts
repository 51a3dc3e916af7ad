/**
 * The source side of a move (`podnet checkpoint`): the pod's network record,
 * a look for TCP connections the sandbox holds, `runsc checkpoint`, and the
 * record written beside the image, where `podnet resume` (sandbox/resume.ts)
 * finds it. docs/resume.md is the operator's version.
 *
 * Why the TCP look comes first: Debian's runsc (20221219) cannot save a
 * connected TCP endpoint; asked to, it fails AND kills the sandbox (also with
 * --leave-running), so the workload is gone. The sandbox's own /proc shows its
 * endpoints (sandbox/tcp.ts says what it shows and what it cannot); podnet
 * refuses while one is open and leaves the sandbox running. A connection
 * closed less than ~60 s ago lingers invisibly (TIME_WAIT): podnet says so
 * when the sandbox has ever connected, and names the endpoint when runsc
 * refuses it after all. Newer gVisor can migrate connections
 * (`--allow-live-tcp-migration`).
 *
 * Why the record is not captured here by default: runsc takes the addresses
 * and routes out of the netns it reads when the sandbox starts, so the pod's
 * network must be captured when the pod is attached (CNI `captureDir`, the
 * hook's `--capture-dir`, or `podnet capture`).
 *
 * @module
 */

import { parseFlags, str, strs, UsageError } from "../core/cli.ts";
import { removeIfExists } from "../core/fsutil.ts";
import type { Io } from "../core/io.ts";
import { ID_RE } from "../core/names.ts";
import { type Snapshot, writeSnapshot } from "../core/snapshot.ts";
import { readSnapshot } from "../sys/files.ts";
import { captureNetns } from "./capture.ts";
import { requireAddresses } from "./plan.ts";
import {
  runscCheckpoint,
  type RunscConfig,
  runscDelete,
  RunscError,
  runscExec,
  runscStatus,
  RUNTIME_FLAGS,
  RUNTIME_HELP,
  runtimeFromFlags,
} from "./runsc.ts";
import { describeEndpoint, parseTcpView, type TcpView, unsaveable } from "./tcp.ts";

/** The network record's name beside `checkpoint.img` in the image directory. */
export const SNAPSHOT_FILE = "podnet-network.json";

/** A refused or failed checkpoint; the message is one line. */
export class CheckpointError extends Error {
  override readonly name = "CheckpointError";
}

/** Source side of a move. */
export interface CheckpointOptions {
  runtime: RunscConfig;
  /** The container (runsc ID). */
  id: string;
  /** Where the image goes (created 0700 when missing). */
  imageDir: string;
  /** The pod's snapshot, captured when it was attached. */
  snapshot?: string;
  /** Or: capture this netns now (refused when runsc already took its addresses). */
  netns?: string;
  /** With `netns`: the links to capture (default every link that is up but lo). */
  ifnames?: string[];
  /** Checkpoint even when the sandbox's TCP endpoints cannot be read (no `cat` in the image). */
  skipTcpCheck?: boolean;
  /** Notes the operator must see (printed on stderr by the command). */
  onNote?: (line: string) => void;
}

/** What `checkpoint` did. */
export interface CheckpointReport {
  /** Bytes of the image (the network record not counted). */
  imageBytes: number;
  snapshot: Snapshot;
  /** The sandbox's TCP view, or null when it could not be read. */
  tcp: TcpView | null;
}

const TCP_FILES = ["/proc/net/tcp", "/proc/net/tcp6", "/proc/net/snmp"];
const MIGRATION = "newer gVisor can migrate them (runsc --allow-live-tcp-migration)";

/**
 * The sandbox's TCP endpoints as gVisor shows them, read with the image's own
 * `cat` (or busybox's); null when neither can run there.
 */
export async function sandboxTcp(rt: RunscConfig, id: string): Promise<TcpView | null> {
  for (const cat of [["cat"], ["busybox", "cat"]]) {
    const r = await runscExec(rt, id, [...cat, ...TCP_FILES]);
    if (r.code === 0 && /local_address/.test(r.stdout)) return parseTcpView(r.stdout);
  }
  return null;
}

function networkRecord(o: CheckpointOptions): Snapshot {
  if ((o.snapshot === undefined) === (o.netns === undefined)) {
    throw new CheckpointError("give the pod's network record (snapshot) or a netns to capture, not both or neither");
  }
  const snap = o.snapshot !== undefined
    ? readSnapshot(o.snapshot)
    : captureNetns(o.netns!, { ifnames: o.ifnames ?? [] });
  requireAddresses(snap, o.snapshot !== undefined ? `snapshot ${o.snapshot}` : `capture of ${o.netns}`);
  return snap;
}

async function checkTcp(o: CheckpointOptions): Promise<TcpView | null> {
  const note = o.onNote ?? (() => {});
  const view = await sandboxTcp(o.runtime, o.id);
  if (view === null) {
    const why = `cannot see the TCP connections of ${o.id}: neither cat nor busybox cat runs in its image. ` +
      "This runsc kills a sandbox that holds a TCP connection when asked to checkpoint it (also one closed less " +
      `than ~60 s ago, in TIME_WAIT); ${MIGRATION}`;
    if (!o.skipTcpCheck) throw new CheckpointError(`refusing to checkpoint: ${why}. To go on anyway: --skip-tcp-check`);
    note(`${why}; going on (--skip-tcp-check)`);
    return null;
  }
  const open = unsaveable(view);
  if (open.length > 0) {
    throw new CheckpointError(
      `refusing to checkpoint ${o.id}: it holds ${open.length} TCP connection(s) this runsc cannot save, and it ` +
        `would kill the sandbox trying: ${open.map(describeEndpoint).join(", ")}. Close them and wait ~60 s ` +
        `(TIME_WAIT), or use a gVisor that can migrate them (runsc --allow-live-tcp-migration). ` +
        `${o.id} is still running`,
    );
  }
  if ((view.opened ?? 0) > 0) {
    note(
      `${o.id} has opened ${view.opened} TCP connection(s) since it started and none is open now; one closed less ` +
        "than ~60 s ago still lingers in TIME_WAIT, where gVisor's /proc cannot show it, and would make this runsc " +
        `kill the sandbox; ${MIGRATION}`,
    );
  }
  return view;
}

/** One line for a failed `runsc checkpoint`, naming the TCP endpoint when that was the reason. */
function explain(e: RunscError, id: string, after: string | null): CheckpointError {
  const text = `${e.result?.stderr ?? ""}\n${e.result?.stdout ?? ""}`;
  const ep = /endpoint cannot be saved in connected state: local ([^,\s]+), remote ([^:\s]+:\d+)/.exec(text);
  const state = `; ${id} is ${after ?? "gone"} now`;
  if (ep) {
    return new CheckpointError(
      `checkpoint ${id}: runsc could not save the TCP connection ${ep[1]} → ${ep[2]} (closed less than ~60 s ago ` +
        `and lingering in TIME_WAIT, where podnet's look cannot see it)${state}`,
    );
  }
  return new CheckpointError(`${e.message}${state}`);
}

function imageBytes(dir: string): number {
  let n = 0;
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile && e.name !== SNAPSHOT_FILE) n += Deno.statSync(`${dir}/${e.name}`).size;
  }
  return n;
}

/**
 * Checkpoints container `id`: validates the network record, refuses while the
 * sandbox holds a TCP connection (leaving it running), writes the record to
 * `imageDir/podnet-network.json` (0600), runs `runsc checkpoint`, then deletes
 * the stopped container. A failed checkpoint removes the record it wrote.
 */
export async function checkpoint(o: CheckpointOptions): Promise<CheckpointReport> {
  if (!ID_RE.test(o.id)) throw new CheckpointError("the container ID is not one runsc accepts");
  const status = await runscStatus(o.runtime, o.id);
  if (status === null) throw new CheckpointError(`container ${o.id} not found (runsc --root ${o.runtime.root})`);
  if (status !== "running") throw new CheckpointError(`container ${o.id} is ${status}, not running`);
  const snapshot = networkRecord(o);
  const tcp = await checkTcp(o);
  Deno.mkdirSync(o.imageDir, { recursive: true, mode: 0o700 });
  const record = `${o.imageDir}/${SNAPSHOT_FILE}`;
  writeSnapshot(record, snapshot);
  try {
    await runscCheckpoint(o.runtime, o.id, o.imageDir);
  } catch (e) {
    removeIfExists(record);
    if (!(e instanceof RunscError)) throw e;
    throw explain(e, o.id, await runscStatus(o.runtime, o.id).catch(() => null));
  }
  await runscDelete(o.runtime, o.id);
  return { imageBytes: imageBytes(o.imageDir), snapshot, tcp };
}

export const CHECKPOINT_HELP = `usage: podnet checkpoint --id ID --image-dir DIR --runsc-root DIR
                         (--snapshot FILE | --netns PATH [--ifname NAME]...) [--skip-tcp-check]
                         [--empty-dir DIR] [--runsc PATH] [--runsc-flag FLAG]...

On the source node, in the node's netns: checkpoints a running gVisor (runsc) container so that
\`podnet resume\` can carry it on in a new pod, on this node or another (docs/resume.md).
1. The pod's network record is validated: --snapshot, captured when the pod was attached (CNI
   captureDir, podnet hook --capture-dir, podnet capture), or --netns to capture it now; a record
   without addresses is refused (runsc takes them out of the netns when the sandbox starts).
2. The sandbox's TCP endpoints are read from gVisor's own /proc (runsc exec ID cat, or busybox cat).
   While one is connected, the checkpoint is refused and the sandbox keeps running: this runsc
   cannot save it and kills the sandbox trying. One closed less than ~60 s ago (TIME_WAIT) is not
   shown there; podnet says so when the sandbox has ever connected. Newer gVisor can migrate
   connections (runsc --allow-live-tcp-migration).
3. The record goes to DIR/${SNAPSHOT_FILE} (0600), runsc checkpoint writes DIR/checkpoint.img,
   and the stopped container is deleted. Detaching the pod (CNI DEL) is the runtime's part.

  --id ID              the container (runsc ID)
  --image-dir DIR      where the image and the network record go (created 0700)
  --snapshot FILE      the pod's network record, captured when it was attached
  --netns PATH         or: capture this netns now
  --ifname NAME        with --netns: capture this link (repeatable; default every link up but lo)
  --skip-tcp-check     go on when the sandbox's TCP endpoints cannot be read (no cat in the image)
${RUNTIME_HELP}Prints one line: checkpointed ID: N bytes in DIR. Notes go to stderr. Exit 1 with one line on failure.
`;

/** `podnet checkpoint`. */
export async function checkpointCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags("checkpoint", args, {
    ...RUNTIME_FLAGS,
    id: { type: "string" },
    "image-dir": { type: "string" },
    snapshot: { type: "string" },
    netns: { type: "string" },
    ifname: { type: "string", multiple: true },
    "skip-tcp-check": { type: "boolean" },
  });
  if (values.help) {
    io.stdout(CHECKPOINT_HELP);
    return 0;
  }
  const id = str(values, "id"), imageDir = str(values, "image-dir");
  if (id === undefined || !ID_RE.test(id)) {
    throw new UsageError(`podnet checkpoint: --id ID is required (letters, digits, "_", "." and "-")`);
  }
  if (!imageDir) throw new UsageError("podnet checkpoint: --image-dir DIR is required");
  const snapshot = str(values, "snapshot"), netns = str(values, "netns");
  if ((snapshot === undefined) === (netns === undefined)) {
    throw new UsageError("podnet checkpoint: give --snapshot FILE or --netns PATH (one of them)");
  }
  if (snapshot !== undefined && strs(values, "ifname").length > 0) {
    throw new UsageError("podnet checkpoint: --ifname goes with --netns, not --snapshot");
  }
  const runtime = runtimeFromFlags("checkpoint", values);
  const r = await checkpoint({
    runtime,
    id,
    imageDir,
    ...(snapshot !== undefined ? { snapshot } : { netns: netns!, ifnames: strs(values, "ifname") }),
    skipTcpCheck: values["skip-tcp-check"] === true,
    onNote: (l) => io.stderr(`podnet checkpoint: note: ${l}\n`),
  });
  io.stdout(`checkpointed ${id}: ${r.imageBytes} bytes in ${imageDir}\n`);
  return 0;
}
