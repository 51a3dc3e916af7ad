/**
 * The TCP endpoints of a gVisor sandbox, as its own /proc shows them (read
 * with `runsc exec … cat`; the pod netns's /proc/net/tcp is the host
 * kernel's and knows nothing of gVisor's netstack). Pure parsing.
 *
 * What gVisor (Debian's runsc 20221219) shows, measured with
 * tests/checkpoint_test.ts's workloads: /proc/net/tcp and tcp6 list the
 * endpoints that still have a socket (ESTABLISHED, LISTEN, …) in Linux's
 * format; an endpoint whose socket was closed but which still lingers
 * (FIN_WAIT2, TIME_WAIT: up to ~60 s) is NOT listed, yet `runsc checkpoint`
 * refuses it just the same ("endpoint cannot be saved in connected state")
 * and the sandbox dies. /proc/net/snmp's `Tcp:` counters (ActiveOpens,
 * PassiveOpens) say whether the sandbox ever connected at all.
 *
 * @module
 */

import { formatIp } from "../core/ip.ts";

/** Linux's TCP states by the number /proc/net/tcp prints (include/net/tcp_states.h). */
const STATES: Record<number, string> = {
  1: "ESTABLISHED",
  2: "SYN_SENT",
  3: "SYN_RECV",
  4: "FIN_WAIT1",
  5: "FIN_WAIT2",
  6: "TIME_WAIT",
  7: "CLOSE",
  8: "CLOSE_WAIT",
  9: "LAST_ACK",
  10: "LISTEN",
  11: "CLOSING",
};

/** One endpoint of /proc/net/tcp{,6}. */
export interface TcpEndpoint {
  local: string;
  remote: string;
  state: string;
}

/** What the sandbox's /proc says of TCP. */
export interface TcpView {
  endpoints: TcpEndpoint[];
  /** ActiveOpens + PassiveOpens of /proc/net/snmp, or null when it was not in the output. */
  opened: number | null;
}

/** An address of /proc/net/tcp: 32-bit words in host order (little-endian here), hex. */
function address(hex: string): string | null {
  if (hex.length !== 8 && hex.length !== 32) return null;
  const bytes = new Uint8Array(hex.length / 2);
  for (let w = 0; w < hex.length / 8; w++) {
    for (let b = 0; b < 4; b++) {
      const at = w * 8 + (3 - b) * 2;
      bytes[w * 4 + b] = parseInt(hex.slice(at, at + 2), 16);
    }
  }
  // A dual-stack socket's IPv4 peer (::ffff:a.b.c.d) is shown as the IPv4 address it is.
  const mapped = bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff;
  return formatIp(mapped ? bytes.subarray(12) : bytes);
}

function endpoint(addr: string, portHex: string): string {
  const port = parseInt(portHex, 16);
  return addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Parses the concatenated text of /proc/net/tcp, /proc/net/tcp6 and /proc/net/snmp. */
export function parseTcpView(text: string): TcpView {
  const endpoints: TcpEndpoint[] = [];
  const row = /^\s*\d+:\s+([0-9A-Fa-f]+):([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]+):([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]{2})\s/;
  let header: string[] | null = null;
  let opened: number | null = null;
  for (const line of text.split("\n")) {
    const m = row.exec(line);
    if (m) {
      const l = address(m[1]!), r = address(m[3]!);
      if (l === null || r === null) continue;
      const n = parseInt(m[5]!, 16);
      endpoints.push({ local: endpoint(l, m[2]!), remote: endpoint(r, m[4]!), state: STATES[n] ?? `state ${n}` });
      continue;
    }
    if (!line.startsWith("Tcp:")) continue;
    const fields = line.trim().split(/\s+/).slice(1);
    if (header === null) {
      header = fields;
      continue;
    }
    const at = (k: string): number => Number(fields[header!.indexOf(k)] ?? NaN);
    const sum = at("ActiveOpens") + at("PassiveOpens");
    if (Number.isFinite(sum)) opened = sum;
  }
  return { endpoints, opened };
}

/**
 * Endpoints `runsc checkpoint` cannot save: every state but LISTEN and CLOSE
 * (a handshake in progress counts as connected, as gVisor's save code has it).
 */
export function unsaveable(view: TcpView): TcpEndpoint[] {
  return view.endpoints.filter((e) => e.state !== "LISTEN" && e.state !== "CLOSE");
}

/** `A → B STATE` for a message. */
export function describeEndpoint(e: TcpEndpoint): string {
  return `${e.local} → ${e.remote} ${e.state}`;
}
