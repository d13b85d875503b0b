/**
 * Temporary directories a process left behind when it ended without cleaning up (killed, out of
 * memory): Parquet answers' (respond.ts) and DuckDB's spill directories (spillDirectory.ts).
 */
import * as fs from "node:fs"
import * as path from "node:path"

/**
 * Deletes the directories under `root` that `abandoned` says are left behind (by name) and whose
 * directory and files were all last changed before `cutoff` (epoch ms), and returns their names.
 * Throws when `root` cannot be read; one that vanishes meanwhile, or is another user's, is left as it is.
 */
export const sweepStaleDirectories = (root: string, cutoff: number, abandoned: (name: string) => boolean): ReadonlyArray<string> => {
  const removed: Array<string> = []
  for (const name of fs.readdirSync(root)) {
    if (!abandoned(name)) continue
    const dir = path.join(root, name)
    try {
      if (!fs.lstatSync(dir).isDirectory()) continue
      const changed = [dir, ...fs.readdirSync(dir).map((f) => path.join(dir, f))].map((p) => fs.lstatSync(p).mtimeMs)
      if (Math.max(...changed) >= cutoff) continue
      fs.rmSync(dir, { recursive: true, force: true })
      removed.push(name)
    } catch {
      // Gone meanwhile, or another user's: left as it is.
    }
  }
  return removed
}
