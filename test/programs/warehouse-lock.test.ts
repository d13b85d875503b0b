/**
 * The embedded ingest's warehouse lock against what happens to real processes: two taking over
 * one stale lock at once, a lock taken over while held, a dead owner's pid given to another process.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { holdWarehouse, removeStale } from "../../src/programs/cli/warehouseLock.ts"
import { tempDir } from "../support/tempDir.ts"

const lockOf = (warehouse: string) => path.join(warehouse, ".ingest.lock")

/** A live process that is not an ingest, ended with the scope. */
const bystander = Effect.acquireRelease(
  Effect.sync(() => spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" })),
  (child) => Effect.sync(() => child.kill("SIGKILL"))
).pipe(Effect.map((child) => child.pid!))

describe("warehouse lock", () => {
  it.effect("taking over a stale lock leaves alone a lock another process took over first", () =>
    Effect.gen(function*() {
      const warehouse = yield* tempDir()
      // This one read the dead owner's pid; meanwhile another process removed it and took the lock.
      fs.writeFileSync(lockOf(warehouse), `${process.ppid}\n`)
      removeStale(lockOf(warehouse), "999999999\n")
      assert.strictEqual(fs.readFileSync(lockOf(warehouse), "utf8"), `${process.ppid}\n`)
    }).pipe(Effect.scoped))

  it.effect("a stale lock still in place is removed", () =>
    Effect.gen(function*() {
      const warehouse = yield* tempDir()
      fs.writeFileSync(lockOf(warehouse), "999999999\n")
      removeStale(lockOf(warehouse), "999999999\n")
      assert.isFalse(fs.existsSync(lockOf(warehouse)))
    }).pipe(Effect.scoped))

  it.effect("release leaves a lock that is no longer this process's", () =>
    Effect.gen(function*() {
      const warehouse = yield* tempDir()
      yield* Effect.scoped(Effect.gen(function*() {
        yield* holdWarehouse(warehouse)
        fs.writeFileSync(lockOf(warehouse), `${process.ppid}\n`)
      }))
      assert.strictEqual(fs.readFileSync(lockOf(warehouse), "utf8"), `${process.ppid}\n`)
    }).pipe(Effect.scoped))

  it.effect("release removes this process's lock", () =>
    Effect.gen(function*() {
      const warehouse = yield* tempDir()
      yield* Effect.scoped(holdWarehouse(warehouse))
      assert.isFalse(fs.existsSync(lockOf(warehouse)))
    }).pipe(Effect.scoped))

  it.effect("a live owner is refused with its pid", () =>
    Effect.gen(function*() {
      const warehouse = yield* tempDir()
      const other = yield* bystander
      fs.writeFileSync(lockOf(warehouse), `${other}\n`)
      const exit = yield* Effect.exit(Effect.scoped(holdWarehouse(warehouse)))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) && exit.cause), `pid ${other}`)
      assert.strictEqual(fs.readFileSync(lockOf(warehouse), "utf8"), `${other}\n`)
    }).pipe(Effect.scoped))

  it.effect.skipIf(!fs.existsSync("/proc/self/stat"))("a dead owner's pid now used by another process does not hold the lock", () =>
    Effect.gen(function*() {
      const warehouse = yield* tempDir()
      const other = yield* bystander
      // As the owner wrote it: its pid and its start time, which the new process of that pid does not share.
      fs.writeFileSync(lockOf(warehouse), `${other} 1\n`)
      yield* Effect.scoped(holdWarehouse(warehouse))
      assert.isFalse(fs.existsSync(lockOf(warehouse)))
    }).pipe(Effect.scoped))

  it.effect.skipIf(!fs.existsSync("/proc/self/stat"))("a live owner that wrote its start time is refused (it is the same process)", () =>
    Effect.gen(function*() {
      const warehouse = yield* tempDir()
      const other = yield* bystander
      // starttime is the 22nd field of /proc/<pid>/stat (the command, "node", holds no space).
      const started = fs.readFileSync(`/proc/${other}/stat`, "utf8").split(" ")[21]
      fs.writeFileSync(lockOf(warehouse), `${other} ${started}\n`)
      const exit = yield* Effect.exit(Effect.scoped(holdWarehouse(warehouse)))
      assert.isTrue(Exit.isFailure(exit), "taken over from a live owner")
      assert.include(String(Exit.isFailure(exit) && exit.cause), `pid ${other}`)
    }).pipe(Effect.scoped))

  it.effect("a lock naming this process's own pid is a dead run's (a restarted container's pid 1), taken over", () =>
    Effect.gen(function*() {
      const warehouse = yield* tempDir()
      fs.writeFileSync(lockOf(warehouse), `${process.pid}\n`)
      yield* Effect.scoped(holdWarehouse(warehouse))
      assert.isFalse(fs.existsSync(lockOf(warehouse)))
    }).pipe(Effect.scoped))

  // Was "cannot take the warehouse lock <file>/.ingest.lock: EEXIST: file already exists, mkdir".
  it.effect("a warehouse path that is a file is refused as not a directory", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tempDir(), "warehouse")
      fs.writeFileSync(file, "")
      const exit = yield* Effect.exit(Effect.scoped(holdWarehouse(file)))
      assert.isTrue(Exit.isFailure(exit))
      const said = String(Exit.isFailure(exit) && exit.cause)
      assert.include(said, `${file} is not a directory`)
      assert.notInclude(said, "EEXIST")
    }).pipe(Effect.scoped))
})
