/**
 * Where a CNI call spends its time, phase by phase, for `PODNET_PROFILE=1`
 * (scripts/profile_cni.ts reads it). `mark` costs one boolean test when
 * profiling is off, so the marks stay in the code on the hot path.
 *
 * Times are `performance.now()` (milliseconds since Deno's time origin, the
 * runtime's start); the launcher passes the wall-clock nanoseconds it started
 * at (`PODNET_PROFILE_T0`), so the report also covers the runtime's own
 * start-up before the first line of podnet ran.
 *
 * @module
 */

let on = false;
let withRss = false;
const marks: [string, number][] = [];
/** Resident set size (KiB) at each mark, read from /proc/self/status: where memory grows. */
const rss: number[] = [];

/** The process's resident set size in KiB (0 when /proc says nothing). */
export function rssKiB(): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1] ?? 0);
}

/**
 * Starts recording (the first mark, `start`, is the moment podnet's code
 * began to run); `mode` is PODNET_PROFILE's value: `rss` also records the RSS
 * at each mark (a /proc read each: it costs CPU time of its own).
 */
export function profileStart(startedAt: number, mode = "1"): void {
  on = true;
  withRss = mode === "rss";
  marks.length = 0;
  rss.length = 0;
  marks.push(["start", startedAt]);
  rss.push(withRss ? rssKiB() : 0);
}

/** Records that phase `name` ended now. */
export function mark(name: string): void {
  if (!on) return;
  marks.push([name, performance.now()]);
  rss.push(withRss ? rssKiB() : 0);
}

/** One phase of a profile: its name, how long it took after the previous mark (ms), and the RSS after it (KiB). */
export interface Phase {
  phase: string;
  ms: number;
  rssKiB: number;
}

/** What `profileReport` returns. */
export interface Profile {
  /** Launcher start to Deno's time origin (shell, exec, the runtime's own start-up); null without `t0Ns`. */
  runtimeMs: number | null;
  /** Deno's time origin to podnet's first line: reading, compiling and evaluating its modules. */
  loadMs: number;
  /** RSS (KiB) when podnet's first line ran. */
  loadRssKiB: number;
  /** CPU time (user + system, every thread) of this process so far, children excluded; null when unreadable. */
  cpuMs: number | null;
  phases: Phase[];
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

/** The recorded phases, with the runtime's start-up when the launcher gave its start time `t0Ns` (ns since the epoch). */
export function profileReport(t0Ns: string | undefined): Profile {
  const phases: Phase[] = [];
  for (let i = 1; i < marks.length; i++) {
    phases.push({ phase: marks[i]![0], ms: round(marks[i]![1] - marks[i - 1]![1]), rssKiB: rss[i] ?? 0 });
  }
  const first = marks[0]?.[1] ?? 0;
  const runtimeMs = t0Ns && /^\d+$/.test(t0Ns)
    ? round(performance.timeOrigin - Number(BigInt(t0Ns) / 1000n) / 1000)
    : null;
  return { runtimeMs, loadMs: round(first), loadRssKiB: rss[0] ?? 0, cpuMs: processCpuMs(), phases };
}

/**
 * CPU time of this process (every thread, children excluded) in ms, from
 * each thread's /proc/self/task/TID/schedstat (nanoseconds on a CPU): finer
 * than /proc/self/stat's 10 ms ticks, and no FFI.
 */
export function processCpuMs(): number | null {
  try {
    let ns = 0;
    for (const t of Deno.readDirSync("/proc/self/task")) {
      ns += Number(Deno.readTextFileSync(`/proc/self/task/${t.name}/schedstat`).split(" ")[0]);
    }
    return round(ns / 1e6);
  } catch {
    return null;
  }
}

/** Whether profiling is on. */
export function profiling(): boolean {
  return on;
}
