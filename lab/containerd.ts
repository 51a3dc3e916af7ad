/**
 * A Kubernetes node's runtime side for the tests, the measuring script and
 * the demo: containerd (Debian's 1.6) with its CRI plugin, which is what
 * kubelet drives, started inside a throwaway node netns with its root, state,
 * sockets, CNI dirs and runtime roots under one temp dir; podnet installed
 * into its CNI dirs by `podnet install --runtime containerd`; pause and
 * busybox images built from /bin/busybox (busybox-static) as an OCI layout
 * and imported with `ctr`, so no registry is involved. The settings follow
 * the verified recipe (the recipe this machine was verified with):
 * restrict_oom_score_adj (root here lacks CAP_SYS_RESOURCE), overlayfs.
 *
 * Dispose stops every pod through CRI (podnet's DEL runs), stops containerd
 * by PID, then removes whatever containerd 1.6 left outside its dirs (shim
 * sockets, libcni cache entries, cgroups, mounts, processes: see
 * lab/containerd_run.ts); SIGINT and SIGTERM under `deno run` do the same
 * before the process exits. When the process ends without that (`deno test`
 * on SIGINT, SIGKILL), the node's guard process removes it; when the guard is
 * gone too, the next node created does (`sweepDeadRuns`).
 *
 * Longer than the ~400 lines a module should be because it is one world with
 * one lifecycle: the config, the images, the runtime's start, pod helpers and
 * the teardown belong together; the forced clean-up is lab/containerd_run.ts.
 *
 * @module
 */

import { listDir } from "../core/fsutil.ts";
import { sha256HexOfLarge } from "../core/sha256.ts";
import { RUNSC_CRI_WRAPPER } from "../ops/containerd.ts";
import type { StatusReport } from "../ops/status.ts";
import { CriClient, type PodSandboxConfig } from "./cri/client.ts";
import { makeNode, type Node, NODE_V4, NODE_V6, SUBNET4, SUBNET6 } from "./node.ts";
import { ipJson, PODNET, run, runAsync, sleep, World } from "./world.ts";
import {
  CRI_PREFIX,
  exists,
  type Guard,
  guardRun,
  mountsUnder,
  type Owner,
  procStart,
  removeRunState,
  RESULTS_CACHE,
  runProcesses,
  sweepDeadRuns,
} from "./containerd_run.ts";

export { CRI_PREFIX, sweepDeadRuns };

export const PAUSE_IMAGE = "localhost/podnet-pause:1";
export const BUSYBOX_IMAGE = "localhost/podnet-busybox:1";
/** The RuntimeClass handler of gVisor pods (deploy/containerd/runsc-cri-wrap). */
export const RUNSC_HANDLER = "runsc";
export { NODE_V4, NODE_V6 };

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const WRAPPER = `${ROOT}/deploy/containerd/runsc-cri-wrap`;
/** The reference plugins: the list's chain and containerd's own loopback network. */
const REFERENCE = ["host-local", "portmap", "tuning", "loopback", "ptp"];

/** Options of `containerdNode`. */
export interface ContainerdOptions {
  /** Pod subnets for `podnet install` (default lab/node.ts's dual-stack SUBNET4, SUBNET6). */
  subnets?: string[];
  /**
   * A network list to use instead of podnet's (the measuring script's ptp), given the
   * node (its IPAM dir) and the network name it must carry.
   */
  conflist?: (node: Node, network: string) => Record<string, unknown>;
}

/** A pod as the tests start it: its ID and the config CreateContainer needs again. */
export interface Pod {
  id: string;
  config: PodSandboxConfig;
}

/** Nodes alive in this process, torn down on SIGINT and SIGTERM. */
const live = new Set<ContainerdNode>();

async function onSignal(code: number): Promise<void> {
  for (const n of [...live]) {
    try {
      await n[Symbol.asyncDispose]();
    } catch (e) {
      console.error(`containerd node clean-up after a signal: ${(e as Error).message}`);
    }
  }
  Deno.exit(code);
}
const onInt = (): void => void onSignal(130);
const onTerm = (): void => void onSignal(143);

function track(n: ContainerdNode, on: boolean): void {
  const before = live.size;
  if (on) live.add(n);
  else live.delete(n);
  if (before === 0 && live.size === 1) {
    Deno.addSignalListener("SIGINT", onInt);
    Deno.addSignalListener("SIGTERM", onTerm);
  } else if (before > 0 && live.size === 0) {
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
  }
}

