/**
 * Where a DuckDB instance spills what exceeds its memory limit (sorts, joins, windows). DuckDB's
 * own default for an in-memory database is `.tmp` in the working directory: every K2 process
 * started from one directory (`npm run` starts them all in the repo's root) shared it, and two
 * spilling at once crashed both (a segmentation fault: each took the other's files for its own);
 * in a directory that cannot be written (`/` for a service, a read-only container root) a spilling
 * query failed instead. Each instance gets a directory of its own under the system's temporary
 * directory (TMPDIR), named after its process; DuckDB creates it on its first spill only (ADR-56).
 */
import { randomUUID } from "node:crypto"
import * as os from "node:os"
import * as path from "node:path"
import { sweepStaleDirectories } from "../staleDirectories.ts"

const PREFIX = "k2-duckdb-"
const NAME = /^k2-duckdb-(\d+)-[0-9a-f]{8}$/

/** A directory no other instance uses: `k2-duckdb-<pid>-<random>` under `root`. Not created. */
export const spillDirectory = (root: string = os.tmpdir()): string =>
  path.join(root, `${PREFIX}${process.pid}-${randomUUID().slice(0, 8)}`)

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: another user's process, alive.
    return (e as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

/** How long a dead process's spill directory must have been left unchanged before it is deleted. */
export const STALE_SPILL_MS = 60 * 60 * 1000

/**
 * Deletes the spill directories under `root` of processes that ended without closing DuckDB (killed,
 * out of memory), unchanged since `cutoff` (epoch ms): a process of another PID namespace sharing the
 * directory is not taken for dead while it spills. Returns their names; a directory that cannot be
 * read is left alone.
 */
export const sweepSpillDirectories = (cutoff: number, root: string = os.tmpdir()): ReadonlyArray<string> => {
  const abandoned = (name: string) => {
    const pid = Number(NAME.exec(name)?.[1] ?? Number.NaN)
    return !Number.isNaN(pid) && pid !== process.pid && !alive(pid)
  }
  try {
    return sweepStaleDirectories(root, cutoff, abandoned)
  } catch {
    return []
  }
}
