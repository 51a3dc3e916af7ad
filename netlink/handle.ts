/**
 * A network namespace as one value, as vishvananda/netlink's `NewHandleAt`:
 * its path (null: the one this thread is in), its identity, one rtnetlink
 * socket bound to it (opened on first use, inside it) and its sysctls. Code
 * that works on two namespaces (a node and a pod) holds two of these instead
 * of threading `string | null` paths and switching netns around each call.
 *
 * @module
 */

import { NetlinkError } from "./errors.ts";
import { isCurrentNetns, netnsId, SELF_NETNS, withNetns } from "./netns.ts";
import { Socket } from "./socket.ts";
import { sysctlRead, sysctlTryRead, sysctlWrite } from "./sysctl.ts";

/** A network namespace and a socket bound to it. Close it (or declare it with `using`). */
export class Netns {
  /** The namespace file, or null for the calling thread's own. */
  readonly path: string | null;
  #sock: Socket | null = null;

  private constructor(path: string | null) {
    this.path = path;
  }

  /** The namespace this thread is in. */
  static here(): Netns {
    return new Netns(null);
  }

  /** The namespace at `path` (`/run/netns/pod1`, `/proc/PID/ns/net`); nothing is opened yet. */
  static at(path: string): Netns {
    return new Netns(path);
  }

  /**
   * The namespace at `path` with its socket open, after checking that it is
   * another one than this thread's: it exists and is readable, it is not the
   * netns this thread is in, and it can be entered as a network namespace.
   * Throws `NetnsRefused` saying which (a CNI_NETNS, `podnet attach --netns`).
   */
  static other(path: string): Netns {
    let own: boolean;
    try {
      own = isCurrentNetns(path);
    } catch {
      throw new NetnsRefused("does not exist or is not readable");
    }
    if (own) throw new NetnsRefused("is podnet's own network namespace (the node's)");
    const ns = new Netns(path);
    try {
      void ns.sock;
    } catch (e) {
      ns.close();
      const why = e instanceof NetlinkError ? e.message.slice(e.action.length + 2) : "cannot be entered";
      throw new NetnsRefused(`is not a network namespace (${why})`);
    }
    return ns;
  }

  /** The rtnetlink socket of this namespace, opened inside it on first use. */
  get sock(): Socket {
    return this.#sock ??= Socket.open(this.path);
  }

  /** Identity (dev:inode of the namespace file): equal ids mean the same namespace. */
  id(): string {
    return netnsId(this.path ?? SELF_NETNS);
  }

  /** Runs synchronous `fn` with the thread inside this namespace (no switch for `here()`). */
  run<T>(fn: () => T): T {
    return withNetns(this.path, fn);
  }

  /** A sysctl of this namespace (`net/ipv4/conf/eth0/forwarding`). */
  sysctlRead(key: string): string {
    return this.run(() => sysctlRead(key));
  }

  /** A sysctl of this namespace, or null when the key does not exist. */
  sysctlTryRead(key: string): string | null {
    return this.run(() => sysctlTryRead(key));
  }

  /** Writes a sysctl of this namespace. */
  sysctlWrite(key: string, value: string | number): void {
    this.run(() => sysctlWrite(key, value));
  }

  /** Several sysctls of this namespace in one switch; null for a key that does not exist. */
  sysctlReadMany(keys: string[]): Record<string, string | null> {
    return this.run(() => Object.fromEntries(keys.map((k) => [k, sysctlTryRead(k)])));
  }

  /** A file under /proc/thread-self/net of this namespace (`packet`, `tcp`), read inside it. */
  procNet(name: string): string {
    return this.run(() => Deno.readTextFileSync(`/proc/thread-self/net/${name}`));
  }

  /** Closes the socket, if one was opened; calling it again does nothing. */
  close(): void {
    this.#sock?.close();
    this.#sock = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Why `Netns.other` refused a path; the message says it in words, to follow the path ("… PATH does not exist"). */
export class NetnsRefused extends Error {
  override readonly name = "NetnsRefused";
}
