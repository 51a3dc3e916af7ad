/**
 * The foundation's two numbers (issue 3), measured in one run and printed as
 * a markdown table:
 *  1. start-up: `bin/podnet --version` vs `deno run` of an empty file (same
 *     flags as the launcher), interleaved, median of 20;
 *  2. listing 1,000 routes: `routeList` in-process vs `ip -j route show`
 *     (spawned, output parsed), median of 20, in a throwaway netns.
 *
 * Usage: deno run -A scripts/measure_foundation.ts [--runs N]
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { int, parseFlags } from "../core/cli.ts";
import { routeList, Socket } from "../netlink/mod.ts";
import { ip, ipJson, world } from "../lab/world.ts";
import { median } from "./stats.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const ROUTES = 1_000;

interface Row {
  what: string;
  samples: number[];
}

function fmt(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}

function table(title: string, rows: Row[]): string {
  const lines = [
    `| ${title} | median | min | max |`,
    "| --- | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.what} | ${fmt(median(r.samples))} | ${fmt(Math.min(...r.samples))} | ${fmt(Math.max(...r.samples))} |`
    ),
  ];
  return lines.join("\n");
}

/** Wall time of one process run in ms; throws when it fails. */
async function timeRun(cmd: string, args: string[], env?: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(env ? { env } : {}),
  })
    .output();
  const ms = performance.now() - t0;
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return ms;
}

async function startup(runs: number): Promise<Row[]> {
  const deno = Deno.execPath();
  const dir = Deno.makeTempDirSync({ prefix: "podnet-measure-" });
  try {
    const empty = join(dir, "empty.ts");
    Deno.writeTextFileSync(empty, "");
    const env = { DENO_DIR: join(ROOT, ".cache/deno"), DENO_NO_UPDATE_CHECK: "1" };
    // The launcher's own `deno run` flags, so the only difference is the program.
    const flags = ["run", "--quiet", "--no-config", "--no-lock", "--cached-only", "--no-prompt", "--allow-all"];
    const cases: [string, () => Promise<number>][] = [
      ["`deno run` empty file", () => timeRun(deno, [...flags, empty], env)],
      [
        "`deno run main.ts --version` (no launcher)",
        () => timeRun(deno, [...flags, join(ROOT, "main.ts"), "--version"], env),
      ],
      ["`bin/podnet --version`", () => timeRun(join(ROOT, "bin/podnet"), ["--version"])],
      // What the launcher does before exec'ing deno (a shell and a readlink), without deno.
      [
        "launcher's own work: `sh` + `readlink -f`, no deno",
        () => timeRun("sh", ["-c", 'self=$(readlink -f "$0") && exec true', join(ROOT, "bin/podnet")]),
      ],
    ];
    const rows: Row[] = cases.map(([what]) => ({ what, samples: [] }));
    for (const [, fn] of cases) await fn(); // warm the page cache and DENO_DIR
    for (let i = 0; i < runs; i++) {
      for (const [k, [, fn]] of cases.entries()) rows[k]!.samples.push(await fn());
    }
    return rows;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

async function listing(runs: number): Promise<{ rows: Row[]; count: number }> {
  await using w = world();
  const ns = w.netns("measure");
  ip(ns, "link", "add", "name", "v0", "type", "veth", "peer", "name", "v1");
  ip(ns, "link", "set", "v0", "up");
  ip(ns, "link", "set", "v1", "up");
  ip(ns, "addr", "add", "10.0.0.1/24", "dev", "v0");
  const batch: string[] = [];
  for (let i = 0; i < ROUTES; i++) batch.push(`route add 10.${100 + (i >> 8)}.${i & 255}.0/24 via 10.0.0.254 dev v0`);
  const file = join(w.tempDir(), "routes.batch");
  Deno.writeTextFileSync(file, batch.join("\n") + "\n");
  ip(ns, "-batch", file);

  using s = Socket.open(w.path(ns));
  const count = routeList(s, { family: 4 }).length;
  const viaIp = ipJson(ns, "-4", "route", "show").length;
  if (count !== viaIp || count < ROUTES) throw new Error(`routeList saw ${count} routes, ip ${viaIp}`);
  const rows: Row[] = [
    { what: `\`routeList\` (${count} routes, open socket)`, samples: [] },
    { what: "`Socket.open(netns)` + `routeList` + close", samples: [] },
    { what: "`ip -4 -j -n NS route show` (spawn + JSON.parse)", samples: [] },
  ];
  // Both sides list the IPv4 main table, as `ip route show` does by default.
  for (let i = 0; i < 3; i++) routeList(s, { family: 4 }); // JIT warm-up
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    routeList(s, { family: 4 });
    rows[0]!.samples.push(performance.now() - t0);
    t0 = performance.now();
    {
      using s2 = Socket.open(w.path(ns));
      routeList(s2, { family: 4 });
    }
    rows[1]!.samples.push(performance.now() - t0);
    t0 = performance.now();
    const out = await new Deno.Command("ip", { args: ["-n", ns, "-4", "-j", "route", "show"], stdout: "piped" })
      .output();
    JSON.parse(new TextDecoder().decode(out.stdout));
    rows[2]!.samples.push(performance.now() - t0);
  }
  return { rows, count };
}

if (import.meta.main) {
  const { values } = parseFlags("measure_foundation", Deno.args, { runs: { type: "string" } });
  const runs = int("measure_foundation", values, "runs", 20);
  const kernel = Deno.osRelease();
  const up = await startup(runs);
  const { rows, count } = await listing(runs);
  console.log(
    `podnet foundation measurements — deno ${Deno.version.deno}, kernel ${kernel}, ${runs} runs each, interleaved\n`,
  );
  console.log(table("start-up (wall time, process spawn to exit)", up));
  console.log();
  console.log(table(`listing ${count} routes of a netns`, rows));
}
