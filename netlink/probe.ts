/**
 * A neighbor-resolution kick that does not depend on NTF_USE: one empty UDP
 * datagram to a gateway's discard port, sent out of a given link. Sending
 * makes the kernel resolve the next hop (ARP/NDP); a bare connect() does not
 * (kernel 6.18). Used by sandbox/capture.ts when a gateway has no entry.
 *
 * @module
 */

import {
  AF_INET,
  AF_INET6,
  cstr,
  errno,
  libc,
  SO_BINDTODEVICE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "../ffi/libc.ts";
import { parseIp } from "../core/ip.ts";
import { invalidInput, libcError } from "./errors.ts";
import type { Link } from "./link.ts";
import { withNetns } from "./netns.ts";

function sockaddr(ipText: string, ifindex: number, port: number): Uint8Array<ArrayBuffer> {
  const p = parseIp(ipText)!;
  if (p.family === 4) {
    const b = new Uint8Array(16); // struct sockaddr_in
    new DataView(b.buffer).setUint16(0, AF_INET, true);
    new DataView(b.buffer).setUint16(2, port, false);
    b.set(p.bytes, 4);
    return b;
  }
  const b = new Uint8Array(28); // struct sockaddr_in6
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_INET6, true);
  dv.setUint16(2, port, false);
  b.set(p.bytes, 8);
  dv.setUint32(24, ifindex, true); // sin6_scope_id: needed for link-local gateways
  return b;
}

/**
 * Sends one empty UDP datagram to `ip`'s discard port (9) out of `link`, from
 * inside `netnsPath` (or the current netns when null).
 */
export function sendProbe(netnsPath: string | null, link: Pick<Link, "index" | "name">, ip: string): void {
  const send = (): void => {
    const fam = parseIp(ip)?.family;
    if (fam === undefined) throw invalidInput(`probe ${ip}`, "not an IP address");
    const fd = libc.symbols.socket(fam === 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw libcError(`probe ${ip} dev ${link.name}: socket`, errno());
    try {
      const dev = cstr(link.name);
      if (libc.symbols.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, dev.length) !== 0) {
        throw libcError(`probe ${ip} dev ${link.name}: SO_BINDTODEVICE`, errno());
      }
      const sa = sockaddr(ip, link.index, 9);
      // A failure here (EAGAIN while unresolved, EHOSTUNREACH once failed) is what the poll sees anyway.
      libc.symbols.sendto(fd, new Uint8Array(1), 0n, 0, sa, sa.length);
    } finally {
      libc.symbols.close(fd);
    }
  };
  withNetns(netnsPath, send);
}
