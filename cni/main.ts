/**
 * podnet as a CNI plugin: reads CNI_* and the config, runs the command, prints
 * the result or the spec's error object on stdout, and writes one structured
 * log line per operation. Only what ADD needs is imported up front; the other
 * commands and `--help` load their code on demand.
 *
 * @module
 */

import { errorText } from "../core/errors.ts";
import type { Io } from "../core/io.ts";
import { bundled, load } from "../sys/load.ts";
import { Logger } from "../core/log.ts";
import { mark, profileReport, profiling } from "../core/profile.ts";
import { fileLogger, logFileProblem } from "../sys/files.ts";
import { AttachmentLock, DEFAULT_LOCK_TIMEOUT_MS, LockTimeout } from "../sys/lock.ts";
import { CNI_VERSIONS, DEFAULT_STATE_DIR } from "../core/constants.ts";
import { type CniEnv, decodeConfig, type NetConf, parseConfig, parseEnv } from "./config.ts";
import type { Ctx } from "./context.ts";
import { CniError, ERR, errorJson, toCniError } from "./errors.ts";
import { formatResult } from "./result.ts";
import { versionAnswer } from "./version.ts";
import { seams } from "./seams.ts";

/** `podnet cni --help`. */
export const CNI_HELP = `usage: podnet cni            (with CNI_COMMAND and the other CNI_* variables set)

Runs podnet as a CNI plugin (spec 0.3.0 to 1.1.0): ADD, DEL, CHECK, VERSION, GC, STATUS.
The same happens whatever the arguments when CNI_COMMAND is set, so podnet can be
installed as /opt/cni/bin/podnet. The network configuration is read from stdin:

  { "cniVersion": "1.1.0", "name": "podnet", "type": "podnet",
    "mtu": 1500, "gatewayMode": "static-neighbor" | "proxy-arp", "hostInterfacePrefix": "pn",
    "logFile": "/var/log/podnet.log", "logLevel": "info",
    "ipam": { "type": "host-local", "ranges": [[{ "subnet": "10.244.1.0/24" }]] } }

captureDir: ADD also writes the pod end as podnet.capture/v1 to DIR/<containerID>-<ifname>.json.
The result (ADD) or a CNI error object { cniVersion, code, msg, details } is printed on stdout.
PODNET_STATE_DIR (default /run/podnet) holds a cache of IPAM plugins' VERSION answers.
PODNET_IPAM_TIMEOUT_MS (default 60000) bounds each IPAM plugin call; one that takes longer
is killed and the command fails with code 11 (try again later).
Test seams: PODNET_TEST_FAIL_AT=<step> / PODNET_TEST_KILL_AT=<step> with PODNET_TEST_SEAMS=1.
`;

function stderrLogger(io: Io): Logger {
  return new Logger((line) => io.stderr(line), "warn", { component: "podnet-cni" });
}

