/**
 * Table maintenance racing a read on the same warehouse: a TableScanner that runs a step armed
 * beforehand once its next plan is made (before DuckDB opens a file), and that step: what
 * `compact --expire-older-than-hours 0` does two days on, every file then past the orphan grace.
 */
import { Effect, Layer } from "effect"
import * as MaintenanceLayer from "../../src/layers/maintenance/maintenance.ts"
import { Catalog, type TableIdentifier } from "../../src/services/Catalog.ts"
import { Maintenance } from "../../src/services/Maintenance.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"
import { lakehouseWrapping } from "./warehouse.ts"

const HOUR_MS = 3_600_000

let armed: { nth: number; step: Effect.Effect<void> } | undefined

/** Runs `step` once, after the next plan any read makes (`nth`: after the nth next, 1 the next). */
export const afterNextPlan = (step: Effect.Effect<void>, nth = 1) =>
  Effect.sync(() => {
    armed = { nth, step }
  })

/** Runs (and disarms) the armed step, if any, once its plan has come. */
export const runArmed = Effect.suspend(() => {
  if (armed === undefined || --armed.nth > 0) return Effect.void
  const { step } = armed
  armed = undefined
  return step
})

/** The TableScanner below, running the armed step once a plan is made. */
export const racingScanner = Layer.effect(TableScanner)(Effect.gen(function*() {
  const real = yield* TableScanner
  return TableScanner.of({
    plan: (table, request) => Effect.tap(real.plan(table, request), () => runArmed),
    planTogether: (reads, selector) => Effect.tap(real.planTogether(reads, selector), () => runArmed)
  })
}))

let armedLoad: { nth: number; step: Effect.Effect<void> } | undefined

/** Runs `step` once, after the `nth` next load of a table's metadata (1: the next). */
export const afterLoad = (step: Effect.Effect<void>, nth = 1) =>
  Effect.sync(() => {
    armedLoad = { nth, step }
  })

/** Disarms what `afterLoad` armed and has not run (the loads it counted on did not happen). */
export const disarmLoad = Effect.sync(() => {
  armedLoad = undefined
})

/** A lakehouse in `dir` over the memory catalog, whose loads of a table run the step `afterLoad` armed. */
export const racingStorage = (dir: string) =>
  lakehouseWrapping({ warehouse: dir, catalog: { _tag: "memory" } }, (catalog) =>
    Catalog.of({
      ...catalog,
      loadTable: (id) =>
        Effect.tap(catalog.loadTable(id), () =>
          Effect.suspend(() => {
            if (armedLoad === undefined || --armedLoad.nth > 0) return Effect.void
            const { step } = armedLoad
            armedLoad = undefined
            return step
          }))
    }))

/** Compaction, expiry of every snapshot but the current one, and orphan removal of `table`, as two days on. */
export const compactNow = (table: TableIdentifier) =>
  Effect.gen(function*() {
    const later = Date.now() + 48 * HOUR_MS
    yield* Effect.orDie((yield* Maintenance).run(table, {
      compact: { targetFileSizeBytes: 64 * 1024 * 1024 },
      expire: { maxSnapshotAgeMs: 0, retainLast: 1, nowMs: later },
      orphans: { olderThanMs: 24 * HOUR_MS, nowMs: later }
    }))
  })

export const maintenanceLayer = MaintenanceLayer.layer()
