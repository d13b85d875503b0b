/**
 * Comparing what K2 and Apache Iceberg Java read and plan: one exact shape for rows from either
 * engine (decimals as unscaled integers, timestamps in microseconds, lists, maps and nulls as
 * written), and data file plans compared as local paths.
 */
import * as fs from "node:fs"
import { assert } from "@effect/vitest"
import { BigDecimal, Effect } from "effect"
import { toUnscaled } from "../../src/domain/decimal.ts"
import type { DataFile } from "../../src/domain/iceberg/spec.ts"
import type { TradeRow } from "../../src/domain/rows.ts"
import { selectPlanned } from "../../src/layers/duckdb/readPlan.ts"
import type { ScanPlan } from "../../src/services/TableScanner.ts"
import { makeTrades } from "../support/fixtures.ts"
import * as Harness from "./harness.ts"

// ---------------------------------------------------------------------------------------------
// Rows: what we write, and one exact, comparable shape for what either engine reads back.

/**
 * makeTrades, varied so every column shape occurs: odd microseconds, null sequences, empty and
 * multi-valued lists and maps (makeTrades spaces rows whole seconds apart, inside the day).
 */
export const tradesFor = (spec: Parameters<typeof makeTrades>[0]): Array<TradeRow> =>
  makeTrades(spec).map((t, i) => ({
    ...t,
    exchange_timestamp: t.exchange_timestamp + ((i * 7_919) % 1_000),
    ingestion_timestamp: t.ingestion_timestamp + i,
    source_sequence: i % 5 === 2 ? null : t.source_sequence,
    conditions: i % 6 === 1 ? ["XT", "CXA", "LT"] : t.conditions,
    vendor_data: i % 8 === 3 ? { venue: "CXA", feed: "itch", "": "empty key" } : t.vendor_data
  }))

export interface Canonical {
  readonly message_id: string
  readonly trade_id: string
  readonly symbol: string
  readonly exchange: string
  readonly asset_class: string
  readonly exchange_timestamp: bigint
  readonly price: bigint
  readonly quantity: bigint
  readonly currency: string
  readonly side: string
  readonly conditions: ReadonlyArray<string> | null
  readonly source_sequence: bigint | null
  readonly ingestion_timestamp: bigint
  readonly kafka_topic: string
  readonly kafka_partition: number
  readonly kafka_offset: bigint
  /** Entries sorted by key (map order is not part of the value). */
  readonly vendor_data: ReadonlyArray<readonly [string, string]> | null
}

/** "123.45600000" to 12345600000n; more fraction digits than the scale is an error, never rounded. */
const unscaledOf = (text: string, scale = 8): bigint => {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text)
  if (m === null || (m[3] ?? "").length > scale) throw new Error(`not a decimal(18, ${scale}): ${text}`)
  const value = BigInt(m[2]! + (m[3] ?? "").padEnd(scale, "0"))
  return m[1] === "-" ? -value : value
}

