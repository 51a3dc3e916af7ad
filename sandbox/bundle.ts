/**
 * The one edit `podnet resume` makes to an OCI bundle: its network namespace.
 * runsc restores a sandbox into whatever netns the bundle's config.json
 * names, so the bundle must point at the sandbox netns podnet prepared — or
 * ask for a new one and carry `podnet hook --link-netns POD` as a prestart
 * hook, which runsc runs at restore too, before it reads the netns.
 *
 * config.json is decoded with the one JSON decoder (bounded), everything in
 * it is kept but `linux.namespaces[type=network]` and earlier podnet hooks,
 * and the old bytes are returned so that a failed resume can put them back.
 *
 * @module
 */

import { writeFileAtomic } from "../core/fsutil.ts";
import { array, decodeJson, JsonError, type Obj, object } from "../core/json.ts";
import { readRegularFile } from "../sys/files.ts";

/** An OCI config.json is a few KiB; a hostile one is refused before parsing. */
const CONFIG_LIMIT = 4 << 20;

/** A bundle podnet cannot read or edit; the message names the bundle and the field, never its content. */
export class BundleError extends Error {
  override readonly name = "BundleError";
}

/** The network a restored container gets. */
export type BundleNetwork =
  | { netns: string }
  | { hook: { bin: string; linkNetns: string; ifname: string } };

/** What `setBundleNetwork` replaced, for `restoreBundle`. */
export interface BundleUndo {
  path: string;
  bytes: Uint8Array;
  mode: number;
}

function isPodnetHook(h: unknown): boolean {
  const args = (h as { args?: unknown }).args;
  return Array.isArray(args) && args[0] === "podnet" && args[1] === "hook";
}

/**
 * Points `bundle`'s network namespace at `net.netns`, or makes it a new one
 * filled by `podnet hook --link-netns … --ifname …` as prestart hook. Any
 * podnet hook from an earlier life of the bundle goes; other hooks stay.
 */
export function setBundleNetwork(bundle: string, net: BundleNetwork): BundleUndo {
  const path = `${bundle}/config.json`;
  let bytes: Uint8Array;
  let config: Obj;
  try {
    bytes = readRegularFile(path, CONFIG_LIMIT, "cannot read bundle config");
    config = object(decodeJson(bytes, { maxBytes: CONFIG_LIMIT }), "");
    const linux = object(config.linux ?? {}, "linux");
    const spaces = array(linux.namespaces ?? [], "linux.namespaces", 64);
    const hooks = object(config.hooks ?? {}, "hooks");
    const prestart = array(hooks.prestart ?? [], "hooks.prestart", 256).filter((h) => !isPodnetHook(h));
    const network = "netns" in net ? { type: "network", path: net.netns } : { type: "network" };
    linux.namespaces = [...spaces.filter((n) => (n as { type?: unknown }).type !== "network"), network];
    config.linux = linux;
    if ("hook" in net) {
      const { bin, linkNetns, ifname } = net.hook;
      prestart.push({
        path: bin,
        args: ["podnet", "hook", "--link-netns", linkNetns, "--ifname", ifname],
        timeout: 30,
      });
    }
    if (prestart.length > 0) hooks.prestart = prestart;
    else delete hooks.prestart;
    if (Object.keys(hooks).length > 0) config.hooks = hooks;
    else delete config.hooks;
  } catch (e) {
    if (e instanceof JsonError) throw new BundleError(`bundle ${bundle}: config.json: ${e.message}`);
    if (e instanceof Error) throw new BundleError(`bundle ${bundle}: ${e.message}`);
    throw e;
  }
  const mode = (Deno.statSync(path).mode ?? 0o644) & 0o777;
  writeFileAtomic(path, `${JSON.stringify(config, null, 2)}\n`, mode);
  return { path, bytes, mode };
}

/** Puts back the config.json `setBundleNetwork` replaced. */
export function restoreBundle(u: BundleUndo): void {
  writeFileAtomic(u.path, u.bytes, u.mode);
}

/**
 * The podnet a hook should run: this compiled binary, or the launcher of the
 * checkout this runs from (bin/podnet), as ops/install.ts tells them apart.
 */
export function selfExecutable(): string {
  const exe = Deno.execPath();
  const here = new URL("../bin/podnet", import.meta.url);
  if (here.protocol !== "file:" || import.meta.url.includes("/deno-compile-") || !/\/deno$/.test(exe)) return exe;
  return decodeURIComponent(here.pathname);
}
