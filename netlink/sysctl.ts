/**
 * Sysctls under /proc/sys, read and written synchronously on the JS thread,
 * so inside `withNetns` they address that netns's `net.*` tree.
 *
 * @module
 */

import { errorText } from "../core/errors.ts";
import { fsErrno, invalidInput, NetlinkError } from "./errors.ts";
import { validIfname } from "../core/names.ts";

function path(key: string): string {
  const parts = key.split("/");
  if (parts.length < 2 || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw invalidInput(`sysctl ${key}`, "invalid sysctl key (want e.g. net/ipv4/conf/eth0/forwarding)");
  }
  return `/proc/sys/${key}`;
}

function fsError(action: string, e: unknown): NetlinkError {
  return new NetlinkError(action, 0, fsErrno(e), errorText(e));
}

/** Reads a sysctl (`net/ipv4/conf/eth0/forwarding`); trailing newline removed. */
export function sysctlRead(key: string): string {
  const p = path(key);
  try {
    return Deno.readTextFileSync(p).trimEnd();
  } catch (e) {
    throw fsError(`sysctl read ${key}`, e);
  }
}

/** Reads a sysctl, or null when it does not exist (e.g. a key newer than this kernel). */
export function sysctlTryRead(key: string): string | null {
  try {
    return sysctlRead(key);
  } catch (e) {
    if (e instanceof NetlinkError && e.notFound) return null;
    throw e;
  }
}

/** Writes a sysctl. */
export function sysctlWrite(key: string, value: string | number): void {
  const p = path(key);
  try {
    Deno.writeTextFileSync(p, `${value}\n`);
  } catch (e) {
    throw fsError(`sysctl write ${key}=${value}`, e);
  }
}

/** Per-interface sysctl key: `net/ipv{4,6}/{conf,neigh}/IF/NAME`. */
export function ifSysctlKey(family: 4 | 6, ifname: string, name: string, tree: "conf" | "neigh" = "conf"): string {
  if (!validIfname(ifname)) {
    throw invalidInput(`sysctl ${name}`, `invalid interface name ${JSON.stringify(ifname)}`);
  }
  return `net/ipv${family}/${tree}/${ifname}/${name}`;
}
