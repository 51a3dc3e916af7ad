/**
 * `podnet checkpoint` must not destroy a workload where that can be known in
 * advance: Debian's runsc (20221219) cannot save a connected TCP endpoint and
 * kills the sandbox trying. podnet reads the sandbox's own TCP table (gVisor's
 * /proc through `runsc exec … cat`) first. Real runsc, a throwaway node netns
 * with a TCP listener (busybox nc) that the sandbox connects to.
 */

import assert from "node:assert/strict";
import {
  capturePod,
  cniCall,
  COUNTER,
  Lab,
  type LabNode,
  labNode,
  PODNET,
  runDetached,
  runtimeFlags,
  track,
  waitFor,
  waitTicks,
} from "../lab/resume.ts";
import { makeBundle } from "../lab/sandbox.ts";
import { checkpoint, sandboxTcp, SNAPSHOT_FILE } from "../sandbox/checkpoint.ts";
import { runscStatus } from "../sandbox/runsc.ts";
import { listDir } from "../core/fsutil.ts";
import { run, runAsync, world } from "./harness.ts";

run("runsc", ["--version"]); // fails the file at once, with a clear message, when runsc is missing

const PORT = 7777;

/** A TCP listener in the node netns that keeps a connection open (its stdin stays open); killed by PID. */
function listener(s: Lab, node: LabNode): void {
  const p = new Deno.Command("nsenter", {
    args: [`--net=${node.netns}`, "busybox", "nc", "-l", "-p", String(PORT)],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  s.defer(async () => {
    try {
      p.kill("SIGKILL");
    } catch {
      // exited already
    }
    await p.status;
  });
}

/** The counter plus `client` (a shell command) in the background, in an attached pod on `node`. */
async function sandboxWith(
  s: Lab,
  node: LabNode,
  client: string,
  o: { path?: string } = {},
): Promise<{ snapshot: string; log: string; image: string; podNetns: string }> {
  const pod = { containerId: "old", podNetns: s.netns("old"), ifname: "eth0", config: node.config("10.244.0.0/16") };
  s.defer(async () => void await cniCall(node.cni, "DEL", pod));
  await cniCall(node.cni, "ADD", pod);
  const snapshot = `${node.dir}/old.json`;
  capturePod(pod.podNetns, "eth0", snapshot);
  const bundle = `${node.dir}/bundle`;
  makeBundle(bundle, ["/bin/busybox", "sh", "-c", `${client} ${COUNTER[3]}`], pod.podNetns);
  if (o.path !== undefined) {
    const config = JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`));
    config.process.env = [`PATH=${o.path}`];
    Deno.writeTextFileSync(`${bundle}/config.json`, JSON.stringify(config));
  }
  track(s, node.runtime, "old");
  const log = `${node.dir}/counter.log`;
  await runDetached(node.runtime, "old", bundle, log);
  await waitTicks(log, 2);
  return { snapshot, log, image: `${node.dir}/image`, podNetns: pod.podNetns };
}

const CONNECT = `/bin/busybox sleep 1000 | /bin/busybox nc 10.99.1.1 ${PORT} &`;

Deno.test("checkpoint refuses a sandbox holding an open TCP connection, naming it; the sandbox keeps running, nothing is written", async () => {
  await using w = world();
  const s = new Lab(w);
  const n1 = labNode(s, 1);
  listener(s, n1);
  const { snapshot, log, image, podNetns } = await sandboxWith(s, n1, CONNECT);
  // What gVisor's own /proc shows: the connection, ESTABLISHED (the pod netns's /proc/net/tcp shows nothing).
  const view = await waitFor("the connection", 10_000, async () => {
    const v = await sandboxTcp(n1.runtime, "old");
    return v && v.endpoints.some((e) => e.state === "ESTABLISHED") ? v : null;
  });
  const conn = view.endpoints.find((e) => e.state === "ESTABLISHED")!;
  assert.match(conn.local, /^10\.244\.0\.\d+:\d+$/);
  assert.equal(conn.remote, `10.99.1.1:${PORT}`);
  assert.ok(view.opened! >= 1);
  const kernel = run("nsenter", [`--net=${podNetns}`, "cat", "/proc/net/tcp", "/proc/net/tcp6"]);
  assert.doesNotMatch(kernel, /:1E61 /, "the pod netns's kernel table knows nothing of it");

  const refusal = new RegExp(
    `refusing to checkpoint old: it holds 1 TCP connection\\(s\\) this runsc cannot save, and it would kill the sandbox ` +
      `trying: 10\\.244\\.0\\.\\d+:\\d+ → 10\\.99\\.1\\.1:${PORT} ESTABLISHED\\. .*--allow-live-tcp-migration.*old is still running$`,
  );
  await assert.rejects(checkpoint({ runtime: n1.runtime, id: "old", imageDir: image, snapshot }), refusal);
  // The same through the command, as an operator runs it in the node's netns: exit 1, one line.
  const r = await runAsync("nsenter", [
    `--net=${n1.netns}`,
    PODNET,
    "checkpoint",
    ...runtimeFlags(n1),
    "--id",
    "old",
    "--image-dir",
    image,
    "--snapshot",
    snapshot,
  ]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, new RegExp(`^podnet checkpoint: ${refusal.source.slice(0, -1)}\n$`));
  assert.equal(await runscStatus(n1.runtime, "old"), "running");
  const last = await waitTicks(log, 1);
  await waitTicks(log, 2, last); // still counting
  assert.deepEqual(listDir(image), []);
});

Deno.test("a connection closed before the checkpoint lingers where gVisor's /proc cannot show it: podnet says so, and names it when runsc refuses", async () => {
  await using w = world();
  const s = new Lab(w);
  const n1 = labNode(s, 1);
  listener(s, n1);
  // Connect, then close from the sandbox's side: its endpoint lingers (FIN_WAIT2/TIME_WAIT, up to ~60 s).
  const { snapshot, image } = await sandboxWith(s, n1, `(/bin/busybox nc 10.99.1.1 ${PORT} </dev/null &) ;`);
  const view = await waitFor("a TCP connection to have been made", 10_000, async () => {
    const v = await sandboxTcp(n1.runtime, "old");
    return v && (v.opened ?? 0) > 0 && v.endpoints.every((e) => e.state === "LISTEN") ? v : null;
  });
  assert.deepEqual(view.endpoints, [], "nothing open is listed");
  const notes: string[] = [];
  await assert.rejects(
    checkpoint({ runtime: n1.runtime, id: "old", imageDir: image, snapshot, onNote: (l) => notes.push(l) }),
    new RegExp(
      `^CheckpointError: checkpoint old: runsc could not save the TCP connection 10\\.244\\.0\\.\\d+:\\d+ → ` +
        `10\\.99\\.1\\.1:${PORT} \\(closed less than ~60 s ago and lingering in TIME_WAIT, where podnet's look ` +
        `cannot see it\\); old is (stopped|gone) now$`,
    ),
  );
  assert.equal(notes.length, 1);
  assert.match(
    notes[0]!,
    /^old has opened 1 TCP connection\(s\) since it started and none is open now; one closed less than ~60 s ago still lingers in TIME_WAIT/,
  );
  assert.ok(!listDir(image).includes(SNAPSHOT_FILE), "the network record of a failed checkpoint is removed");
});

Deno.test("checkpoint refuses when it cannot see the sandbox's TCP endpoints (no cat in the image), unless told to go on", async () => {
  await using w = world();
  const s = new Lab(w);
  const n1 = labNode(s, 1);
  const { snapshot, image } = await sandboxWith(s, n1, "", { path: "/none" }); // neither cat nor busybox on PATH
  assert.equal(await sandboxTcp(n1.runtime, "old"), null);
  await assert.rejects(
    checkpoint({ runtime: n1.runtime, id: "old", imageDir: image, snapshot }),
    /^CheckpointError: refusing to checkpoint: cannot see the TCP connections of old: neither cat nor busybox cat runs in its image\. This runsc kills a sandbox that holds a TCP connection when asked to checkpoint it \(also one closed less than ~60 s ago, in TIME_WAIT\); newer gVisor can migrate them \(runsc --allow-live-tcp-migration\)\. To go on anyway: --skip-tcp-check$/,
  );
  assert.equal(await runscStatus(n1.runtime, "old"), "running");
  const notes: string[] = [];
  const r = await checkpoint({
    runtime: n1.runtime,
    id: "old",
    imageDir: image,
    snapshot,
    skipTcpCheck: true,
    onNote: (l) => notes.push(l),
  });
  assert.ok(r.imageBytes > 100_000);
  assert.equal(r.tcp, null);
  assert.match(notes.join("\n"), /cannot see the TCP connections of old: .*; going on \(--skip-tcp-check\)$/);
  assert.ok(listDir(image).includes("checkpoint.img") && listDir(image).includes(SNAPSHOT_FILE));
  assert.equal(await runscStatus(n1.runtime, "old"), null, "checkpointed and deleted");
});
