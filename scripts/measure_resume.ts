/**
 * Measures the resume of a checkpointed gVisor sandbox on another node: the
 * time from the start of `runsc restore` to the first successful ping from
 * inside the resumed sandbox to the new node's address (p50 of N runs).
 *
 * One checkpoint of the counter sandbox is taken on node 1; every run then
 * resumes it in a fresh pod on node 2 at the same addresses (CNI ADD, then
 * podnet's `resume`: capture, plan, restore, pin check, bundle, `runsc restore
 * -detach`), pings with `runsc exec ping
 * -c1 -W1` until one answers, and tears the pod down. The ping goes through
 * `runsc exec`, so its start-up (~0.1 s) is part of the number, as it is for
 * anyone checking a resumed sandbox from outside. Also reported: how long the
 * network preparation before `runsc restore` took, the `runsc restore` call
 * itself, and how many pings the first success needed (1 = at once).
 *
 *   deno run -A scripts/measure_resume.ts [--runs N] [--json]
 *
 * @module
 */

import {
  attachAndResume,
  type Attachment,
  capturePod,
  cniCall,
  COUNTER,
  Lab,
  labNode,
  pingFrom,
  retargetBundle,
  runDetached,
  track,
  waitTicks,
} from "../lab/resume.ts";
import { makeBundle } from "../lab/sandbox.ts";
import { checkpoint } from "../sandbox/checkpoint.ts";
import { runscDelete } from "../sandbox/runsc.ts";
import { median, pct } from "./stats.ts";

/** One resume. */
interface Sample {
  prepareMs: number;
  runscRestoreMs: number;
  firstPingExecMs: number;
  restoreToPingMs: number;
  attempts: number;
}

async function main(args: string[]): Promise<void> {
  const json = args.includes("--json");
  const runsAt = args.indexOf("--runs");
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 10;
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs wants a whole number >= 1");

  await using lab = new Lab();
  const n1 = labNode(lab, 1), n2 = labNode(lab, 2);
  const subnets = ["10.244.0.0/16", "fd00:244::/64"];

  const old: Attachment = {
    containerId: "old",
    podNetns: lab.netns("old"),
    ifname: "eth0",
    config: n1.config(...subnets),
  };
  await cniCall(n1.cni, "ADD", old);
  lab.defer(async () => {
    await cniCall(n1.cni, "DEL", old);
  });
  const snapFile = `${n1.dir}/old.json`;
  capturePod(old.podNetns, "eth0", snapFile);
  const bundle1 = `${n1.dir}/bundle`;
  makeBundle(bundle1, COUNTER, old.podNetns);
  track(lab, n1.runtime, "old");
  await runDetached(n1.runtime, "old", bundle1, `${n1.dir}/counter.log`);
  await waitTicks(`${n1.dir}/counter.log`, 3);
  const image = `${n1.dir}/image`;
  const { imageBytes } = await checkpoint({ runtime: n1.runtime, id: "old", imageDir: image, snapshot: snapFile });
  await cniCall(n1.cni, "DEL", old);

  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    const id = `new${i}`;
    const pod: Attachment = { containerId: id, podNetns: lab.netns(id), ifname: "eth0", config: n2.config(...subnets) };
    const bundle = `${n2.dir}/bundle-${i}`;
    retargetBundle(bundle1, bundle, pod.podNetns);
    track(lab, n2.runtime, id);
    try {
      const rep = await attachAndResume({
        node: n2,
        attachment: pod,
        sameAddress: true,
        imageDir: image,
        bundle,
        id,
        log: `${n2.dir}/counter-${i}.log`,
      });
      let attempts = 0, execMs = 0;
      for (;;) {
        attempts++;
        const t = performance.now();
        const p = await pingFrom(n2.runtime, id, n2.address, 1);
        execMs = performance.now() - t;
        if (p.code === 0) break;
        if (attempts >= 10) throw new Error(`run ${i}: no ping answered in 10 tries: ${p.stdout}${p.stderr}`);
      }
      samples.push({
        prepareMs: rep.prepareMs,
        runscRestoreMs: rep.runscRestoreMs,
        firstPingExecMs: execMs,
        restoreToPingMs: performance.now() - rep.runscRestoreStart,
        attempts,
      });
    } finally {
      await runscDelete(n2.runtime, id);
      await cniCall(n2.cni, "DEL", pod);
    }
  }

  const col = (k: keyof Sample): number[] => samples.map((s) => s[k]);
  const summary = {
    runs,
    imageBytes,
    restoreToFirstPingMs: {
      p50: median(col("restoreToPingMs")),
      min: Math.min(...col("restoreToPingMs")),
      p90: pct(col("restoreToPingMs"), 90),
      max: Math.max(...col("restoreToPingMs")),
    },
    runscRestoreMsP50: median(col("runscRestoreMs")),
    firstPingExecMsP50: median(col("firstPingExecMs")),
    prepareMsP50: median(col("prepareMs")),
    pingsNeeded: [...new Set(col("attempts"))].sort(),
  };
  if (json) {
    console.log(JSON.stringify({ summary, samples }, null, 2));
    return;
  }
  const f = (x: number): string => x.toFixed(0).padStart(8);
  console.log(`resume on node 2 of a ${Math.round(imageBytes / 1024)} KiB checkpoint, ${runs} runs (ms)`);
  console.log("     run  prepare  restore  ping-exec  restore→ping  pings");
  samples.forEach((s, i) =>
    console.log(
      `${String(i + 1).padStart(8)} ${f(s.prepareMs)} ${f(s.runscRestoreMs)} ${f(s.firstPingExecMs)}   ${
        f(s.restoreToPingMs)
      }     ${s.attempts}`,
    )
  );
  const q = summary.restoreToFirstPingMs;
  console.log(
    `runsc restore start → first successful ping: p50 ${q.p50.toFixed(0)} ms (min ${q.min.toFixed(0)}, p90 ${
      q.p90.toFixed(0)
    }, max ${q.max.toFixed(0)}); runsc restore call p50 ${summary.runscRestoreMsP50.toFixed(0)} ms, ` +
      `first ping exec p50 ${summary.firstPingExecMsP50.toFixed(0)} ms; network preparation before it p50 ${
        summary.prepareMsP50.toFixed(0)
      } ms; pings needed: ${summary.pingsNeeded.join(", ")}`,
  );
}

if (import.meta.main) await main(Deno.args);
