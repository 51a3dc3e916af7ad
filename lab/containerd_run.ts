/**
 * The record of a containerd node's run (lab/containerd.ts) and its forcible
 * removal, for when the run cannot clean up after itself. Each node writes
 * `owner.json` (its process, its world ID, its network name, its other dirs)
 * into its dir first, and starts a guard: this module as a process of its
 * own, in its own session (a terminal's SIGINT reaches the process group, not
 * the guard), holding a pipe from the node's process. A clean dispose writes
 * "done" into the pipe; when the pipe closes without it (`deno test` exits on
 * SIGINT before async clean-up can run; SIGKILL), the guard waits until that
 * process is gone and removes the run. `sweepDeadRuns` does the same for
 * every recorded run whose process is gone, for when the guard was killed too.
 *
 * What a run leaves outside containerd's cooperation: processes whose argv
 * names its dir (containerd, shims, runsc, the runsc wrapper's waiters) and the
 * pods' processes in its cgroups (`/pncri-ID/…`, ours alone); mounts under its
 * dir (rootfs, shm, pod netns); the cgroups; libcni cache entries
 * (/var/lib/cni/results: the network's name is unique to the run, and
 * containerd's loopback ones carry the sandbox IDs); shim sockets in
 * /run/containerd/s (named in each task's `address` file); its `pncri-ID-*`
 * netns; its dirs. Processes go by PID, found as above, never by name.
 *
 * No npm import here: the guard starts in a few tens of milliseconds.
 *
 * @module
 */

import { listDir } from "../core/fsutil.ts";
import { run, sleep } from "./world.ts";

/** Prefix of every netns, temp dir, cgroup and CNI network name a containerd node makes. */
export const CRI_PREFIX = "pncri-";
/** libcni's cache; containerd 1.6 has no setting for it. */
export const RESULTS_CACHE = "/var/lib/cni/results";
/** Where containerd 1.6 puts shim sockets, whatever its state dir (runtime/v2/shim: socketRoot). */
const SHIM_SOCKETS = "/run/containerd/s";
const GUARD = new URL(import.meta.url).pathname;

/** What a run records in its dir (`owner.json`). */
export interface Owner {
  pid: number;
  /** Start time of `pid` (clock ticks since boot), to tell it from a later process with the same PID. */
  start: string;
  /** The run's World ID: netns `pncri-ID-*`, cgroup `/pncri-ID`. */
  id: string;
  /** The CNI network's name (libcni cache entries begin with it). */
  network: string;
  /** The run's other temp dirs. */
  dirs: string[];
}

/** Fields of /proc/PID/stat after the command name, or null when the process is gone. */
function stat(pid: number): string[] | null {
  try {
    const s = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces and parentheses; the fields after it follow the last ')'.
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** The start time of `pid` (field 22 of /proc/PID/stat), or null when it is gone. */
export function procStart(pid: number): string | null {
  return stat(pid)?.[19] ?? null;
}

/** Whether the run's process is gone: exited (a zombie counts) or replaced by another with its PID. */
function ownerGone(o: Owner): boolean {
  const f = stat(o.pid);
  return f === null || f[19] !== o.start || f[0] === "Z" || f[0] === "X";
}

/** Whether anything (a dangling symlink too) is at `path`. */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Mount points at or under `dir`, deepest first (mountinfo escapes space, tab, newline, backslash as \ooo). */
export function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const raw = line.split(" ")[4];
    if (raw === undefined) continue;
    const m = raw.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (m === dir || m.startsWith(`${dir}/`)) out.push(m);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** The cgroup v1 hierarchies' mount points (or the v2 root): where a pod's cgroup_parent appears. */
function cgroupRoots(): string[] {
  const out = new Set<string>();
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const [pre, post] = line.split(" - ");
    const type = post?.split(" ")[0];
    if (type === "cgroup" || type === "cgroup2") out.add(pre!.split(" ")[4]!);
  }
  return [...out];
}

/** Every directory at and below `dir`, deepest first. */
function dirsBelow(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of listDir(d)) {
      try {
        if (Deno.lstatSync(`${d}/${e}`).isDirectory) walk(`${d}/${e}`);
      } catch { /* gone meanwhile */ }
    }
    out.push(d);
  };
  if (exists(dir)) walk(dir);
  return out;
}

/** The run's processes: argv naming something under `dir`, or a member of its cgroups. Never this process. */
export function runProcesses(dir: string, id: string): number[] {
  const pids = new Set<number>();
  for (const e of listDir("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === Deno.pid) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${e}/cmdline`).split("\0").some((a) => a.includes(`${dir}/`))) {
        pids.add(Number(e));
      }
    } catch { /* exited meanwhile */ }
  }
  for (const root of cgroupRoots()) {
    for (const d of dirsBelow(`${root}/${CRI_PREFIX}${id}`)) {
      try {
        for (const p of Deno.readTextFileSync(`${d}/cgroup.procs`).split("\n")) if (p) pids.add(Number(p));
      } catch { /* removed meanwhile */ }
    }
  }
  pids.delete(Deno.pid);
  return [...pids];
}

/**
 * Removes what a run left outside its dirs and netns, in an order that lets each step succeed:
 * processes (SIGKILL by PID), mounts under its dir, cgroups, libcni cache entries, shim sockets.
 * Returns what it removed, in words; throws when something could not be removed.
 */
