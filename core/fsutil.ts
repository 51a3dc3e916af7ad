/**
 * Files written so a reader never sees half of one: a temp file in the same
 * directory, fsync, rename. Directories are created 0700.
 *
 * @module
 */

/** Where `path`'s temp files go: its directory, and the name prefix they share (`.NAME.`). */
function tempSite(path: string): { dir: string; prefix: string } {
  const slash = path.lastIndexOf("/");
  return { dir: slash < 0 ? "." : path.slice(0, slash) || "/", prefix: `.${path.slice(slash + 1)}.` };
}

/** Writes `data` to `path` atomically with `mode` (default 0600). */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const { dir, prefix } = tempSite(path);
  const tmp = `${dir}/${prefix}${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const f = Deno.openSync(tmp, { write: true, createNew: true, mode });
  try {
    try {
      let off = 0;
      while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
      Deno.chmodSync(tmp, mode); // the umask may have narrowed the mode; be exact (FsFile has no chmodSync)
      f.syncSync();
    } finally {
      f.close();
    }
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* already gone */ }
    throw e;
  }
}

/** Creates `dir` (and parents) with mode 0700 if missing. */
export function ensurePrivateDir(dir: string): void {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Removes `path` and the temp files `writeFileAtomic` leaves beside it when
 * the writing process is killed between creating and renaming one (what a
 * SIGKILLed CNI ADD leaves in its captureDir); missing files are not errors.
 */
export function removeWithTemps(path: string): void {
  removeIfExists(path);
  const { dir, prefix } = tempSite(path);
  for (const n of listDir(dir)) {
    if (n.startsWith(prefix) && /^\d+\.[0-9a-f]{8}\.tmp$/.test(n.slice(prefix.length))) removeIfExists(`${dir}/${n}`);
  }
}

/**
 * Removes a file; a missing file is not an error, nor is a name too long for
 * the filesystem (no such file can exist: DEL of a container ID that ADD
 * would have refused must still succeed).
 */
export function removeIfExists(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || (e as { code?: unknown }).code === "ENAMETOOLONG") return;
    throw e;
  }
}

/** The entry names of `dir`, sorted; none when it does not exist. */
export function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}
