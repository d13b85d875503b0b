/**
 * One embedded ingest per warehouse. Two at once each publish the same simulated day into their
 * own in-process Kafka and commit to the same tables: exactly-once holds, but each reads the
 * other's commits as gaps in its sequences and records false GAP events. A lock file holding
 * the owner's pid says who runs; one left by a process that is gone is taken over.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"

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

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: it exists, under another user.
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const readHolder = (file: string): number | undefined => {
  try {
    return Number.parseInt(fs.readFileSync(file, "utf8"), 10)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw e
  }
}

const take = (warehouse: string): Effect.Effect<string, WarehouseBusy | WarehouseLockFailed> =>
  Effect.suspend((): Effect.Effect<string, WarehouseBusy | WarehouseLockFailed> => {
    const file = path.join(warehouse, LOCK_FILE)
    // Written whole under a name of its own, then linked into place: the link is atomic and fails
    // if the lock exists, so no reader ever sees a lock file without its pid.
    const mine = `${file}.${process.pid}`
    try {
      fs.mkdirSync(warehouse, { recursive: true })
      fs.writeFileSync(mine, `${process.pid}\n`)
      for (;;) {
        try {
          fs.linkSync(mine, file)
          return Effect.succeed(file)
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
        }
        const holder = readHolder(file)
        if (holder === undefined) continue
        if (holder !== process.pid && isAlive(holder)) return Effect.fail(new WarehouseBusy({ warehouse, pid: holder }))
        fs.rmSync(file, { force: true })
      }
    } catch (e) {
      return Effect.fail(new WarehouseLockFailed({ file, reason: e instanceof Error ? e.message : String(e) }))
    } finally {
      try {
        fs.rmSync(mine, { force: true })
      } catch { /* never made: the warehouse is not a directory */ }
    }
  })

/** Holds the warehouse for the scope. */
export const holdWarehouse = (warehouse: string) =>
  Effect.acquireRelease(take(path.resolve(warehouse)), (file) => Effect.sync(() => fs.rmSync(file, { force: true })))