/** Files of an OCI image layout: path → bytes. */
type Layout = Map<string, Uint8Array>;

/**
 * The pause and busybox images as one OCI image layout tar in `dir`: a single uncompressed layer
 * holding /bin/busybox, two configs (entrypoint `sleep` forever for pause, `sh` for busybox),
 * the names in `io.containerd.image.name`, which `ctr images import` uses.
 */
async function buildImages(dir: string): Promise<string> {
  const rootfs = `${dir}/image/rootfs`;
  for (const d of ["bin", "dev", "proc", "sys", "etc", "tmp"]) Deno.mkdirSync(`${rootfs}/${d}`, { recursive: true });
  Deno.copyFileSync("/bin/busybox", `${rootfs}/bin/busybox`);
  Deno.chmodSync(`${rootfs}/bin/busybox`, 0o755);
  const layerTar = `${dir}/image/layer.tar`;
  run("tar", ["--owner=0", "--group=0", "--numeric-owner", "-C", rootfs, "-cf", layerTar, "."]);
  const layout: Layout = new Map();
  const blob = async (data: Uint8Array): Promise<{ digest: string; size: number }> => {
    const digest = `sha256:${await sha256HexOfLarge(data)}`;
    layout.set(`blobs/sha256/${digest.slice(7)}`, data);
    return { digest, size: data.length };
  };
  const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
  const layer = await blob(Deno.readFileSync(layerTar));
  const manifests = [];
  for (
    const [name, entrypoint] of [
      [PAUSE_IMAGE, ["/bin/busybox", "sleep", "2147483647"]],
      [BUSYBOX_IMAGE, ["/bin/busybox", "sh"]],
    ] as const
  ) {
    const config = await blob(json({
      architecture: "amd64",
      os: "linux",
      config: { Entrypoint: entrypoint, Env: ["PATH=/bin"] },
      rootfs: { type: "layers", diff_ids: [layer.digest] },
    }));
    const manifest = await blob(json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
    }));
    manifests.push({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      ...manifest,
      annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": name.split(":")[1] },
    });
  }
  layout.set("index.json", json({ schemaVersion: 2, manifests }));
  layout.set("oci-layout", json({ imageLayoutVersion: "1.0.0" }));
  const out = `${dir}/image/layout`;
  for (const [path, data] of layout) {
    Deno.mkdirSync(`${out}/${path.slice(0, path.lastIndexOf("/") + 1)}`, { recursive: true });
    Deno.writeFileSync(`${out}/${path}`, data);
  }
  run("tar", ["-C", out, "-cf", `${dir}/images.tar`, "."]);
  Deno.removeSync(`${dir}/image`, { recursive: true });
  return `${dir}/images.tar`;
}

/**
 * The node's private config.toml: everything under `dir`, the recipe's two settings for this
 * machine, and the CNI and runsc settings `podnet install --runtime containerd` printed (`settings`).
 */
