/**
 * A maintenance run killed (SIGKILL, the OOM killer, a power cut) at any step of its I/O: a file
 * write cut short at its final name, a remove, a catalog commit before or after it lands. No
 * cleanup runs after such a death. The next run (another process, over the same SQLite catalog)
 * must find every table readable with the same rows, every snapshot the killed run did not expire
 * answering as before (time travel), and leave no orphan behind once past the grace period.
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { selectPlanned } from "../../../src/layers/duckdb/readPlan.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import * as Lakehouse from "../../../src/layers/lakehouse.ts"
import * as MaintenanceLayer from "../../../src/layers/maintenance/maintenance.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { FileIO } from "../../../src/services/FileIO.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance, type MaintenanceOptions } from "../../../src/services/Maintenance.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { seeded } from "../../support/chaos.ts"
import { tempDir } from "../../support/tempDir.ts"
import { genTrades } from "../query/data.ts"

const TRADES = { namespace: "market_data", name: "trades" }
const HOUR_MS = 3_600_000

/** The I/O steps of a process: `dieAt` (1-based) is the one it is killed at; after it, nothing more happens. */
interface Process {
  steps: number
  dieAt: number
  dead: boolean
  /** What the killed step was, for a failure's message. */
  killedAt: string
  /** Every step taken, in order. */
  log: Array<string>
  /** Killed at a commit: whether it landed first (its answer lost) or not (its metadata.json cut short). */
  landed: boolean
}

class Killed extends Error {}

/**
 * The warehouse's catalog and files as a process sees them that is killed at its `dieAt`-th write,
 * remove or commit: a write leaves the first half of its bytes at its final name (cut short), a
 * commit lands or not (by the step's parity), and every later step dies too (no cleanup runs).
 */
const killable = (options: Lakehouse.LakehouseOptions, proc: Process) =>
  Layer.effectContext(Effect.gen(function*() {
    const catalog = yield* Catalog
    const io = yield* FileIO
    const step = <A, E>(what: string, run: Effect.Effect<A, E>, dying: Effect.Effect<unknown, unknown> = Effect.void) =>
      Effect.suspend((): Effect.Effect<A, E> => {
        if (proc.dead) return Effect.die(new Killed("already dead"))
        proc.steps++
        proc.log.push(what)
        if (proc.steps !== proc.dieAt) return run
        proc.dead = true
        proc.killedAt = what
        return Effect.andThen(Effect.ignore(dying), Effect.die(new Killed(what)))
      })
    return Context.make(Catalog, Catalog.of({
      ...catalog,
      commitTable: (id, requirements, updates) =>
        step(
          `commit ${id.name} (${proc.landed ? "landed" : "not landed"})`,
          catalog.commitTable(id, requirements, updates),
          proc.landed
            ? catalog.commitTable(id, requirements, updates)
            : Effect.gen(function*() {
              // The catalog was writing the new metadata.json: the first half of one is left.
              const current = yield* catalog.loadTable(id)
              const bytes = yield* io.read(current.metadataLocation)
              fs.writeFileSync(
                path.join(path.dirname(localPath(current.metadataLocation)), `99999-${crypto.randomUUID()}.metadata.json`),
                bytes.subarray(0, bytes.length >> 1)
              )
            })
        )
    })).pipe(Context.add(FileIO, FileIO.of({
      ...io,
      write: (location, bytes) =>
        step(`write ${path.basename(location)}`, io.write(location, bytes), Effect.sync(() => fs.writeFileSync(localPath(location), bytes.subarray(0, bytes.length >> 1)))),
      remove: (location) => step(`remove ${path.basename(location)}`, io.remove(location))
    })))
  })).pipe(Layer.provide(Lakehouse.storageLayer(options)))

/** A process over the warehouse: maintenance, the sink and the scanner, its I/O killable. */
const processOver = (options: Lakehouse.LakehouseOptions, proc: Process) =>
  MaintenanceLayer.layer().pipe(Layer.provideMerge(Lakehouse.layerOn(killable(options, proc))))

const alive = (): Process => ({ steps: 0, dieAt: 0, dead: false, killedAt: "", log: [], landed: false })

/** A whole run: compaction, expiry of all but the current snapshot, every unreferenced file removed (the grace is past). */
const fullRun = (): MaintenanceOptions => {
  const later = Date.now() + 48 * HOUR_MS
  return {
    compact: { targetFileSizeBytes: 64 * 1024 * 1024 },
    expire: { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: later },
    orphans: { olderThanMs: 24 * HOUR_MS, nowMs: later }
  }
}

