/**
 * The typed netlink layer: sockets (optionally inside another netns), links,
 * addresses, routes, neighbors, sysctls and the netns helper. Plain TS values
 * out, `NetlinkError` in.
 *
 * @module
 */

export * from "./errors.ts";
export * from "../core/ip.ts";
export * from "./netns.ts";
export * from "./nsid.ts";
export * from "./socket.ts";
export * from "./scope.ts";
export * from "./link.ts";
export * from "./addr.ts";
export * from "./route.ts";
export * from "./neigh.ts";
export * from "./sysctl.ts";
export * from "./probe.ts";
export * from "./handle.ts";