function containerdToml(dir: string, settings: string): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # pod netns under the state dir, not /run/netns: nothing of this node outside its dir
  netns_mounts_under_state_dir = true
  # root here lacks CAP_SYS_RESOURCE: runc could not set the sandbox's oom_score_adj of -998
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    options = { Root = "${dir}/runc" }
${settings}`;
}

/**
 * The two config.toml sections `podnet install --runtime containerd` printed, the wrapper's path
 * moved to this node's copy and `Root` added (runsc's state under the node's dir). Fails when they
 * are missing, so the printed text and what the tests run cannot drift apart.
 */
function printedSettings(out: string, dir: string): string {
  const section = (table: string): string => {
    const m = new RegExp(`^ {2}\\[plugins\\."io\\.containerd\\.grpc\\.v1\\.cri"\\.${table}\\]\n(?: {4}.*\n)+`, "m")
      .exec(out);
    if (m === null) throw new Error(`podnet install --runtime containerd printed no [….${table}] section:\n${out}`);
    return m[0].replace(/^ {2}/gm, "");
  };
  const cni = section("cni");
  const runsc = section("containerd\\.runtimes\\.runsc");
  const from = `BinaryName = "${RUNSC_CRI_WRAPPER}"`;
  if (!runsc.includes(from)) throw new Error(`the printed runsc section no longer says ${from}:\n${runsc}`);
  return cni + runsc.replace(from, `BinaryName = "${dir}/runsc-cri-wrap", Root = "${dir}/runsc-root"`);
}

/** deploy/containerd/runsc-cri-wrap as shipped, its empty dir under `dir` (fails when the line moved). */
function wrapper(dir: string): string {
  const text = Deno.readTextFileSync(WRAPPER);
  const from = "EMPTY_DIR=/run/podnet/empty";
  if (!text.includes(from)) throw new Error(`${WRAPPER} no longer contains ${from}`);
  return text.replace(from, `EMPTY_DIR=${dir}/empty`);
}

/** One containerd node: see the module comment. Create with `containerdNode`. */
export class ContainerdNode {
  readonly w: World;
  readonly node: Node;
  /** The node netns's name and path. */
  readonly ns: string;
  readonly nodePath: string;
  readonly dir: string;
  /** The CNI network's name, unique to this node (libcni cache entries carry it). */
  readonly network: string;
  readonly socket: string;
  #child: Deno.ChildProcess | null = null;
  #cri: CriClient | null = null;
  #disposed = false;
  #guard: Guard | null = null;

  constructor(w: World, node: Node, dir: string, guard: Guard) {
    this.#guard = guard;
    this.w = w;
    this.node = node;
    this.ns = node.ns;
    this.nodePath = node.path;
    this.dir = dir;
    this.network = `${CRI_PREFIX}${w.id}`;
    this.socket = `${dir}/containerd.sock`;
  }

  /** The CRI client of the running containerd. */
  get cri(): CriClient {
    if (this.#cri === null) throw new Error("containerd is not running");
    return this.#cri;
  }

  /** The guard's PID (lab/containerd_run.ts), or null once released. */
  get guardPid(): number | null {
    return this.#guard?.pid ?? null;
  }

  /** containerd's PID, or null when stopped. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Starts containerd in the node netns and waits until CRI answers. */
  async start(): Promise<void> {
    if (this.#child !== null) throw new Error("containerd is already running");
    // nsenter, not `ip netns exec`, which remounts /sys and hides the cgroup mounts runc needs.
    // sh only redirects the log; nsenter and containerd exec in turn, so the PID is containerd's.
    this.#child = new Deno.Command("sh", {
      args: [
        "-c",
        'exec nsenter --net="$1" containerd --config "$2" >>"$3" 2>&1',
        "sh",
        this.nodePath,
        `${this.dir}/containerd.toml`,
        `${this.dir}/containerd.log`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      // Plugins inherit containerd's environment: podnet's small caches stay in this node's dir.
      env: { PODNET_STATE_DIR: this.node.stateDir },
    }).spawn();
    const seen: { exit: Deno.CommandStatus | null } = { exit: null };
    this.#child.status.then((s) => seen.exit = s);
    // Ready in ~15 ms here. A fresh client per try: a gRPC channel that failed backs off for a second.
    const t0 = performance.now();
    for (;;) {
      if (exists(this.socket)) {
        const probe = new CriClient(this.socket, 1000);
        const ok = await probe.version().then(() => true, () => false);
        probe.close();
        if (ok) break;
      }
      if (seen.exit !== null) {
        this.#child = null;
        throw new Error(`containerd exited (${seen.exit.code}); its log ends:\n${this.log().slice(-3000)}`);
      }
      if (performance.now() - t0 > 20_000) {
        throw new Error(`containerd did not answer within 20 s; its log ends:\n${this.log().slice(-3000)}`);
      }
      await sleep(10);
    }
    this.#cri = new CriClient(this.socket);
  }

  /** Stops containerd by its PID (SIGTERM, SIGKILL after 10 s); running pods and their shims stay. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    this.#cri?.close();
    this.#cri = null;
    try {
      child.kill("SIGTERM");
    } catch { /* exited already */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
    }, 10_000);
    await child.status;
    clearTimeout(timer);
    this.#child = null;
  }

  /** containerd's log so far. */
  log(): string {
    try {
      return Deno.readTextFileSync(`${this.dir}/containerd.log`);
    } catch {
      return "";
    }
  }

  /** `ctr` against this containerd, in the k8s.io namespace (the CRI plugin's). */
  ctr(...args: string[]): string {
    return run("ctr", ["--address", this.socket, "--namespace", "k8s.io", ...args]);
  }

  /** A pod sandbox config as kubelet sends it (cgroup_parent, namespace options, log dir). */
  podConfig(name: string): PodSandboxConfig {
    const uid = `${name}-uid`;
    return {
      metadata: { name, uid, namespace: "default", attempt: 0 },
      hostname: name,
      log_directory: `${this.dir}/logs/${name}`,
      linux: {
        cgroup_parent: `/${CRI_PREFIX}${this.w.id}/pod${uid}`,
        security_context: { namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" } },
      },
    };
  }

  /** RunPodSandbox of `podConfig(name)` with `handler` ("" is containerd's default, runc). */
  async runPod(name: string, handler = ""): Promise<Pod> {
    const config = this.podConfig(name);
    return { id: await this.cri.runPodSandbox(config, handler), config };
  }

  /** Creates and starts a busybox container running `script` (sh -c) in `pod`; returns its ID. */
  async runContainer(pod: Pod, name: string, script: string): Promise<string> {
    const id = await this.cri.createContainer(pod.id, {
      metadata: { name, attempt: 0 },
      image: { image: BUSYBOX_IMAGE },
      command: ["/bin/busybox", "sh", "-c", script],
      log_path: `${name}.log`,
      linux: { security_context: { namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" } } },
    }, pod.config);
    await this.cri.startContainer(id);
    return id;
  }

  /** Polls ContainerStatus until the container has exited; returns its exit code. */
  async waitExited(id: string, timeoutMs = 20_000): Promise<number> {
    const t0 = performance.now();
    for (;;) {
      const s = await this.cri.containerStatus(id);
      if (s.state === "CONTAINER_EXITED") return s.exit_code;
      if (performance.now() - t0 > timeoutMs) throw new Error(`container ${id} still ${s.state} after ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** The pod's netns path, from containerd's verbose PodSandboxStatus. */
  async podNetns(id: string): Promise<string> {
    const info = JSON.parse((await this.cri.podSandboxStatus(id, true)).info.info ?? "{}");
    const ns = info.runtimeSpec?.linux?.namespaces?.find((n: { type: string }) => n.type === "network")?.path;
    if (typeof ns !== "string") throw new Error(`no network namespace path in the status of ${id}`);
    return ns;
  }

  /** The result libcni cached for the pod's network (the chain's result, podnet's addresses), or null. */
  cachedResult(sandboxId: string): { ips?: { address: string }[]; interfaces?: unknown[] } | null {
    try {
      return JSON.parse(Deno.readTextFileSync(`${RESULTS_CACHE}/${this.network}-${sandboxId}-eth0`)).result ?? null;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
  }

  /**
   * Processes of this node other than containerd itself (shims, runsc, the wrapper's waiters, pods'
   * processes), as `PID argv…`: none once every pod is removed.
   */
  processes(): string[] {
    return runProcesses(this.dir, this.w.id).filter((p) => p !== this.pid).map((p) => {
      try {
        return `${p} ${Deno.readTextFileSync(`/proc/${p}/cmdline`).split("\0").join(" ").trim()}`;
      } catch {
        return `${p} (exited)`;
      }
    });
  }

  /** `podnet status --json` in the node netns: its exit code and report. */
  async status(): Promise<{ code: number; report: StatusReport }> {
    const r = await runAsync("nsenter", [`--net=${this.nodePath}`, PODNET, "status", "--json"]);
    if (r.code !== 0 && r.code !== 1) throw new Error(`podnet status failed (${r.code}): ${r.stderr}`);
    return { code: r.code, report: JSON.parse(r.stdout) };
  }

  /**
   * What pods left on the node: veths (host ends), routes other than the node's own, IPAM leases,
   * libcni cache entries of this network and of containerd's loopback for `sandboxIds`, pod netns
   * mounts. Empty when everything was cleaned up.
   */
  leftovers(sandboxIds: string[] = []): string[] {
    const out: string[] = [];
    for (const l of ipJson(this.ns, "link", "show", "type", "veth")) out.push(`link ${l.ifname} (${l.ifalias ?? ""})`);
    for (const fam of ["-4", "-6"]) {
      // The node's own routes go through its uplink stand-in; any other is a pod's host route.
      for (const r of ipJson(this.ns, fam, "route", "show")) {
        if (r.dev !== "ifb0") out.push(`route ${r.dst} dev ${r.dev}`);
      }
    }
    for (const f of listDir(`${this.node.dataDir}/${this.network}`)) {
      if (!/^(lock|last_reserved_ip\.\d+)$/.test(f)) out.push(`lease ${f}`);
    }
    for (const f of listDir(RESULTS_CACHE)) {
      if (f.startsWith(`${this.network}-`) || sandboxIds.some((s) => f === `cni-loopback-${s}-lo`)) {
        out.push(`libcni cache ${f}`);
      }
    }
    for (const m of mountsUnder(`${this.dir}/state/io.containerd.grpc.v1.cri/netns`)) out.push(`netns mount ${m}`);
    return out;
  }

  /**
   * Tears the node down: every pod through CRI (StopPodSandbox + RemovePodSandbox, which run
   * podnet's DEL), containerd, then whatever is still there (see the module comment). Idempotent.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const errors: unknown[] = [];
    try {
      if (this.#cri !== null) {
        const cri = new CriClient(this.socket, 30_000);
        try {
          for (const p of await cri.listPodSandbox()) {
            await cri.stopPodSandbox(p.id).catch((e) => errors.push(e));
            await cri.removePodSandbox(p.id).catch((e) => errors.push(e));
          }
        } finally {
          cri.close();
        }
      }
    } catch (e) {
      errors.push(e);
    }
    try {
      await this.stop();
    } catch (e) {
      errors.push(e);
    }
    try {
      await removeRunState(this.dir, this.w.id, this.network);
    } catch (e) {
      errors.push(e);
    }
    try {
      await this.w[Symbol.asyncDispose]();
    } catch (e) {
      errors.push(e);
    }
    // Released only when all went: else the guard removes the rest once this process ends.
    if (errors.length === 0) await this.#guard?.release();
    this.#guard = null;
    track(this, false);
    if (errors.length) throw new AggregateError(errors, `containerd node ${this.network}: clean-up failed`);
  }
}

/**
 * A containerd node, running: node netns (lab/node.ts's, with NODE_V4 and NODE_V6 on an ifb
 * uplink stand-in), podnet installed for containerd into its CNI dirs (or `o.conflist`), images
 * imported. Removes what dead runs left first. Use as `await using n = await containerdNode()`.
 */
export async function containerdNode(o: ContainerdOptions = {}): Promise<ContainerdNode> {
  await sweepDeadRuns();
  const w = new World({ netns: CRI_PREFIX, tempDir: CRI_PREFIX });
  const dir = w.tempDir();
  const owner: Owner = {
    pid: Deno.pid,
    start: procStart(Deno.pid)!,
    id: w.id,
    network: `${CRI_PREFIX}${w.id}`,
    dirs: [],
  };
  // Recorded before anything else exists, and again once lab/node.ts made its dir.
  const guard = guardRun(dir, owner);
  let n: ContainerdNode | null = null;
  try {
    const node = makeNode(w);
    owner.dirs.push(node.dataDir.slice(0, node.dataDir.lastIndexOf("/")));
    Deno.writeTextFileSync(`${dir}/owner.json`, JSON.stringify(owner));
    n = new ContainerdNode(w, node, dir, guard);
    track(n, true);
    for (const d of ["cni-bin", "net.d", "empty", "logs", "runsc-root"]) Deno.mkdirSync(`${dir}/${d}`);
    for (const p of REFERENCE) Deno.symlinkSync(`/usr/lib/cni/${p}`, `${dir}/cni-bin/${p}`);
    Deno.writeTextFileSync(`${dir}/runsc-cri-wrap`, wrapper(dir), { mode: 0o755 });
    const inst = await runAsync(PODNET, [
      "install",
      "--runtime",
      "containerd",
      "--cni-bin-dir",
      `${dir}/cni-bin`,
      "--cni-conf-dir",
      `${dir}/net.d`,
      "--ipam-data-dir",
      node.dataDir,
      "--name",
      n.network,
      ...(o.subnets ?? [SUBNET4, SUBNET6]).flatMap((s) => ["--subnet", s]),
    ]);
    if (inst.code !== 0) throw new Error(`podnet install failed (${inst.code}): ${inst.stderr}`);
    if (o.conflist) {
      // Another list in podnet's place: the first list in conf_dir is the one containerd uses.
      Deno.removeSync(`${dir}/net.d/10-podnet.conflist`);
      Deno.writeTextFileSync(`${dir}/net.d/10-measure.conflist`, JSON.stringify(o.conflist(node, n.network)));
    }
    Deno.writeTextFileSync(`${dir}/containerd.toml`, containerdToml(dir, printedSettings(inst.stdout, dir)));
    const images = await buildImages(dir);
    await n.start();
    n.ctr("images", "import", images);
    return n;
  } catch (e) {
    if (n !== null) await n[Symbol.asyncDispose]().catch(() => {});
    else await w[Symbol.asyncDispose]().then(() => guard.release(), () => {});
    throw e;
  }
}
