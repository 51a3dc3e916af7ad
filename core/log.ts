/**
 * The one logger: structured JSON lines with levels, written to a sink (the
 * file sink, sys/files.ts `fileLogger`, appends to a file that only root can
 * read, 0600 in a 0700 directory, because lines name containers). A logger
 * never throws: failing to log must not fail the operation it logs.
 *
 * @module
 */

/** Severity, least to most. */
export type Level = "debug" | "info" | "warn" | "error";

/** Level names in order; index = severity. */
export const LEVELS: readonly Level[] = ["debug", "info", "warn", "error"];

/** Whether `s` names a level. */
export function isLevel(s: unknown): s is Level {
  return typeof s === "string" && (LEVELS as readonly string[]).includes(s);
}

/** Field values a log line may carry. */
export type Fields = Record<string, string | number | boolean | null | undefined | string[]>;

/** Writes one already-formatted line (with trailing newline). */
export type Sink = (line: string) => void;

/** A levelled structured logger. */
export class Logger {
  readonly #sink: Sink;
  readonly #min: number;
  readonly #base: Fields;

  constructor(sink: Sink, level: Level = "info", base: Fields = {}) {
    this.#sink = sink;
    this.#min = LEVELS.indexOf(level);
    this.#base = base;
  }

  /** Whether a line at `level` would be written. */
  enabled(level: Level): boolean {
    return LEVELS.indexOf(level) >= this.#min;
  }

  /** Writes `{ts, level, msg, ...base, ...fields}` as one JSON line. */
  log(level: Level, msg: string, fields: Fields = {}): void {
    if (!this.enabled(level)) return;
    const line: Record<string, unknown> = { ts: new Date().toISOString(), level, msg, ...this.#base };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) line[k] = v;
    try {
      this.#sink(`${JSON.stringify(line)}\n`);
    } catch {
      // A full disk or a removed directory must not turn a working operation into a failed one.
    }
  }

  debug(msg: string, fields?: Fields): void {
    this.log("debug", msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.log("info", msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.log("warn", msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.log("error", msg, fields);
  }

  /** A logger writing to the same sink with extra fixed fields. */
  with(fields: Fields): Logger {
    return new Logger(this.#sink, LEVELS[this.#min] ?? "info", { ...this.#base, ...fields });
  }
}
