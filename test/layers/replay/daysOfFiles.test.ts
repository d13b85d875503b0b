/**
 * A replay plays only the UTC days its files may hold. Tables another engine partitioned otherwise
 * than K2's day(exchange_timestamp) named `exchange_timestamp_day` (hour or day under another name,
 * or no partition at all) still give each file its days: from the spec's transform of
 * exchange_timestamp, else from the file's bounds of it. Otherwise a `follow` (its range ends in
 * 2200) would run a profiles statement for each of ~64,000 days.
 */
import type { DuckDBConnection } from "@duckdb/node-api"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { tradeColumns } from "../../../src/domain/rows.ts"
import type { PartitionSpec } from "../../../src/domain/iceberg/spec.ts"
import { tables } from "../../../src/domain/tables.ts"
import { timeFields } from "../../../src/domain/iceberg/fileDays.ts"
import * as ReplayLayer from "../../../src/layers/replay/engine.ts"
import { IcebergSink } from "../../../src/services/IcebergSink.ts"
import { ReplayEngine } from "../../../src/services/ReplayEngine.ts"
import { type ScanPlan, TableScanner } from "../../../src/services/TableScanner.ts"
import { DAY, genTrades, T0 } from "../query/data.ts"
import { lakehouse, TRADES } from "../query/fixture.ts"
import { spiedDuckDb, spy } from "../../support/spy.ts"

/** Two days of trades. */
const rows = genTrades(400, { days: 2, seed: 77 })

const TS = tables.trades.schema.fields.find((f) => f.name === "exchange_timestamp")!.id

const spec = (name: string, transform: string): PartitionSpec => ({
  "spec-id": 0,
  fields: [{ "source-id": TS, "field-id": 1000, name, transform }]
})

/** The end of a follow's table part: 2200-01-01. */
const FOLLOW_END = Date.UTC(2200, 0, 1) * 1000

/** Past this many days played, a replay fails at once: over a follow's range every day would be ~64,000. */
const MOST_DAYS = 100

/**
 * The replay of `input` (of `symbols`, else all) from T0 - 5 days to `to` (40 days on) from a table of `partitionSpec`: its
 * events' ids in order, how many days it played and how many statements it ran.
 */
const replayOf = (
  partitionSpec: PartitionSpec,
  bounds: "kept" | "dropped" = "kept",
  input: typeof rows = rows,
  to = T0 + 35 * DAY,
  symbols?: ReadonlyArray<string>
) => {
  let days = 0
  let statements = 0
  const connection = (c: DuckDBConnection) =>
    spy(c, {
      prepare: (sql: string) => {
        statements++
        // One profiles statement per day played.
        if (/SELECT DISTINCT/.test(sql) && ++days > MOST_DAYS) throw new Error(`more than ${MOST_DAYS} days played`)
        return c.prepare(sql)
      }
    })
  const counting = spiedDuckDb(connection)
  const data = Layer.effectDiscard(Effect.gen(function*() {
    const sink = yield* IcebergSink
    yield* sink.ensureTable({ ...tables.trades, spec: partitionSpec })
    yield* sink.append(TRADES, tradeColumns(input))
  }))
  // Files written without column bounds (metrics mode none, as some engines write them): only the spec places them.
  const unbounded = Layer.effect(TableScanner)(Effect.gen(function*() {
    const real = yield* TableScanner
    const drop = (plan: ScanPlan): ScanPlan =>
      bounds === "kept" ? plan : { ...plan, files: plan.files.map((f) => ({ ...f, lowerBounds: new Map(), upperBounds: new Map() })) }
    return TableScanner.of({
      ...real,
      plan: (table, request) => Effect.map(real.plan(table, request), drop),
      planTogether: (reads, snapshot) => Effect.map(real.planTogether(reads, snapshot), (plans) => plans.map(drop))
    })
  }))
  const app = Layer.mergeAll(ReplayLayer.layer.pipe(Layer.provide(Layer.mergeAll(counting, unbounded))), data).pipe(Layer.provideMerge(lakehouse()))
  return Effect.gen(function*() {
    const replay = yield* ReplayEngine
    const events = yield* Stream.runCollect(replay.stream({ from: T0 - 5 * DAY, to, tables: ["trades"], ...(symbols === undefined ? {} : { symbols }) }))
    return { events: events.length, ids: events.map((e) => e.message_id), days, statements }
  }).pipe(Effect.provide(app))
}

