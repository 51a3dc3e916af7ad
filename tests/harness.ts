/**
 * Test harness for privileged tests: the throwaway worlds of lab/world.ts
 * (every test builds its own and tears it down, also when it fails), plus
 * what only tests look at, such as a process's open fds.
 *
 * @module
 */

export * from "../lab/world.ts";

/**
 * What of a checkout the program is made of (what a copy must hold to run
 * podnet): the entry points, the launcher and every layer's folder.
 */
export const PROGRAM_ENTRIES = [
  "main.ts",
  "mod.ts",
  "commands.ts",
  "bundle_entry.ts",
  "version_entry.ts",
  "deno.json",
  "bin",
  "core",
  "ffi",
  "netlink",
  "sys",
  "cni",
  "sandbox",
  "ops",
] as const;

/** The sockets of `pid` by inode → kind, from the /proc/PID/net tables of its netns (`netlink proto 0`, `udp`, …). */
function socketKinds(pid: number | "self"): Map<string, string> {
  const out = new Map<string, string>();
  // Each table's inode column.
  const tables: [string, number][] = [["netlink", 9], ["unix", 6], ["tcp", 9], ["tcp6", 9], ["udp", 9], ["udp6", 9]];
  for (const [table, col] of tables) {
    let text: string;
    try {
      text = Deno.readTextFileSync(`/proc/${pid}/net/${table}`);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const inode = f[col];
      if (inode !== undefined && inode !== "0") out.set(inode, table === "netlink" ? `netlink proto ${f[1]}` : table);
    }
  }
  return out;
}

/**
 * The open fds of `pid`, each with its kind (`fd 7: socket (netlink proto 0)`,
 * `fd 9: pipe`, `fd 4: anon_inode:[eventfd]`, a path), sorted by fd: so a
 * leak names what leaked.
 */
export function openFds(pid: number | "self" = "self"): string[] {
  const kinds = socketKinds(pid);
  const out: [number, string][] = [];
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`);
    } catch {
      continue; // the fd of readDirSync itself, closed meanwhile
    }
    const sock = /^socket:\[(\d+)\]$/.exec(target);
    const kind = sock ? `socket (${kinds.get(sock[1]!) ?? "unknown"})` : /^pipe:/.test(target) ? "pipe" : target;
    out.push([Number(e.name), kind]);
  }
  return out.sort((a, b) => a[0] - b[0]).map(([fd, kind]) => `fd ${fd}: ${kind}`);
}

/** The entries of `after` (from `openFds`) that `before` lacks: what a process opened and kept. */
export function newFds(before: string[], after: string[]): string[] {
  const had = new Set(before);
  return after.filter((f) => !had.has(f));
}
