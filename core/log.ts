/**
 * The one logger: structured JSON lines with levels, appended to a file that
 * only root can read (0600, directory 0700) because lines name containers.
 * A logger never throws: failing to log must not fail the operation it logs.
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

/**
 * A sink appending to `path`. The file is created 0600 and its directory 0700
 * when missing; each line is one `write(2)` in append mode, so concurrent
 * plugin processes do not interleave within a line.
 */
export function fileSink(path: string): Sink {
  const enc = new TextEncoder();
  return (line) => {
    const dir = path.slice(0, path.lastIndexOf("/"));
    let f: Deno.FsFile;
    try {
      f = Deno.openSync(path, { append: true, create: true, mode: 0o600 });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound) || dir === "") throw e;
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
      f = Deno.openSync(path, { append: true, create: true, mode: 0o600 });
    }
    try {
      f.writeSync(enc.encode(line));
    } finally {
      f.close();
    }
  };
}

/** A logger to `path` at `level`, or one that drops everything when `path` is empty. */
export function fileLogger(path: string | undefined | null, level: Level = "info", base: Fields = {}): Logger {
  return path ? new Logger(fileSink(path), level, base) : new Logger(() => {}, "error", base);
}