describe("the days a replay plays", () => {
  it.effect("a table partitioned by hour(exchange_timestamp): the days of its hours", () =>
    Effect.gen(function*() {
      const r = yield* replayOf(spec("exchange_timestamp_hour", "hour"))
      assert.strictEqual(r.events, rows.length)
      assert.strictEqual(r.days, 2)
    }), 60_000)

  it.effect("a table partitioned by day(exchange_timestamp) under another name", () =>
    Effect.gen(function*() {
      const r = yield* replayOf(spec("ts_day", "day"))
      assert.strictEqual(r.events, rows.length)
      assert.strictEqual(r.days, 2)
    }), 60_000)

  it.effect("a field named exchange_timestamp_day whose transform is hour: read as hours, no row lost", () =>
    Effect.gen(function*() {
      const r = yield* replayOf(spec("exchange_timestamp_day", "hour"))
      assert.strictEqual(r.events, rows.length)
      assert.strictEqual(r.days, 2)
    }), 60_000)

  it.effect("an unpartitioned table: the days of each file's bounds of exchange_timestamp", () =>
    Effect.gen(function*() {
      const r = yield* replayOf({ "spec-id": 0, fields: [] })
      assert.strictEqual(r.events, rows.length)
      assert.strictEqual(r.days, 2)
    }), 60_000)

  for (const [what, partitionSpec] of [
    ["hour(exchange_timestamp)", spec("exchange_timestamp_hour", "hour")],
    ["day(exchange_timestamp) under another name", spec("ts_day", "day")],
    ["hour(exchange_timestamp) named exchange_timestamp_day", spec("exchange_timestamp_day", "hour")]
  ] as const) {
    it.effect(`files without bounds, partitioned by ${what}: the days of their partition values`, () =>
      Effect.gen(function*() {
        const r = yield* replayOf(partitionSpec, "dropped")
        assert.strictEqual(r.events, rows.length)
        assert.strictEqual(r.days, 2)
      }), 60_000)
  }

  it.effect("a day of a single trade plays it: a window of one row is not empty", () =>
    Effect.gen(function*() {
      const r = yield* replayOf(spec("ts_day", "day"), "kept", rows.slice(0, 1))
      assert.strictEqual(r.events, 1)
      assert.strictEqual(r.days, 1)
    }), 60_000)

  it.effect("files without bounds of an unpartitioned table: only the days their rows fall on are played", () =>
    Effect.gen(function*() {
      const r = yield* replayOf({ "spec-id": 0, fields: [] }, "dropped")
      assert.strictEqual(r.events, rows.length)
      // Nothing in the metadata says where the rows are: one statement over those files finds their 2 days of the 40.
      assert.strictEqual(r.days, 2)
    }), 60_000)

  it.effect("files without bounds over a follow's range (to 2200): the days of their rows, the same events in the same order", () =>
    Effect.gen(function*() {
      const bounded = yield* replayOf({ "spec-id": 0, fields: [] }, "kept", rows, FOLLOW_END)
      const unbounded = yield* replayOf({ "spec-id": 0, fields: [] }, "dropped", rows, FOLLOW_END)
      assert.strictEqual(unbounded.events, rows.length)
      assert.deepStrictEqual(unbounded.ids, bounded.ids)
      assert.strictEqual(unbounded.days, 2)
      // The one statement finding the days is all the unknown days cost.
      assert.strictEqual(unbounded.statements, bounded.statements + 1)
    }), 60_000)

  it.effect("files without bounds, a symbol asked for: only the days holding its rows", () =>
    Effect.gen(function*() {
      const symbol = rows[0]!.symbol
      const dayOf = (us: number) => Math.floor(us / DAY)
      // The symbol's rows on the first row's day only; the other symbols' on both days.
      const input = rows.filter((t) => t.symbol !== symbol || dayOf(t.exchange_timestamp) === dayOf(rows[0]!.exchange_timestamp))
      const r = yield* replayOf({ "spec-id": 0, fields: [] }, "dropped", input, FOLLOW_END, [symbol])
      assert.strictEqual(r.events, input.filter((t) => t.symbol === symbol).length)
      assert.strictEqual(r.days, 1)
    }), 60_000)

  for (const [what, partitionSpec] of [["month", spec("ts_month", "month")], ["year", spec("ts_year", "year")]] as const) {
    it.effect(`files without bounds, partitioned by ${what}(exchange_timestamp): only the days of the ${what} their rows fall on`, () =>
      Effect.gen(function*() {
        const r = yield* replayOf(partitionSpec, "dropped", rows, FOLLOW_END)
        assert.strictEqual(r.events, rows.length)
        // The rows are of 2 days of January 2024: playing each day of the partition ran 2 statements or more for each of its 31 (365).
        assert.strictEqual(r.days, 2)
      }), 60_000)
  }

  it.effect("a file whose bounds span weeks (another engine's, unpartitioned): only the days its rows fall on", () =>
    Effect.gen(function*() {
      // Two trades 40 days apart in one file: its bounds say 41 days.
      const apart = [rows[0]!, { ...rows[1]!, exchange_timestamp: rows[0]!.exchange_timestamp + 40 * DAY }]
      const r = yield* replayOf({ "spec-id": 0, fields: [] }, "kept", apart, FOLLOW_END)
      assert.strictEqual(r.events, 2)
      assert.strictEqual(r.days, 2)
    }), 60_000)
})

describe("timeFields", () => {
  it("a field name two specs give different transforms is left out: a file does not say which spec wrote it", () => {
    const spec = (id: number, transform: string): PartitionSpec =>
      ({ "spec-id": id, fields: [{ "source-id": 6, "field-id": 1000, name: "ts_part", transform }] }) as unknown as PartitionSpec
    assert.deepStrictEqual([...timeFields([spec(0, "day")], 6)], [["ts_part", "day"]])
    assert.deepStrictEqual([...timeFields([spec(0, "day"), spec(1, "hour")], 6)], [])
    assert.deepStrictEqual([...timeFields([spec(0, "day"), spec(1, "day")], 6)], [["ts_part", "day"]])
  })
})
