/**
 * Test-only long-lived process for the reliability suite (driven by
 * `InProc` in tests/rel_helpers.ts, started inside a node netns): reads one
 * JSON request `{env, args, stdin|stdinB64}` per line, runs podnet's `main()`
 * in-process with an in-memory Io, and answers with the exit code, output,
 * duration and this process's open fds (with their kinds) and RSS afterwards. A command
 * that throws instead of returning an exit code is reported as `threw`.
 *
 * @module
 */

import { memoryIo } from "../core/io.ts";
import { main } from "../main.ts";
import { openFds, rssKiB } from "./harness.ts";

const enc = new TextEncoder();
function send(o: unknown): void {
  const b = enc.encode(`${typeof o === "string" ? o : JSON.stringify(o)}\n`);
  let off = 0;
  while (off < b.length) off += Deno.stdout.writeSync(b.subarray(off));
}

// Deno installs its SIGHUP/SIGTERM/SIGINT handlers (a Unix socketpair, 2 fds) the first time its
// event loop turns after ~0.5 s of uptime: a one-time cost of the runtime, not of any call. Let it
// happen before the first call, so the fds a call leaves open are the call's own.
while (performance.now() < 1000) await new Promise((r) => setTimeout(r, 50));
send("ready");
let buf = "";
const dec = new TextDecoder();
for await (const chunk of Deno.stdin.readable) {
  buf += dec.decode(chunk, { stream: true });
  for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
    const req = JSON.parse(buf.slice(0, i)) as {
      env: Record<string, string>;
      args: string[];
      stdin?: string;
      stdinB64?: string;
    };
    buf = buf.slice(i + 1);
    const stdin = req.stdinB64 !== undefined
      ? Uint8Array.from(atob(req.stdinB64), (c) => c.charCodeAt(0))
      : req.stdin ?? "";
    const io = memoryIo(req.env, stdin);
    const t0 = performance.now();
    let code = -1;
    let threw: string | undefined;
    try {
      code = await main(req.args, io);
    } catch (e) {
      threw = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e);
    }
    const ms = performance.now() - t0;
    send({
      code,
      out: io.out.join(""),
      err: io.err.join(""),
      ...(threw !== undefined ? { threw } : {}),
      ms,
      fds: openFds(),
      rssKiB: rssKiB(),
    });
  }
}
