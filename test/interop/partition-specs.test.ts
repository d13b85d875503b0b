/**
 * Partition specs another engine sets, judged by Apache Iceberg Java (ADR-2). Java evolves K2
 * tables' specs as any engine would (`table.updateSpec()`): trades from day to hour with identity
 * and void, then month, then year of the timestamp; instruments by identity, year, month and day of
 * dates. Under each spec K2 appends, then Java appends, and Java checks the table: every file's
 * partition against its own transforms of the file's rows, the file's path against
 * `spec.partitionToPath`, the manifest list's partition summaries, exact reads and
 * partition-filtered scans. K2 plans and reads all of it back, Java's files included, and finally
 * compacts a spec's files. Instants and dates sit where floor semantics and calendar turns matter:
 * either side of the epoch, across New Year 2024, and far off.
 */
import * as fs from "node:fs"
import { afterAll, assert, beforeAll, layer, type Vitest } from "@effect/vitest"
import { Effect } from "effect"
import { type InstrumentRow, instrumentRows, type TradeRow, tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import { daysOfIsoDate } from "../../src/domain/time.ts"
import { selectPlanned } from "../../src/layers/duckdb/readPlan.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { Catalog, type TableIdentifier } from "../../src/services/Catalog.ts"
import { type CommitOutcome, IcebergSink } from "../../src/services/IcebergSink.ts"
import { TableScanner } from "../../src/services/TableScanner.ts"
import { START_MICROS } from "../support/fixtures.ts"
import { type InteropCatalog, sides } from "./catalogs.ts"
import {
  assertSamePlan,
  assertSameRows,
  type Canonical,
  fromJava,
  fromTradeRow,
  javaPaths,
  ourPaths,
  readOurs,
  show,
  str,
  toJavaJson,
  tradesFor
} from "./compare.ts"
import * as Harness from "./harness.ts"
import { ensureRestCatalog } from "./restCatalog.ts"

const HOUR = 3_600_000_000
const MINUTE = 60_000_000
const NEW_YEAR_2024 = Date.UTC(2024, 0, 1) * 1000

const definition = { ...tables.trades, name: "trades_specs" }
const table = { namespace: definition.namespace, name: definition.name }

/** Every 20 minutes from two hours before `t` (off the second), and the microseconds either side of `t`. */
const around = (t: number) => [...Array.from({ length: 12 }, (_, i) => t - 2 * HOUR + i * 20 * MINUTE + 1_234_567), t - 1, t]

const INSTANTS = [
  ...around(0), // before the epoch micros are negative: every transform floors
  ...around(NEW_YEAR_2024), // a year, a month, a day and an hour turn
  Date.UTC(1900, 0, 1) * 1000, // the earliest instant K2 takes
  Date.UTC(1965, 5, 15, 12, 34, 56) * 1000 + 789_012,
  Date.UTC(2199, 11, 31, 23, 59, 59) * 1000 + 999_999
]

/** A writer's rows for a phase: one at each instant, over kafka partitions 0-2. */
const rowsOf = (writer: "k2" | "java", phase: number): Array<TradeRow> =>
  tradesFor({ count: INSTANTS.length, idPrefix: `${writer}-p${phase}`, offsetBase: phase * 1_000 + (writer === "java" ? 500 : 0) })
    .map((r, i) => ({ ...r, exchange_timestamp: INSTANTS[i]!, kafka_partition: i % 3 }))

interface Phase {
  /** The spec change Iceberg Java makes first; none for the first, K2's own day(exchange_timestamp). */
  readonly update?: { readonly remove: ReadonlyArray<string>; readonly add: ReadonlyArray<string> }
  /** The default spec's fields then, `name: transform`. */
  readonly fields: ReadonlyArray<string>
}

const PHASES: ReadonlyArray<Phase> = [
  { fields: ["exchange_timestamp_day: day"] },
  {
    update: { remove: ["exchange_timestamp_day"], add: ["hour(exchange_timestamp)", "identity(kafka_partition)", "void(exchange)"] },
    fields: ["exchange_timestamp_hour: hour", "kafka_partition: identity", "exchange_null: void"]
  },
  {
    update: { remove: ["exchange_timestamp_hour"], add: ["month(exchange_timestamp)"] },
    fields: ["kafka_partition: identity", "exchange_null: void", "exchange_timestamp_month: month"]
  },
  {
    update: { remove: ["exchange_timestamp_month", "kafka_partition"], add: ["year(exchange_timestamp)"] },
    fields: ["exchange_null: void", "exchange_timestamp_year: year"]
  }
]

// ---------------------------------------------------------------------------------------------
// Filters: Java's (Filters.java) as text, the same predicate on rows, and K2's time range.

type Op = "=" | "<" | "<=" | ">" | ">="

interface Term {
  readonly column: "exchange_timestamp" | "kafka_partition"
  readonly op: Op
  readonly value: number
}

const FILTERS: ReadonlyArray<{ readonly what: string; readonly terms: ReadonlyArray<Term> }> = [
  {
    what: "the hours either side of the epoch",
    terms: [{ column: "exchange_timestamp", op: ">=", value: -HOUR }, { column: "exchange_timestamp", op: "<", value: HOUR }]
  },
  { what: "before 1970", terms: [{ column: "exchange_timestamp", op: "<", value: 0 }] },
  { what: "after 1969's last microsecond", terms: [{ column: "exchange_timestamp", op: ">", value: -1 }] },
  {
    what: "the last hour of 2023 and New Year's first microsecond",
    terms: [{ column: "exchange_timestamp", op: ">=", value: NEW_YEAR_2024 - HOUR }, {
      column: "exchange_timestamp",
      op: "<=",
      value: NEW_YEAR_2024
    }]
  },
  { what: "2024 on", terms: [{ column: "exchange_timestamp", op: ">=", value: NEW_YEAR_2024 }] },
  { what: "kafka partition 1", terms: [{ column: "kafka_partition", op: "=", value: 1 }] },
  {
    what: "kafka partition 2 in 1970's first two hours",
    terms: [
      { column: "kafka_partition", op: "=", value: 2 },
      { column: "exchange_timestamp", op: ">=", value: 0 },
      { column: "exchange_timestamp", op: "<", value: 2 * HOUR }
    ]
  }
]

const filterText = (terms: ReadonlyArray<{ readonly column: string; readonly op: Op; readonly value: number | string }>) =>
  terms.map((t) => `${t.column} ${t.op} ${t.value}`).join(" and ")

const holds = <A extends number | string>(v: A, op: Op, value: A) =>
  op === "=" ? v === value : op === "<" ? v < value : op === "<=" ? v <= value : op === ">" ? v > value : v >= value

const matches = (terms: ReadonlyArray<Term>) => (row: TradeRow) => terms.every((t) => holds(row[t.column], t.op, t.value))

/** K2's time range [from, to) for the filter's exchange_timestamp terms (micros are integers). */
const timeRange = (terms: ReadonlyArray<Term>) => {
  let from: number | undefined
  let to: number | undefined
  for (const t of terms) {
    if (t.column !== "exchange_timestamp") continue
    if (t.op === ">=" || t.op === ">") from = Math.max(from ?? -Infinity, t.op === ">" ? t.value + 1 : t.value)
    if (t.op === "<" || t.op === "<=") to = Math.min(to ?? Infinity, t.op === "<=" ? t.value + 1 : t.value)
  }
  return { column: "exchange_timestamp", ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) }
}

