import { afterAll, assert, layer } from "@effect/vitest"
import type { DuckDBValue } from "@duckdb/node-api"
import { Cause, Effect, Exit } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { decode } from "../../../src/domain/iceberg/bounds.ts"
import type { DataFile, Schema, SortOrder } from "../../../src/domain/iceberg/spec.ts"
import { tables } from "../../../src/domain/tables.ts"
import { DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import type { ColumnBatch } from "../../../src/domain/columnBatch.ts"
import { writeDataFiles } from "../../../src/layers/iceberg/parquet.ts"
import { rewriteDataFiles } from "../../../src/layers/iceberg/rewriteDataFiles.ts"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-parquet-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const DAY = 86_400_000_000n
const day0 = 19_724n * DAY // 2024-01-02T00:00:00Z

interface Trade {
  readonly symbol: string
  readonly ts: bigint
  readonly price: bigint
  readonly id?: string
  readonly conditions?: ReadonlyArray<string> | null
  readonly vendor?: ReadonlyArray<readonly [string, string]> | null
  readonly sequence?: bigint | null
}

const tradesBatch = (trades: ReadonlyArray<Trade>): ColumnBatch => ({
  rowCount: trades.length,
  columns: {
    message_id: trades.map((t, i) => t.id ?? `msg-${i}`),
    trade_id: trades.map((_, i) => `T${i}`),
    symbol: trades.map((t) => t.symbol),
    exchange: trades.map(() => "ASX"),
    asset_class: trades.map(() => "equities"),
    exchange_timestamp: trades.map((t) => t.ts),
    price: trades.map((t) => t.price),
    quantity: trades.map(() => 100_000_000n),
    currency: trades.map(() => "AUD"),
    side: trades.map(() => "BUY"),
    conditions: trades.map((t) => (t.conditions === undefined ? [] : t.conditions)),
    source_sequence: trades.map((t, i) => (t.sequence === undefined ? BigInt(i) : t.sequence)),
    ingestion_timestamp: trades.map((t) => t.ts + 1n),
    kafka_topic: trades.map(() => "market.equities.trades.asx"),
    kafka_partition: trades.map(() => 0),
    kafka_offset: trades.map((_, i) => BigInt(i)),
    vendor_data: trades.map((t) => (t.vendor === undefined ? [] : t.vendor))
  }
})

let written = 0
const writeTrades = (batch: ColumnBatch, options: { targetFileSizeBytes?: number; rowGroupSize?: number; directory?: string } = {}) =>
  writeDataFiles(batch, {
    schema: tables.trades.schema,
    spec: tables.trades.spec,
    sortOrder: tables.trades.sortOrder,
    directory: options.directory ?? path.join(root, `t${++written}`),
    targetFileSizeBytes: options.targetFileSizeBytes ?? 128 * 1024 * 1024,
    fileNamePrefix: "00000-0",
    rowGroupSize: options.rowGroupSize
  })

const localPath = (file: DataFile) => fileURLToPath(file.filePath)
const sql = (s: string) => `'${s.replaceAll("'", "''")}'`

/** Reads files back in file order, with exact text for decimals and micros for timestamps. */
const readBack = (files: ReadonlyArray<DataFile>, columns = "*") =>
  Effect.gen(function*() {
    const duckDb = yield* DuckDb
    return yield* duckDb.withConnection((c) =>
      query(
        c,
        "read back",
        `SELECT ${columns} FROM read_parquet([${files.map((f) => sql(localPath(f))).join(", ")}])`
      )
    )
  })

const exact = `message_id, symbol, CAST(price AS VARCHAR) AS price, epoch_us(exchange_timestamp) AS ts,
  conditions, map_entries(vendor_data) AS vendor, source_sequence`

layer(DuckDb.layerWith({}))("writeDataFiles", (it) => {
  // Two writers of one table (two groups, compaction beside ingest) meet in a day whose directory
  // neither found: a COPY that failed for want of it could not tell that the other made it meanwhile.
  it.effect("two writers racing into a new day's directory both write their files", () =>
    Effect.gen(function*() {
      for (let round = 0; round < 5; round++) {
        const directory = path.join(root, `race${++written}`)
        const write = (symbol: string) => writeTrades(tradesBatch([{ symbol, ts: day0 + 1n, price: 1n }]), { directory })
        const [a, b] = yield* Effect.all([write("BHP"), write("CBA")], { concurrency: 2 })
        const rows = yield* readBack([...a, ...b], "symbol")
        assert.deepStrictEqual(rows.map((r) => r["symbol"]), ["BHP", "CBA"])
      }
    }))

  it.effect("round-trips decimals, microsecond timestamps, nulls, lists and maps exactly", () =>
    Effect.gen(function*() {
      const trades: Array<Trade> = [
        { symbol: "BHP", ts: day0 + 123_456n, price: 12_345_678_901n, conditions: ["XT", "LT"], vendor: [["venue", "CXA"], ["k", "v"]] },
        { symbol: "BHP", ts: day0 + 999_999n, price: -12_345_678_901n, conditions: null, vendor: null, sequence: null },
        { symbol: "CBA", ts: day0 + 1n, price: -1n, conditions: [], vendor: [] },
        { symbol: "CBA", ts: day0 + DAY - 1n, price: 99_999_999_999_999_999n }
      ]
      const files = yield* writeTrades(tradesBatch(trades))
      assert.strictEqual(files.length, 1)
      const rows = yield* readBack(files, exact)
      const byId = (id: string) => rows.find((r) => r["message_id"] === id)!
      assert.strictEqual(byId("msg-0")["price"], "123.45678901")
      assert.strictEqual(byId("msg-1")["price"], "-123.45678901")
      assert.strictEqual(byId("msg-2")["price"], "-0.00000001")
      assert.strictEqual(byId("msg-3")["price"], "999999999.99999999")
      assert.strictEqual(byId("msg-0")["ts"], day0 + 123_456n)
      assert.strictEqual(byId("msg-3")["ts"], day0 + DAY - 1n)
      assert.deepStrictEqual(listItems(byId("msg-0")["conditions"]), ["XT", "LT"])
      assert.strictEqual(byId("msg-1")["conditions"], null)
      assert.deepStrictEqual(listItems(byId("msg-2")["conditions"]), [])
      assert.deepStrictEqual(
        listItems(byId("msg-0")["vendor"]).map((e) => Object.values((e as { entries: object }).entries)),
        [["venue", "CXA"], ["k", "v"]]
      )
      assert.strictEqual(byId("msg-1")["vendor"], null)
      assert.strictEqual(byId("msg-1")["source_sequence"], null)
      assert.strictEqual(byId("msg-2")["source_sequence"], 2n)
    }))

  it.effect("round-trips lists and maps with few distinct values (loaded as codes) exactly", () =>
    Effect.gen(function*() {
      const shared: ReadonlyArray<string> = ["XT"]
      const lists: ReadonlyArray<ReadonlyArray<string> | null> = [
        shared, [], null, ["XT"], ["XT", "LT"], ["XT\u0000LT"], ["2", "XT"], shared
      ]
      const maps: ReadonlyArray<ReadonlyArray<readonly [string, string]> | null> = [
        [], [["venue", "CXA"]], null, [["venue", "CXA"], ["k", "v"]], [["k", "v"], ["venue", "CXA"]]
      ]
      const trades: Array<Trade> = Array.from({ length: 400 }, (_, i) => ({
        symbol: i % 2 === 0 ? "BHP" : "CBA",
        ts: day0 + BigInt(i),
        price: BigInt(i + 1),
        conditions: lists[i % lists.length]!,
        vendor: maps[i % maps.length]!
      }))
      const files = yield* writeTrades(tradesBatch(trades))
      const rows = yield* readBack(files, exact)
      assert.strictEqual(rows.length, trades.length)
      for (const row of rows) {
        const i = Number((row["message_id"] as string).slice(4))
        const list = lists[i % lists.length]!
        const map = maps[i % maps.length]!
        assert.deepStrictEqual(row["conditions"] === null ? null : listItems(row["conditions"]), list)
        assert.deepStrictEqual(
          row["vendor"] === null
            ? null
            : listItems(row["vendor"]).map((e) => Object.values((e as { entries: object }).entries)),
          map === null ? null : map.map(([k, v]) => [k, v])
        )
      }
    }))

  it.effect("round-trips columns every row holds one value of (not loaded), and one value with nulls (loaded)", () =>
    Effect.gen(function*() {
      const trades: Array<Trade> = Array.from({ length: 400 }, (_, i) => ({
        symbol: i % 2 === 0 ? "BHP" : "CBA",
        ts: day0 + BigInt(i),
        price: BigInt(i + 1),
        conditions: ["XT"],
        vendor: i % 3 === 0 ? null : [["venue", "CXA"]]
      }))
      const files = yield* writeTrades(tradesBatch(trades))
      const rows = yield* readBack(files, `${exact}, exchange, currency, kafka_topic`)
      assert.strictEqual(rows.length, trades.length)
      for (const row of rows) {
        const i = Number((row["message_id"] as string).slice(4))
        assert.deepStrictEqual(listItems(row["conditions"]), ["XT"])
        assert.deepStrictEqual(
          row["vendor"] === null ? null : listItems(row["vendor"]).map((e) => Object.values((e as { entries: object }).entries)),
          i % 3 === 0 ? null : [["venue", "CXA"]]
        )
        assert.deepStrictEqual([row["exchange"], row["currency"], row["kafka_topic"]], ["ASX", "AUD", "market.equities.trades.asx"])
      }
    }))

  it.effect("a column holding one odd string in every row (quotes, $, NUL, unicode, empty) round-trips with its bounds", () =>
    Effect.gen(function*() {
      // A NUL in a 20-row batch failed the flush while such a column was loaded as an ENUM (its DDL ends at the NUL).
      for (const value of [`it's "$2"`, "a\u0000b", "日本 😀", ""]) {
        for (const count of [1, 20]) {
          const batch = tradesBatch(Array.from({ length: count }, (_, i) => ({ symbol: "BHP", ts: day0 + BigInt(i), price: 1n })))
          const files = yield* writeTrades({ ...batch, columns: { ...batch.columns, exchange: Array(count).fill(value) } })
          const rows = yield* readBack(files, "exchange")
          assert.deepStrictEqual(rows.map((r) => r["exchange"]), Array(count).fill(value))
          const [f] = files
          assert.deepStrictEqual([decode("string", f!.lowerBounds.get(4)!), decode("string", f!.upperBounds.get(4)!)], [value, value])
          assert.strictEqual(f!.nullValueCounts.get(4), 0)
        }
      }
    }))

  it.effect("a string column of few values, one holding a NUL or a lone surrogate, is written (not an ENUM that fails the flush)", () =>
    Effect.gen(function*() {
      for (const [value, read] of [["a\u0000b", "a\u0000b"], ["a\uD800b", "a\uFFFDb"]] as const) {
        const batch = tradesBatch(Array.from({ length: 20 }, (_, i) => ({ symbol: "BHP", ts: day0 + BigInt(i), price: 1n })))
        const exchange = Array.from({ length: batch.rowCount }, (_, i) => (i % 2 === 0 ? value : "ASX"))
        const files = yield* writeTrades({ ...batch, columns: { ...batch.columns, exchange } })
        const rows = yield* readBack(files, "exchange, message_id")
        assert.deepStrictEqual(
          rows.map((r) => r["exchange"]),
          rows.map((r) => Number((r["message_id"] as string).slice(4)) % 2 === 0 ? read : "ASX")
        )
      }
    }))

  it.effect("a directory the file system refuses as too long is PathTooLong, not a storage failure to wait out", () =>
    Effect.gen(function*() {
      const trades = [{ symbol: "BHP", ts: day0, price: 1n }]
      const e = yield* Effect.flip(writeDataFiles(tradesBatch(trades), {
        schema: tables.trades.schema,
        spec: tables.trades.spec,
        sortOrder: tables.trades.sortOrder,
        directory: path.join(root, "d".repeat(300)),
        targetFileSizeBytes: 128 * 1024 * 1024,
        fileNamePrefix: "00000-0"
      }))
      assert.strictEqual(e._tag === "TableFileError" ? e.reason._tag : e._tag, "PathTooLong", e.message)
    }))

  it.effect("writes one file per day, under <partition>=<day>/, with the partition tuple", () =>
    Effect.gen(function*() {
      const trades = [2n, 0n, 1n, 0n, 2n].map((d, i) => ({ symbol: "BHP", ts: day0 + d * DAY + BigInt(i), price: 1n }))
      const files = yield* writeTrades(tradesBatch(trades))
      const byDay = [...files].sort((a, b) => a.partition["exchange_timestamp_day"]! - b.partition["exchange_timestamp_day"]!)
      assert.deepStrictEqual(byDay.map((f) => f.partition), [19724, 19725, 19726].map((d) => ({ exchange_timestamp_day: d })))
      assert.deepStrictEqual(byDay.map((f) => f.recordCount), [2, 1, 2])
      assert.deepStrictEqual(
        byDay.map((f) => path.basename(path.dirname(localPath(f)))),
        ["exchange_timestamp_day=2024-01-02", "exchange_timestamp_day=2024-01-03", "exchange_timestamp_day=2024-01-04"]
      )
      for (const f of files) {
        assert.match(f.filePath, /^file:\/\/\/.*\/t\d+\/exchange_timestamp_day=[\d-]+\/00000-0-[0-9a-f-]{36}\.parquet$/)
        const [lo, hi] = [decode("timestamptz", f.lowerBounds.get(6)!), decode("timestamptz", f.upperBounds.get(6)!)]
        const start = BigInt(f.partition["exchange_timestamp_day"]!) * DAY
        assert.isTrue((lo as bigint) >= start && (hi as bigint) < start + DAY)
      }
    }))

  it.effect("reports counts, sizes and bounds by field id", () =>
    Effect.gen(function*() {
      const longId = "z-message-id-longer-than-sixteen-code-points"
      const trades: Array<Trade> = [
        { symbol: "CBA", ts: day0 + 5n, price: -12_345_678_901n, id: longId, sequence: null, conditions: ["XT"] },
        { symbol: "BHP", ts: day0 + 7n, price: 300n, id: "b", conditions: null, vendor: [["venue", "CXA"]] },
        { symbol: "ANZ", ts: day0 + 6n, price: 12_345_678_901n, id: "a" }
      ]
      const [file] = yield* writeTrades(tradesBatch(trades))
      assert.isDefined(file)
      const f = file!
      assert.strictEqual(f.content, 0)
      assert.strictEqual(f.fileFormat, "PARQUET")
      assert.strictEqual(f.sortOrderId, 1)
      assert.strictEqual(f.recordCount, 3)
      assert.strictEqual(f.fileSizeInBytes, fs.statSync(localPath(f)).size)
      const leafIds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 18, 19, 20]
      assert.deepStrictEqual([...f.valueCounts.keys()].sort((a, b) => a - b), leafIds)
      assert.deepStrictEqual([...f.columnSizes.keys()].sort((a, b) => a - b), leafIds)
      assert.isTrue([...f.columnSizes.values()].every((n) => n > 0))
      assert.strictEqual(f.valueCounts.get(3), 3)
      assert.strictEqual(f.nullValueCounts.get(3), 0)
      assert.strictEqual(f.nullValueCounts.get(12), 1)
      // list element: one value plus a placeholder each for the null and the empty list (Parquet's count, as Java reports it)
      assert.strictEqual(f.valueCounts.get(18), 3)
      assert.strictEqual(f.nullValueCounts.get(18), 2)
      const bound = (id: number, type: Parameters<typeof decode>[0]) => [
        decode(type, f.lowerBounds.get(id)!),
        decode(type, f.upperBounds.get(id)!)
      ]
      assert.deepStrictEqual(bound(3, "string"), ["ANZ", "CBA"])
      assert.deepStrictEqual(bound(7, "decimal(18, 8)"), [-12_345_678_901n, 12_345_678_901n])
      assert.deepStrictEqual(bound(6, "timestamptz"), [day0 + 5n, day0 + 7n])
      assert.deepStrictEqual(bound(12, "long"), [1n, 2n])
      assert.deepStrictEqual(bound(15, "int"), [0, 0])
      // strings truncated to 16 code points; the upper bound incremented to stay above the max
      assert.deepStrictEqual(bound(1, "string"), ["a", "z-message-id-loo"])
      for (const id of [18, 19, 20]) {
        assert.isFalse(f.lowerBounds.has(id) || f.upperBounds.has(id), `no bounds for nested leaf ${id}`)
      }
    }))

  it.effect("writes Iceberg field ids into the Parquet schema, nested ones included", () =>
    Effect.gen(function*() {
      const [file] = yield* writeTrades(tradesBatch([{ symbol: "BHP", ts: day0, price: 1n }]))
      const duckDb = yield* DuckDb
      const rows = yield* duckDb.withConnection((c) =>
        query(c, "schema", `SELECT name, field_id FROM parquet_schema(${sql(localPath(file!))}) WHERE field_id IS NOT NULL`)
      )
      const ids = new Map(rows.map((r) => [r["name"] as string, Number(r["field_id"])]))
      for (const f of tables.trades.schema.fields) assert.strictEqual(ids.get(f.name), f.id, f.name)
      assert.strictEqual(ids.get("element"), 18)
      assert.strictEqual(ids.get("key"), 19)
      assert.strictEqual(ids.get("value"), 20)
    }))

  it.effect("writes the field ids of lists and maps nested in lists and maps (another engine's columns), which Java reads values by", () =>
    Effect.gen(function*() {
      const schema: Schema = {
        type: "struct",
        "schema-id": 0,
        fields: [
          { id: 1, name: "id", required: true, type: "int" },
          {
            id: 2,
            name: "ll",
            required: false,
            type: { type: "list", "element-id": 3, "element-required": false, element: { type: "list", "element-id": 4, "element-required": false, element: "int" } }
          },
          {
            id: 5,
            name: "ml",
            required: false,
            type: {
              type: "map",
              "key-id": 6,
              key: "string",
              "value-id": 7,
              "value-required": false,
              value: { type: "list", "element-id": 8, "element-required": false, element: "string" }
            }
          }
        ]
      }
      const [file] = yield* writeDataFiles({ rowCount: 1, columns: { id: [1], ll: [[[1, 2], [3]]], ml: [[["a", ["x"]]]] } }, {
        schema,
        spec: { "spec-id": 0, fields: [] },
        sortOrder: null,
        directory: path.join(root, `t${++written}`),
        targetFileSizeBytes: 1 << 20,
        fileNamePrefix: "00000-0"
      })
      const duckDb = yield* DuckDb
      const rows = yield* duckDb.withConnection((c) =>
        query(c, "schema", `SELECT name, field_id FROM parquet_schema(${sql(localPath(file!))}) WHERE num_children IS NULL OR num_children = 0 OR name <> 'list'`)
      )
      const ids = rows.filter((r) => r["name"] !== "duckdb_schema" && r["name"] !== "list" && r["name"] !== "key_value").map((r) => [r["name"], r["field_id"] === null ? null : Number(r["field_id"])])
      assert.deepStrictEqual(ids, [["id", 1], ["ll", 2], ["element", 3], ["element", 4], ["ml", 5], ["key", 6], ["value", 7], ["element", 8]])
    }))

  it.effect("sorts rows by symbol then timestamp and keeps identical duplicates", () =>
    Effect.gen(function*() {
      const same: Trade = { symbol: "BHP", ts: day0 + 10n, price: 5n, id: "dup" }
      const trades: Array<Trade> = [
        { symbol: "CBA", ts: day0 + 1n, price: 1n },
        same,
        { symbol: "BHP", ts: day0 + 3n, price: 1n },
        same,
        { symbol: "ANZ", ts: day0 + 99n, price: 1n },
        same
      ]
      const files = yield* writeTrades(tradesBatch(trades))
      const rows = yield* readBack(files, "symbol, epoch_us(exchange_timestamp) AS ts, message_id")
      assert.deepStrictEqual(
        rows.map((r) => [r["symbol"], r["ts"]]),
        [["ANZ", day0 + 99n], ["BHP", day0 + 3n], ["BHP", day0 + 10n], ["BHP", day0 + 10n], ["BHP", day0 + 10n], ["CBA", day0 + 1n]]
      )
      assert.strictEqual(rows.filter((r) => r["message_id"] === "dup").length, 3)
    }))

  it.effect("writes each day of a batch spanning days as exactly its rows, sorted, however many chunks", () =>
    Effect.gen(function*() {
      // 7,000 rows (several 2,048-row chunks) over three days, arriving interleaved.
      const symbols = ["WES", "ANZ", "CBA", "BHP"]
      const trades: Array<Trade> = Array.from({ length: 7_000 }, (_, i) => ({
        symbol: symbols[(i * 7) % symbols.length]!,
        ts: day0 + BigInt((i * 5) % 3) * DAY + BigInt((i * 7_919) % 100_000),
        price: BigInt(i + 1)
      }))
      const files = yield* writeTrades(tradesBatch(trades))
      assert.strictEqual(files.length, 3)
      const seen = new Set<string>()
      for (const file of files) {
        const day = BigInt(file.partition["exchange_timestamp_day"]!)
        const rows = yield* readBack([file], "symbol, epoch_us(exchange_timestamp) AS ts, message_id")
        const expected = trades.filter((t) => t.ts / DAY === day).length
        assert.strictEqual(rows.length, expected)
        assert.strictEqual(file.recordCount, expected)
        for (let r = 0; r < rows.length; r++) {
          const [symbol, ts] = [rows[r]!["symbol"] as string, rows[r]!["ts"] as bigint]
          assert.strictEqual(ts / DAY, day)
          seen.add(rows[r]!["message_id"] as string)
          if (r === 0) continue
          const [prevSymbol, prevTs] = [rows[r - 1]!["symbol"] as string, rows[r - 1]!["ts"] as bigint]
          assert.isTrue(prevSymbol < symbol || (prevSymbol === symbol && prevTs <= ts), `row ${r} of day ${day} out of order`)
        }
      }
      assert.strictEqual(seen.size, trades.length)
    }))

  it.effect("reads a batch's values a bounded number of times however many days it spans (a backfill's flush)", () =>
    Effect.gen(function*() {
      // A symbol-by-symbol backfill puts a month (or a year) of days in one flush. Each column's
      // dictionary is the batch's: made once, not again for every day's file (365 days made a
      // flush 365 passes over every string column).
      const days = 40
      const trades: Array<Trade> = Array.from({ length: 2_000 }, (_, i) => ({
        symbol: ["ANZ", "BHP", "CBA"][i % 3]!,
        ts: day0 + BigInt(i % days) * DAY + BigInt(i),
        price: BigInt(i + 1),
        conditions: i % 2 === 0 ? [] : ["XT"]
      }))
      const batch = tradesBatch(trades)
      let reads = 0
      const counted = (values: ReadonlyArray<unknown>) =>
        new Proxy(values, {
          get: (target, key, receiver) => {
            if (typeof key === "string" && /^\d+$/.test(key)) reads++
            return Reflect.get(target, key, receiver)
          }
        })
      const columns = { ...batch.columns, symbol: counted(batch.columns["symbol"] as ReadonlyArray<unknown>), conditions: counted(batch.columns["conditions"] as ReadonlyArray<unknown>) }
      const files = yield* writeTrades({ rowCount: batch.rowCount, columns })
      assert.strictEqual(files.length, days)
      // A few passes per column (its dictionary, the rows' order, the load), however many days:
      // a dictionary per day's file read them 40 times over (166,000 reads).
      assert.isAtMost(reads, 3 * 2 * trades.length)
      const rows = yield* readBack(files, "symbol, conditions")
      assert.strictEqual(rows.length, trades.length)
      assert.strictEqual(rows.filter((r) => listItems(r["conditions"]).length === 1).length, trades.length / 2)
    }))

  it.effect("orders rows as DuckDB does: code points, nulls, descending keys, days before 1970", () =>
    Effect.gen(function*() {
      // Rows are ordered in JS; DuckDB's own ORDER BY over the written rows is the reference.
      const schema: Schema = {
        type: "struct",
        "schema-id": 0,
        fields: [
          { id: 1, name: "s", required: false, type: "string" },
          { id: 2, name: "ts", required: false, type: "timestamptz" },
          { id: 3, name: "n", required: true, type: "long" }
        ]
      }
      const strings = ["a", "b", "Z", "é", "", "\u{1F600}x", "\uE000y", "\uFFFDz", null]
      const n = 5_000
      const batch: ColumnBatch = {
        rowCount: n,
        columns: {
          s: Array.from({ length: n }, (_, i) => strings[(i * 7919) % strings.length]!),
          ts: Array.from({ length: n }, (_, i) => (i % 97 === 0 ? null : BigInt((i * 31) % 3 - 1) * DAY + BigInt((i * 7919) % 1000) - 500n)),
          n: Array.from({ length: n }, (_, i) => BigInt(i))
        }
      }
      for (const [direction, nulls] of [["asc", "nulls-first"], ["desc", "nulls-last"]] as const) {
        const sortOrder: SortOrder = {
          "order-id": 1,
          fields: [
            { transform: "identity", "source-id": 1, direction, "null-order": nulls },
            { transform: "identity", "source-id": 2, direction, "null-order": "nulls-first" }
          ]
        }
        const files = yield* writeDataFiles(batch, {
          schema,
          spec: { "spec-id": 0, fields: [{ "source-id": 2, "field-id": 1000, name: "ts_day", transform: "day" }] },
          sortOrder,
          directory: path.join(root, `order-${direction}`),
          targetFileSizeBytes: 1 << 20,
          fileNamePrefix: "00000-0"
        })
        assert.sameMembers(files.map((f) => f.partition["ts_day"]), [-2, -1, 0, 1, null])
        assert.strictEqual(files.reduce((sum, f) => sum + f.recordCount, 0), n)
        for (const f of files) {
          const keys = `s ${direction} ${nulls === "nulls-first" ? "NULLS FIRST" : "NULLS LAST"}, ts ${direction} NULLS FIRST`
          const [check] = yield* (yield* DuckDb).withConnection((c) =>
            query(
              c,
              "check order",
              `SELECT count(*) FILTER (WHERE position != file_row_number + 1) AS misplaced,
                 count(DISTINCT CAST((ts AT TIME ZONE 'UTC') AS DATE)) AS days
               FROM (SELECT *, row_number() OVER (ORDER BY ${keys}, file_row_number) AS position
                 FROM read_parquet(${sql(localPath(f))}, file_row_number = true))`
            )
          )
          assert.strictEqual(check!["misplaced"], 0n)
          assert.strictEqual(check!["days"], f.partition["ts_day"] === null ? 0n : 1n)
        }
      }
    }))

  it.effect("splits a partition larger than the target size into several sorted files", () =>
    Effect.gen(function*() {
      const n = 20_000
      const trades = Array.from({ length: n }, (_, i): Trade => ({
        // first seen out of order, so a sort by dictionary position instead of by string would show
        symbol: `S${String((i * 17) % 37).padStart(2, "0")}`,
        ts: day0 + BigInt((i * 7919) % n) * 1000n,
        price: BigInt(i) * 12_345n,
        id: `m-${i}-${(i * 2654435761) % 4294967296}`,
        conditions: i % 3 === 0 ? ["XT", `c${i}`] : i % 3 === 1 ? null : [],
        vendor: i % 4 === 0 ? [["venue", `v${i}`]] : []
      }))
      const files = yield* writeTrades(tradesBatch(trades), { targetFileSizeBytes: 64 * 1024, rowGroupSize: 2048 })
      assert.isAbove(files.length, 2)
      assert.strictEqual(files.reduce((sum, f) => sum + f.recordCount, 0), n)
      const duckDb = yield* DuckDb
      for (const f of files) {
        assert.strictEqual(f.fileSizeInBytes, fs.statSync(localPath(f)).size)
        // Exactly the table's columns: a split must not take its partition directory for a column.
        const columns = yield* duckDb.withConnection((c) =>
          query(c, "columns", `DESCRIBE SELECT * FROM read_parquet(${sql(localPath(f))}, hive_partitioning = false)`)
        )
        assert.sameMembers(
          columns.map((r) => r["column_name"] as string),
          tables.trades.schema.fields.map((field) => field.name)
        )
        assert.isBelow(f.fileSizeInBytes, 2 * 64 * 1024)
        const rows = yield* readBack([f], "symbol, epoch_us(exchange_timestamp) AS ts")
        assert.strictEqual(rows.length, f.recordCount)
        for (let i = 1; i < rows.length; i++) {
          const [a, b] = [rows[i - 1]!, rows[i]!]
          assert.isTrue(
            (a["symbol"] as string) < (b["symbol"] as string) ||
              (a["symbol"] === b["symbol"] && (a["ts"] as bigint) <= (b["ts"] as bigint))
          )
        }
      }
      const [totals] = yield* readBack(
        files,
        `count(*) AS n, sum(len(conditions)) AS elements, count(*) FILTER (WHERE conditions IS NULL) AS null_lists,
         sum(cardinality(vendor_data)) AS entries, count(DISTINCT message_id) AS ids`
      )
      assert.deepStrictEqual(totals, {
        n: BigInt(n),
        elements: BigInt(2 * Math.ceil(n / 3)),
        null_lists: BigInt(Math.floor((n + 1) / 3)),
        entries: BigInt(n / 4),
        ids: BigInt(n)
      })
      // the files cover disjoint, consecutive symbol ranges
      const ranges = files.map((f) => [decode("string", f.lowerBounds.get(3)!), decode("string", f.upperBounds.get(3)!)] as const)
        .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      for (let i = 1; i < ranges.length; i++) assert.isTrue(ranges[i - 1]![1] <= ranges[i]![0])
    }))

  it.effect("writes an unpartitioned, unsorted table as one file directly in its data directory", () =>
    Effect.gen(function*() {
      const t = tables.instruments
      const files = yield* writeDataFiles(
        {
          rowCount: 2,
          columns: {
            symbol: ["BHP", "CBA"],
            exchange: ["ASX", "ASX"],
            company_id: [null, "c1"],
            name: ["BHP Group", "Commonwealth Bank"],
            isin: [null, null],
            currency: ["AUD", "AUD"],
            asset_class: ["equities", "equities"],
            listing_date: [-1, 19_724]
          }
        },
        {
          schema: t.schema,
          spec: t.spec,
          sortOrder: t.sortOrder,
          directory: path.join(root, "instruments"),
          targetFileSizeBytes: 1 << 20,
          fileNamePrefix: "00000-0"
        }
      )
      assert.strictEqual(files.length, 1)
      const f = files[0]!
      assert.deepStrictEqual(f.partition, {})
      assert.strictEqual(f.sortOrderId, null)
      assert.strictEqual(path.dirname(localPath(f)), path.join(root, "instruments"))
      assert.strictEqual(f.nullValueCounts.get(5), 2)
      assert.strictEqual(f.nullValueCounts.get(9), 2)
      assert.deepStrictEqual([decode("date", f.lowerBounds.get(8)!), decode("date", f.upperBounds.get(8)!)], [-1, 19_724])
      const rows = yield* readBack(files, "symbol, listing_date - DATE '1970-01-01' AS d, delisting_date")
      assert.deepStrictEqual(rows.map((r) => [r["symbol"], r["d"], r["delisting_date"]]), [["BHP", -1n, null], ["CBA", 19_724n, null]])
    }))

  it.effect("bounds a boolean column by false and true (DuckDB's statistics say 0 and 1)", () =>
    Effect.gen(function*() {
      const files = yield* writeDataFiles(
        { rowCount: 3, columns: { flag: [true, false, true] } },
        {
          schema: { type: "struct", "schema-id": 0, fields: [{ id: 1, name: "flag", required: true, type: "boolean" }] },
          spec: { "spec-id": 0, fields: [] },
          sortOrder: null,
          directory: path.join(root, "booleans"),
          targetFileSizeBytes: 1 << 20,
          fileNamePrefix: "00000-0"
        }
      )
      const f = files[0]!
      assert.deepStrictEqual([decode("boolean", f.lowerBounds.get(1)!), decode("boolean", f.upperBounds.get(1)!)], [false, true])
    }))

  it.effect("a batch that fails part-way leaves no data file and no batch table behind", () =>
    Effect.gen(function*() {
      // Day 0 loads and is written; day 1 holds a null in a required column, which DuckDB refuses.
      const batch = tradesBatch([{ symbol: "BHP", ts: day0, price: 1n }, { symbol: "BHP", ts: day0 + DAY, price: 1n }])
      const ids = batch.columns["message_id"] as Array<string | null>
      ids[1] = null
      const directory = path.join(root, `t${++written}`)
      const exit = yield* Effect.exit(writeTrades(batch, { directory }))
      assert.isTrue(Exit.isFailure(exit))
      const left = fs.existsSync(directory) ? fs.readdirSync(directory, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".parquet")) : []
      assert.deepStrictEqual(left, [])
      const temp = yield* (yield* DuckDb).withConnection((c) => query(c, "temp tables", "SELECT table_name FROM duckdb_tables() WHERE temporary"))
      assert.deepStrictEqual(temp, [])
    }))

  it.effect("a rewrite (compaction) puts every row in the partition the batch write computed, for every transform K2 writes", () =>
    Effect.gen(function*() {
      const H = 3_600_000_000n
      const schema: Schema = {
        type: "struct",
        "schema-id": 0,
        fields: [
          { id: 1, name: "ts", required: false, type: "timestamptz" },
          { id: 2, name: "local", required: false, type: "timestamp" },
          { id: 3, name: "d", required: false, type: "date" },
          { id: 4, name: "s", required: false, type: "string" },
          { id: 5, name: "n", required: false, type: "int" }
        ]
      }
      const transforms: ReadonlyArray<readonly [string, number, string]> = [
        ["ts_hour", 1, "hour"], ["ts_year", 1, "year"], ["local_day", 2, "day"], ["local_month", 2, "month"],
        ["d_month", 3, "month"], ["d_year", 3, "year"], ["d", 3, "identity"], ["n", 5, "identity"], ["s_null", 4, "void"]
      ]
      const spec = { "spec-id": 3, fields: transforms.map(([name, source, transform], i) => ({ "source-id": source, "field-id": 1000 + i, name, transform })) }
      // Instants and dates either side of the epoch and of month and year ends; negative ints.
      const ts = [-1n, 0n, -H - 1n, H * 24n * 59n, 1_704_067_199_999_999n, null]
      const d = [-1, 0, 59, -366, 19_723, null]
      const s = ["\u{1F600}ab", "ab", null, "\u00e9", "a", "\u{1F600}\u{1F600}x"]
      const n = [-11, -10, 9, 10, null, 2_147_483_647]
      const rows = ts.length * d.length
      const at = <A>(values: ReadonlyArray<A>, r: number, k: number) => values[(r * k + Math.floor(r / values.length)) % values.length]!
      const batch: ColumnBatch = {
        rowCount: rows,
        columns: {
          ts: Array.from({ length: rows }, (_, r) => at(ts, r, 1)),
          local: Array.from({ length: rows }, (_, r) => at(ts, r, 5)),
          d: Array.from({ length: rows }, (_, r) => at(d, r, 1)),
          s: Array.from({ length: rows }, (_, r) => at(s, r, 5)),
          n: Array.from({ length: rows }, (_, r) => at(n, r, 1))
        }
      }
      const options = {
        schema,
        spec,
        sortOrder: null,
        directory: path.join(root, `t${++written}`),
        targetFileSizeBytes: 1 << 20,
        fileNamePrefix: "00000-0"
      }
      const counts = (files: ReadonlyArray<DataFile>) => {
        const out = new Map<string, number>()
        for (const f of files) out.set(JSON.stringify(f.partition), (out.get(JSON.stringify(f.partition)) ?? 0) + f.recordCount)
        return out
      }
      const files = yield* writeDataFiles(batch, options)
      assert.isAbove(files.length, 10)
      const rewritten = yield* rewriteDataFiles(files.map(localPath), { schema: options.schema, byFieldId: false }, { ...options, fileNamePrefix: "k2-compacted" })
      assert.deepStrictEqual(counts(rewritten), counts(files))
      // One row checked by hand: 1969-12-31T23:59:59.999999Z and 1969-12-31.
      const first = files.find((f) => f.partition.ts_hour === -1 && f.partition.d === -1 && f.partition.n === -11)!
      assert.deepStrictEqual(
        [first.partition.ts_year, first.partition.d_month, first.partition.d_year, first.partition.s_null],
        [-1, -1, -1, null]
      )
    }))

  it.effect("refuses a spec or sort order it cannot write with UnsupportedTableFeature, before writing anything", () =>
    Effect.gen(function*() {
      const directory = path.join(root, `t${++written}`)
      const options = {
        schema: tables.trades.schema,
        spec: tables.trades.spec,
        sortOrder: tables.trades.sortOrder,
        directory,
        targetFileSizeBytes: 1 << 20,
        fileNamePrefix: "00000-0"
      }
      const bySymbolBucket: SortOrder = {
        "order-id": 2,
        fields: [{ transform: "bucket[4]", "source-id": 3, direction: "asc", "null-order": "nulls-first" }]
      }
      const sorted = yield* Effect.flip(writeDataFiles(tradesBatch([{ symbol: "BHP", ts: day0, price: 1n }]), { ...options, table: "market_data.trades", sortOrder: bySymbolBucket }))
      assert.strictEqual(sorted._tag, "UnsupportedTableFeature")
      assert.include(sorted.message, "market_data.trades uses sort order 2, which sorts by bucket[4](symbol)")
      // Compaction names the table by its location.
      const spec = { "spec-id": 1, fields: [{ "source-id": 3, "field-id": 1001, name: "symbol_bucket", transform: "bucket[8]" }] }
      const compacted = yield* Effect.flip(rewriteDataFiles(["/nowhere.parquet"], { schema: options.schema, byFieldId: false }, { ...options, spec }))
      assert.strictEqual(compacted._tag, "UnsupportedTableFeature")
      assert.include(compacted.message, `${directory} uses partition spec 1, whose field symbol_bucket is bucket[8](symbol)`)
      assert.isFalse(fs.existsSync(directory))
    }))

  it.effect("refuses a column another engine added whose type it has no Parquet form for with UnsupportedTableFeature naming it, before writing anything", () =>
    Effect.gen(function*() {
      const added: ReadonlyArray<Schema["fields"][number]> = [
        { id: 100, name: "trade_uuid", required: false, type: "uuid" as never },
        { id: 101, name: "session_time", required: false, type: "time" as never },
        { id: 102, name: "venue", required: false, type: { type: "struct", fields: [{ id: 103, name: "mic", required: false, type: "string" }] } },
        { id: 104, name: "tags", required: false, type: { type: "list", "element-id": 105, element: "fixed[4]" as never, "element-required": false } }
      ]
      for (const column of added) {
        const directory = path.join(root, `t${++written}`)
        const schema: Schema = { ...tables.trades.schema, "schema-id": 1, fields: [...tables.trades.schema.fields, column] }
        const options = { schema, spec: tables.trades.spec, sortOrder: tables.trades.sortOrder, directory, targetFileSizeBytes: 1 << 20, fileNamePrefix: "00000-0", table: "market_data.trades" }
        const failed = yield* Effect.flip(writeDataFiles(tradesBatch([{ symbol: "BHP", ts: day0, price: 1n }]), options))
        assert.strictEqual(failed._tag, "UnsupportedTableFeature", column.name)
        assert.include(failed.message, `market_data.trades uses column ${column.name}`)
        const compacted = yield* Effect.flip(rewriteDataFiles(["/nowhere.parquet"], { schema: options.schema, byFieldId: false }, options))
        assert.strictEqual(compacted._tag, "UnsupportedTableFeature", column.name)
        assert.isFalse(fs.existsSync(directory))
      }
    }))

  it.effect("a file name prefix that is not a plain name dies, in a write and in a rewrite, before writing anything", () =>
    Effect.gen(function*() {
      const directory = path.join(root, `t${++written}`)
      const options = {
        schema: tables.trades.schema,
        spec: tables.trades.spec,
        sortOrder: tables.trades.sortOrder,
        directory,
        targetFileSizeBytes: 1 << 20,
        fileNamePrefix: "../escape"
      }
      const exits = [
        yield* Effect.exit(writeDataFiles(tradesBatch([{ symbol: "BHP", ts: day0, price: 1n }]), options)),
        yield* Effect.exit(rewriteDataFiles(["/nowhere.parquet"], { schema: options.schema, byFieldId: false }, options))
      ]
      for (const exit of exits) {
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
        if (Exit.isFailure(exit)) assert.include(String(Cause.squash(exit.cause)), "invalid file name prefix: ../escape")
      }
      assert.isFalse(fs.existsSync(directory))
    }))

  it.effect("returns nothing for an empty batch", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* writeTrades({ rowCount: 0, columns: {} }), [])
    }))

  it.effect("a rewrite (compaction) of files written before a column was added reads that column as null", () =>
    Effect.gen(function*() {
      const before: Schema = {
        type: "struct",
        "schema-id": 0,
        fields: [
          { id: 1, name: "ts", required: false, type: "timestamptz" },
          { id: 2, name: "n", required: false, type: "int" }
        ]
      }
      const after: Schema = {
        ...before,
        "schema-id": 1,
        fields: [...before.fields, { id: 3, name: "added", required: false, type: "string" }]
      }
      const spec = { "spec-id": 0, fields: [{ "source-id": 1, "field-id": 1000, name: "ts_day", transform: "day" }] }
      const options = {
        spec,
        sortOrder: null,
        directory: path.join(root, `t${++written}`),
        targetFileSizeBytes: 1 << 20,
        fileNamePrefix: "00000-0"
      }
      const files = yield* writeDataFiles({ rowCount: 3, columns: { ts: [day0, day0 + 1n, day0 + DAY], n: [1, 2, 3] } }, {
        ...options,
        schema: before
      })
      const rewritten = yield* rewriteDataFiles(files.map(localPath), { schema: after, byFieldId: false }, { ...options, schema: after, fileNamePrefix: "k2-compacted" })
      assert.deepStrictEqual(rewritten.map((f) => [f.partition.ts_day, f.recordCount]), [[19_724, 2], [19_725, 1]])
      const rows = yield* readBack(rewritten, "n, added")
      assert.deepStrictEqual(rows.map((r) => [r["n"], r["added"]]), [[1, null], [2, null], [3, null]])
      assert.strictEqual(rewritten[0]!.nullValueCounts.get(3), 2)
    }))
})

const listItems = (v: DuckDBValue | undefined): ReadonlyArray<unknown> => (v as unknown as { items: ReadonlyArray<unknown> }).items