export async function removeRunState(dir: string, id: string, network: string): Promise<string[]> {
  const done: string[] = [];
  // Sandbox IDs name the loopback cache entries; the tasks' address files, the shim sockets. Read first.
  const sandboxes = listDir(`${dir}/root/io.containerd.grpc.v1.cri/sandboxes`);
  const taskDir = `${dir}/state/io.containerd.runtime.v2.task/k8s.io`;
  const shimSockets = listDir(taskDir).map((t) => {
    try {
      return Deno.readTextFileSync(`${taskDir}/${t}/address`).trim().replace(/^unix:\/\//, "");
    } catch {
      return "";
    }
  }).filter((s) => s.startsWith(`${SHIM_SOCKETS}/`));
  for (let round = 0; round < 50; round++) {
    const pids = runProcesses(dir, id);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
        if (round === 0) done.push(`process ${pid}`);
      } catch { /* exited meanwhile */ }
    }
    await sleep(100);
  }
  const left = runProcesses(dir, id);
  if (left.length) throw new Error(`processes of ${dir} survive SIGKILL: ${left.join(", ")}`);
  for (const m of mountsUnder(dir)) {
    run("umount", ["--lazy", m]);
    done.push(`mount ${m}`);
  }
  for (const root of cgroupRoots()) {
    for (const d of dirsBelow(`${root}/${CRI_PREFIX}${id}`)) {
      // A cgroup whose last task just exited can refuse rmdir (EBUSY) for a moment.
      for (let i = 0;; i++) {
        try {
          Deno.removeSync(d);
          done.push(`cgroup ${d}`);
          break;
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) break;
          if (i === 20) throw new Error(`cgroup ${d}: ${(e as Error).message}`);
          await sleep(50);
        }
      }
    }
  }
  for (const f of listDir(RESULTS_CACHE)) {
    if (f.startsWith(`${network}-`) || sandboxes.some((s) => f === `cni-loopback-${s}-lo`)) {
      Deno.removeSync(`${RESULTS_CACHE}/${f}`);
      done.push(`libcni cache ${f}`);
    }
  }
  for (const s of shimSockets) {
    if (exists(s)) {
      Deno.removeSync(s);
      done.push(`shim socket ${s}`);
    }
  }
  return done;
}

/** Removes a whole run: its state (above), its netns, its dirs. */
async function removeRun(dir: string, o: Owner): Promise<string[]> {
  const done = await removeRunState(dir, o.id, o.network);
  for (const ns of run("ip", ["netns", "list"]).split("\n").map((l) => l.split(" ")[0]!)) {
    if (ns.startsWith(`${CRI_PREFIX}${o.id}-`)) {
      run("ip", ["netns", "del", ns]);
      done.push(`netns ${ns}`);
    }
  }
  for (const d of [...o.dirs, dir]) {
    if (exists(d)) {
      Deno.removeSync(d, { recursive: true });
      done.push(`dir ${d}`);
    }
  }
  return done;
}

function readOwner(dir: string): Owner | null {
  try {
    return JSON.parse(Deno.readTextFileSync(`${dir}/owner.json`));
  } catch {
    return null;
  }
}

/**
 * Removes what runs of this suite left when neither they nor their guard could clean up: every
 * `pncri-*` temp dir whose recorded owner process is gone, with everything of that run. Runs of
 * live processes are left alone. Returns what it removed.
 */
export async function sweepDeadRuns(tmp = Deno.env.get("TMPDIR") || "/tmp"): Promise<string[]> {
  const done: string[] = [];
  for (const name of listDir(tmp)) {
    if (!name.startsWith(CRI_PREFIX)) continue;
    // A dir without owner.json is not (yet) a run's: a run writes it before it starts anything.
    const owner = readOwner(`${tmp}/${name}`);
    if (owner !== null && ownerGone(owner)) done.push(...await removeRun(`${tmp}/${name}`, owner));
  }
  return done;
}

/** A run's guard, as its owner holds it. */
export interface Guard {
  readonly pid: number;
  /** Tells the guard the run cleaned up after itself, and waits for it to exit. */
  release(): Promise<void>;
}

/** Records the run in `dir` (owner.json) and starts its guard. */
export function guardRun(dir: string, owner: Owner): Guard {
  Deno.writeTextFileSync(`${dir}/owner.json`, JSON.stringify(owner));
  // setsid: a terminal's Ctrl-C signals the foreground process group; the guard must outlive it.
  const child = new Deno.Command("setsid", {
    args: [Deno.execPath(), "run", "--allow-all", "--no-prompt", "--no-config", "--no-lock", GUARD, dir],
    stdin: "piped",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  child.unref();
  const writer = child.stdin.getWriter();
  return {
    pid: child.pid,
    async release(): Promise<void> {
      await writer.write(new TextEncoder().encode("done\n")).catch(() => {});
      await writer.close().catch(() => {});
      child.ref(); // unref'd so a forgotten node cannot hold its process open; now wait for the guard
      await child.status;
    },
  };
}

/** The guard: waits for its owner's pipe to close; unless told "done", removes the run once the owner is gone. */
async function guard(dir: string): Promise<void> {
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) Deno.addSignalListener(s, () => {});
  let said = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) said += chunk;
  if (said.includes("done")) Deno.exit(0);
  const owner = readOwner(dir);
  if (owner === null) Deno.exit(0);
  while (!ownerGone(owner)) await sleep(20);
  const removed = await removeRun(dir, owner);
  try {
    console.error(`containerd node ${dir}: its process ended without cleaning up; removed ${removed.length} item(s)`);
  } catch { /* under `deno test` stderr is a pipe whose reader died with the owner */ }
  Deno.exit(0);
}

if (import.meta.main) await guard(Deno.args[0]!);
