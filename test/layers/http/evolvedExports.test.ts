/**
 * CSV and Parquet exports of /v1/trades over a table another engine evolved (evolvedFixture.ts:
 * price and exchange_timestamp renamed, price and quantity widened to decimal(20, 8), vendor_data
 * dropped, files of both schemas): every row once, under K2's column names, decimals exact (one
 * quantity past decimal(18, 8)), vendor_data null. Read by name, the other engine's files hold no
 * price: the exports would fail.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DuckDBDecimalValue, DuckDBInstance } from "@duckdb/node-api"
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Effect, Layer } from "effect"
import { tables } from "../../../src/domain/tables.ts"
import { formatIsoMicros } from "../../../src/domain/time.ts"
import * as Server from "../../../src/layers/http/server.ts"
import { auth, baseUrl, KEYS, testOptions } from "../../integration/http-support.ts"
import { readParquet } from "../../support/parquet.ts"
import { DAY, T0 } from "../query/data.ts"
import { BIG_QUANTITY, Evolved, evolvedWarehouse } from "../query/evolvedFixture.ts"
import { warehouseDir } from "../query/fixture.ts"

const dir = warehouseDir()
const app = Server.layer({ ...testOptions(), warehouse: dir }).pipe(
  Layer.provideMerge(evolvedWarehouse(dir)),
  Layer.provideMerge(Server.nodeServer({ port: 0, host: "127.0.0.1" }))
)

const PATH = `/v1/trades?from=2024-01-01T00:00:00Z&to=${new Date((T0 + 6 * DAY) / 1000).toISOString()}`

const fetchBytes = (format: "csv" | "parquet") =>
  Effect.gen(function*() {
    const base = yield* baseUrl
    const response = yield* Effect.promise(() => fetch(`${base}${PATH}&format=${format}`, { headers: auth(KEYS.reader) }))
    const bytes = new Uint8Array(yield* Effect.promise(() => response.arrayBuffer()))
    assert.strictEqual(response.status, 200, new TextDecoder().decode(bytes).slice(0, 500))
    return bytes
  })

/** A CSV answer read back by DuckDB, every cell as text: its header and rows. */
const readCsv = (bytes: Uint8Array) =>
  Effect.promise(async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "k2-evolved-csv-")), "answer.csv")
    fs.writeFileSync(file, bytes)
    const instance = await DuckDBInstance.create(":memory:")
    const connection = await instance.connect()
    try {
      const reader = await connection.runAndReadAll(`SELECT * FROM read_csv('${file}', header = true, all_varchar = true)`)
      return { columns: reader.columnNames(), rows: reader.getRowObjects() as Array<Record<string, string | null>> }
    } finally {
      connection.closeSync()
      instance.closeSync()
      fs.rmSync(path.dirname(file), { recursive: true, force: true })
    }
  })

const K2_COLUMNS = tables.trades.schema.fields.map((f) => f.name)

layer(app, { timeout: 120_000, excludeTestServices: true })("exports of a table another engine evolved", (it) => {
  it.effect("the CSV export: every trade once, K2's columns, decimals exact, vendor_data null", () =>
    Effect.gen(function*() {
      const f = yield* Evolved
      const csv = yield* readCsv(yield* fetchBytes("csv"))
      assert.deepStrictEqual(csv.columns, K2_COLUMNS)
      const want = new Map(f.trades.map((t) => [t.message_id, t]))
      assert.strictEqual(csv.rows.length, want.size)
      assert.strictEqual(new Set(csv.rows.map((r) => r.message_id)).size, want.size)
      for (const r of csv.rows) {
        const t = want.get(r.message_id!)
        assert.isDefined(t, r.message_id!)
        const exact = (text: string | null | undefined, d: BigDecimal.BigDecimal) => text != null && BigDecimal.equals(BigDecimal.fromStringUnsafe(text), d)
        assert.isTrue(exact(r.price, t!.price) && exact(r.quantity, t!.quantity), `${r.message_id}: ${r.price} ${r.quantity}`)
        assert.strictEqual(r.exchange_timestamp, formatIsoMicros(t!.exchange_timestamp), r.message_id!)
        assert.isNull(r.vendor_data ?? null, r.message_id!)
      }
      assert.include(csv.rows.map((r) => r.quantity), BIG_QUANTITY)
    }))

  it.effect("the Parquet export: every trade once, K2's columns, decimals exact, vendor_data null", () =>
    Effect.gen(function*() {
      const f = yield* Evolved
      const parquet = yield* readParquet(yield* fetchBytes("parquet"))
      assert.deepStrictEqual(parquet.columns, K2_COLUMNS)
      const want = new Map(f.trades.map((t) => [t.message_id, t]))
      assert.strictEqual(parquet.rows.length, want.size)
      assert.strictEqual(new Set(parquet.rows.map((r) => r.message_id)).size, want.size)
      const decimal = (v: unknown) => {
        assert.instanceOf(v, DuckDBDecimalValue)
        return BigDecimal.make((v as DuckDBDecimalValue).value, (v as DuckDBDecimalValue).scale)
      }
      for (const r of parquet.rows) {
        const t = want.get(r.message_id as string)!
        assert.isTrue(BigDecimal.equals(decimal(r.price), t.price) && BigDecimal.equals(decimal(r.quantity), t.quantity), r.message_id as string)
        assert.isNull(r.vendor_data, r.message_id as string)
      }
    }))
})
