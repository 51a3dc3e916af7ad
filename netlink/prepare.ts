/**
 * Binding a verb family's libnl symbols costs a few milliseconds (ffi/open.ts
 * binds them on first use). A caller about to wait anyway — a CNI ADD while
 * its IPAM plugin runs — binds the ones it will need next, so that cost is
 * not paid after the wait.
 *
 * @module
 */

import { rtnlAddr, rtnlLink, rtnlNeigh, rtnlRoute } from "../ffi/libnl.ts";

/** Verb families whose build-and-send symbols `prepareVerbs` binds. */
export type VerbFamily = "link" | "addr" | "route" | "neigh";

const TABLES = { link: rtnlLink, addr: rtnlAddr, route: rtnlRoute, neigh: rtnlNeigh } as const;

/** Binds the symbols `linkSet`/`addrAdd`/`routeAdd`/`neighSet` & co. of `families` use, now. */
export function prepareVerbs(...families: VerbFamily[]): void {
  for (const f of families) void TABLES[f].symbols;
}
