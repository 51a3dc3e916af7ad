/**
 * `podnet attach` and `podnet detach`: the agent API of cni/attach.ts on the
 * command line, run in the node netns. Bad flags exit 2 naming the flag; a
 * refusal by the kernel or a missing netns exits 1; the result is one JSON
 * object on stdout.
 *
 * @module
 */

import { int, parseFlags, required, str, strs, type Values } from "../core/cli.ts";
import { DEFAULT_STATE_DIR, MTU_MAX, MTU_MIN } from "../core/constants.ts";
import { UsageError } from "../core/errors.ts";
import type { Io } from "../core/io.ts";
import { attach, AttachError, type AttachRequest, detach, type DetachRequest } from "./attach.ts";
import type { GatewayMode } from "./attachment.ts";

export const ATTACH_HELP = `usage: podnet attach --netns PATH --container-id ID --ip ADDR [--ip ADDR]
                     [--ifname eth0] [--host-ifname NAME] [--network N] [--gateway-mode M] [--mtu N]

Attaches a pod whose addresses the caller already knows (no CNI, no IPAM), run in
the node netns: a routed veth like CNI ADD's (host end in this netns, NAME or
prefix pn + hash of ID/ifname; pod end in PATH), the addresses as /32 and /128,
link-local gateways 169.254.1.1 / fe80::1 pinned to the host end's MAC
(static-neighbor, default) or answered by proxy ARP on the host end (proxy-arp).
Declarative and idempotent: whatever part of it exists is made to match (other
addresses converge to the given ones); a second identical call changes nothing.
Prints what it built as one JSON object. The alias records --network (default
"attach"), so CNI GC of another network never touches the link.

  --netns PATH        the pod's network namespace (/run/netns/NAME, /proc/PID/ns/net)
  --container-id ID   the pod's ID (letters, digits, _ . -)
  --ip ADDR           an address of the pod, IPv4 or IPv6 (repeat; at least one)
  --ifname NAME       the pod end's name (default eth0)
  --host-ifname NAME  the host end's name (default: derived as CNI ADD derives it)
  --network N         network name recorded in the host end's alias (default attach)
  --gateway-mode M    static-neighbor (default) or proxy-arp
  --mtu N             MTU of both ends (${MTU_MIN}..${MTU_MAX}; default the kernel's)
PODNET_STATE_DIR (default /run/podnet) holds the per-attachment locks.
Exit status: 0 done, 1 the kernel refused or the netns is missing (nothing changed
when nothing existed), 2 a bad flag (named).
`;

export const DETACH_HELP = `usage: podnet detach --container-id ID [--ifname eth0] [--host-ifname NAME] [--ip ADDR]...

Removes a pod's attachment, run in the node netns: the host end (the pod end goes
with it) and, given --ip, the host routes to those addresses even when the link is
already gone (a route through another attachment's host end stays). Succeeds when
nothing is left. Prints what it removed as one JSON object.
Exit status: 0 done (also when there was nothing to remove), 1 the host end's name
belongs to another attachment, 2 a bad flag (named).
`;

/** Maps an AttachError to the CLI's exit status and message. */
function cli(cmd: "attach" | "detach", args: string[], io: Io, run: (v: Values) => unknown): number {
  const { values } = parseFlags(cmd, args, {
    netns: { type: "string" },
    "container-id": { type: "string" },
    ip: { type: "string", multiple: true },
    ifname: { type: "string" },
    "host-ifname": { type: "string" },
    ...(cmd === "attach"
      ? { network: { type: "string" }, "gateway-mode": { type: "string" }, mtu: { type: "string" } }
      : {}),
  });
  if (values.help) {
    io.stdout(cmd === "attach" ? ATTACH_HELP : DETACH_HELP);
    return 0;
  }
  try {
    io.stdout(`${JSON.stringify(run(values))}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof AttachError)) throw e;
    if (e.kind === "input") throw new UsageError(`podnet ${cmd}: ${flagged(e.message)}`);
    io.stderr(`podnet ${cmd}: ${e.message}\n`);
    return 1;
  }
}

/** The request field an AttachError names, said as the CLI flag that sets it. */
function flagged(msg: string): string {
  return msg.replace(/^containerId\b/, "--container-id").replace(/^hostIfname\b/, "--host-ifname")
    .replace(/^ifname\b/, "--ifname").replace(/^ips\[(\d+)\]/, (_, i) => `--ip #${Number(i) + 1}`)
    .replace(/^gatewayMode\b/, "--gateway-mode").replace(/^mtu\b/, "--mtu").replace(/^network\b/, "--network")
    .replace(/^at least one IP address/, "--ip: at least one IP address");
}

/** `podnet attach`. */
export function attachCommand(args: string[], io: Io): Promise<number> {
  return Promise.resolve(cli("attach", args, io, (v) => {
    const req: AttachRequest = {
      netns: required("attach", v, "netns"),
      containerId: required("attach", v, "container-id"),
      ips: strs(v, "ip"),
      stateDir: io.env("PODNET_STATE_DIR") || DEFAULT_STATE_DIR,
    };
    const ifname = str(v, "ifname"), host = str(v, "host-ifname"), network = str(v, "network");
    const mode = str(v, "gateway-mode");
    if (ifname !== undefined) req.ifname = ifname;
    if (host !== undefined) req.hostIfname = host;
    if (network !== undefined) req.network = network;
    // attachSpec checks the mode and the MTU's range, naming the field (said as the flag: `flagged`).
    if (mode !== undefined) req.gatewayMode = mode as GatewayMode;
    if (str(v, "mtu") !== undefined) req.mtu = int("attach", v, "mtu", 0);
    return attach(req);
  }));
}

/** `podnet detach`. */
export function detachCommand(args: string[], io: Io): Promise<number> {
  return Promise.resolve(cli("detach", args, io, (v) => {
    const req: DetachRequest = {
      containerId: required("detach", v, "container-id"),
      ips: strs(v, "ip"),
      stateDir: io.env("PODNET_STATE_DIR") || DEFAULT_STATE_DIR,
    };
    const ifname = str(v, "ifname"), host = str(v, "host-ifname");
    if (ifname !== undefined) req.ifname = ifname;
    if (host !== undefined) req.hostIfname = host;
    return detach(req);
  }));
}
