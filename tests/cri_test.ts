/**
 * The Kubernetes node path: containerd's CRI plugin driving podnet exactly as
 * kubelet has it do, through `runtime.v1.RuntimeService` (lab/cri/client.ts).
 * Each test starts its own containerd inside a throwaway node netns
 * (lab/containerd.ts) with podnet installed by `podnet install --runtime
 * containerd`, and checks the CRI's answers against the kernel's state in the
 * node and pod netns (`ip -j`). The node owns NODE_V4 and NODE_V6 on an ifb
 * device; pods ping only those.
 */

import assert from "node:assert/strict";
import { CriError } from "../lab/cri/client.ts";
import {
  type ContainerdNode,
  containerdNode,
  CRI_PREFIX,
  NODE_V4,
  NODE_V6,
  type Pod,
  RUNSC_HANDLER,
  sweepDeadRuns,
} from "../lab/containerd.ts";
import { cni, SUBNET4, SUBNET6 } from "../lab/node.ts";
import { ipJson, run, runAsync } from "./harness.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const V4 = new RegExp(`^${SUBNET4.replace(/0\/24$/, "").replaceAll(".", "\\.")}\\d+$`);
const V6 = new RegExp(`^${SUBNET6.replace(/\/64$/, "")}[0-9a-f]+$`);

/** `ip -j ARGS…` inside the netns at `path` (containerd's pod netns are not under /run/netns). */
// deno-lint-ignore no-explicit-any
function ipIn(path: string, ...args: string[]): any[] {
  const out = run("nsenter", [`--net=${path}`, "ip", "-j", ...args]).trim();
  return out === "" ? [] : JSON.parse(out);
}

/** podnet's host end for `sandboxId` in the node netns (alias network/containerID/ifname), or undefined. */
// deno-lint-ignore no-explicit-any
function hostEnd(n: ContainerdNode, sandboxId: string): any {
  return ipJson(n.ns, "link", "show", "type", "veth").find((l) => l.ifalias === `${n.network}/${sandboxId}/eth0`);
}

function sysctl(ns: string, key: string): string {
  return run("nsenter", [`--net=/run/netns/${ns}`, "cat", `/proc/sys/${key}`]).trim();
}

/** Stop and remove, as kubelet does when a pod goes. */
async function removePod(n: ContainerdNode, id: string): Promise<void> {
  await n.cri.stopPodSandbox(id);
  await n.cri.removePodSandbox(id);
}

