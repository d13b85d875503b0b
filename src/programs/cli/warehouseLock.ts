/**
 * One embedded ingest per warehouse. Two at once each publish the same simulated day into their
 * own in-process Kafka and commit to the same tables: exactly-once holds, but each reads the
 * other's commits as gaps in its sequences and records false GAP events. A lock file holding
 * the owner's pid says who runs; one left by a process that is gone is taken over.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { directoryProblem, makeDirectorySync } from "../../layers/directories.ts"

export class WarehouseBusy extends Schema.TaggedError<WarehouseBusy>()("WarehouseBusy", {
  warehouse: Schema.String,
  pid: Schema.Number
}) {
  override get message() {
    return `another ingest (pid ${this.pid}) is writing ${this.warehouse}: wait for it to end, or stop it`
  }
}

export class WarehouseLockFailed extends Schema.TaggedError<WarehouseLockFailed>()("WarehouseLockFailed", {
  file: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot take the warehouse lock ${this.file}: ${this.reason}`
  }
}

const LOCK_FILE = ".ingest.lock"

/**
 * When `pid` started (Linux: clock ticks since boot), if the OS says: a pid alone can be a dead
 * owner's given to another process, after a kill -9 or in a restarted container.
 */
const startTimeOf = (pid: number): string | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name, which is in parentheses and may hold spaces; starttime is the 22nd.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]
  } catch {
    return undefined
  }
}

/** What a lock says of its owner: `<pid> <start time>`, or just the pid where start times are unknown. */
const ownerOf = (text: string) => {
  const [pid, started] = text.trim().split(/\s+/)
  return { pid: Number.parseInt(pid ?? "", 10), started }
}

const isAlive = (owner: { readonly pid: number; readonly started: string | undefined }) => {
  try {
    process.kill(owner.pid, 0)
  } catch (e) {
    // EPERM: it exists, under another user.
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  const started = owner.started === undefined ? undefined : startTimeOf(owner.pid)
  return started === undefined || started === owner.started
}

const readLock = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw e
  }
}

/**
 * Removes the lock at `file` if it still says `stale`. Another process may have taken it over
 * since it was read: the lock is moved aside first (atomic), checked, and put back if it is not
 * the stale one, so two processes taking over one stale lock cannot both win.
 */
export const removeStale = (file: string, stale: string) => {
  const aside = `${file}.${process.pid}.stale`
  try {
    fs.renameSync(file, aside)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return
    throw e
  }
  try {
    if (fs.readFileSync(aside, "utf8") !== stale) fs.linkSync(aside, file)
  } catch (e) {
    // Put back too late: a third process took the lock meanwhile, and holds it now.
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
  } finally {
    fs.rmSync(aside, { force: true })
  }
}

const take = (warehouse: string, me: string): Effect.Effect<string, WarehouseBusy | WarehouseLockFailed> =>
  Effect.suspend((): Effect.Effect<string, WarehouseBusy | WarehouseLockFailed> => {
    const file = path.join(warehouse, LOCK_FILE)
    // Written whole under a name of its own, then linked into place: the link is atomic and fails
    // if the lock exists, so no reader ever sees a lock file without its owner.
    const mine = `${file}.${process.pid}`
    try {
      // Made alone, a file there said "EEXIST: file already exists", as if the lock were the problem.
      const problem = directoryProblem(warehouse)
      if (problem !== undefined) throw new Error(`${problem}: give --warehouse a directory`)
      makeDirectorySync(warehouse)
      fs.writeFileSync(mine, me)
      for (;;) {
        try {
          fs.linkSync(mine, file)
          return Effect.succeed(file)
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
        }
        const held = readLock(file)
        if (held === undefined) continue
        const owner = ownerOf(held)
        if (owner.pid !== process.pid && isAlive(owner)) return Effect.fail(new WarehouseBusy({ warehouse, pid: owner.pid }))
        removeStale(file, held)
      }
    } catch (e) {
      return Effect.fail(new WarehouseLockFailed({ file, reason: e instanceof Error ? e.message : String(e) }))
    } finally {
      try {
        fs.rmSync(mine, { force: true })
      } catch { /* never made: the warehouse is not a directory */ }
    }
  })

/** Holds the warehouse for the scope; on release, a lock that is no longer this process's is left alone. */
export const holdWarehouse = (warehouse: string) => {
  const started = startTimeOf(process.pid)
  const me = started === undefined ? `${process.pid}\n` : `${process.pid} ${started}\n`
  return Effect.acquireRelease(take(path.resolve(warehouse), me), (file) =>
    Effect.sync(() => {
      if (readLock(file) === me) removeStale(file, me)
    }))
}
