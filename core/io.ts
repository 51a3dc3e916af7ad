/**
 * Injected I/O for commands: every command takes an `Io`, so tests run
 * commands in-process without spawning, and main.ts wires the real process.
 *
 * @module
 */

/** What a command may touch of its process. */
export interface Io {
  /** Environment lookup (CNI_COMMAND, CNI_NETNS, …). */
  env: (name: string) => string | undefined;
  /** Whole standard input (bounded by the reader). */
  stdin: () => Promise<Uint8Array>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Largest stdin accepted (a CNI config or a snapshot is far smaller). */
export const STDIN_LIMIT = 4 << 20;

function writeAll(w: { writeSync(p: Uint8Array): number }, text: string): void {
  let buf = new TextEncoder().encode(text);
  while (buf.length > 0) buf = buf.subarray(w.writeSync(buf));
}

/**
 * Reads stdin to EOF (at most `limit` bytes, else a RangeError) with plain
 * `read(2)` calls. The `Deno.stdin.readable` stream costs ~10 ms to set up, a
 * large share of a CNI ADD; a CLI reading its whole input first can block the
 * thread without harm.
 */
export function readStdin(limit: number = STDIN_LIMIT): Uint8Array {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  let n = 0;
  for (;;) {
    const got = Deno.stdin.readSync(buf);
    if (got === null) break;
    n += got;
    if (n > limit) throw new RangeError(`standard input is larger than ${limit} bytes`);
    chunks.push(buf.slice(0, got));
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** The real process. */
export function processIo(): Io {
  return {
    env: (k) => Deno.env.get(k),
    stdin: () => {
      try {
        return Promise.resolve(readStdin());
      } catch (e) {
        return Promise.reject(e);
      }
    },
    stdout: (t) => writeAll(Deno.stdout, t),
    stderr: (t) => writeAll(Deno.stderr, t),
  };
}

/** An in-memory Io for tests; read `out`/`err` afterwards. */
export function memoryIo(
  env: Record<string, string> = {},
  stdin: string | Uint8Array = "",
): Io & { out: string[]; err: string[] } {
  const out: string[] = [], err: string[] = [];
  const bytes = typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin;
  return {
    out,
    err,
    env: (k) => env[k],
    stdin: () => Promise.resolve(bytes),
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
  };
}
