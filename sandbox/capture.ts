/**
 * `podnet capture`: writes a `podnet.capture/v1` snapshot of a netns (see
 * core/snapshot.ts for what is recorded and how gateways are resolved).
 *
 * @module
 */

import { int, parseFlags, str, strs } from "../core/cli.ts";
import type { Io } from "../core/io.ts";
import { captureNetns, DEFAULT_TIMEOUT_MS, formatSnapshot, writeSnapshot } from "../core/snapshot.ts";

export const CAPTURE_HELP = `usage: podnet capture [--netns PATH] [--ifname NAME]... [--out FILE|-] [--timeout-ms N]

Records a netns's links (name, MAC, MTU), their addresses, their main-table routes (not the
kernel's own proto-kernel routes) and the MAC of every gateway as podnet.capture/v1 JSON.
Gateways: each route gateway on the link, and the target of a scope-link host route to a
link-local address (169.254.1.1 / fe80::1 designs). A gateway without a usable neighbor
entry is resolved by the kernel (RTM_NEWNEIGH with NTF_USE, or one UDP datagram to its
discard port sent from inside the netns) and polled; an unresolved gateway is an error.

  --netns PATH       netns to capture (default: the current one)
  --ifname NAME      capture this link (repeatable; default: every link that is up but lo)
  --out FILE|-       write to FILE atomically with mode 0600, or - for stdout (default -)
  --timeout-ms N     wait per unresolved gateway (default ${DEFAULT_TIMEOUT_MS})
`;

/** `podnet capture`. */
export function captureCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseFlags("capture", args, {
    netns: { type: "string" },
    ifname: { type: "string", multiple: true },
    out: { type: "string" },
    "timeout-ms": { type: "string" },
  });
  if (values.help) {
    io.stdout(CAPTURE_HELP);
    return Promise.resolve(0);
  }
  const timeoutMs = int("capture", values, "timeout-ms", DEFAULT_TIMEOUT_MS);
  const snap = captureNetns(str(values, "netns") ?? null, { ifnames: strs(values, "ifname"), timeoutMs });
  const out = str(values, "out") ?? "-";
  if (out === "-") io.stdout(formatSnapshot(snap));
  else writeSnapshot(out, snap);
  return Promise.resolve(0);
}
