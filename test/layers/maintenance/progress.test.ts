/**
 * Compaction says where it is as it goes: a line per day as it is done, counted against the days
 * planned. A table of a year of days took 407 s (docs/benchmarks.md) with nothing on the screen
 * until its report, so a long run could not be told from a hung one.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import { Effect, Layer, Logger } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import { tables } from "../../../src/domain/tables.ts"
import { localPath } from "../../../src/layers/iceberg/fileio.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { Maintenance } from "../../../src/services/Maintenance.ts"
import { TableScanner } from "../../../src/services/TableScanner.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { maintainedLakehouse } from "../../support/warehouse.ts"

const trades = { namespace: "market_data", name: "trades" }

const capturing = () => {
  const logged: Array<{ level: string; text: string }> = []
  const layer = Logger.layer([Logger.make(({ logLevel, message }) =>
    void logged.push({ level: String(logLevel), text: (Array.isArray(message) ? message : [message]).map(String).join(" ") })
  )])
  return { logged, layer }
}

describe("compaction progress", () => {
  it.effect("logs each day as it is compacted, counted against the days planned", () => {
    const { layer, logged } = capturing()
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      for (let i = 0; i < 4; i++) {
        yield* sink.append(trades, tradeColumns(makeTrades({ count: 90, days: 3, offsetBase: i * 90, idPrefix: "p" })))
      }
      const result = yield* (yield* Maintenance).compact(trades, { targetFileSizeBytes: 64 * 1024 * 1024 })
      assert.strictEqual(result.partitions.length, 3)
      const progress = logged.filter((l) => l.level === "Info" && l.text.includes("compact"))
      assert.match(progress[0]!.text, /^compacting market_data\.trades: 3 partitions to rewrite$/)
      for (const [i, p] of result.partitions.entries()) {
        const line = progress.find((l) => l.text.includes(p.label))
        assert.isDefined(line, `no progress line for ${p.label}: ${JSON.stringify(logged)}`)
        assert.include(line!.text, `compacted market_data.trades ${p.label} (${i + 1}/3): `)
        assert.include(line!.text, `${p.filesBefore} -> ${p.filesAfter} files`)
      }
    }).pipe(Effect.provide(Layer.merge(maintainedLakehouse(), layer)))
  })

  it.effect("a day that fails says so as it fails, counted with the others", () => {
    const { layer, logged } = capturing()
    return Effect.gen(function*() {
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      for (let i = 0; i < 3; i++) {
        yield* sink.append(trades, tradeColumns(makeTrades({ count: 60, days: 2, offsetBase: i * 60, idPrefix: "f" })))
      }
      // A data file gone from under one day: that day fails, the other is compacted.
      fs.rmSync(localPath((yield* (yield* TableScanner).plan(trades)).files[0]!.filePath))
      const run = yield* (yield* Maintenance).run(trades, { expire: false, orphans: false })
      assert.strictEqual(run.compactFailure?._tag, "CompactionFailed")
      const lines = logged.filter((l) => l.level === "Info").map((l) => l.text)
      assert.isTrue(lines.includes("compacting market_data.trades: 2 partitions to rewrite"), JSON.stringify(lines))
      assert.strictEqual(lines.filter((l) => /^compaction of market_data\.trades \S+ failed \([12]\/2\): /.test(l)).length, 1, JSON.stringify(lines))
      assert.strictEqual(lines.filter((l) => /^compacted market_data\.trades \S+ \([12]\/2\): 3 -> 1 files/.test(l)).length, 1, JSON.stringify(lines))
    }).pipe(Effect.provide(Layer.merge(maintainedLakehouse(), layer)))
  })
})