/** Waits until the container's log holds `text`; returns the log. */
async function logHas(path: string, text: string, timeoutMs = 10_000): Promise<string> {
  const t0 = performance.now();
  for (;;) {
    let log = "";
    try {
      log = Deno.readTextFileSync(path);
    } catch { /* not written yet */ }
    if (log.includes(text)) return log;
    if (performance.now() - t0 > timeoutMs) throw new Error(`${path} has no "${text}" after ${timeoutMs} ms:\n${log}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

Deno.test("CRI: a dual-stack pod is READY with podnet's addresses, its busybox container pings the node over IPv4 and IPv6 at once, exit code and log come back through CRI, gateways pinned PERMANENT", async () => {
  await using n = await containerdNode();
  const v = await n.cri.version();
  assert.equal(v.runtime_name, "containerd");
  assert.equal(v.runtime_api_version, "v1");

  const pod = await n.runPod("web");
  const st = (await n.cri.podSandboxStatus(pod.id)).status;
  assert.equal(st.state, "SANDBOX_READY");
  assert.match(st.network!.ip, V4);
  assert.equal(st.network!.additional_ips.length, 1);
  const ip6 = st.network!.additional_ips[0]!.ip;
  assert.match(ip6, V6);
  // containerd reports what the chain returned, which is podnet's result passed through portmap and tuning.
  const result = n.cachedResult(pod.id);
  assert.deepEqual(result?.ips?.map((i) => i.address), [`${st.network!.ip}/32`, `${ip6}/128`]);

  // Node side: the host end named, aliased and routed as cni/attachment.ts plans it; no proxy ARP.
  const end = hostEnd(n, pod.id);
  assert.ok(end, `no host end aliased ${n.network}/${pod.id}/eth0`);
  assert.match(end.ifname, /^pn[0-9a-f]{13}$/);
  assert.equal(sysctl(n.ns, `net/ipv4/conf/${end.ifname}/proxy_arp`), "0");
  assert.equal(ipJson(n.ns, "-4", "route", "show", `${st.network!.ip}/32`)[0]?.dev, end.ifname);
  assert.equal(ipJson(n.ns, "-6", "route", "show", `${ip6}/128`)[0]?.dev, end.ifname);

  // Pod side, in the netns containerd made: the addresses, and both gateways pinned to the host end's MAC.
  const netns = await n.podNetns(pod.id);
  const eth0 = ipIn(netns, "addr", "show", "eth0")[0];
  assert.deepEqual(
    eth0.addr_info.filter((a: { scope: string }) => a.scope === "global").map((
      a: { local: string; prefixlen: number },
    ) => `${a.local}/${a.prefixlen}`),
    [`${st.network!.ip}/32`, `${ip6}/128`],
  );
  const pins = ipIn(netns, "neigh", "show", "dev", "eth0")
    .map((x: { dst: string; lladdr: string; state: string[] }) => [x.dst, x.lladdr, x.state.join(",")]).sort();
  assert.deepEqual(pins, [["169.254.1.1", end.address, "PERMANENT"], ["fe80::1", end.address, "PERMANENT"]]);

  // One echo request per family, right after RunPodSandbox: no DAD wait, no neighbor resolution.
  const cid = await n.runContainer(pod, "ping", `ping -c1 -W2 ${NODE_V4} && ping -6 -c1 -W2 ${NODE_V6} && exit 42`);
  assert.equal(await n.waitExited(cid), 42, "both pings answered, then the script's own exit code");
  const cs = await n.cri.containerStatus(cid);
  assert.equal(cs.state, "CONTAINER_EXITED");
  assert.equal(cs.log_path, `${n.dir}/logs/web/ping.log`);
  const log = Deno.readTextFileSync(cs.log_path);
  assert.match(log, new RegExp(`stdout F 64 bytes from ${NODE_V4.replaceAll(".", "\\.")}: seq=0`));
  assert.match(log, new RegExp(`stdout F 64 bytes from ${NODE_V6}: seq=0`));
  assert.equal((log.match(/1 packets transmitted, 1 packets received/g) ?? []).length, 2, log);

  const status = await n.status();
  assert.equal(status.code, 0, JSON.stringify(status.report));
  assert.deepEqual(status.report.attachments.map((a) => [a.containerId, a.pins]), [[pod.id, "match"]]);
  await n.cri.removeContainer(cid);
});

Deno.test("CRI: StopPodSandbox + RemovePodSandbox leave no host end, route, lease, libcni cache entry, netns or process; both succeed twice", async () => {
  await using n = await containerdNode();
  const pod = await n.runPod("gone");
  const netns = await n.podNetns(pod.id);
  assert.ok(hostEnd(n, pod.id));
  assert.notDeepEqual(n.leftovers([pod.id]), []);

  await n.cri.stopPodSandbox(pod.id);
  // The CNI DEL runs at stop: everything of the network is gone before the sandbox is removed.
  assert.deepEqual(n.leftovers([pod.id]), []);
  assert.equal((await n.cri.podSandboxStatus(pod.id)).status.state, "SANDBOX_NOTREADY");
  await n.cri.stopPodSandbox(pod.id);
  await n.cri.removePodSandbox(pod.id);
  await n.cri.removePodSandbox(pod.id);
  await n.cri.stopPodSandbox(pod.id).then(
    () => {},
    (e: CriError) => assert.equal(e.code, 5, `a removed sandbox is NOT_FOUND: ${e.message}`),
  );

  assert.deepEqual(n.leftovers([pod.id]), []);
  assert.throws(() => Deno.lstatSync(netns), Deno.errors.NotFound);
  assert.deepEqual(await n.cri.listPodSandbox(), []);
  assert.deepEqual(n.processes(), [], "no shim or pod process is left");
  const status = await n.status();
  assert.equal(status.code, 0);
  assert.deepEqual(status.report.attachments, []);
});

Deno.test("CRI: 30 pods started in parallel are all READY with distinct addresses, and removing them in parallel leaves nothing", async () => {
  await using n = await containerdNode();
  const count = 30;
  const t0 = performance.now();
  // kubelet runs pod workers concurrently: no serialisation here either.
  const pods = await Promise.all(Array.from({ length: count }, (_, i) => n.runPod(`par${i}`)));
  const tRun = performance.now() - t0;
  const statuses = await Promise.all(pods.map(async (p) => (await n.cri.podSandboxStatus(p.id)).status));
  assert.deepEqual(statuses.filter((s) => s.state !== "SANDBOX_READY").map((s) => s.id), []);
  const v4 = statuses.map((s) => s.network!.ip);
  const v6 = statuses.map((s) => s.network!.additional_ips[0]?.ip);
  assert.equal(new Set(v4).size, count, `distinct IPv4 addresses: ${v4.join(" ")}`);
  assert.equal(new Set(v6).size, count, `distinct IPv6 addresses: ${v6.join(" ")}`);
  for (const a of v4) assert.match(a, V4);
  for (const a of v6) assert.match(a ?? "", V6);
  for (const p of pods) assert.ok(hostEnd(n, p.id), `host end of ${p.config.metadata.name}`);
  const status = await n.status();
  assert.equal(status.code, 0, JSON.stringify(status.report.attachments.filter((a) => a.drift.length)));
  assert.equal(status.report.attachments.length, count);

  const t1 = performance.now();
  await Promise.all(pods.map((p) => removePod(n, p.id)));
  const tRm = performance.now() - t1;
  assert.deepEqual(n.leftovers(pods.map((p) => p.id)), []);
  assert.deepEqual(await n.cri.listPodSandbox(), []);
  assert.deepEqual(n.processes(), []);
  console.log(`${count} x RunPodSandbox in parallel: ${tRun.toFixed(0)} ms; stop+remove: ${tRm.toFixed(0)} ms`);
});

Deno.test("CRI: containerd restarted while pods run; StopPodSandbox after the restart runs DEL and cleans up", async () => {
  await using n = await containerdNode();
  const pods = [await n.runPod("r1"), await n.runPod("r2")];
  const before = pods.map((p) => hostEnd(n, p.id).ifname);
  const pid = n.pid;
  await n.stop();
  // The pods outlive containerd: shims, pause processes and their network stay.
  assert.equal(n.processes().filter((p) => p.includes("containerd-shim-runc-v2")).length, 2);
  assert.deepEqual(pods.map((p) => hostEnd(n, p.id)?.ifname), before);
  await n.start();
  assert.notEqual(n.pid, pid);
  for (const p of pods) {
    const st = (await n.cri.podSandboxStatus(p.id)).status;
    assert.equal(st.state, "SANDBOX_READY", `${p.config.metadata.name} after the restart`);
    assert.match(st.network!.ip, V4);
  }
  for (const p of pods) await removePod(n, p.id);
  assert.deepEqual(n.leftovers(pods.map((p) => p.id)), []);
  assert.deepEqual(n.processes(), []);
});

Deno.test("CRI: an ADD that fails (IPAM range exhausted) fails RunPodSandbox with podnet's message and leaves nothing", async () => {
  // host-local keeps .0, .3 (network, broadcast) and .1 (gateway) of a /30: room for one pod.
  await using n = await containerdNode({ subnets: ["10.244.9.0/30", SUBNET6] });
  const first = await n.runPod("fits");
  const leftBefore = n.leftovers([first.id]);
  const mounts = run("cat", ["/proc/self/mountinfo"]).split("\n").filter((l) => l.includes(n.dir)).length;

  const err = await n.runPod("full").then(() => null, (e: unknown) => e);
  assert.ok(err instanceof CriError, `RunPodSandbox failed: ${err}`);
  // podnet's own answer to the same ADD, run directly as a runtime would: containerd relays its msg.
  const list = JSON.parse(Deno.readTextFileSync(`${n.dir}/net.d/10-podnet.conflist`));
  const direct = await cni(n.node, { command: "ADD", containerId: "probe", netns: n.w.path(n.w.netns("probe")) }, {
    cniVersion: list.cniVersion,
    name: list.name,
    ...list.plugins[0],
  });
  assert.equal(direct.code, 1);
  // podnet names the plugin and its CNI code in words, never the plugin's own text (it may echo the config).
  assert.match(direct.json.msg, /^IPAM plugin host-local ADD failed with CNI error code 999 \(internal failure\)$/);
  assert.ok(
    err.details.includes(`plugin type="podnet" failed (add): ${direct.json.msg}`),
    `containerd's error carries podnet's message: ${err.details}`,
  );

  // Nothing of the failed pod: no second host end, lease, cache entry, netns mount or sandbox.
  assert.deepEqual(n.leftovers([first.id]), leftBefore);
  assert.deepEqual(ipJson(n.ns, "link", "show", "type", "veth").length, 1);
  assert.equal(run("cat", ["/proc/self/mountinfo"]).split("\n").filter((l) => l.includes(n.dir)).length, mounts);
  assert.deepEqual((await n.cri.listPodSandbox()).map((p) => p.id), [first.id]);
  await removePod(n, first.id);
  assert.deepEqual(n.leftovers([first.id]), []);
});

/** A busybox workload in a gVisor pod that pings the node, says so, and keeps running. */
async function gvisorPod(n: ContainerdNode, name: string): Promise<{ pod: Pod; cid: string; log: string }> {
  const pod = await n.runPod(name, RUNSC_HANDLER);
  const cid = await n.runContainer(
    pod,
    "work",
    `dmesg | head -1; ping -c1 -W2 ${NODE_V4} && ping -6 -c1 -W2 ${NODE_V6} && echo reached-node; exec sleep 600`,
  );
  return { pod, cid, log: await logHas(`${n.dir}/logs/${name}/work.log`, "reached-node") };
}

Deno.test("CRI: a gVisor pod (runsc through deploy/containerd/runsc-cri-wrap) reaches the node with proxy ARP off; its container's exec, logs, exit code, stop and remove work", async () => {
  await using n = await containerdNode();
  const { pod, cid, log } = await gvisorPod(n, "gv");
  const st = (await n.cri.podSandboxStatus(pod.id)).status;
  assert.equal(st.state, "SANDBOX_READY");
  assert.equal(st.runtime_handler, RUNSC_HANDLER);
  assert.match(log, /Starting gVisor/, "the workload runs in gVisor's kernel");
  assert.equal((log.match(/1 packets transmitted, 1 packets received/g) ?? []).length, 2, log);
  const end = hostEnd(n, pod.id);
  assert.equal(sysctl(n.ns, `net/ipv4/conf/${end.ifname}/proxy_arp`), "0");
  assert.equal(sysctl(n.ns, "net/ipv4/conf/all/proxy_arp"), "0");
  assert.equal((await n.cri.containerStatus(cid)).state, "CONTAINER_RUNNING");

  const ex = await n.cri.execSync(cid, [
    "/bin/busybox",
    "sh",
    "-c",
    `ping -c1 -W2 ${NODE_V4} >/dev/null && echo hi; exit 3`,
  ]);
  assert.deepEqual(ex, { stdout: "hi\n", stderr: "", exit_code: 3 });
  const quick = await n.runContainer(pod, "quick", "echo bye; exit 7");
  assert.equal(await n.waitExited(quick), 7);
  assert.match(Deno.readTextFileSync(`${n.dir}/logs/gv/quick.log`), /stdout F bye\n/);

  await n.cri.stopContainer(cid, 0);
  const stopped = await n.cri.containerStatus(cid);
  assert.equal(stopped.state, "CONTAINER_EXITED");
  assert.equal(stopped.exit_code, 137, "SIGKILL");
  await n.cri.removeContainer(cid);
  await n.cri.removeContainer(quick);
  await assert.rejects(n.cri.containerStatus(cid), (e: CriError) => e.code === 5);

  await removePod(n, pod.id);
  assert.deepEqual(n.leftovers([pod.id]), []);
  assert.deepEqual(n.processes(), [], "no shim, runsc or waiter is left");
});

Deno.test("CRI: when a gVisor sandbox dies, its workload is reported exited, and stopping and removing container and pod succeed and leave nothing", async () => {
  await using n = await containerdNode();
  const { pod, cid } = await gvisorPod(n, "crash");
  // A sandbox killed behind containerd's back (an OOM kill, a crash): the PID is containerd's answer.
  const info = JSON.parse((await n.cri.podSandboxStatus(pod.id, true)).info.info ?? "{}");
  assert.ok(Number.isInteger(info.pid) && info.pid > 1, `sandbox pid in ${JSON.stringify(info).slice(0, 200)}`);
  Deno.kill(info.pid, "SIGKILL");
  const code = await n.waitExited(cid);
  assert.notEqual(code, 0, "a workload whose sandbox died did not succeed");
  // runsc answers "sandbox is not running" here; the wrapper turns it into what the shim accepts.
  await n.cri.stopContainer(cid, 0);
  await n.cri.removeContainer(cid);
  await removePod(n, pod.id);
  assert.deepEqual(n.leftovers([pod.id]), []);
  assert.deepEqual(n.processes(), []);
});

Deno.test("CRI: podnet status on a containerd node lists every pod, gVisor ones included, and exits 0 when nothing drifted", async () => {
  await using n = await containerdNode();
  const runc = [await n.runPod("s1"), await n.runPod("s2")];
  const { pod: gv } = await gvisorPod(n, "s3");
  const { code, report } = await n.status();
  assert.deepEqual(
    report.attachments.map((a) => a.containerId).sort(),
    [...runc.map((p) => p.id), gv.id].sort(),
  );
  for (const p of runc) assert.equal(report.attachments.find((a) => a.containerId === p.id)?.pins, "match");
  assert.equal(report.drift, 0, JSON.stringify(report.attachments.filter((a) => a.drift.length)));
  assert.equal(code, 0);
});

Deno.test("CRI: podnet install's containerd note holds: an imported file replaces config.toml's whole CRI section", async () => {
  const dir = Deno.makeTempDirSync({ prefix: CRI_PREFIX });
  try {
    Deno.mkdirSync(`${dir}/conf.d`);
    Deno.writeTextFileSync(
      `${dir}/config.toml`,
      `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\nimports = ["${dir}/conf.d/*.toml"]\n` +
        `[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "localhost/podnet-pause:1"\n`,
    );
    Deno.writeTextFileSync(
      `${dir}/conf.d/podnet.toml`,
      `version = 2\n[plugins."io.containerd.grpc.v1.cri".cni]\n  bin_dir = "${dir}/bin"\n`,
    );
    const r = await runAsync("containerd", ["--config", `${dir}/config.toml`, "config", "dump"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`bin_dir = "${dir}/bin"`), "the drop-in was read through imports");
    assert.doesNotMatch(
      r.stdout,
      /sandbox_image = "localhost\/podnet-pause:1"/,
      "…and config.toml's CRI keys are gone",
    );
    const out = await runAsync(`${ROOT}/bin/podnet`, [
      "install",
      "--runtime",
      "containerd",
      "--dry-run",
      "--subnet",
      SUBNET4,
    ]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout.replaceAll("\n", " "), /only through an `imports` line in config\.toml/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** A containerd node with a runc pod and a gVisor pod in a child Deno process, once it runs. */
async function childNode(): Promise<{ child: Deno.ChildProcess; dir: string; id: string; guard: number }> {
  const code = `import { containerdNode, RUNSC_HANDLER } from "${ROOT}/lab/containerd.ts";
const n = await containerdNode();
await n.runPod("c1");
const g = await n.runPod("c2", RUNSC_HANDLER);
await n.runContainer(g, "w", "exec sleep 600");
console.log(JSON.stringify({ dir: n.dir, id: n.w.id, guard: n.guardPid }));
setInterval(() => {}, 1000);`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-prompt", code],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the child node exited before it was up: ${text}`);
    text += value;
  }
  reader.cancel();
  return { child, ...JSON.parse(text) };
}

/** Everything of a run that its clean-up must remove, in words; empty when all is gone. */
function traces(dir: string, id: string): string[] {
  const out: string[] = [];
  for (const l of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) if (l.includes(`${dir}/`)) out.push(l);
  for (const e of Deno.readDirSync("/proc")) {
    try {
      if (/^\d+$/.test(e.name) && Deno.readTextFileSync(`/proc/${e.name}/cmdline`).includes(`${dir}/`)) {
        out.push(`process ${e.name}`);
      }
    } catch { /* exited */ }
  }
  for (const ns of run("ip", ["netns", "list"]).split("\n")) if (ns.startsWith(`${CRI_PREFIX}${id}-`)) out.push(ns);
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    // Each cgroup hierarchy (v1) or the v2 root: the pods' cgroup_parent /pncri-ID appears in every one.
    if (!/ - cgroup2? /.test(line)) continue;
    const cg = `${line.split(" ")[4]}/${CRI_PREFIX}${id}`;
    try {
      Deno.statSync(cg);
      out.push(`cgroup ${cg}`);
    } catch { /* gone */ }
  }
  for (const f of Deno.readDirSync("/var/lib/cni/results")) {
    if (f.name.startsWith(`${CRI_PREFIX}${id}-`)) out.push(`libcni cache ${f.name}`);
  }
  try {
    Deno.statSync(dir);
    out.push(dir);
  } catch { /* gone */ }
  return out;
}

