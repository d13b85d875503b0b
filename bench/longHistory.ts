/**
 * Builds a table that has lived long, for measuring reads of it (docs/benchmarks.md, "A table that
 * has lived long"): `K2_LONG_DAYS` days (default 365) of trades and quotes, one append a day of
 * `K2_LONG_ROWS` rows (default 200), then each table's history made `K2_LONG_SNAPSHOTS` snapshots
 * (default 86,400: a day of one-second commits kept) one second apart, with ingest-sized summaries,
 * written as one metadata file (committing them one by one would take hours). The extra snapshots
 * read the last append's manifest list. Prints what a read of 1, 30 and 365 days of trades plans
 * (manifests and files read, the median of 30 plans with the caches warm); then serve it
 * (`npm run serve -- --warehouse DIR`).
 *
 * npm exec -- node --disable-warning=ExperimentalWarning bench/longHistory.ts DIR
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { Effect } from "effect"
import { encodeTableMetadata } from "../src/domain/iceberg/metadataFile.ts"
import type { Snapshot } from "../src/domain/iceberg/spec.ts"
import { quoteColumns, tradeColumns } from "../src/domain/rows.ts"
import { identifierOf, tables } from "../src/domain/tables.ts"
import * as Lakehouse from "../src/layers/lakehouse.ts"
import { Catalog } from "../src/services/Catalog.ts"
import { IcebergSink } from "../src/services/IcebergSink.ts"
import { TableScanner } from "../src/services/TableScanner.ts"
import { makeTrades, START_MICROS } from "../test/support/fixtures.ts"

const dir = path.resolve(process.argv[2] ?? ".k2/long-history")
const DAYS = Number(process.env.K2_LONG_DAYS ?? 365)
const ROWS = Number(process.env.K2_LONG_ROWS ?? 200)
const SNAPSHOTS = Number(process.env.K2_LONG_SNAPSHOTS ?? 86_400)
const DAY = 86_400_000_000
const OPEN = 10 * 3_600_000_000

/** A marker as ingest writes one: 12 partitions of one topic. */
const marker = (i: number) => {
  const partitions: Record<string, number> = {}
  for (let p = 0; p < 12; p++) partitions[String(p)] = 1_000_000 + i * 12 + p
  return JSON.stringify({ "market.equities.trades.asx": partitions })
}

const build = Effect.gen(function*() {
  const sink = yield* IcebergSink
  const catalog = yield* Catalog
  for (const name of ["trades", "quotes"] as const) {
    yield* sink.ensureTable(tables[name])
    const id = identifierOf(name)
    for (let d = 0; d < DAYS; d++) {
      const rows = makeTrades({ count: ROWS, startMicros: START_MICROS + d * DAY + OPEN, days: 0.25, offsetBase: d * ROWS })
      const batch = name === "trades" ? tradeColumns(rows) : quoteColumns(rows.map((r) => ({
        ...r,
        quote_id: r.trade_id,
        bid_price: r.price,
        bid_size: r.quantity,
        ask_price: r.price,
        ask_size: r.quantity,
        kafka_topic: "market.equities.quotes.asx"
      })) as never)
      yield* sink.append(id, batch, { properties: { "k2.kafka.offsets.k2-ingest": marker(d) } })
    }
    const { metadata: m, metadataLocation } = yield* catalog.loadTable(id)
    const last = m.snapshots.at(-1)!
    const now = Date.now()
    const added: Array<Snapshot> = []
    let parent = last["snapshot-id"]
    let sequence = m["last-sequence-number"]
    for (let i = 0; i < SNAPSHOTS - m.snapshots.length; i++) {
      const snapshotId = 5_000_000_000_000n + BigInt(i)
      sequence += 1n
      added.push({
        ...last,
        "snapshot-id": snapshotId,
        "parent-snapshot-id": parent,
        "sequence-number": sequence,
        "timestamp-ms": now - (SNAPSHOTS - i) * 1000,
        summary: {
          ...last.summary,
          "k2.commit-id": crypto.randomUUID(),
          "k2.kafka.offsets.k2-ingest": marker(DAYS + i),
          "k2.kafka.topic-ids.k2-ingest": JSON.stringify({ "market.equities.trades.asx": "q1w2e3r4t5y6u7i8o9p0aa" })
        }
      })
      parent = snapshotId
    }
    const snapshots = [...m.snapshots, ...added]
    const location = metadataLocation.replace(/\d+-[^/]*\.metadata\.json$/, `99999-${crypto.randomUUID()}.metadata.json`)
    fs.writeFileSync(new URL(location), encodeTableMetadata({
      ...m,
      snapshots,
      "snapshot-log": snapshots.map((s) => ({ "snapshot-id": s["snapshot-id"], "timestamp-ms": s["timestamp-ms"] })),
      "current-snapshot-id": parent,
      "last-sequence-number": sequence,
      refs: { main: { "snapshot-id": parent, type: "branch" } },
      "last-updated-ms": now
    }))
    const db = new DatabaseSync(path.join(dir, "catalog.db"))
    db.prepare("UPDATE iceberg_tables SET metadata_location = ? WHERE table_name = ?").run(location, name)
    db.close()
    console.log(`${name}: ${DAYS} days, ${snapshots.length} snapshots, metadata.json ${fs.statSync(new URL(location)).size} bytes`)
  }
})

/** What reads of 1, 30 and 365 days plan (partition pruning by the manifest list's summaries). */
const plans = Effect.gen(function*() {
  const scanner = yield* TableScanner
  const trades = identifierOf("trades")
  for (const days of [1, 30, 365]) {
    const from = days === 365 ? START_MICROS : START_MICROS + 150 * DAY
    const filter = { time: { column: "exchange_timestamp", from, to: from + days * DAY } }
    const plan = yield* scanner.plan(trades, { filter })
    const times: Array<number> = []
    for (let i = 0; i < 30; i++) {
      const started = performance.now()
      yield* scanner.plan(trades, { filter })
      times.push(performance.now() - started)
    }
    times.sort((a, b) => a - b)
    const { manifestsRead, manifestsTotal, filesPlanned, filesTotal } = plan.stats
    console.log(`${days} days: ${manifestsRead}/${manifestsTotal} manifests, ${filesPlanned}/${filesTotal} files, plan ${times[15]!.toFixed(2)} ms (median, cached)`)
  }
})

fs.mkdirSync(dir, { recursive: true })
await Effect.runPromise(
  Effect.andThen(build, plans).pipe(Effect.provide(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } })), Effect.scoped) as Effect.Effect<void>
)