// ---------------------------------------------------------------------------------------------
// Instruments: dates as partition sources (identity, month, day, year), nulls among them.

const instrumentsDefinition = { ...tables.instruments, name: "instruments_specs" }
const instrumentsTable = { namespace: instrumentsDefinition.namespace, name: instrumentsDefinition.name }

const DATES = [
  "1900-01-01",
  "1965-06-15",
  "1968-12-31",
  "1969-01-01",
  "1969-12-01",
  "1969-12-31",
  "1970-01-01",
  "1970-01-31",
  "2023-12-31",
  "2024-01-01",
  "2024-02-29",
  "2199-12-31"
]

/** A writer's instruments for a phase: one listed on each date; a third never delisted. */
const instrumentsOf = (writer: "k2" | "java", phase: number): Array<InstrumentRow> =>
  DATES.map((date, i) => ({
    symbol: `${writer.toUpperCase()}${phase}X${i}`,
    exchange: "ASX",
    company_id: i % 4 === 0 ? null : `C${i}`,
    name: `Instrument ${i}`,
    isin: null,
    currency: "AUD",
    asset_class: "equities",
    listing_date: date,
    delisting_date: i % 3 === 0 ? null : DATES[(i + 5) % DATES.length]!,
    ingestion_timestamp: START_MICROS + i,
    kafka_topic: "reference.instruments",
    kafka_partition: i % 2,
    kafka_offset: BigInt(phase * 1_000 + i)
  }))