async function gone(dir: string, id: string, timeoutMs: number): Promise<string[]> {
  const t0 = performance.now();
  while (traces(dir, id).length && performance.now() - t0 < timeoutMs) await new Promise((ok) => setTimeout(ok, 100));
  return traces(dir, id);
}

Deno.test("CRI: a node's process ended by SIGTERM or SIGKILL leaves nothing; a run whose guard died too is removed by the next run, and only that", async () => {
  const term = await childNode();
  assert.notDeepEqual(traces(term.dir, term.id), []);
  term.child.kill("SIGTERM");
  assert.equal((await term.child.status).code, 143);
  assert.deepEqual(traces(term.dir, term.id), [], "SIGTERM: the node's own clean-up ran");

  const killed = await childNode();
  killed.child.kill("SIGKILL");
  await killed.child.status;
  assert.deepEqual(await gone(killed.dir, killed.id, 15_000), [], "SIGKILL: the guard removed the run");

  await using live = await containerdNode();
  const livePod = await live.runPod("stays");
  const dead = await childNode();
  Deno.kill(dead.guard, "SIGKILL");
  dead.child.kill("SIGKILL");
  await dead.child.status;
  assert.ok(traces(dead.dir, dead.id).some((t) => t.startsWith("process ")), "containerd outlives its owner");
  const removed = await sweepDeadRuns();
  assert.ok(removed.includes(`dir ${dead.dir}`), removed.join("\n"));
  assert.deepEqual(traces(dead.dir, dead.id), []);
  // The live node of this process is untouched.
  assert.equal((await live.cri.podSandboxStatus(livePod.id)).status.state, "SANDBOX_READY");
  assert.ok(hostEnd(live, livePod.id));
  assert.notDeepEqual(traces(live.dir, live.w.id), []);
});
