/**
 * Measures the sandbox tools in throwaway worlds (run as root):
 *   deno run -A scripts/measure_sandbox.ts [N]
 * - capture with a cold neighbor table (the pod's table flushed before each
 *   run, so the gateway is resolved by the kernel): in-process and via bin/podnet;
 * - restore of a snapshot moving eth0 from the pod netns into another netns;
 * - the time `podnet hook --link-netns` adds to `runsc create` (create with the
 *   prestart hook vs. create without it, interleaved).
 * Prints p50/p90 per measurement in milliseconds.
 *
 * @module
 */

import { captureNetns } from "../sandbox/capture.ts";
import { restoreSnapshot } from "../sandbox/restore.ts";
import { ip, runAsync, type World, world } from "../lab/world.ts";
import { calicoPod, makeBundle, PODNET } from "../lab/sandbox.ts";
import { runsc, type RunscConfig } from "../sandbox/runsc.ts";
import { pct } from "./stats.ts";

const N = Number(Deno.args[0] ?? 20);

function report(name: string, xs: number[]): void {
  console.log(`${name.padEnd(58)} n=${xs.length}  p50 ${pct(xs, 50).toFixed(1)} ms  p90 ${pct(xs, 90).toFixed(1)} ms`);
}

async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function measureCapture(): Promise<void> {
  await using w = world();
  const pw = calicoPod(w, { hostOwnsGateway: true, dualStack: true });
  const lib: number[] = [], cli: number[] = [];
  captureNetns(pw.podPath); // warm-up: JIT and libnl loaded, DAD settled
  for (let i = 0; i < N; i++) {
    ip(pw.pod, "neigh", "flush", "all");
    lib.push(await timed(() => captureNetns(pw.podPath, { timeoutMs: 3000 })));
    ip(pw.pod, "neigh", "flush", "all");
    cli.push(
      await timed(async () => {
        const r = await runAsync(PODNET, ["capture", "--netns", pw.podPath]);
        if (r.code !== 0) throw new Error(r.stderr);
      }),
    );
  }
  report("capture, cold neighbor table, v4+v6 gateways (library)", lib);
  report("capture, cold neighbor table (bin/podnet capture)", cli);
}

async function measureRestore(): Promise<void> {
  await using w = world();
  const pw = calicoPod(w, { hostOwnsGateway: true, dualStack: true });
  const q = w.netns("q");
  const snap = captureNetns(pw.podPath);
  const file = `${w.tempDir()}/s.json`;
  Deno.writeTextFileSync(file, JSON.stringify(snap));
  const lib: number[] = [], cli: number[] = [];
  const back = (): void => {
    ip(q, "link", "set", "eth0", "netns", pw.pod);
  };
  for (let i = 0; i < N; i++) {
    lib.push(await timed(() => restoreSnapshot(snap, { netns: w.path(q), linkNetns: pw.podPath })));
    back();
    cli.push(
      await timed(async () => {
        const r = await runAsync(PODNET, ["restore", "--from", file, "--netns", w.path(q), "--link-netns", pw.podPath]);
        if (r.code !== 0) throw new Error(r.stderr);
      }),
    );
    back();
  }
  report("restore with move into another netns (library)", lib);
  report("restore with move (bin/podnet restore)", cli);
}

async function runscCreate(w: World, node: string, pod: string | null, id: string): Promise<number> {
  const rt: RunscConfig = { root: w.tempDir(), emptyDir: w.tempDir(), netns: node };
  const bundle = w.tempDir();
  makeBundle(
    bundle,
    ["/bin/busybox", "true"],
    null,
    pod ? [{ path: PODNET, args: ["podnet", "hook", "--link-netns", pod] }] : [],
  );
  // The sandbox keeps inherited stdio open after create returns: it writes to a file, not a pipe.
  const log = `${w.tempDir()}/out`;
  try {
    return await timed(async () => {
      const r = await runsc(rt, ["create", "--bundle", bundle, id], { log });
      if (r.code !== 0) throw new Error(`runsc create ${id} failed (${r.code})`);
    });
  } finally {
    await runsc(rt, ["delete", "-force", id]);
  }
}

async function measureHook(): Promise<void> {
  const bare: number[] = [], hooked: number[] = [];
  for (let i = 0; i < N; i++) {
    await using w = world();
    const id = `pnt-measure-${Deno.pid}-${i}`;
    const pw = calicoPod(w, { alias: `podnet-measure/${id}-h/eth0` }); // the hooked container's own attachment
    ip(pw.pod, "neigh", "replace", "169.254.1.1", "lladdr", pw.host.mac, "dev", "eth0", "nud", "permanent");
    bare.push(await runscCreate(w, pw.nodePath, null, id));
    hooked.push(await runscCreate(w, pw.nodePath, pw.podPath, `${id}-h`));
  }
  report("runsc create, no hook", bare);
  report("runsc create + podnet hook --link-netns (prestart)", hooked);
  const diffs = hooked.map((h, i) => h - bare[i]!);
  report("  hook time added to runsc create (paired difference)", diffs);
}

console.log(`podnet sandbox measurements, N=${N}, ${new Date().toISOString()}`);
await measureCapture();
await measureRestore();
await measureHook();