const INSTRUMENT_PHASES: ReadonlyArray<Phase> = [
  {
    update: { remove: [], add: ["identity(listing_date)", "year(delisting_date)"] },
    fields: ["listing_date: identity", "delisting_date_year: year"]
  },
  {
    update: {
      remove: ["listing_date", "delisting_date_year"],
      add: ["month(listing_date)", "day(delisting_date)", "identity(kafka_partition)"]
    },
    fields: ["listing_date_month: month", "delisting_date_day: day", "kafka_partition: identity"]
  }
]

/** Date terms compare ISO dates, which order as text; a null date matches none. */
interface DateTerm {
  readonly column: "listing_date" | "delisting_date"
  readonly op: Op
  readonly value: string
}

const INSTRUMENT_FILTERS: ReadonlyArray<{ readonly what: string; readonly terms: ReadonlyArray<DateTerm> }> = [
  { what: "listed before 1970", terms: [{ column: "listing_date", op: "<", value: "1970-01-01" }] },
  { what: "listed in 2024 on", terms: [{ column: "listing_date", op: ">=", value: "2024-01-01" }] },
  { what: "delisted on 1969's last day", terms: [{ column: "delisting_date", op: "=", value: "1969-12-31" }] },
  {
    what: "listed from 1970 to New Year's Day 2024",
    terms: [{ column: "listing_date", op: ">", value: "1969-12-31" }, { column: "listing_date", op: "<=", value: "2024-01-01" }]
  }
]

const dateMatches = (terms: ReadonlyArray<DateTerm>) => (row: InstrumentRow) =>
  terms.every((t) => {
    const v = row[t.column]
    return v !== null && holds(v, t.op, t.value)
  })

const epochDayOrNull = (date: string | null) => (date === null ? null : daysOfIsoDate(date))

/** An instrument as Java reads and takes it (Values.java): dates as epoch days, longs and instants as strings. */
const instrumentJson = (r: InstrumentRow) => ({
  ...r,
  listing_date: epochDayOrNull(r.listing_date),
  delisting_date: epochDayOrNull(r.delisting_date),
  ingestion_timestamp: String(r.ingestion_timestamp),
  kafka_offset: String(r.kafka_offset)
})

const INSTRUMENT_SELECT = [
  "symbol, exchange, company_id, name, isin, currency, asset_class",
  "(listing_date - DATE '1970-01-01')::INTEGER AS listing_date",
  "(delisting_date - DATE '1970-01-01')::INTEGER AS delisting_date",
  "epoch_us(ingestion_timestamp)::VARCHAR AS ingestion_timestamp",
  "kafka_topic, kafka_partition, kafka_offset::VARCHAR AS kafka_offset"
].join(", ")