/** Runs the CNI plugin; returns the process exit code. */
export async function cniCommand(args: string[], io: Io): Promise<number> {
  if (args.length > 0 || io.env("CNI_COMMAND") === undefined) {
    const { parseFlags } = await load<typeof import("../core/cli.ts")>("core/cli.ts");
    const { values } = parseFlags("cni", args, {});
    if (values.help) {
      io.stdout(CNI_HELP);
      return 0;
    }
    io.stderr(`podnet cni: CNI_COMMAND is not set\n\n${CNI_HELP}`);
    return 2;
  }
  const started = performance.now();
  let cniVersion = "1.1.0";
  let env: CniEnv | null = null;
  let conf: NetConf | null = null;
  let opLog: Logger | null = null;
  let warn = stderrLogger(io);
  let lock: AttachmentLock | null = null;
  try {
    env = parseEnv(io.env);
    let bytes: Uint8Array;
    try {
      bytes = await io.stdin();
    } catch (e) {
      throw new CniError(ERR.io, "cannot read the network configuration from stdin", String(e));
    }
    mark("env, stdin");
    if (env.command === "VERSION") return version(bytes, io);
    const raw = decodeConfig(bytes);
    if (typeof raw.cniVersion === "string" && CNI_VERSIONS.includes(raw.cniVersion)) cniVersion = raw.cniVersion;
    conf = parseConfig(raw, env.command);
    mark("config");
    if (conf.logFile !== null) {
      const why = logFileProblem(conf.logFile);
      // DEL must release what it can whatever the config says; the others refuse a bad log file.
      if (why !== null && env.command !== "DEL") {
        throw new CniError(ERR.invalidConfig, `invalid network configuration: logFile ${why}`);
      }
      if (why === null) {
        opLog = fileLogger(conf.logFile, conf.logLevel, { component: "podnet-cni" });
        warn = opLog;
      } else warn.warn(`logFile ${why}; not logging to it`);
    }
    const stateDir = io.env("PODNET_STATE_DIR") || DEFAULT_STATE_DIR;
    if (env.command === "ADD" || env.command === "DEL" || env.command === "CHECK") {
      lock = lockAttachment(stateDir, env, io.env("PODNET_LOCK_TIMEOUT_MS"), warn);
      mark("lock");
    }
    const seam = seams(io.env);
    // A whole number of milliseconds; anything else keeps ipam.ts's default.
    const ipamTimeout = Number(io.env("PODNET_IPAM_TIMEOUT_MS") ?? "") | 0;
    const ctx: Ctx = {
      env,
      conf,
      stateDir,
      ...(ipamTimeout > 0 ? { ipamTimeoutMs: ipamTimeout } : {}),
      log: warn,
      // At debug level every ADD step logs when it finished: where an ADD spends its time.
      seam: opLog?.enabled("debug") || profiling()
        ? (step) => {
          mark(step);
          opLog?.debug("add step done", { step, atMs: Math.round((performance.now() - started) * 100) / 100 });
          seam(step);
        }
        : seam,
    };
    let extra: Record<string, string | number | string[]> = {};
    switch (env.command) {
      case "ADD": {
        const { cmdAdd } = await load<typeof import("./add.ts")>("cni/add.ts");
        const result = await cmdAdd(ctx);
        try {
          io.stdout(`${JSON.stringify(formatResult(result, conf.cniVersion))}\n`);
        } catch (e) {
          // The runtime never learns of an attachment whose result it did not get: undo it (DEL
          // removes the veth and the lease), then report the failure.
          await (await load<typeof import("./del.ts")>("cni/del.ts")).cmdDel(ctx).catch((d) =>
            warn.error("undo of unreported ADD failed", {
              error: errorText(d),
            })
          );
          throw new CniError(ERR.io, "cannot write the ADD result to stdout", String(e));
        }
        extra = { ips: result.ips.map((i) => i.address) };
        break;
      }
      case "DEL":
        await (await load<typeof import("./del.ts")>("cni/del.ts")).cmdDel(ctx);
        break;
      case "CHECK":
        await (await load<typeof import("./check.ts")>("cni/check.ts")).cmdCheck(ctx);
        break;
      case "GC": {
        const removed = await (await load<typeof import("./gc.ts")>("cni/gc.ts")).cmdGc(ctx);
        extra = { removed: removed.map((a) => `${a.containerID}/${a.ifname}`) };
        break;
      }
      case "STATUS": {
        const warnings = await (await load<typeof import("./gc.ts")>("cni/gc.ts")).cmdStatus(ctx);
        for (const w of warnings) {
          io.stderr(`podnet: ${w}\n`);
          opLog?.warn(w);
        }
        break;
      }
    }
    // The attachment is gone: so is its lock file (a waiter notices and locks afresh: sys/lock.ts).
    if (env.command === "DEL") lock?.releaseAndRemove();
    mark("answer");
    opLog?.info(`cni ${env.command}`, { ...opFields(env, conf, started), outcome: "ok", ...extra });
    mark("log");
    return 0;
  } catch (e) {
    const err = toCniError(e);
    try {
      io.stdout(`${JSON.stringify(errorJson(err, cniVersion))}\n`);
    } catch {
      // stdout itself is what failed (closed, full): the exit status and the log still tell.
    }
    const fields = { ...opFields(env, conf, started), outcome: "error", code: err.code, error: err.message };
    (opLog ?? warn).error(`cni ${env?.command ?? io.env("CNI_COMMAND") ?? "?"}`, fields);
    return 1;
  } finally {
    lock?.release();
    if (profiling()) io.stderr(`${JSON.stringify({ podnetProfile: profileReport(io.env("PODNET_PROFILE_T0")) })}\n`);
  }
}

/** Fields of podnet's config that are logged by name; others are only counted (a key is input too). */
const KNOWN_FIELDS = new Set([
  "cniVersion",
  "name",
  "type",
  "mtu",
  "gatewayMode",
  "hostInterfacePrefix",
  "captureDir",
  "logFile",
  "logLevel",
  "ipam",
  "dns",
  "prevResult",
  "capabilities",
  "runtimeConfig",
  "args",
  "cni.dev/valid-attachments",
  "cni.dev/attachments",
]);

/**
 * Takes the attachment's lock (sys/lock.ts) for ADD, DEL and CHECK: a second
 * call for the same containerID/ifname waits, then fails with code 11. Where
 * no lock can be had at all (a read-only state dir), DEL goes on without one
 * (it must release what it can) and the others fail with code 5.
 */
function lockAttachment(
  stateDir: string,
  env: CniEnv,
  timeoutEnv: string | undefined,
  log: Logger,
): AttachmentLock | null {
  const ms = Number(timeoutEnv ?? "") | 0;
  try {
    return AttachmentLock.acquire(
      `${stateDir}/locks`,
      `${env.containerId}/${env.ifname}`,
      ms > 0 ? ms : DEFAULT_LOCK_TIMEOUT_MS,
    );
  } catch (e) {
    if (e instanceof LockTimeout) throw new CniError(ERR.tryAgainLater, e.message);
    if (env.command === "DEL") {
      log.warn("DEL runs without the attachment lock", { error: errorText(e) });
      return null;
    }
    throw new CniError(ERR.io, `cannot lock the attachment: ${errorText(e)}`);
  }
}

function opFields(
  env: CniEnv | null,
  conf: NetConf | null,
  started: number,
): Record<string, string | number | string[]> {
  return {
    command: env?.command ?? "",
    containerID: env?.containerId ?? "",
    ifname: env?.ifname ?? "",
    network: conf?.name ?? "",
    // podnet's own field names only: values can hold secrets, and so can unknown keys.
    configFields: conf ? Object.keys(conf.raw).filter((k) => KNOWN_FIELDS.has(k)).sort() : [],
    otherFields: conf ? Object.keys(conf.raw).filter((k) => !KNOWN_FIELDS.has(k)).length : 0,
    durationMs: Math.round((performance.now() - started) * 100) / 100,
    // Which code ran: the bundle (scripts/bundle.ts) or the sources (no bundle, or an outdated one).
    runFrom: bundled() ? "dist/cni.js" : "source",
  };
}

/** VERSION: echoes the requested version (spec) with the versions podnet supports. */
function version(bytes: Uint8Array, io: Io): number {
  io.stdout(versionAnswer(bytes));
  return 0;
}