const sortedEntries = (entries: Iterable<readonly [string, string]>) =>
  [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

export const str = (v: unknown) => v as string
const bigOrNull = (v: unknown) => (v === null || v === undefined ? null : BigInt(v as string))

export const fromTradeRow = (r: TradeRow): Canonical => ({
  message_id: r.message_id,
  trade_id: r.trade_id,
  symbol: r.symbol,
  exchange: r.exchange,
  asset_class: r.asset_class,
  exchange_timestamp: BigInt(r.exchange_timestamp),
  price: toUnscaled(r.price)!,
  quantity: toUnscaled(r.quantity)!,
  currency: r.currency,
  side: r.side,
  conditions: [...r.conditions],
  source_sequence: r.source_sequence,
  ingestion_timestamp: BigInt(r.ingestion_timestamp),
  kafka_topic: r.kafka_topic,
  kafka_partition: r.kafka_partition,
  kafka_offset: r.kafka_offset,
  vendor_data: sortedEntries(Object.entries(r.vendor_data))
})

/**
 * A row as the harness prints it (Values.java) or takes it for `append`: longs, decimals and
 * timestamps as strings, ints as numbers, lists as arrays, maps as objects.
 */
export const toJavaJson = (r: TradeRow) => ({
  ...r,
  exchange_timestamp: String(r.exchange_timestamp),
  price: BigDecimal.format(r.price),
  quantity: BigDecimal.format(r.quantity),
  source_sequence: r.source_sequence === null ? null : String(r.source_sequence),
  ingestion_timestamp: String(r.ingestion_timestamp),
  kafka_offset: String(r.kafka_offset)
})

export const fromJava = (j: Harness.Json): Canonical => {
  // Iceberg Java prints decimals at the column's scale: all eight places, always.
  for (const c of ["price", "quantity"]) {
    if (!/\.\d{8}$/.test(str(j[c]))) throw new Error(`${c} not at scale 8 in Java's row ${str(j.message_id)}: ${str(j[c])}`)
  }
  return {
    message_id: str(j.message_id),
    trade_id: str(j.trade_id),
    symbol: str(j.symbol),
    exchange: str(j.exchange),
    asset_class: str(j.asset_class),
    exchange_timestamp: BigInt(str(j.exchange_timestamp)),
    price: unscaledOf(str(j.price)),
    quantity: unscaledOf(str(j.quantity)),
    currency: str(j.currency),
    side: str(j.side),
    conditions: j.conditions as Array<string> | null,
    source_sequence: bigOrNull(j.source_sequence),
    ingestion_timestamp: BigInt(str(j.ingestion_timestamp)),
    kafka_topic: str(j.kafka_topic),
    kafka_partition: j.kafka_partition as number,
    kafka_offset: BigInt(str(j.kafka_offset)),
    vendor_data: j.vendor_data === null ? null : sortedEntries(Object.entries(j.vendor_data as Record<string, string>))
  }
}

/** Every column through DuckDB as text or JSON, so nothing passes through a JS float. */
const CANONICAL_SELECT = [
  "message_id, trade_id, symbol, exchange, asset_class, currency, side, kafka_topic, kafka_partition",
  "epoch_us(exchange_timestamp)::VARCHAR AS exchange_timestamp",
  "epoch_us(ingestion_timestamp)::VARCHAR AS ingestion_timestamp",
  "price::VARCHAR AS price, quantity::VARCHAR AS quantity",
  "source_sequence::VARCHAR AS source_sequence, kafka_offset::VARCHAR AS kafka_offset",
  "to_json(conditions)::VARCHAR AS conditions, to_json(vendor_data)::VARCHAR AS vendor_data"
].join(", ")

const fromDuckDb = (r: Record<string, unknown>): Canonical => ({
  ...fromJava({
    ...r,
    conditions: r.conditions === null ? null : JSON.parse(str(r.conditions)),
    vendor_data: r.vendor_data === null ? null : JSON.parse(str(r.vendor_data))
  }),
  price: unscaledOf(str(r.price)),
  quantity: unscaledOf(str(r.quantity))
})

/** Our reader's rows for a plan. */
export const readOurs = (plan: ScanPlan) => selectPlanned(plan, CANONICAL_SELECT).pipe(Effect.map((rows) => rows.map(fromDuckDb)))

/** JSON with bigints as `123n`: exact, and equal text means equal value. */
export const show = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}n` : v))

/** Same rows (by message_id), every column equal; the message names the first few differences. */
export const assertSameRows = (actual: ReadonlyArray<Canonical>, expected: ReadonlyArray<Canonical>, what: string) => {
  const byId = new Map(actual.map((r) => [r.message_id, r]))
  assert.strictEqual(byId.size, actual.length, `${what}: duplicate message ids in what was read`)
  const problems: Array<string> = []
  for (const want of expected) {
    const got = byId.get(want.message_id)
    byId.delete(want.message_id)
    if (got === undefined) {
      problems.push(`  ${want.message_id}: missing`)
      continue
    }
    const differing = (Object.keys(want) as Array<keyof Canonical>).filter((column) => show(got[column]) !== show(want[column]))
    if (differing.length > 0) {
      problems.push(`  ${want.message_id}: ${differing.map((c) => `${c} read ${show(got[c])}, expected ${show(want[c])}`).join("; ")}`)
    }
  }
  for (const extra of byId.values()) problems.push(`  unexpected row ${show(extra)}`)
  assert.strictEqual(actual.length, expected.length, `${what}: ${actual.length} rows read, ${expected.length} written`)
  assert.isEmpty(problems, `${what}: ${problems.length} row(s) differ\n${problems.slice(0, 5).join("\n")}`)
}

// ---------------------------------------------------------------------------------------------
// Plans: data file paths, compared as local paths (Java prints what the manifests hold).

export const ourPaths = (files: ReadonlyArray<DataFile>) => files.map((f) => Harness.normalizePath(f.filePath)).sort()
export const javaPaths = (lines: ReadonlyArray<Harness.Json>) => lines.map((l) => Harness.normalizePath(str(l.path))).sort()

export const assertSamePlan = (java: ReadonlyArray<Harness.Json>, ours: ScanPlan, what: string) => {
  assert.deepStrictEqual(javaPaths(java), ourPaths(ours.files), `${what}: Iceberg Java and K2 plan different files`)
  const byPath = new Map(ours.files.map((f) => [Harness.normalizePath(f.filePath), f]))
  for (const line of java) {
    const local = Harness.normalizePath(str(line.path))
    const file = byPath.get(local)!
    assert.strictEqual(file.recordCount, line.records, `${what}: record count of ${local}`)
    assert.strictEqual(file.fileSizeInBytes, line.file_size_in_bytes, `${what}: file size of ${local}, K2 vs Java`)
    assert.strictEqual(file.fileSizeInBytes, fs.statSync(local).size, `${what}: file size of ${local} vs the file on disk`)
  }
}
