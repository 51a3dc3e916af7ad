/**
 * The netns id (nsid) that the current netns assigned to another netns, by
 * RTM_GETNSID with NETNSA_FD. A veth's IFLA_LINK_NETNSID is such an id, so
 * comparing the two tells exactly which namespace holds a veth's peer.
 * Matching peers by ifindex alone is ambiguous: fresh namespaces all number
 * their first veth 2. libnl-route has no nsid API, so this speaks raw netlink
 * (one small request, one reply) over a libc socket.
 *
 * @module
 */

import { errno, libc, SOCK_CLOEXEC } from "../ffi/libc.ts";
import { NETLINK_ROUTE } from "../ffi/libnl.ts";
import { libcError, NetlinkError } from "./errors.ts";
import { closeFd, openNetnsFd } from "./netns.ts";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NLMSG_ERROR = 2;
const RTM_NEWNSID = 88;
const RTM_GETNSID = 90;
const NLM_F_REQUEST = 1;
const NETNSA_NSID = 1;
const NETNSA_FD = 3;

/**
 * The nsid the calling thread's netns uses for the netns at `path`, or null
 * when none is assigned (the kernel assigns one when a link's peer lives there).
 */
export function nsidOf(path: string): number | null {
  const nsfd = openNetnsFd(path);
  try {
    const sk = libc.symbols.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (sk < 0) throw libcError("netlink socket", errno());
    try {
      return request(sk, nsfd);
    } finally {
      closeFd(sk);
    }
  } finally {
    closeFd(nsfd);
  }
}

function request(sk: number, nsfd: number): number | null {
  // nlmsghdr (16) + rtgenmsg padded to 4 + one u32 attribute (8).
  const msg = new Uint8Array(28);
  const v = new DataView(msg.buffer);
  v.setUint32(0, msg.length, true);
  v.setUint16(4, RTM_GETNSID, true);
  v.setUint16(6, NLM_F_REQUEST, true);
  v.setUint32(8, 1, true); // seq
  v.setUint16(20, 8, true); // nla_len
  v.setUint16(22, NETNSA_FD, true);
  v.setUint32(24, nsfd, true);
  const kernel = new Uint8Array(12); // sockaddr_nl: family, pad, pid 0 (the kernel), groups 0
  new DataView(kernel.buffer).setUint16(0, AF_NETLINK, true);
  if (Number(libc.symbols.sendto(sk, msg, BigInt(msg.length), 0, kernel, kernel.length)) < 0) {
    throw libcError("RTM_GETNSID send", errno());
  }
  const buf = new Uint8Array(4096);
  const n = Number(libc.symbols.recv(sk, buf, BigInt(buf.length), 0));
  if (n < 0) throw libcError("RTM_GETNSID reply", errno());
  if (n < 16) throw new NetlinkError("RTM_GETNSID reply", 0, 0, "short read");
  const r = new DataView(buf.buffer, 0, n);
  const type = r.getUint16(4, true);
  if (type === NLMSG_ERROR) {
    throw libcError("RTM_GETNSID", -r.getInt32(16, true));
  }
  if (type !== RTM_NEWNSID) throw new NetlinkError("RTM_GETNSID", 0, 0, `unexpected reply type ${type}`);
  const end = Math.min(n, r.getUint32(0, true));
  for (let off = 20; off + 4 <= end;) {
    const len = r.getUint16(off, true);
    if (len < 4) break;
    if ((r.getUint16(off + 2, true) & 0x3fff) === NETNSA_NSID && len >= 8) {
      const id = r.getInt32(off + 4, true);
      return id < 0 ? null : id; // NETNSA_NSID_NOT_ASSIGNED is -1
    }
    off += (len + 3) & ~3;
  }
  return null;
}