const bySymbol = (rows: ReadonlyArray<Harness.Json>) => [...rows].sort((a, b) => (str(a.symbol) < str(b.symbol) ? -1 : 1))

const assertSameInstruments = (actual: ReadonlyArray<Harness.Json>, expected: ReadonlyArray<InstrumentRow>, what: string) =>
  assert.deepStrictEqual(bySymbol(actual.map((r) => ({ ...r }))), bySymbol(expected.map(instrumentJson)), what)

const instrumentColumns = (rows: ReadonlyArray<InstrumentRow>) => {
  const buffer = instrumentRows()
  for (const r of rows) buffer.push(r)
  return buffer.columns()
}

// ---------------------------------------------------------------------------------------------
// Java's view of each file and manifest (Interop.java `files` and `manifests`).

interface JavaFile {
  readonly path: string
  readonly specId: number
  readonly records: number
  readonly partition: Harness.Json
  readonly partitionPath: string
  readonly expectedLocation: string
  readonly misplacedRows: number
  readonly firstMisplaced: Harness.Json | null
  readonly ids: ReadonlyArray<string>
}

const javaFile = (l: Harness.Json): JavaFile => ({
  path: Harness.normalizePath(str(l.path)),
  specId: l.spec_id as number,
  records: l.records as number,
  partition: l.partition as Harness.Json,
  partitionPath: str(l.partition_path),
  expectedLocation: Harness.normalizePath(str(l.expected_location)),
  misplacedRows: l.misplaced_rows as number,
  firstMisplaced: l.first_misplaced as Harness.Json | null,
  ids: l.ids as Array<string>
})

type JavaRun = (step: Harness.Step) => Effect.Effect<Array<Harness.Json>, Harness.InteropFailed>

/** Java makes the phase's spec change (or reports the spec as it is); K2 sees the result as the default. */
const evolveWithJava = (javaRun: JavaRun, table: TableIdentifier, phase: Phase, what: string) =>
  Effect.gen(function*() {
    const [info] = phase.update === undefined
      ? yield* javaRun({ command: "schema" })
      : yield* javaRun({ command: "update-spec", options: { remove: phase.update.remove.join(","), add: phase.update.add.join(",") } })
    const spec = info!.spec as { readonly "spec-id": number; readonly fields: ReadonlyArray<{ name: string; transform: string }> }
    assert.deepStrictEqual(spec.fields.map((f) => `${f.name}: ${f.transform}`), phase.fields, `${what}: Java's spec`)
    const loaded = yield* (yield* Catalog).loadTable(table)
    assert.strictEqual(loaded.metadata["default-spec-id"], spec["spec-id"], `${what}: K2 sees Java's spec as the default`)
    return spec
  })

/**
 * Java's judgement of every live file and manifest: each file holds exactly the rows Java's own
 * transforms put in its partition, sits where Java would put it, and the rows are all there once;
 * K2's appended files carry the spec and partition Java reads for them; each manifest's partition
 * summaries are what Java computes from its files. Returns Java's view of the files.
 */
