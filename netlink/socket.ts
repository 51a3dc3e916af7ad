/**
 * A NETLINK_ROUTE socket, optionally bound to another network namespace.
 * A netlink socket belongs to the netns it was created in, so a socket opened
 * inside a pod netns keeps talking to that pod after the thread switched back.
 *
 * @module
 */

import { libnl, NETLINK_ROUTE, NL_CB_CUSTOM, NL_CB_DEFAULT, NL_CB_DUMP_INTR } from "../ffi/libnl.ts";
import { check, dumpIntrCallback, errorCallback, NetlinkError, outOfMemory } from "./errors.ts";
import { withNetns } from "./netns.ts";

/** An rtnetlink socket. Close it (or declare it with `using`). */
export class Socket {
  #ptr: Deno.PointerObject | null;
  /** The netns path the socket was opened in, or null for the caller's own. */
  readonly netns: string | null;

  private constructor(ptr: Deno.PointerObject, netns: string | null) {
    this.#ptr = ptr;
    this.netns = netns;
  }

  /**
   * Opens a socket in the current netns, or inside `netns` (a path such as
   * `/run/netns/pod1` or `/proc/PID/ns/net`) when given.
   */
  static open(netns?: string | null): Socket {
    // Only an absent netns means "here" (withNetns): an empty path must fail, not address the caller's netns.
    return withNetns(netns, () => Socket.#connect(netns ?? null));
  }

  static #connect(netns: string | null): Socket {
    const s = libnl.symbols;
    const cb = s.nl_cb_alloc(NL_CB_DEFAULT);
    if (cb === null) throw outOfMemory("socket alloc");
    try {
      check(s.nl_cb_err(cb, NL_CB_CUSTOM, errorCallback.pointer, null), "socket error callback");
      check(s.nl_cb_set(cb, NL_CB_DUMP_INTR, NL_CB_CUSTOM, dumpIntrCallback.pointer, null), "socket dump callback");
      const sk = s.nl_socket_alloc_cb(cb);
      if (sk === null) throw outOfMemory("socket alloc");
      try {
        check(s.nl_connect(sk, NETLINK_ROUTE), `connect rtnetlink${netns ? ` in ${netns}` : ""}`);
      } catch (e) {
        s.nl_socket_free(sk);
        throw e;
      }
      return new Socket(sk, netns);
    } finally {
      s.nl_cb_put(cb);
    }
  }

  /** The libnl `struct nl_sock *`, for the netlink layer only. */
  get ptr(): Deno.PointerObject {
    if (this.#ptr === null) throw new NetlinkError("use socket", 3, 9, "socket is closed");
    return this.#ptr;
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#ptr === null;
  }

  /** Closes the socket; calling it again does nothing. */
  close(): void {
    if (this.#ptr === null) return;
    libnl.symbols.nl_socket_free(this.#ptr); // closes the fd too
    this.#ptr = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