/** Rows and an order-independent checksum of every row, at the current state or at a snapshot. */
const digest = (snapshotId?: bigint) =>
  Effect.gen(function*() {
    const plan = yield* (yield* TableScanner).plan(TRADES, snapshotId === undefined ? {} : { snapshot: { _tag: "ById", snapshotId } })
    const [row] = yield* selectPlanned(plan, "count(*)::VARCHAR AS n, sum(hash(r)::HUGEINT)::VARCHAR AS h", "AS r")
    return `${row?.["n"]} ${row?.["h"]}`
  })

/** Every snapshot's digest, by id. */
const history = Effect.gen(function*() {
  const m = (yield* (yield* Catalog).loadTable(TRADES)).metadata
  const out = new Map<bigint, string>()
  for (const s of m.snapshots) out.set(BigInt(s["snapshot-id"]), yield* digest(BigInt(s["snapshot-id"])))
  return out
})

/** A warehouse whose trades table has small files over two days and a snapshot each. */
const filled = (options: Lakehouse.LakehouseOptions) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable(tables.trades)
    for (const seed of [1, 2, 3, 4]) yield* sink.append(TRADES, tradeColumns(genTrades(60, { seed, days: 2, idPrefix: `s${seed}-` })))
    return yield* history
  }).pipe(Effect.provide(processOver(options, alive())))

const runOnce = Effect.gen(function*() {
  return yield* (yield* Maintenance).run(TRADES, fullRun())
})

describe("a maintenance run killed at any step", () => {
  it.effect("leaves the table whole: the next run reads the same rows and snapshots, and leaves no orphan", () =>
    Effect.gen(function*() {
      // The steps of a whole run: each is a moment it may be killed at.
      const counting = alive()
      const countWarehouse = yield* tempDir("k2-killed-")
      const countOptions: Lakehouse.LakehouseOptions = { warehouse: countWarehouse, catalog: { _tag: "sqlite", path: path.join(countWarehouse, "catalog.db") } }
      yield* filled(countOptions)
      yield* runOnce.pipe(Effect.provide(processOver(countOptions, counting)))
      const total = counting.steps
      assert.isAbove(total, 10, "a run's writes, removes and commits")

      // Every commit (landed or not, by a seeded coin: a compaction's, the expiry's), the first write
      // and, seeded, two of the orphan removals.
      const random = seeded(20261206)
      const commits = counting.log.flatMap((l, i) => l.startsWith("commit") ? [i + 1] : [])
      const removes = counting.log.flatMap((l, i) => l.startsWith("remove") ? [i + 1] : [])
      assert.isAtLeast(commits.length, 3, "two days compacted, and the expiry")
      const kills = [
        { dieAt: 1, landed: false },
        ...commits.map((dieAt) => ({ dieAt, landed: random() < 0.5 })),
        ...[0, 1].map(() => ({ dieAt: removes[Math.floor(random() * removes.length)]!, landed: false }))
      ]
      for (const { dieAt, landed } of kills) {
        const warehouse = yield* tempDir("k2-killed-")
        const options: Lakehouse.LakehouseOptions = { warehouse, catalog: { _tag: "sqlite", path: path.join(warehouse, "catalog.db") } }
        const before = yield* filled(options)
        const killed: Process = { ...alive(), dieAt, landed }
        const exit = yield* runOnce.pipe(
          Effect.provide(processOver(options, killed)),
          Effect.exit
        )
        assert.isTrue(killed.dead, `killed at step ${dieAt} of ${total}`)
        assert.isTrue(exit._tag === "Failure", `step ${dieAt}: the killed run ended`)
        const at = `killed at step ${dieAt}/${total}, ${killed.killedAt}`

        // The next process: reads as before, time travel to each snapshot still there answers as before.
        yield* Effect.gen(function*() {
          const current = [...before.values()].at(-1)!
          assert.strictEqual(yield* digest(), current, `${at}: the current rows`)
          for (const [id, d] of yield* history) {
            if (before.has(id)) assert.strictEqual(d, before.get(id), `${at}: snapshot ${id}`)
          }
          const r = yield* (yield* Maintenance).run(TRADES, fullRun())
          assert.isNull(r.compactFailure, `${at}: ${r.compactFailure?.message}`)
          assert.isNull(r.expireFailure, `${at}: ${r.expireFailure?.message}`)
          assert.isNull(r.orphanFailure, `${at}: ${r.orphanFailure?.message}`)
          assert.strictEqual(yield* digest(), current, `${at}: the rows after the next run`)
          const left = yield* (yield* Maintenance).removeOrphans(TRADES, { ...fullRun().orphans as object, dryRun: true })
          assert.deepStrictEqual(left.removed, [], `${at}: orphans left`)
        }).pipe(Effect.provide(processOver(options, alive())))
      }
    }).pipe(Effect.scoped), 240_000)
})