const judgedByJava = (
  javaRun: JavaRun,
  idColumn: string,
  written: ReadonlyArray<string>,
  appended: CommitOutcome,
  specId: number,
  what: string
) =>
  Effect.gen(function*() {
    const files = (yield* javaRun({ command: "files", options: { "id-column": idColumn } })).map(javaFile)
    for (const f of files) {
      assert.strictEqual(
        f.misplacedRows,
        0,
        `${what}: ${f.path} (spec ${f.specId}, partition ${show(f.partition)}) holds ${f.misplacedRows} row(s) Java partitions elsewhere, e.g. ${
          show(f.firstMisplaced)
        }`
      )
      assert.strictEqual(f.path, f.expectedLocation, `${what}: ${f.path} is not where Java puts partition ${f.partitionPath}`)
      assert.strictEqual(f.ids.length, f.records, `${what}: ${f.path} holds ${f.ids.length} rows, its manifest says ${f.records}`)
    }
    assert.deepStrictEqual(files.flatMap((f) => f.ids).sort(), [...written].sort(), `${what}: the rows in the table's files, by ${idColumn}`)
    const byPath = new Map(files.map((f) => [f.path, f]))
    for (const f of appended.files) {
      const judged = byPath.get(Harness.normalizePath(f.filePath))
      assert.strictEqual(judged?.specId, specId, `${what}: spec of K2's ${f.filePath}, as Java reads it`)
      assert.deepStrictEqual(judged!.partition, f.partition, `${what}: partition of K2's ${f.filePath}, Java's reading vs K2's`)
    }
    for (const m of yield* javaRun({ command: "manifests" })) {
      for (const p of m.partitions as ReadonlyArray<Harness.Json>) {
        const summary = show({ contains_null: p.contains_null, lower: p.lower, upper: p.upper })
        const expected = show({ contains_null: p.expected_contains_null, lower: p.expected_lower, upper: p.expected_upper })
        assert.strictEqual(
          summary,
          expected,
          `${what}: summary of ${str(p.name)} in manifest ${str(m.path)} (spec ${m.spec_id}, ${m.deleted_entries} deleted entries): written ${summary}, Java computes ${expected}`
        )
      }
    }
    return files
  })

/** K2 plans the files Java plans, records and sizes equal, and reads each file's partition as Java does. */
const samePlanBothWays = (javaRun: JavaRun, table: TableIdentifier, files: ReadonlyArray<JavaFile>, what: string) =>
  Effect.gen(function*() {
    const plan = yield* (yield* TableScanner).plan(table)
    assertSamePlan(yield* javaRun({ command: "plan" }), plan, `${what}: the whole table`)
    const byPath = new Map(files.map((f) => [f.path, f]))
    for (const f of plan.files) {
      assert.deepStrictEqual(f.partition, byPath.get(Harness.normalizePath(f.filePath))?.partition, `${what}: partition of ${f.filePath}, K2's reading vs Java's`)
    }
    return plan
  })

/**
 * Java's scan with `filter`: it keeps every file holding one of the `wanted` rows, leaves out some
 * file, and returns its rows (filtered) for the caller to compare. Returns also the files holding
 * wanted rows.
 */
const javaFilteredScan = (javaRun: JavaRun, files: ReadonlyArray<JavaFile>, filter: string, wanted: ReadonlySet<string>, what: string) =>
  Effect.gen(function*() {
    const holding = files.filter((f) => f.ids.some((id) => wanted.has(id))).map((f) => f.path)
    const planned = javaPaths(yield* javaRun({ command: "plan", options: { filter } }))
    const missed = holding.filter((p) => !planned.includes(p))
    assert.isEmpty(missed, `${what}: Java prunes files holding matching rows: ${missed.join(", ")}`)
    assert.isBelow(planned.length, files.length, `${what}: Java prunes no file`)
    return { holding, rows: yield* javaRun({ command: "read", options: { filter } }) }
  })

/**
 * The trades table as Java judges it (judgedByJava), read whole by both engines, and scanned by
 * each with every filter: each keeps every file holding a matching row and reads exactly the
 * matching rows. Returns Java's view of the files.
 */
