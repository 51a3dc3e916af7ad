/**
 * Facts about the libnl actually loaded (its exported version statics), for
 * `podnet --version`: a module of its own, so printing a version loads none
 * of the netlink verbs.
 *
 * @module
 */

export { libnlVersion } from "../ffi/libnl.ts";