const checkTrades = (javaRun: JavaRun, written: ReadonlyArray<TradeRow>, committed: CommitOutcome, specId: number, what: string) =>
  Effect.gen(function*() {
    const all = written.map(fromTradeRow)
    const files = yield* judgedByJava(javaRun, "message_id", written.map((r) => r.message_id), committed, specId, what)
    assertSameRows((yield* javaRun({ command: "read" })).map(fromJava), all, `${what}: Java's read`)
    assertSameRows(yield* readOurs(yield* samePlanBothWays(javaRun, table, files, what)), all, `${what}: K2's read`)

    for (const filter of FILTERS) {
      const about = `${what}, filter ${filterText(filter.terms)} (${filter.what})`
      const wanted = written.filter(matches(filter.terms))
      const wantedIds = new Set(wanted.map((r) => r.message_id))
      const scan = yield* javaFilteredScan(javaRun, files, filterText(filter.terms), wantedIds, about)
      assertSameRows(scan.rows.map(fromJava), wanted.map(fromTradeRow), `${about}: Java's filtered read`)

      // K2 prunes by the time range alone (and its own rules): it too keeps every file holding a match.
      const ourPlan = yield* (yield* TableScanner).plan(table, { filter: { time: timeRange(filter.terms) } })
      const ourMissed = scan.holding.filter((p) => !ourPaths(ourPlan.files).includes(p))
      assert.isEmpty(ourMissed, `${about}: K2 prunes files holding matching rows: ${ourMissed.join(", ")}`)
      const ourRows: ReadonlyArray<Canonical> = (yield* readOurs(ourPlan)).filter((r) => wantedIds.has(r.message_id))
      assertSameRows(ourRows, wanted.map(fromTradeRow), `${about}: K2's read of its plan`)
    }
    return files
  })

// ---------------------------------------------------------------------------------------------
// The suite, once per catalog; one warm JVM serves the three (a JVM's start and warm-up cost seconds).

const suite = (kind: InteropCatalog, it: Vitest.MethodsNonLive<Harness.IcebergJava>) => {
  const { options, targetOf } = sides(kind)
  const target = targetOf(table)
  const instrumentsTarget = targetOf(instrumentsTable)
  afterAll(() => {
    if (process.env.K2_KEEP_INTEROP_WAREHOUSE !== "1") fs.rmSync(options.warehouse, { recursive: true, force: true })
  })

  it.layer(Lakehouse.layer(options), { timeout: "5 minutes" })(
    `partition specs Iceberg Java sets on K2 tables (${kind} catalog ${target.catalog})`,
    (it) => {
      it.effect(
        "trades under day, then hour+identity+void, month and year of the timestamp, then compacted and expired by Java: files, paths, summaries and scans as Java has them",
        () =>
          Effect.gen(function*() {
            const sink = yield* IcebergSink
            const scanner = yield* TableScanner
            const java = yield* Harness.IcebergJava
            const javaRun: JavaRun = (step) => java.run(target, step)
            yield* sink.ensureTable(definition)
            const written: Array<TradeRow> = []
            const specIds: Array<number> = []
            let files: ReadonlyArray<JavaFile> = []

            for (const [n, phase] of PHASES.entries()) {
              const what = `trades phase ${n} (${phase.fields.join(", ")})`
              const spec = yield* evolveWithJava(javaRun, table, phase, what)

              // K2 appends under the spec, then Java does.
              const ours = rowsOf("k2", n)
              const appended = yield* sink.append(table, tradeColumns(ours))
              const theirs = rowsOf("java", n)
              const rowsFile = `${options.warehouse}/java-trades-${n}.jsonl`
              fs.writeFileSync(rowsFile, theirs.map((r) => JSON.stringify(toJavaJson(r))).join("\n") + "\n")
              const [javaAppend] = yield* javaRun({ command: "append", options: { rows: rowsFile } })
              assert.strictEqual(javaAppend!.records, theirs.length)
              written.push(...ours, ...theirs)
              specIds.push(spec["spec-id"])
              files = yield* checkTrades(javaRun, written, appended, spec["spec-id"], what)
            }

            // K2 compacts every file of the hour spec, K2's and Java's: their rows go into the current
            // spec's partitions, and a manifest of the hour spec keeps them as deleted entries only.
            const what = "trades after K2 compacts the hour-spec files"
            const hourFiles = new Set(files.filter((f) => f.specId === specIds[1]).map((f) => f.path))
            const removed = (yield* scanner.plan(table)).files.filter((f) => hourFiles.has(Harness.normalizePath(f.filePath)))
            assert.strictEqual(removed.length, hourFiles.size)
            const compacted = yield* sink.replace(table, removed, tradeColumns([...rowsOf("k2", 1), ...rowsOf("java", 1)]))
            const manifests = yield* javaRun({ command: "manifests" })
            assert.isTrue(manifests.some((m) => m.spec_id === specIds[1] && (m.deleted_entries as number) > 0), `${what}: deleted entries kept`)
            yield* checkTrades(javaRun, written, compacted, specIds.at(-1)!, what)

            // K2 appends once more, then Java expires every snapshot but that one, the compaction's
            // included, and deletes the files only they reference: judged by K2's manifests, the
            // compacted-away files go and every live one stays.
            const expiredWhat = `${what}, appends, and Java expires the older snapshots`
            const last = rowsOf("k2", PHASES.length)
            const appended = yield* sink.append(table, tradeColumns(last))
            written.push(...last)
            const [expired] = yield* javaRun({ command: "expire" })
            assert.isAbove(Number(expired!.expired), 0)
            const live = yield* checkTrades(javaRun, written, appended, specIds.at(-1)!, expiredWhat)
            for (const p of hourFiles) assert.isFalse(fs.existsSync(p), `${expiredWhat}: Java's expiry deleted ${p}`)
            for (const f of live) assert.isTrue(fs.existsSync(f.path), `${expiredWhat}: Java's expiry kept ${f.path}`)
          })
      )

      it.effect(
        "instruments under identity+year, then month+day+identity of dates: files, paths, summaries and scans as Java has them",
        () =>
          Effect.gen(function*() {
            const sink = yield* IcebergSink
            const java = yield* Harness.IcebergJava
            const javaRun: JavaRun = (step) => java.run(instrumentsTarget, step)
            yield* sink.ensureTable(instrumentsDefinition)
            const written: Array<InstrumentRow> = []

            for (const [n, phase] of INSTRUMENT_PHASES.entries()) {
              const what = `instruments phase ${n} (${phase.fields.join(", ")})`
              const spec = yield* evolveWithJava(javaRun, instrumentsTable, phase, what)

              const ours = instrumentsOf("k2", n)
              const appended = yield* sink.append(instrumentsTable, instrumentColumns(ours))
              const theirs = instrumentsOf("java", n)
              const rowsFile = `${options.warehouse}/java-instruments-${n}.jsonl`
              fs.writeFileSync(rowsFile, theirs.map((r) => JSON.stringify(instrumentJson(r))).join("\n") + "\n")
              const [javaAppend] = yield* javaRun({ command: "append", options: { rows: rowsFile } })
              assert.strictEqual(javaAppend!.records, theirs.length)
              written.push(...ours, ...theirs)

              const files = yield* judgedByJava(javaRun, "symbol", written.map((r) => r.symbol), appended, spec["spec-id"], what)
              assertSameInstruments(yield* javaRun({ command: "read" }), written, `${what}: Java's read`)
              const plan = yield* samePlanBothWays(javaRun, instrumentsTable, files, what)
              assertSameInstruments(yield* selectPlanned(plan, INSTRUMENT_SELECT), written, `${what}: K2's read`)

              for (const filter of INSTRUMENT_FILTERS) {
                const text = filterText(filter.terms)
                const about = `${what}, filter ${text} (${filter.what})`
                const wanted = written.filter(dateMatches(filter.terms))
                const scan = yield* javaFilteredScan(javaRun, files, text, new Set(wanted.map((r) => r.symbol)), about)
                assertSameInstruments(scan.rows, wanted, `${about}: Java's filtered read`)
              }
            }
          })
      )
    }
  )
}

beforeAll(() => Harness.buildHarness(), 10 * 60_000)
beforeAll(() => ensureRestCatalog())

layer(Harness.IcebergJava.layer, { excludeTestServices: true, timeout: "5 minutes" })((it) => {
  suite("sqlite", it)
  suite("postgres", it)
  suite("rest", it)
})
